"""Export writers and readers (npy, HDF5, FITS): round trips, manifest, atomicity, streaming."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import candels_gui
from candels_gui.core.blending.engine import BlendEngine, BlendSpec
from candels_gui.core.errors import Cancelled, DataError
from candels_gui.core.store.export import (export, export_splits, read_export, write_fits, write_hdf5,
                                           write_npy)
from candels_gui.core.jobs import CancelToken, run_job
from candels_gui.core.blending.labels import (CATALOG_COLUMNS, LABEL_METHODS, blend_catalog, blend_fluxes,
                                              label_dtype, label_shape, make_labels, read_catalog_csv,
                                              write_catalog_csv)
from candels_gui.core.data.stampset import StampSet

FORMATS = ("npy", "hdf5", "fits")
N_SPECS = 40


def make_stamps(n: int = 12, size: int = 32, seed: int = 0) -> StampSet:
    """Gaussian galaxies + noise, one neighbour each, int32 segmentation labels above 255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    images = rng.normal(0.0, 0.1, (n, size, size)).astype(np.float32)
    segmaps = np.zeros((n, size, size), np.int32)
    for i in range(n):
        sig = rng.uniform(1.5, 3.0)
        r = np.hypot(yy - c, xx - c)
        images[i] += (rng.uniform(5, 30) * np.exp(-0.5 * (r / sig) ** 2)).astype(np.float32)
        segmaps[i][r < 2.5 * sig] = 400 + i
        ny, nx = rng.integers(2, 7, 2)
        rn = np.hypot(yy - ny, xx - nx)
        images[i] += (8 * np.exp(-0.5 * (rn / 1.2) ** 2)).astype(np.float32)
        segmaps[i][rn < 3] = 2000 + i
    cat = Table({"id": np.arange(n) + 500, "ra": rng.uniform(0, 1, n), "dec": rng.uniform(0, 1, n),
                 "mag": rng.uniform(20, 25, n), "radius": rng.uniform(2, 5, n),
                 "z": rng.uniform(0.1, 3, n),
                 "galtype": np.array(["irr", "disk", "sph", "sphd"])[np.arange(n) % 4],
                 "segval": 400 + np.arange(n)})
    return StampSet(images, segmaps, cat, source="synthetic-export-test",
                    meta={"input_hashes": {"stamps.npy": "0123abcd", "cat.csv": "4567ef"}})


def make_specs(n: int, seed: int = 1) -> list[BlendSpec]:
    """Whole-pixel shifts and sub-pixel/rotated/flipped/scaled companions, mixed."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        a, b = rng.choice(12, 2, replace=False)
        warp = i % 2 == 1
        specs.append(BlendSpec(id1=500 + int(a), id2=500 + int(b),
                               dx=int(rng.integers(-9, 10)) + (0.37 if warp else 0.0),
                               dy=int(rng.integers(-9, 10)) - (0.21 if warp else 0.0),
                               rotation=float(rng.uniform(0, 360)) if warp else 0.0,
                               flip=warp and i % 3 == 0, flux_scale=float(rng.uniform(0.3, 3.0)),
                               seed=7))
    return specs


@pytest.fixture(scope="module")
def stamps() -> StampSet:
    return make_stamps()


@pytest.fixture(scope="module")
def engine(stamps) -> BlendEngine:
    return BlendEngine(stamps)


@pytest.fixture(scope="module")
def specs() -> list[BlendSpec]:
    return make_specs(N_SPECS)


@pytest.fixture(scope="module")
def rendered(engine, specs):
    return engine.render_batch(specs)


def dest_for(fmt: str, folder: Path) -> Path:
    return folder / {"npy": "npy_out", "hdf5": "blends.h5", "fits": "blends.fits"}[fmt]


def write(fmt: str, dest: Path, engine, specs, **kw):
    writer = {"npy": write_npy, "hdf5": write_hdf5, "fits": write_fits}[fmt]
    return writer(dest, engine, specs, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_catalog_equal(got: Table, want: Table) -> None:
    assert tuple(got.colnames) == CATALOG_COLUMNS
    for c in CATALOG_COLUMNS:
        a, b = np.asarray(got[c]), np.asarray(want[c])
        assert a.dtype.kind == b.dtype.kind, c
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), c


class CountingEngine(BlendEngine):
    """A real engine that records every render request (and can fail on request)."""

    def __init__(self, stamps, *, fail_on_call: int | None = None):
        super().__init__(stamps)
        self.sizes: list[int] = []
        self.buffers: set[int] = set()
        self.fail_on_call = fail_on_call

    @property
    def rendered(self) -> int:
        return sum(self.sizes)

    def render_batch(self, specs, out=None):
        if self.fail_on_call is not None and len(self.sizes) + 1 == self.fail_on_call:
            raise RuntimeError("render failed on purpose")
        self.sizes.append(len(specs))
        if out is not None:
            self.buffers.add(id(out.images))
        return super().render_batch(specs, out=out)


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("method", LABEL_METHODS)
def test_npy_seed_layout_round_trips_bit_for_bit(tmp_path, engine, stamps, specs, rendered, method):
    out = tmp_path / "out"
    result = run_job(write_npy(out, engine, specs, method=method, batch_size=7))
    assert result.counts == {None: N_SPECS} and result.path == out
    assert sorted(p.name for p in out.iterdir()) == ["catalogue.csv", "flux.npy", "images.npy",
                                                     "labels.npy", "manifest.json"]
    images, labels, flux = (np.load(out / f) for f in ("images.npy", "labels.npy", "flux.npy"))
    assert images.shape == (N_SPECS, 32, 32) and images.dtype == np.float32
    assert labels.shape == label_shape(method, N_SPECS, 32, 32) and labels.dtype == label_dtype(method)
    assert flux.shape == (N_SPECS, 2) and flux.dtype == np.float64

    data = read_export(out, verify=True)
    assert data.fmt == "npy" and data.split is None and data.label_method == method
    assert np.array_equal(data.images, rendered.images)
    assert np.array_equal(data.labels, make_labels(method, masks=rendered.masks,
                                                   isolated=rendered.isolated))
    if method == "single_images":
        assert data.masks is None and np.array_equal(data.isolated, rendered.isolated)
    else:
        assert data.isolated is None and np.array_equal(data.masks, rendered.masks)
    assert np.array_equal(data.fluxes, blend_fluxes(stamps, specs))
    assert data.specs == specs
    # the CSV holds 6 decimals: the values match, and writing what was read gives the same bytes
    want = blend_catalog(stamps, specs, flux_out_frac=rendered.flux_out_frac)
    for c in CATALOG_COLUMNS:
        if want[c].dtype.kind == "f":
            assert np.allclose(data.catalog[c], want[c], atol=5e-7, rtol=0), c
        else:
            assert data.catalog[c].tolist() == want[c].tolist(), c
    write_catalog_csv(tmp_path / "again.csv", data.catalog)
    assert (tmp_path / "again.csv").read_bytes() == (out / "catalogue.csv").read_bytes()
    # memory-mapped reading gives the same arrays
    mm = read_export(out, mmap=True)
    assert isinstance(mm.images, np.memmap) and np.array_equal(mm.images, rendered.images)


@pytest.mark.parametrize("compression", [None, "lzf", "gzip"])
def test_hdf5_round_trips_bit_for_bit(tmp_path, engine, stamps, specs, rendered, compression):
    path = tmp_path / "blends.h5"
    run_job(write_hdf5(path, engine, specs, method="bogg_masks", compression=compression,
                       batch_size=8, seed=99))
    data = read_export(path, verify=True)
    assert data.fmt == "hdf5" and data.split is None and data.label_method == "bogg_masks"
    assert np.array_equal(data.images, rendered.images) and data.images.dtype == np.float32
    assert np.array_equal(data.isolated, rendered.isolated)
    assert np.array_equal(data.masks, rendered.masks) and data.masks.dtype == bool
    assert np.array_equal(data.labels, make_labels("bogg_masks", masks=rendered.masks))
    assert np.array_equal(data.flux_out_frac, rendered.flux_out_frac)
    assert np.array_equal(data.fluxes, blend_fluxes(stamps, specs))
    assert data.specs == specs
    want = blend_catalog(stamps, specs, flux_out_frac=rendered.flux_out_frac)
    assert_catalog_equal(data.catalog, want)
    with h5py.File(path, "r") as f:
        assert f.attrs["layout"] == "root" and json.loads(f.attrs["splits"]) == [None]
        assert f.attrs["format_version"] == 2 and f.attrs["tool_version"] == candels_gui.__version__
        assert f.attrs["seed"] == 99 and f.attrs["label_method"] == "bogg_masks"
        assert json.loads(f.attrs["options"])["compression"] == compression
        assert json.loads(f.attrs["input_hashes"])["content_hash"] == stamps.content_hash()
        n = N_SPECS
        expected = {"blend_images": ((n, 32, 32), "<f4"), "isolated_images": ((n, 2, 32, 32), "<f4"),
                    "masks": ((n, 2, 32, 32), "|u1"), "fluxes": ((n, 2), "<f8"),
                    "flux_out_frac": ((n,), "<f4"), "labels": ((n, 32, 32, 4), "|u1")}
        for name, (shape, dtype) in expected.items():
            ds = f[name]
            assert ds.shape == shape and ds.dtype.str == dtype, name
            assert ds.chunks is not None and 1 <= ds.chunks[0] <= 8 and ds.chunks[1:] == shape[1:]
            assert ds.compression == compression
        assert f["catalog"].dtype.names == CATALOG_COLUMNS and len(f["specs"]) == N_SPECS
        assert BlendSpec.from_json(f["specs"].asstr()[3]) == specs[3]


def test_a_fits_blend_export_is_not_read_as_galaxy_stamps(tmp_path, engine, specs):
    """Opened as data, each blend of a FITS export became a 'galaxy' with a made-up magnitude."""
    from candels_gui.core.data.load import load_stampset
    from candels_gui.core.errors import DataError

    path = tmp_path / "blends.fits"
    run_job(write_fits(path, engine, specs, method="single_images", batch_size=6, seed=5))
    with pytest.raises(DataError, match="a candels-gui FITS blend export .*not galaxy stamps"):
        load_stampset(path)


def test_fits_round_trips_bit_for_bit(tmp_path, engine, stamps, specs, rendered):
    path = tmp_path / "blends.fits"
    run_job(write_fits(path, engine, specs, method="single_images", batch_size=6, seed=5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a badly formed file makes astropy warn
        with fits.open(path) as hdul:
            hdul.verify("exception")
            assert [h.name for h in hdul] == ["PRIMARY", "BLEND", "ISOLATED", "MASKS", "LABELS",
                                              "CATALOG"]
            hdr = hdul[0].header
            assert hdr["CGFORMAT"] == "candels-gui-export" and hdr["FMTVER"] == 2
            assert hdr["TOOLVER"] == candels_gui.__version__ and hdr["SEED"] == 5
            assert hdr["LBLMETH"] == "single_images" and hdr["INHASH"] == stamps.content_hash()
            assert json.loads(hdr["INHASHES"])["input_hashes"] == stamps.meta["input_hashes"]
            assert hdul["BLEND"].data.shape == (N_SPECS, 32, 32)
            masks = hdul["MASKS"].data
            assert masks.dtype == np.uint8 and masks.shape == (N_SPECS, 2, 32, 32)
            assert hdul["CATALOG"].data.shape == (N_SPECS,)
            assert list(hdul["CATALOG"].columns.names[:19]) == list(CATALOG_COLUMNS)
            assert np.array_equal(hdul["ISOLATED"].data, rendered.isolated)
    data = read_export(path, verify=True)
    assert data.fmt == "fits" and data.images.dtype == np.float32
    assert np.array_equal(data.images, rendered.images)
    assert np.array_equal(data.isolated, rendered.isolated)
    assert np.array_equal(data.masks, rendered.masks)
    assert np.array_equal(data.labels, make_labels("single_images", isolated=rendered.isolated))
    assert np.array_equal(data.flux_out_frac, rendered.flux_out_frac)
    assert np.array_equal(data.fluxes, blend_fluxes(stamps, specs))
    assert data.specs == specs  # rebuilt from the CATALOG table's full-precision columns
    want = blend_catalog(stamps, specs, flux_out_frac=rendered.flux_out_frac)
    assert_catalog_equal(data.catalog, want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_split_exports_and_empty_split(tmp_path, fmt, engine, specs, rendered):
    dest = dest_for(fmt, tmp_path)
    result = run_job(export(dest, engine, split=(specs[:28], specs[28:]), fmt=fmt, batch_size=5))
    assert result.counts == {"train": 28, "test": 12}
    assert export_splits(dest) == ["train", "test"]
    for name, sl in (("train", slice(0, 28)), ("test", slice(28, None))):
        data = read_export(dest, split=name, verify=True)
        assert data.split == name and data.specs == specs[sl]
        assert np.array_equal(data.images, rendered.images[sl])
        assert data.catalog["id"].tolist() == list(range(len(data)))  # ids count within a split
    with pytest.raises(ValueError, match="pass split="):
        read_export(dest)
    with pytest.raises(ValueError, match="no split 'valid'"):
        read_export(dest, split="valid")
    if fmt == "npy":
        assert (dest / "train_images.npy").exists() and (dest / "test_catalogue.csv").exists()
    elif fmt == "hdf5":
        with h5py.File(dest, "r") as f:
            assert f.attrs["layout"] == "groups" and set(f) == {"train", "test"}
            assert f["test/blend_images"].shape == (12, 32, 32)
    else:
        assert fits.getheader(dest, "TEST_BLEND")["NAXIS3"] == 12

    empty = dest_for(fmt, tmp_path / "empty")
    run_job(export(empty, engine, {"train": specs[:3], "test": []}, fmt=fmt, method="ogg_masks"))
    test = read_export(empty, split="test")
    assert len(test) == 0 and test.images.shape == (0, 32, 32) and test.specs == []
    assert test.labels.shape == (0, 32, 32, 3) and len(test.catalog) == 0


def test_folder_mode_writes_file_csv_and_manifest(tmp_path, engine, stamps, specs, rendered):
    folder = tmp_path / "produced"
    result = run_job(export(folder, engine, {"train": specs[:30], "test": specs[30:]}, fmt="hdf5",
                            filename="blends.h5", batch_size=16))
    assert result.path == folder / "blends.h5" and result.manifest_path == folder / "manifest.json"
    assert sorted(p.name for p in folder.iterdir()) == ["blends.h5", "manifest.json",
                                                        "test_catalogue.csv", "train_catalogue.csv"]
    data = read_export(folder, split="test", verify=True)  # the folder leads to its HDF5 file
    assert data.fmt == "hdf5" and np.array_equal(data.images, rendered.images[30:])
    cat = read_catalog_csv(folder / "test_catalogue.csv")
    assert cat["g2_id"].tolist() == data.catalog["g2_id"].tolist()
    assert np.allclose(cat["g2_mag"], data.catalog["g2_mag"], atol=5e-7, rtol=0)


# -------------------------------------------------------------------------------------- manifest
@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_records_provenance_and_rederives_blends(tmp_path, fmt, stamps, engine, specs):
    dest = dest_for(fmt, tmp_path)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = run_job(export(dest, engine, specs, fmt=fmt, method="gg_masks", seed=1234, batch_size=9,
                            options={"mag_diff": 2.0, "rad_diff": 4.0}))
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["format"] == "candels-gui-export" and manifest["format_version"] == 2
    assert manifest["kind"] == fmt and manifest["tool_version"] == candels_gui.__version__
    created = dt.datetime.fromisoformat(manifest["created_utc"].replace("Z", "+00:00"))
    assert created >= before and created.tzinfo is not None
    assert manifest["seed"] == 1234 and manifest["spec_seeds"] == [7]
    assert manifest["options"]["mag_diff"] == 2.0 and manifest["options"]["batch_size"] == 9
    assert manifest["label_method"] == "gg_masks"
    assert manifest["splits"] == [dict(manifest["splits"][0], name=None, n=N_SPECS)]
    assert manifest["input"]["content_hash"] == stamps.content_hash()
    assert manifest["input"]["input_hashes"] == stamps.meta["input_hashes"]
    folder = dest if fmt == "npy" else dest.parent
    assert manifest["files"]
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    shapes = {a["name"].rsplit("/", 1)[-1].lower().removesuffix(".npy"): a for a in manifest["arrays"]}
    blend_key = {"npy": "images", "hdf5": "blend_images", "fits": "blend"}[fmt]
    assert shapes[blend_key]["shape"] == [N_SPECS, 32, 32] and shapes[blend_key]["dtype"][1:] == "f4"
    # every blend is re-derived from its recorded spec by a fresh engine on the same data
    recorded = [BlendSpec.from_dict(d) for d in manifest["specs"][""]]
    assert recorded == specs
    fresh = BlendEngine(stamps)
    images = read_export(dest).images
    for i, spec in enumerate(recorded):
        assert np.array_equal(fresh.render(spec).image, images[i])


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_inputs_and_seed_give_the_same_bytes(tmp_path, fmt, engine, specs, monkeypatch):
    """No clock in the data files: two exports a second apart are the same bytes; the manifest, which records
    the time, differs by it alone, and SOURCE_DATE_EPOCH makes it the same too."""
    from candels_gui.core.store import common

    times = iter(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"])
    monkeypatch.setattr(common, "_dt", type("_", (), {"datetime": _FixedClock(times), "timezone": dt.timezone}))
    results = [run_job(export(dest_for(fmt, tmp_path / name), engine, specs, fmt=fmt, method="ogg_masks", seed=3))
               for name in ("a", "b")]
    manifests = [json.loads(r.manifest_path.read_text()) for r in results]
    assert [m.pop("created_utc") for m in manifests] == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"]
    assert manifests[0] == manifests[1]      # file hashes included: the data files are the same bytes
    assert {e["name"] for e in manifests[0]["files"]}
    monkeypatch.undo()                       # the real clock, fixed by the reproducible-builds variable
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert common.utc_now() == "2023-11-14T22:13:20Z"


class _FixedClock:
    """Stands in for ``datetime.datetime``: ``now`` returns the next of the given times."""

    def __init__(self, times):
        self.times = times

    def now(self, tz=None):
        return dt.datetime.fromisoformat(next(self.times).replace("Z", "+00:00"))

    def fromtimestamp(self, t, tz=None):
        return dt.datetime.fromtimestamp(t, tz)


# ------------------------------------------------------------------------------------- atomicity
def cancel_after_first_batch(job, token: CancelToken):
    def on_progress(p):
        token.cancel()
    with pytest.raises(Cancelled):
        run_job(job, on_progress)


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancelled_write_leaves_nothing(tmp_path, fmt, engine, specs):
    token = CancelToken()
    dest = dest_for(fmt, tmp_path / "new" / "deeper")
    cancel_after_first_batch(write(fmt, dest, engine, specs, batch_size=4, cancel=token), token)
    assert list(tmp_path.iterdir()) == []  # no output, no temporaries, no folders made for it


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancelled_or_failed_rewrite_keeps_existing_output(tmp_path, fmt, engine, stamps, specs):
    dest = dest_for(fmt, tmp_path)
    run_job(write(fmt, dest, engine, specs[:10], batch_size=4))
    before = snapshot(tmp_path)
    token = CancelToken()
    cancel_after_first_batch(write(fmt, dest, engine, specs, batch_size=4, cancel=token), token)
    assert snapshot(tmp_path) == before
    failing = CountingEngine(stamps, fail_on_call=3)
    with pytest.raises(RuntimeError, match="on purpose"):
        run_job(write(fmt, dest, failing, specs, batch_size=4))
    assert snapshot(tmp_path) == before
    job = write(fmt, dest, engine, specs, batch_size=4)
    next(job)
    job.close()  # a consumer that gives up midway
    assert snapshot(tmp_path) == before
    assert len(read_export(dest, verify=True)) == 10


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_streams_one_batch_at_a_time(tmp_path, fmt, stamps, specs):
    counting = CountingEngine(stamps)
    seen = []

    def on_progress(p):
        # everything asked for so far has been written: no read-ahead beyond one batch
        assert counting.rendered == p.done
        seen.append(p.done)

    result = run_job(write(fmt, dest_for(fmt, tmp_path), counting, specs, batch_size=4), on_progress)
    assert result.n_blends == N_SPECS
    assert counting.sizes == [4] * 10
    assert seen == list(range(4, N_SPECS + 1, 4))
    assert len(counting.buffers) == 1  # one batch buffer, filled again for every batch


@pytest.fixture(scope="module")
def engine64():
    eng = BlendEngine(make_stamps(size=64, seed=3))
    eng.render_batch(make_specs(40, seed=4))  # clean every stamp once (the cache is not export memory)
    return eng


@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_memory_does_not_grow_with_the_number_of_blends(tmp_path, fmt, engine64):
    import tracemalloc

    n = 200
    specs = make_specs(n, seed=6)
    full = n * 64 * 64 * (4 + 2 * 4 + 2)  # blends + isolated + masks, were they all held at once
    tracemalloc.start()
    try:
        run_job(export(dest_for(fmt, tmp_path), engine64, specs, fmt=fmt, method="ogg_masks",
                       batch_size=4))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.4 * full


# ------------------------------------------------------------------------------------ validation
def test_verify_detects_a_changed_file(tmp_path, engine, specs):
    out = tmp_path / "npy"
    run_job(write_npy(out, engine, specs[:8]))
    raw = bytearray((out / "images.npy").read_bytes())
    raw[-1] ^= 0xFF
    (out / "images.npy").write_bytes(bytes(raw))
    read_export(out)  # reading without verification still works
    with pytest.raises(DataError, match="images.npy: SHA-256 differs"):
        read_export(out, verify=True)


def test_bad_arguments_fail_before_writing(tmp_path, engine, specs):
    with pytest.raises(ValueError, match="unknown label method"):
        write_npy(tmp_path / "a", engine, specs, method="nope")
    with pytest.raises(ValueError, match="compression"):
        write_hdf5(tmp_path / "a.h5", engine, specs, compression="zstd")
    with pytest.raises(DataError, match="no galaxy with id 9999"):
        write_fits(tmp_path / "a.fits", engine, [specs[0], BlendSpec(500, 9999)])
    with pytest.raises(ValueError, match="split name"):
        write_hdf5(tmp_path / "a.h5", engine, {"train/x": specs})
    with pytest.raises(ValueError, match="batch_size"):
        write_npy(tmp_path / "a", engine, specs, batch_size=0)
    with pytest.raises(ValueError, match="not both"):
        export(tmp_path / "a", engine, specs, split=(specs, specs))
    with pytest.raises(ValueError, match="unknown export format"):
        export(tmp_path / "a", engine, specs, fmt="zarr")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "junk.bin").write_bytes(b"not an export")
    with pytest.raises(DataError, match="junk.bin"):
        read_export(tmp_path / "junk.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no manifest.json"):
        read_export(tmp_path / "empty")


@pytest.mark.parametrize("fmt", ["hdf5", "fits", "npy"])
def test_a_split_asked_of_an_unsplit_export_says_so(tmp_path, engine, specs, fmt):
    """An app export holds one set of blends: asking for its test split says that, not 'corrupt or truncated
    FITS (ValueError: … has no split 'test'; it holds [None])'."""
    dest = dest_for(fmt, tmp_path)
    run_job(export(dest, engine, specs[:6], fmt=fmt))
    assert len(read_export(dest).specs) == 6
    with pytest.raises(DataError, match="holds one set of blends, not split into train and test") as info:
        read_export(dest, split="test")
    assert "corrupt" not in str(info.value)
