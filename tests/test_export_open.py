"""Opening a blend export as data (core): its stamps and specs render the export's blends, bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from candels_gui.core.data.load import load_stampset
from candels_gui.core.data.stampset import StampSet
from candels_gui.core.errors import DataError, ExportError, FileFormatError, OptionError
from candels_gui.core.jobs import run_job
from candels_gui.core.store.export import export, read_export
from candels_gui.core.store.open_data import EXPORT_FORMAT_NAME, PRODUCE_FILE_NAME, is_blend_export, iter_open_data
from candels_gui.core.store.export_open import (ExportBlends, default_split,
                                                read_export_blends)
from candels_gui.core.store.produce import ProduceOptions, produce

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def sample():
    return load_stampset(SAMPLE)


@pytest.fixture(scope="module")
def compact(sample, tmp_path_factory):
    """``produce`` of the sample data, default (compact) storage: blends.h5 with a stamp library."""
    out = tmp_path_factory.mktemp("export") / "out"
    run_job(produce(sample, out, ProduceOptions(n_blends=40, seed=5)))
    return out


def _same_blends(specs, engine, data):
    """The specs are the export's and the engine renders the export's arrays, byte for byte."""
    assert specs == data.specs
    batch = engine.render_batch(specs)
    for name, ours, theirs in (("images", batch.images, data.images), ("isolated", batch.isolated, data.isolated),
                               ("masks", batch.masks, data.masks)):
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), name


def test_compact_export_gives_its_specs_and_stamps_that_render_its_blends(compact):
    for path in (compact, compact / "blends.h5", compact / "manifest.json"):
        stamps, specs, info = read_export_blends(path)
        assert info.split == "test" and info.splits == ("train", "test") and info.storage == "compact"
        assert info.path == compact / "blends.h5" and info.stamps_from == "stamp library"
        assert info.engine.stamps is stamps and isinstance(stamps, StampSet)
        assert info.n_read == info.n_split == len(specs) == 8
        _same_blends(specs, info.engine, read_export(compact, split="test"))
        assert info.describe() == f"Loaded 8 blends (test split) of {len(stamps)} stamps from {compact}"
    # the library holds the galaxies the export uses: both splits render from it
    stamps, train, info = read_export_blends(compact, split="train", limit=5)
    assert train == read_export(compact, split="train").specs[:5]
    assert (info.n_read, info.n_split) == (5, 32)
    assert info.describe("OUT").startswith("Loaded the first 5 of 32 blends (train split) of ")
    assert default_split(compact) == "test"


def test_arrays_export_reads_its_stamps_from_the_input_it_records(tmp_path):
    data = tmp_path / "stamps"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("field", "README.md"))
    out = tmp_path / "arrays"
    run_job(produce(load_stampset(data), out, ProduceOptions(n_blends=20, seed=2, storage="arrays")))
    stamps, specs, info = read_export_blends(out)
    assert info.storage == "arrays" and info.stamps_from == str(data) and len(stamps) == 150
    _same_blends(specs, info.engine, read_export(out, split="test"))
    # the input changed: refused, it would give other blends
    images = np.load(data / "candels_img.npy")
    np.save(data / "candels_img.npy", images[::-1].copy())
    with pytest.raises(ExportError, match="other stamps"):
        read_export_blends(out)
    # the input moved: named, with what to do
    shutil.rmtree(data)
    with pytest.raises(ExportError, match=f"not found at {data}.*compact storage"):
        read_export_blends(out)
    _, again, _ = read_export_blends(out, data=SAMPLE)  # the same stamps elsewhere
    assert again == specs


def test_what_is_not_an_export_or_not_readable_says_so(compact, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    with pytest.raises(ExportError, match="not a blend export"):
        read_export_blends(empty)
    with pytest.raises(ExportError, match="not a blend export"):
        read_export_blends(SAMPLE)                          # stamp data, not an export
    with pytest.raises(DataError, match="no such file"):
        read_export_blends(tmp_path / "missing")
    with pytest.raises(ExportError, match=r"no split 'validation'.*\['train', 'test'\]"):
        read_export_blends(compact, split="validation")
    with pytest.raises(OptionError, match="limit"):
        read_export_blends(compact, limit=0)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ExportError, match="not a candels-gui HDF5 export"):
        read_export_blends(foreign)
    truncated = tmp_path / "cut" / "blends.h5"
    truncated.parent.mkdir()
    truncated.write_bytes((compact / "blends.h5").read_bytes()[:4096])
    with pytest.raises(FileFormatError, match="truncated or corrupt"):
        read_export_blends(truncated.parent)
    npy = tmp_path / "npy"
    run_job(export(npy, read_export_blends(compact).info.engine, read_export_blends(compact).specs, fmt="npy"))
    with pytest.raises(ExportError, match="npy export.*HDF5 exports only"):
        read_export_blends(npy)


def test_open_data_tells_an_export_from_stamp_data(compact, tmp_path):
    assert is_blend_export(compact) and is_blend_export(compact / "blends.h5")
    assert is_blend_export(compact / "manifest.json")
    assert not is_blend_export(SAMPLE) and not is_blend_export(tmp_path / "missing")
    assert not is_blend_export(SAMPLE / "candels_img.npy")
    opened = run_job(iter_open_data(compact, limit=3))
    assert isinstance(opened, ExportBlends) and len(opened.specs) == 3
    assert isinstance(run_job(iter_open_data(SAMPLE)), StampSet)
    from candels_gui.core.store.common import FORMAT_NAME
    from candels_gui.core.store.produce import PRODUCE_FILE

    assert (EXPORT_FORMAT_NAME, PRODUCE_FILE_NAME) == (FORMAT_NAME, PRODUCE_FILE)   # the light module's copies


def test_real_cosmos_export_opens(tmp_path, cosmos_dir):
    from candels_gui.cli import main

    out = tmp_path / "cosmos"
    assert main(["produce", "-n", "40", "-d", str(cosmos_dir), "-o", str(out)]) == 0
    stamps, specs, info = read_export_blends(out)
    assert info.manifest["input"]["source"] == str(cosmos_dir) and len(specs) == 8
    assert stamps.source.startswith(str(out / "blends.h5"))
    _same_blends(specs, info.engine, read_export(out, split="test"))
