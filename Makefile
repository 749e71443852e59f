# Two entry points for a fresh machine (see README): `make run` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install run test bench screenshot

# torch is pinned first: an unpinned torch pulls several GB of CUDA packages.
install:
	$(PIP) install --quiet --disable-pip-version-check "torch==2.13.0"
	$(PIP) install --quiet --disable-pip-version-check -e ".[test,dask]"

run: install
	$(PYTHON) -m candels_gui.cli

# The GUI tests run in their own process: Qt's event loop then never shares a process with torch's
# thread pools or the other suites' leftovers.
test: install
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q --ignore-glob='tests/test_gui*'
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q tests/test_gui*.py

bench: install
	$(PYTHON) -m candels_gui.cli bench --json

screenshot: install
	$(PYTHON) -m candels_gui.cli screenshot docs/screenshot-editor.png
