"""Core (no Qt): fill masks read by every reader and counted in the blend metrics; missing catalog values;
no duplicate blends (unique draws, session queue, exports); the autosaves offered at start-up."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from candels_gui.core.blending.blend_metrics import blend_fillmask, blend_metrics, fill_fractions
from candels_gui.core.blending.engine import BlendEngine, BlendSpec
from candels_gui.core.blending.sampling import SamplingRules, duplicate_specs, sample_specs, spec_key
from candels_gui.core.curation.session import Session, list_recoverable
from candels_gui.core.curation.session_export import export_session, session_export_specs
from candels_gui.core.data.catalog import CatalogFilter, missing_mask, present_range
from candels_gui.core.data.readers_fits import read_fits_stamps
from candels_gui.core.data.readers_npy import read_candels_blender
from candels_gui.core.data.load import load_stampset
from candels_gui.core.errors import DataError
from candels_gui.core.jobs import run_job
from candels_gui.core.store.export import read_export
from conftest import make_stampset
from test_sources import make_stamps, write_candels, write_cube


# ------------------------------------------------------------------ fill masks
def test_candels_blender_fillmask_is_read_padded_and_checked(tmp_path):
    imgs, _segs, _rows = write_candels(tmp_path, n=4, size=32)
    fill = np.zeros(imgs.shape, np.uint8)
    fill[:, :, :6] = 1  # the survey cut-out ran off the image on the left of every stamp
    np.save(tmp_path / "candels_fillmask.npy", fill)
    st = read_candels_blender(tmp_path)
    assert st.fillmask is not None and st.fillmask.shape == imgs.shape
    np.testing.assert_array_equal(st.fill_of(2), fill[2] != 0)
    assert "candels_fillmask.npy" in st.meta["input_hashes"]
    # padding to a larger stamp is fill too; a subset carries its rows
    big = read_candels_blender(tmp_path, stamp_size=40)
    assert big.fill_of(0)[:4].all() and big.fill_of(0)[20, 4:10].all() and not big.fill_of(0)[20, 12:36].any()
    assert big.subset([3, 1]).fillmask.shape == (2, 40, 40)
    # a mask of the wrong shape is named
    np.save(tmp_path / "candels_fillmask.npy", fill[:, :30])
    with pytest.raises(DataError, match=r"candels_fillmask.npy has shape \(4, 30, 32\) but the images have"):
        read_candels_blender(tmp_path)
    (tmp_path / "candels_fillmask.npy").unlink()
    assert read_candels_blender(tmp_path).fillmask is None


def test_fits_mask_extension_is_the_fill_mask(tmp_path):
    imgs, segs, _labels = make_stamps(3, 32)
    fill = np.zeros(imgs.shape, np.uint8)
    fill[1, 20:] = 1
    fits.HDUList([fits.PrimaryHDU(imgs), fits.ImageHDU(fill, name="FILLMASK")]).writeto(tmp_path / "cube.fits")
    write_cube(tmp_path / "seg.fits", segs)
    st = read_fits_stamps(tmp_path / "cube.fits", segmaps=tmp_path / "seg.fits")
    np.testing.assert_array_equal(st.images, imgs)  # the mask extension is not taken for the images
    np.testing.assert_array_equal(st.fillmask, fill != 0)
    # one file per stamp: each its own MASK extension (absent: no fill there)
    folder = tmp_path / "stamps"
    folder.mkdir()
    for k in range(3):
        hdus = [fits.PrimaryHDU(imgs[k])] + ([fits.ImageHDU(fill[k], name="MASK")] if k == 1 else [])
        fits.HDUList(hdus).writeto(folder / f"s{k}.fits")
    st = read_fits_stamps(folder, segmaps=tmp_path / "seg.fits")
    np.testing.assert_array_equal(st.fillmask, fill != 0)
    assert read_fits_stamps(tmp_path / "seg.fits").fillmask is None


def test_cosmos_reader_knows_where_it_padded(cosmos_dir):
    st = load_stampset(cosmos_dir)
    assert st.fillmask is not None and st.fillmask.dtype == bool
    h, w = st.stamp_shape
    for i in range(len(st)):
        oh, ow = st.meta["original_shape"][i]
        expected_data = min(oh, h) * min(ow, w)  # pixels the file's stamp covers after centring
        assert int((~st.fillmask[i]).sum()) == expected_data, i
        assert not st.fillmask[i][h // 2, w // 2]  # the galaxy's centre is data
    assert st.fillmask.mean() > 0.3  # most COSMOS stamps are smaller than 128 px: much padding


def test_blend_fillmask_follows_the_transform_and_counts_footprints():
    stamps = make_stampset(n=6, size=48, seed=2)
    stamps.fillmask = np.zeros(stamps.images.shape, bool)
    stamps.fillmask[:, :, :10] = True
    ids = stamps.ids
    spec = BlendSpec(int(ids[0]), int(ids[1]), dx=5.0, dy=3.0)
    fill = blend_fillmask(stamps, spec)
    np.testing.assert_array_equal(fill[0], stamps.fillmask[0])
    # galaxy 2's fill moved by (5, 3): columns 5..14 of rows 3.. are its stamp's fill; the strips its stamp
    # no longer covers (first 3 rows, first 5 columns) are fill as well
    assert fill[1][10, 5:15].all() and not fill[1][10, 15:].any() and fill[1][:3].all() and fill[1][:, :5].all()
    masks = np.zeros((2, 48, 48), bool)
    masks[0, 20:30, 5:15] = True  # half of it on columns < 10
    masks[1, 20:30, 20:30] = True
    assert fill_fractions(masks, fill) == (0.5, 0.0)
    # the metrics count the blend's real footprints; stamps without a mask have no fill of their own
    engine = BlendEngine(stamps)
    m = blend_metrics(engine.render(spec), stamps)
    assert 0.0 <= m.fill_fraction[0] <= 1.0 and m.to_dict()["fill_fraction"] == list(m.fill_fraction)
    stamps.fillmask = None
    assert blend_metrics(engine.render(spec), stamps).fill_fraction == (0.0, 0.0)


# ------------------------------------------------------------------ missing values
def test_missing_values_are_ignored_by_filters_and_ranges():
    t = Table({"id": [1, 2, 3, 4, 5], "mag": [22.0, 99.0, 23.0, 24.0, np.nan],
               "radius": [3.0, 4.0, -1.0, 5.0, 2.0], "z": [0.5, -1.0, np.nan, 2.0, -99.0],
               "galtype": ["disk"] * 5})
    assert missing_mask(t["z"], "z").tolist() == [False, True, True, False, True]
    assert missing_mask(t["mag"], "mag").tolist() == [False, True, False, False, True]
    assert present_range(t, "z") == (0.5, 2.0) and present_range(t, "mag") == (22.0, 24.0)
    assert present_range(Table({"z": [-1.0, -1.0]}), "z") is None
    flt = CatalogFilter(z_min=0.4, z_max=1.0)
    assert flt.mask(t).tolist() == [True, True, True, False, True]  # unknown z is not judged by z bounds
    assert CatalogFilter(z_min=0.4, z_max=1.0, keep_missing=False).mask(t).tolist() == [True] + [False] * 4
    assert CatalogFilter(mag_high=23.5).mask(t).tolist() == [True, True, True, False, True]
    # sessions written before keep_missing existed read back with the default
    assert CatalogFilter.from_dict({"z_min": 1.0}).keep_missing is True


# ------------------------------------------------------------------ duplicates
def test_unique_draws_skip_repeats_and_continue_the_stream():
    stamps = make_stampset(n=5, size=32, seed=3)
    rules = SamplingRules()  # whole-pixel offsets from 5 galaxies: repeats are common
    plain = sample_specs(stamps, 200, rules, seed=7)
    assert duplicate_specs(plain)  # the plain stream repeats itself
    unique = sample_specs(stamps, 60, rules, seed=7, unique=True)
    assert not duplicate_specs(unique) and len(unique) == 60
    firsts = [s for i, s in enumerate(plain) if i not in duplicate_specs(plain)]
    assert unique == firsts[:60]  # the same stream, repeats left out
    queued = unique[:10]
    more = sample_specs(stamps, 20, rules, seed=7, exclude=queued)
    assert not ({spec_key(s) for s in more} & {spec_key(s) for s in queued})
    with pytest.raises(DataError, match=r"only \d+ distinct new blends found .* 2 galaxies \(10000 asked\)"):
        sample_specs(stamps, 10_000, rules, seed=7, pool=[0, 1], unique=True)
    # the seed of the noise does not make another blend
    assert spec_key(plain[0]) == spec_key(plain[0].replace(seed=99))


def test_session_random_blends_never_repeat_the_queue_and_exports_refuse_repeats(tmp_path):
    stamps = make_stampset(n=6, size=32, seed=4)
    s = Session(seed=11)
    first = sample_specs(stamps, 1, s.rules, seed=11)[0]
    s.set_current(first)
    s.add_current()  # the start-up pair, queued by hand: stream index 0
    s.add_random(stamps, 40)
    specs = [item.spec for item in s.queue]
    assert len(specs) == 41 and not duplicate_specs(specs)
    assert s.random_index > 40  # repeats were skipped, the stream moved on past them
    assert s.find_spec(first.replace(seed=5)) == 0 and s.find_spec(BlendSpec(1, 2)) is None
    s.undo()
    assert len(s.queue) == 1 and s.random_index == 0  # undo gives the draws back
    # exports: repeats are refused (named), dropped or kept
    s.add_specs([first, first.replace(dx=first.dx + 1)])
    s.set_status(range(len(s.queue)), "accepted")
    with pytest.raises(DataError, match=r"1 exported blend\(s\) repeat an earlier one \(#2 = #1\)"):
        session_export_specs(s, stamps)
    assert len(session_export_specs(s, stamps, duplicates="drop")[0]) == 2
    assert len(session_export_specs(s, stamps, duplicates="keep")[0]) == 3
    result = run_job(export_session(tmp_path / "out", s, stamps, duplicates="drop"))
    assert result.n_blends == 2 and len(read_export(tmp_path / "out").images) == 2
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["options"]["duplicates"] == "drop" and manifest["options"]["dropped_duplicates"] == 1


# ------------------------------------------------------------------ recovery
def test_list_recoverable_finds_crashed_sessions_saved_or_not(tmp_path):
    stamps = make_stampset(n=6, size=32, seed=5)
    auto = tmp_path / "autosave"
    saved = Session(data_path=tmp_path, data_hash=stamps.content_hash(), autosave_dir=auto)
    saved.add_specs(sample_specs(stamps, 3, seed=1))
    saved.save(tmp_path / "work.json")
    assert list_recoverable(auto) == []  # saved and nothing after: nothing to offer
    time.sleep(0.01)
    saved.set_status([0], "accepted")  # then a change, then the process dies (no save, no clean close)
    unsaved = Session(data_path=tmp_path, data_hash="0123456789abcdef", autosave_dir=auto)
    unsaved.add_specs(sample_specs(stamps, 2, seed=2))
    os.utime(unsaved.autosave_path, (time.time() + 5, time.time() + 5))
    found = list_recoverable(auto)
    assert [a.path for a in found] == [unsaved.autosave_path, saved.autosave_path]  # newest first
    assert found[0].session_path is None and found[0].n_queued == 2 and found[0].data_hash == "0123456789abcdef"
    assert found[1].session_path == (tmp_path / "work.json").resolve() and found[1].n_queued == 3
    assert found[1].data_path == tmp_path.resolve()
    # a save after the autosave makes it stale; an unreadable file is skipped
    saved.save()
    (auto / "data-garbage.json").write_text("{not json")
    assert [a.path for a in list_recoverable(auto)] == [unsaved.autosave_path]


def test_an_autosave_of_an_app_still_running_is_not_offered(tmp_path):
    import subprocess
    import sys

    stamps = make_stampset(n=6, size=32, seed=6)
    auto = tmp_path / "autosave"
    s = Session(data_path=tmp_path, data_hash=stamps.content_hash(), autosave_dir=auto)
    s.add_specs(sample_specs(stamps, 2, seed=3))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        doc = json.loads(s.autosave_path.read_text())
        doc["autosave"]["pid"] = other.pid  # as if another running app had written it
        s.autosave_path.write_text(json.dumps(doc))
        assert list_recoverable(auto) == []
    finally:
        other.kill()
        other.wait()
    assert [a.path for a in list_recoverable(auto)] == [s.autosave_path]  # that app died: offered


def test_pixel_to_sky_reads_the_data_wcs_one_or_one_per_stamp(small_stamps):
    from astropy.wcs import WCS

    def tan(ra: float) -> WCS:
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crpix = [24.0, 24.0]         # 1-based: pixel (23, 23) is the reference point
        w.wcs.crval = [ra, -27.8]
        w.wcs.cdelt = [-0.06 / 3600, 0.06 / 3600]
        return w

    stamps = small_stamps
    ids = [int(i) for i in stamps.ids]
    assert stamps.pixel_to_sky(ids[0], 23.0, 23.0) is None               # no WCS in the data
    stamps.meta["wcs"] = tan(53.1)
    ra, dec = stamps.pixel_to_sky(ids[3], 23.0, 23.0)
    assert (ra, dec) == pytest.approx((53.1, -27.8))
    ra2, dec2 = stamps.pixel_to_sky(ids[3], 33.0, 23.0)                  # 10 px east-west: 0.6 arcsec
    assert abs(ra2 - ra) * np.cos(np.radians(dec)) * 3600 == pytest.approx(0.6, rel=1e-3) and dec2 == pytest.approx(dec)
    stamps.meta["wcs"] = [tan(10.0 + k) for k in range(len(stamps))]     # one per stamp
    assert stamps.pixel_to_sky(ids[5], 23.0, 23.0)[0] == pytest.approx(15.0)
