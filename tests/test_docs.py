"""The documents work: every relative link points to a file, and the Python blocks run as written."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "resources/models/README.md",
             ROOT / "sample_data/README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"^(https?:|mailto:|#)", t)]


def test_link_finder_finds_links_and_images():
    text = "see [a](docs/a.md#x), ![pic](b.png), [web](https://x.org) and [top](#top)"
    assert _relative_links(text) == ["docs/a.md#x", "b.png"]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file(doc):
    assert doc.exists()
    missing = [t for t in _relative_links(doc.read_text(encoding="utf-8"))
               if not (doc.parent / t.split("#")[0]).exists()]
    assert not missing, f"{doc.name}: links to missing files {missing}"


def test_readme_is_what_a_newcomer_reads():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300
    for doc in ("docs/formats.md", "docs/deblenders.md", "docs/performance.md", "docs/python-api.md"):
        assert f"]({doc})" in "\n".join(lines), f"README does not link {doc}"


@pytest.mark.parametrize("doc", ["README.md", "docs/python-api.md"])
def test_python_blocks_run(doc, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S)
    assert blocks, f"{doc} has no python block"
    monkeypatch.chdir(ROOT)        # the blocks read "sample_data" as a newcomer would, from the repository
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{doc} block {i + 1}", "exec"), namespace)   # noqa: S102 - our own docs
    assert os.getcwd() == str(ROOT)
