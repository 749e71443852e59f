"""Compact HDF5 exports: specs + stamp library, rendered on read exactly as the arrays storage stores them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from candels_gui.core.blending.engine import BlendEngine
from candels_gui.core.store.concatenate import concatenate
from candels_gui.core.errors import DataError
from candels_gui.core.store.export import read_export, write_hdf5
from candels_gui.core.store.stamp_library import LIBRARY_GROUP, SplitArrays, library_engine
from candels_gui.core.jobs import run_job
from candels_gui.core.store.produce import PRODUCE_FILE

from test_export import make_specs, make_stamps


@pytest.fixture(scope="module")
def stamps():
    return make_stamps()


@pytest.fixture(scope="module")
def pair(stamps, tmp_path_factory):
    """The same split specs written with both storages (ogg labels), and those specs."""
    folder = tmp_path_factory.mktemp("library")
    specs = make_specs(30)
    splits = {"train": specs[:22], "test": specs[22:]}
    for storage in ("arrays", "compact"):
        run_job(write_hdf5(folder / f"{storage}.h5", BlendEngine(stamps), splits, method="ogg_masks",
                           storage=storage))
    return folder, splits


@pytest.mark.parametrize("split", ["train", "test"])
def test_compact_file_reads_back_bit_identical_to_stored_arrays(pair, split):
    folder, splits = pair
    a = read_export(folder / "arrays.h5", split=split)
    c = read_export(folder / "compact.h5", split=split)
    assert len(c) == len(splits[split]) and c.specs == splits[split]
    for key in ("images", "isolated", "masks", "labels", "fluxes", "flux_out_frac"):
        np.testing.assert_array_equal(getattr(c, key), getattr(a, key), err_msg=key)
    assert c.label_method == a.label_method == "ogg_masks"
    assert list(c.catalog.colnames) == list(a.catalog.colnames)
    assert np.allclose(np.asarray(c.catalog["distance"]), np.asarray(a.catalog["distance"]))


def test_compact_file_holds_tables_and_only_the_stamps_its_specs_use(pair, stamps):
    folder, splits = pair
    used = {g for specs in splits.values() for s in specs for g in (s.id1, s.id2)}
    with h5py.File(folder / "compact.h5") as f:
        assert f.attrs["storage"] == "compact" and f.attrs["format_version"] == 2
        assert set(f["train"]) == {"fluxes", "flux_out_frac", "specs", "catalog"}
        lib = f[LIBRARY_GROUP]
        assert set(lib["catalog/id"][...].tolist()) == used
        rows = [stamps.index_of(g) for g in sorted(used)]
        np.testing.assert_array_equal(lib["images"][...], stamps.images[rows])
        np.testing.assert_array_equal(lib["segmaps"][...], stamps.segmaps[rows])
        np.testing.assert_array_equal(lib["rng_index"][...], rows)   # noise seeded as in the full set
        assert lib.attrs["noise_model"] == "clipped" and lib.attrs["n_dilate"] == 5


def test_split_arrays_reads_slices_and_sorted_indices_from_both_storages(pair):
    folder, _ = pair
    with h5py.File(folder / "arrays.h5") as fa, h5py.File(folder / "compact.h5") as fc:
        stored, rendered = SplitArrays(fa["train"]), SplitArrays(fc["train"])
        assert not stored.compact and rendered.compact and len(stored) == len(rendered) == 22
        assert stored.shape == rendered.shape == (32, 32)
        for sel in (slice(3, 11), np.array([0, 4, 5, 19])):
            for x, y in zip(stored.read(sel), rendered.read(sel)):
                np.testing.assert_array_equal(x, y)
        images, isolated, masks = stored.read(slice(0, 2), isolated=False)
        assert isolated is None and images.shape == (2, 32, 32) and masks.dtype == bool


def test_engine_rebuilt_from_a_subset_library_renders_like_the_original(stamps, tmp_path):
    """Galaxies at other positions in the library than in the stamp set: noise still seeded alike."""
    specs = [s for s in make_specs(60, seed=3) if {s.id1, s.id2} <= {503, 506, 507, 510}]
    assert len(specs) >= 3
    run_job(write_hdf5(tmp_path / "subset.h5", BlendEngine(stamps), specs, storage="compact"))
    with h5py.File(tmp_path / "subset.h5") as f:
        engine = library_engine(f)
    assert len(engine.stamps) == 4 and engine.cache.rng_index(0) == 3
    full = BlendEngine(stamps)
    for spec in specs:
        a, b = full.render(spec), engine.render(spec)
        np.testing.assert_array_equal(a.isolated, b.isolated)
        np.testing.assert_array_equal(a.masks, b.masks)


def test_concatenate_renders_a_compact_produce_file(pair, tmp_path):
    folder, _ = pair
    outs = {}
    for storage in ("arrays", "compact"):
        out = tmp_path / storage
        out.mkdir()
        (out / PRODUCE_FILE).write_bytes((folder / f"{storage}.h5").read_bytes())
        run_job(concatenate(out, "single_images", batch_size=7))
        outs[storage] = out
    for name in ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy"):
        assert (outs["compact"] / name).read_bytes() == (outs["arrays"] / name).read_bytes()


def test_training_data_from_a_compact_file_equals_from_arrays(pair):
    pytest.importorskip("torch")
    from candels_gui.deblend.training import TrainingData

    folder, _ = pair
    idx = np.array([7, 1, 12])
    for model in ("unet-seg", "unet-deblend"):
        for memory_mb in (0, 1024):   # read per batch, and all in memory
            a = TrainingData(folder / "arrays.h5", model, memory_mb=memory_mb).batch(idx, with_flux=True)
            c = TrainingData(folder / "compact.h5", model, memory_mb=memory_mb).batch(idx, with_flux=True)
            for x, y in zip(a, c):
                np.testing.assert_array_equal(x, y)


def test_flux_out_fractions_without_rendering_match_the_render(stamps):
    specs = make_specs(40, seed=5)
    specs += [s.replace(dx=s.dx + 30) for s in specs[:6]]   # pushed partly or wholly out
    for noise_model in ("clipped", "candels-blender"):
        engine = BlendEngine(stamps, noise_model=noise_model)
        fast = engine.flux_out_fractions(specs)
        np.testing.assert_array_equal(fast, engine.render_batch(specs).flux_out_frac)
    assert fast.max() > 0.5 and (fast == 0).any()


def test_bad_compact_files_and_options_give_clear_errors(pair, tmp_path, stamps):
    folder, splits = pair
    broken = tmp_path / "broken.h5"
    broken.write_bytes((folder / "compact.h5").read_bytes())
    with h5py.File(broken, "a") as f:
        del f[LIBRARY_GROUP]
    with pytest.raises(DataError, match="stamp_library"):
        read_export(broken, split="train")
    with h5py.File(broken, "a") as f:
        f.attrs["storage"] = "zipped"
    with pytest.raises(DataError, match="unknown storage 'zipped'"):
        read_export(broken, split="train")
    with pytest.raises(ValueError, match="storage must be one of"):
        write_hdf5(tmp_path / "x.h5", BlendEngine(stamps), splits, storage="zipped")


@pytest.mark.parametrize("method", ["gg_masks", "ogg_masks", "bogg_masks", "single_images"])
def test_streamed_concatenate_equals_the_arrays_saved_whole_whatever_the_chunk(pair, tmp_path, method):
    """The chunked writer gives the bytes of ``np.save`` of the whole arrays, for any chunk size."""
    import io

    from candels_gui.core.blending.labels import make_labels

    folder, splits = pair
    expected = {}
    for split in splits:
        data = read_export(folder / "compact.h5", split=split)
        for name, arr in (("images", data.images),
                          ("labels", make_labels(method, masks=data.masks, isolated=data.isolated))):
            buf = io.BytesIO()
            np.save(buf, arr)
            expected[f"{split}_{name}.npy"] = buf.getvalue()
    for batch_size in (1, 7, 1000):
        out = tmp_path / f"{method}-{batch_size}"
        out.mkdir()
        (out / PRODUCE_FILE).write_bytes((folder / "compact.h5").read_bytes())
        written = run_job(concatenate(out, method, batch_size=batch_size))
        assert sorted(p.name for p in written) == sorted(expected)
        for name, content in expected.items():
            assert (out / name).read_bytes() == content, (name, batch_size)
        assert sorted(p.name for p in out.iterdir()) == sorted([PRODUCE_FILE, *expected])   # no temporaries


def test_cancelled_concatenate_leaves_nothing(pair, tmp_path):
    from candels_gui.core.errors import Cancelled
    from candels_gui.core.jobs import CancelToken

    folder, _ = pair
    out = tmp_path / "cancelled"
    out.mkdir()
    (out / PRODUCE_FILE).write_bytes((folder / "compact.h5").read_bytes())
    token = CancelToken()
    job = concatenate(out, "ogg_masks", batch_size=4, cancel=token)
    next(job)                     # one chunk written
    token.cancel()
    with pytest.raises(Cancelled):
        for _ in job:
            pass
    assert [p.name for p in out.iterdir()] == [PRODUCE_FILE]


def test_compact_library_keeps_the_stamps_fill_masks_and_psfs(stamps, tmp_path):
    """Opened in the app, an export of data with fill masks and PSFs keeps them (the fill overlay, statmorph)."""
    import dataclasses

    rng = np.random.default_rng(4)
    fill = np.zeros(stamps.images.shape, bool)
    fill[:, :, :3] = True
    psfs = rng.random((len(stamps), 9, 9)).astype(np.float32)
    rich = dataclasses.replace(stamps, fillmask=fill, psfs=psfs)
    specs = make_specs(12, seed=5)
    for data, name in ((rich, "rich.h5"), (stamps, "plain.h5")):
        run_job(write_hdf5(tmp_path / name, BlendEngine(data), specs, storage="compact"))
    with h5py.File(tmp_path / "rich.h5") as f:
        back = library_engine(f).stamps
    rows = [stamps.index_of(int(g)) for g in back.catalog["id"]]
    np.testing.assert_array_equal(back.fillmask, fill[rows])
    np.testing.assert_array_equal(back.psfs, psfs[rows])
    with h5py.File(tmp_path / "plain.h5") as f:
        plain = library_engine(f).stamps
    assert plain.fillmask is None and plain.psfs is None
    with h5py.File(tmp_path / "rich.h5", "r+") as f:
        f[f"{LIBRARY_GROUP}/psfs"][0, 0, 0] = np.nan
    with h5py.File(tmp_path / "rich.h5") as f, pytest.raises(DataError, match="psfs hold NaN"):
        library_engine(f)
