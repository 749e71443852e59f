"""Kill tests: SIGTERM and kill -9 at a random moment of ``produce``, ``concatenate`` and an export from the
app, then a rerun succeeds.

The moment is drawn (seeded) as a fraction of the output written, so it falls inside the writing on a fast
or a slow machine. SIGTERM must cancel as Ctrl-C does (exit 143 for SIGTERM, 130 for Ctrl-C; no output and no temporary file left); after kill -9 the
temporaries of the dead process may remain, but they are recognisable (``.candels-gui-tmp-PID-...``), the
next run removes them and succeeds, and nothing is ever left under a final name half-written.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile.fixtures import sample_arrays, write_candels  # noqa: E402
from hostile.harness import temp_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    images, segmaps, lines = sample_arrays()
    return write_candels(tmp_path_factory.mktemp("kill") / "data", images, segmaps, lines)


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
            "CANDELS_GUI_AUTOSAVE_DIR": str(tmp / "autosave")}


def _written(folder: Path) -> int:
    """Bytes written so far into the temporaries of ``folder`` (allocated blocks: memory-mapped outputs are
    sized up front, their allocation grows as they are written)."""
    total = 0
    for p in temp_files(folder):
        try:
            total += p.stat().st_blocks * 512
        except OSError:  # renamed or removed meanwhile
            pass
    return total


def _kill_during_writing(cmd: list[str], folder: Path, sig: int, seed: int, env: dict[str, str],
                         expected: float) -> int:
    """Start ``cmd``; once it has written a random 5-60 % of the ``expected`` bytes of its output into
    temporaries in ``folder`` (a random moment of the writing, whatever the machine's speed), send ``sig``;
    returns the exit status."""
    target = random.Random(seed).uniform(0.05, 0.6) * expected
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while _written(folder) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:
        assert "Traceback" not in err.decode(), err.decode()
    return proc.returncode


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "candels_gui.cli", *args]


@pytest.mark.parametrize("sig,seed", [(signal.SIGTERM, 1), (signal.SIGKILL, 2)])
def test_produce_killed_then_rerun(data, tmp_path, sig, seed):
    out = tmp_path / "out"
    n = 2500   # 64 x 64 blends with their arrays: ~57 kB each
    rc = _kill_during_writing(_cli("produce", "-d", str(data), "-n", str(n), "--storage", "arrays", "-o", str(out)),
                              out, sig, seed, _env(tmp_path), expected=n * 64 * 64 * 14)
    finals = [p for p in out.glob("*") if not p.name.startswith(".")] if out.exists() else []
    assert finals == []                       # nothing under a final name, whatever the signal
    if sig == signal.SIGTERM:
        assert rc == 143 and not out.exists()  # cancelled cleanly: the folder it made is gone too
    else:
        assert rc == -signal.SIGKILL and temp_files(out)  # the dead process's temporaries, recognisable
    # the rerun (same command, no --force) removes them and succeeds
    done = subprocess.run(_cli("produce", "-d", str(data), "-n", "40", "-o", str(out)), capture_output=True,
                          env=_env(tmp_path), cwd=ROOT)
    assert done.returncode == 0, done.stderr.decode()
    assert temp_files(out) == [] and (out / "blends.h5").is_file()
    from candels_gui.core.store.export import read_export

    assert len(read_export(out, split="train")) == 32


@pytest.mark.parametrize("sig,seed", [(signal.SIGTERM, 3), (signal.SIGKILL, 4)])
def test_concatenate_killed_then_rerun(data, tmp_path, sig, seed):
    out = tmp_path / "out"
    made = subprocess.run(_cli("produce", "-d", str(data), "-n", "6000", "-o", str(out)), capture_output=True,
                          env=_env(tmp_path), cwd=ROOT)
    assert made.returncode == 0, made.stderr.decode()
    before = sorted(p.name for p in out.iterdir())
    rc = _kill_during_writing(_cli("concatenate", "-d", str(out), "-m", "bogg_masks"), out, sig, seed,
                              _env(tmp_path), expected=6000 * 64 * 64 * (4 + 4))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == before  # no npy yet
    if sig == signal.SIGTERM:
        assert rc == 143 and temp_files(out) == []
    else:
        assert rc == -signal.SIGKILL and temp_files(out)
    done = subprocess.run(_cli("concatenate", "-d", str(out), "-m", "bogg_masks"), capture_output=True,
                          env=_env(tmp_path), cwd=ROOT)
    assert done.returncode == 0, done.stderr.decode()
    assert temp_files(out) == []
    labels = np.load(out / "train_labels.npy", mmap_mode="r")
    assert labels.shape == (4800, 64, 64, 4)


@pytest.mark.parametrize("sig,seed", [(signal.SIGTERM, 5), (signal.SIGKILL, 6)])
def test_app_export_killed_then_rerun(data, tmp_path, sig, seed):
    dest_dir = tmp_path / "export"
    dest_dir.mkdir()
    dest = dest_dir / "blends.h5"
    script = [sys.executable, str(ROOT / "tests" / "hostile" / "app_export.py"), str(data), str(dest), "hdf5"]
    rc = _kill_during_writing([*script, "3000"], dest_dir, sig, seed, _env(tmp_path),
                              expected=3000 * 64 * 64 * 14)
    assert not dest.exists() and not (dest_dir / "blends.h5.manifest.json").exists()
    if sig == signal.SIGTERM:
        assert rc == 143 and temp_files(dest_dir) == []  # the worker was cancelled and cleaned up
    else:
        assert rc == -signal.SIGKILL and temp_files(dest_dir)
    done = subprocess.run([*script, "30"], capture_output=True, env=_env(tmp_path), cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert temp_files(dest_dir) == [] and dest.is_file()
    from candels_gui.core.store.export import read_export

    assert len(read_export(dest)) == 30
