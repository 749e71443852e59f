"""The domain-randomised ("sky variety") generator and the stamp-set comparison (issue 19, item 1)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from candels_gui.cli import main
from candels_gui.core.data.load import load_stampset
from candels_gui.core.data.sample_labels import sky_noise
from candels_gui.core.data.sky_variety import (VARIETY_COLUMNS, VARIETY_FILE, make_sky_stamp,
                                               sky_variety_job)
from candels_gui.core.jobs import run_job
from candels_gui.paths import sample_data_dir
from candels_gui.core.measure.stamp_stats import (QUANTITIES, _background_lag1, _measure_one, compare_stamp_sets,
                                                  pixel_scales_of, stamp_quantities_job)

N, SIZE, SEED = 40, 64, 11


@pytest.fixture(scope="module")
def sky_set(tmp_path_factory):
    return run_job(sky_variety_job(tmp_path_factory.mktemp("sky"), n_stamps=N, seed=SEED, stamp_size=SIZE))


def _variety(folder):
    with open(folder / VARIETY_FILE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_seeded_and_bit_reproducible(sky_set, tmp_path):
    again = run_job(sky_variety_job(tmp_path, n_stamps=N, seed=SEED, stamp_size=SIZE, workers=2))   # 3 chunks
    for name in ("candels_img.npy", "candels_seg.npy", "candels_cat.csv", VARIETY_FILE):
        assert (again / name).read_bytes() == (sky_set / name).read_bytes(), name
    alone = make_sky_stamp(SEED, 7, stamp_size=SIZE)           # stamp i alone = stamp i of the set
    assert np.array_equal(alone.image, np.load(sky_set / "candels_img.npy")[7])
    assert np.array_equal(alone.segmap, np.load(sky_set / "candels_seg.npy")[7])
    other = make_sky_stamp(SEED + 1, 7, stamp_size=SIZE)
    assert not np.array_equal(alone.image, other.image)


def test_every_kind_of_variety_is_drawn_and_recorded(sky_set):
    rows = _variety(sky_set)
    assert len(rows) == N and tuple(rows[0]) == VARIETY_COLUMNS
    stamps = load_stampset(sky_set)
    assert [int(r["ID"]) for r in rows] == [int(i) for i in stamps.ids]
    assert {r["instrument"] for r in rows} == {"wfc3-f160w", "acs-f814w", "acs-f606w"}
    assert len({r["pixel_scale"] for r in rows}) >= 3
    for key in ("bar", "asymmetric", "cleaned_neighbours"):
        assert 0 < sum(int(r[key]) for r in rows) < N, key
    assert any(r["masked"] for r in rows)
    lag1 = np.array([float(r["noise_lag1"]) for r in rows])
    assert lag1.min() < 0.25 and lag1.max() > 0.5              # white-ish to strongly drizzled noise
    fwhm = {r["instrument"]: float(r["psf_fwhm_arcsec"]) for r in rows}
    assert fwhm["acs-f606w"] < fwhm["wfc3-f160w"]              # the PSF follows the band's wavelength
    # stamp files: the central label at the centre, masked pixels are zeros and unlabelled, cleaned stamps keep
    # only the central segment
    images, segmaps = np.load(sky_set / "candels_img.npy"), np.load(sky_set / "candels_seg.npy")
    c = SIZE // 2
    for i, r in enumerate(rows):
        assert segmaps[i, c, c] == stamps.catalog["segval"][i]
        if r["masked"] == "column":
            cols = np.flatnonzero((images[i] == 0).all(axis=0))
            assert len(cols) >= 1 and (segmaps[i][:, cols] == 0).all()
        if r["cleaned_neighbours"] == "1":
            assert set(np.unique(segmaps[i])) <= {0, segmaps[i, c, c]}


def test_correlated_noise_has_the_stated_lag1():
    rng = np.random.default_rng(0)
    for a in (0.0, 0.25, 0.5):
        field = sky_noise(rng, (512, 512), 2.0, a)
        rms, lag1 = _background_lag1(field, np.ones(field.shape, bool))
        assert rms == pytest.approx(2.0, rel=0.02)
        assert lag1 == pytest.approx(2 * a / (1 + 2 * a * a), abs=0.01)


def test_measures_a_known_galaxy():
    size = 96
    yy, xx = np.mgrid[:size, :size]
    sigma_px = 4.0
    gal = 50.0 * np.exp(-0.5 * ((yy - 48) ** 2 + (xx - 48) ** 2) / sigma_px ** 2)
    noise = np.random.default_rng(1).normal(0, 0.01, (size, size))
    seg = (np.hypot(yy - 48, xx - 48) < 6 * sigma_px).astype(np.int32)
    row = _measure_one(gal + noise, seg, None, 0.05, 25.0)
    assert row["r50_arcsec"] == pytest.approx(1.1774 * sigma_px * 0.05, rel=0.08)   # Gaussian: sqrt(2 ln 2) sigma
    assert row["mag"] == pytest.approx(25.0 - 2.5 * np.log10(gal.sum()), abs=0.01)
    assert row["noise_rms"] == pytest.approx(0.01, rel=0.1) and abs(row["noise_lag1"]) < 0.05


def test_compare_sets_and_command(sky_set, tmp_path):
    stamps = load_stampset(sky_set)
    scales = pixel_scales_of(stamps, sky_set)
    assert set(np.round(scales, 3)) <= {0.03, 0.05, 0.06, 0.09} and len(set(scales)) > 1
    table = run_job(stamp_quantities_job(stamps, pixel_scales=scales, limit=25, morphology=False))
    assert len(table) == 25 and np.isfinite(table["mag"]).mean() > 0.9
    same = compare_stamp_sets({"a": table, "b": table}, "a")
    assert all(same["distances"]["b"][q]["ks"] == 0.0 for q in QUANTITIES[:5])
    out = tmp_path / "cmp"
    assert main(["compare-stamps", f"sky={sky_set}", str(sample_data_dir()), "-o", str(out), "--limit", "12",
                 "--no_morphology"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "sky" and summary["sets"]["sample_data"]["n"] == 12
    assert summary["distances"]["sample_data"]["noise_lag1"]["ks"] > 0.5   # one drizzle kernel against many
    assert (out / "distributions.png").stat().st_size > 10_000 and (out / "stamps.png").stat().st_size > 10_000
    assert (out / "stamps_sky.csv").is_file() and "| noise_lag1 |" in (out / "summary.md").read_text()


def test_morphology_columns_with_statmorph(sky_set):
    stamps = load_stampset(sky_set)
    table = run_job(stamp_quantities_job(stamps, limit=4, morphology=True, workers=1))
    assert np.isfinite(table["gini"]).sum() >= 3 and (np.asarray(table["gini"])[np.isfinite(table["gini"])] < 1).all()


def test_real_cosmos_stamps_are_measured(cosmos_dir):
    stamps = load_stampset(cosmos_dir)
    table = run_job(stamp_quantities_job(stamps, limit=30, morphology=False))
    lag1 = np.asarray(table["noise_lag1"], float)
    assert np.isfinite(lag1).all() and 0.2 < np.median(lag1) < 0.8      # drizzled ACS noise is correlated
    assert 0.02 < np.nanmedian(table["r50_arcsec"]) < 1.0


def test_options_are_checked(tmp_path):
    with pytest.raises(ValueError):
        make_sky_stamp(1, -1)
    assert main(["make-sample-data", "--variety", "sky", "--morphology", "-o", str(tmp_path / "x")]) == 2
    assert main(["compare-stamps", str(sample_data_dir()), "-o", str(tmp_path / "y"), "--limit", "0"]) == 2
