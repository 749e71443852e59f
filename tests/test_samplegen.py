"""The synthetic sample-data generator and the bundled sample_data/ it made."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from candels_gui.core.errors import Cancelled
from candels_gui.core.data.galaxy_models import (SersicComponent, draw_galaxy, f160w_psf, half_light_radius,
                                                 render, sersic_bn)
from candels_gui.core.jobs import CancelToken
from candels_gui.core.data import samplegen
from candels_gui.core.data.samplegen import (CATALOG_COLUMNS, DEFAULT_SEED, FIELDS, generate_sample_data,
                                             make_sample_stamp)
from candels_gui.core.data.stampset import GALTYPES

ZP = 25.96
BUNDLED = Path(__file__).resolve().parents[1] / "sample_data"
FILES = ("candels_img.npy", "candels_seg.npy", "candels_cat.csv")


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample8")
    calls = []
    ret = generate_sample_data(out, n_stamps=8, seed=11, progress=calls.append)
    return ret, calls


def _check_layout(folder: Path, n: int, size: int = 128) -> None:
    img = np.load(folder / "candels_img.npy")
    seg = np.load(folder / "candels_seg.npy")
    header, rows = _read_csv(folder / "candels_cat.csv")
    assert img.shape == (n, size, size) and img.dtype == np.float32
    assert seg.shape == (n, size, size) and seg.dtype == np.int32
    assert tuple(header) == CATALOG_COLUMNS
    assert len(rows) == n
    c = size // 2
    segval = np.array([int(r["segval"]) for r in rows])
    assert np.all(seg[:, c, c] == segval) and np.all(segval > 0)
    assert len({int(r["ID"]) for r in rows}) == n
    assert {r["FIELD"] for r in rows} <= {f.name for f in FIELDS}
    assert {r["galtype"] for r in rows} <= set(GALTYPES)
    for r in rows:
        assert 19.0 <= float(r["mag"]) <= 26.0
        assert 0 < float(r["mag_err"]) < 0.5
        assert 1.5 <= float(r["radius"]) <= 20.0
        assert 0.1 <= float(r["z"]) <= 4.0
    assert np.isfinite(img).all()
    assert np.all(seg.min(axis=(1, 2)) == 0)  # every stamp has background


def test_layout_shapes_dtypes_and_catalog(small_set):
    out, calls = small_set
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary files left
    _check_layout(out, 8)
    assert [p.done for p in calls] == list(range(1, 9)) and calls[-1].total == 8


def test_labels_look_like_catalogue_ids(small_set):
    out, _ = small_set
    seg = np.load(out / "candels_seg.npy")
    _, rows = _read_csv(out / "candels_cat.csv")
    segval = np.array([int(r["segval"]) for r in rows])
    assert np.mean(segval > 255) >= 0.2
    assert seg.max() > 255
    for s, v in zip(seg, segval):
        labels = np.unique(s)
        assert v in labels and labels[0] == 0 and np.all(labels[1:] > 0)


def test_mag_matches_flux_of_stamp(small_set):
    out, _ = small_set
    img = np.load(out / "candels_img.npy")
    seg = np.load(out / "candels_seg.npy")
    _, rows = _read_csv(out / "candels_cat.csv")
    ratios = []
    for im, s, r in zip(img, seg, rows):
        flux = 10 ** (-0.4 * (float(r["mag"]) - ZP))
        iso = float(im[s == int(r["segval"])].sum())
        ratios.append(iso / flux)
    # isophotal flux is most, never much more, of the total flux that the magnitude states
    assert 0.5 < np.median(ratios) < 1.05
    assert max(ratios) < 1.3


def test_noiseless_model_sums_to_catalogued_flux():
    for i in (0, 3):
        st = make_sample_stamp(5, i, stamp_size=96)
        flux = 10 ** (-0.4 * (st.row["mag"] - ZP))
        assert st.central_model.sum() == pytest.approx(flux, rel=1e-4)
        assert st.row["radius"] == pytest.approx(half_light_radius(st.central_model, 48, 48), rel=2e-3)
        assert st.segmap[48, 48] == st.row["segval"]
        # mag_err grows as the galaxy gets fainter relative to the sky noise
        assert st.row["mag_err"] > 1.0857 * st.sky_sigma / flux


def test_same_seed_same_bytes_other_seed_differs(small_set, tmp_path, monkeypatch):
    out, _ = small_set
    again = generate_sample_data(tmp_path / "again", n_stamps=8, seed=11)
    for name in FILES:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    monkeypatch.setattr(samplegen, "_CHUNK", 3)     # three chunks over two processes: the same bytes
    calls = []
    pooled = generate_sample_data(tmp_path / "pooled", n_stamps=8, seed=11, workers=2, progress=calls.append)
    for name in FILES:
        assert (pooled / name).read_bytes() == (out / name).read_bytes(), name
    assert [c.done for c in calls] == [3, 6, 8]
    other = generate_sample_data(tmp_path / "other", n_stamps=8, seed=12)
    for name in FILES:
        assert (other / name).read_bytes() != (out / name).read_bytes(), name


def test_stamp_is_the_same_alone_or_in_a_larger_set(small_set, tmp_path):
    out, _ = small_set
    img = np.load(out / "candels_img.npy")
    seg = np.load(out / "candels_seg.npy")
    _, rows = _read_csv(out / "candels_cat.csv")
    head = generate_sample_data(tmp_path / "head", n_stamps=3, seed=11)
    np.testing.assert_array_equal(np.load(head / "candels_img.npy"), img[:3])
    np.testing.assert_array_equal(np.load(head / "candels_seg.npy"), seg[:3])
    _, head_rows = _read_csv(head / "candels_cat.csv")
    assert head_rows == rows[:3]
    st = make_sample_stamp(11, 6)
    np.testing.assert_array_equal(st.image, img[6])
    np.testing.assert_array_equal(st.segmap, seg[6])
    assert st.row["segval"] == int(rows[6]["segval"]) and st.row["ID"] == int(rows[6]["ID"])


def test_other_stamp_size(tmp_path):
    out = generate_sample_data(tmp_path, n_stamps=2, seed=3, stamp_size=64)
    _check_layout(out, 2, size=64)


def test_cancel_leaves_nothing_and_bad_options_raise(tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        generate_sample_data(tmp_path / "c", n_stamps=2, cancel=token)
    assert list((tmp_path / "c").iterdir()) == []
    with pytest.raises(ValueError, match="n_stamps"):
        generate_sample_data(tmp_path, n_stamps=0)
    with pytest.raises(ValueError, match="seed"):
        generate_sample_data(tmp_path, n_stamps=1, seed=-1)
    with pytest.raises(ValueError, match="stamp_size"):
        generate_sample_data(tmp_path, n_stamps=1, stamp_size=8)


# ------------------------------------------------------------------ the physics pieces

def test_sersic_bn_and_flux_conservation():
    assert sersic_bn(1.0) == pytest.approx(1.6783, abs=1e-3)
    assert sersic_bn(4.0) == pytest.approx(7.6692, abs=1e-3)
    for n, r_e, q in [(0.5, 2.0, 1.0), (1.0, 4.0, 0.5), (4.0, 3.0, 0.8)]:
        img = render([SersicComponent(10.0, 64.0, 64.0, r_e, n, q, 0.4)], (128, 128))
        assert img.sum() == pytest.approx(10.0, rel=0.03)
        assert np.unravel_index(img.argmax(), img.shape) == (64, 64)


def test_half_light_radius_of_gaussian():
    # Sersic n = 0.5 is a Gaussian; its half-light radius is r_e by definition
    img = render([SersicComponent(1.0, 40.0, 40.0, 6.0, 0.5, 1.0, 0.0)], (81, 81))
    assert half_light_radius(img, 40.0, 40.0) == pytest.approx(6.0, rel=0.03)


def test_psf_fwhm_about_three_pixels():
    psf = f160w_psf()
    assert psf.shape == (41, 41) and psf.sum() == pytest.approx(1.0)
    assert np.unravel_index(psf.argmax(), psf.shape) == (20, 20)
    prof = psf[20, 20:]
    half = prof[0] / 2
    k = int(np.argmax(prof < half))
    fwhm = 2 * (k - 1 + (prof[k - 1] - half) / (prof[k - 1] - prof[k]))
    assert 2.6 < fwhm < 3.4
    with pytest.raises(ValueError, match="odd"):
        f160w_psf(40)


@pytest.mark.parametrize("galtype", list(GALTYPES) + ["star"])
def test_draw_galaxy_types(galtype):
    gal = draw_galaxy(np.random.default_rng(7), galtype, flux=5.0, r_e=5.0, x=30.0, y=31.0)
    assert gal.flux == pytest.approx(5.0)
    cx = sum(c.flux * c.x for c in gal.components) / gal.flux
    cy = sum(c.flux * c.y for c in gal.components) / gal.flux
    if galtype == "irr":   # clumps scatter, but the light-weighted centre stays put
        assert (cx, cy) == pytest.approx((30.0, 31.0))
    with pytest.raises(ValueError, match="galaxy type"):
        draw_galaxy(np.random.default_rng(0), "blob", flux=1.0, r_e=1.0, x=0.0, y=0.0)


# ------------------------------------------------------------------ the bundled data set

def test_bundled_sample_data_matches_documentation():
    if not (BUNDLED / "candels_img.npy").exists():
        pytest.skip("sample_data/ is not in this checkout")
    _check_layout(BUNDLED, 150)
    _, rows = _read_csv(BUNDLED / "candels_cat.csv")
    segval = np.array([int(r["segval"]) for r in rows])
    assert np.mean(segval > 255) >= 0.2
    assert {r["galtype"] for r in rows} == set(GALTYPES)
    readme = (BUNDLED / "README.md").read_text(encoding="utf-8")
    assert "candels-gui make-sample-data -o sample_data --seed 2604740 -n 150" in readme


def test_bundled_sample_data_is_what_the_generator_makes():
    if not (BUNDLED / "candels_img.npy").exists():
        pytest.skip("sample_data/ is not in this checkout")
    img = np.load(BUNDLED / "candels_img.npy", mmap_mode="r")
    seg = np.load(BUNDLED / "candels_seg.npy", mmap_mode="r")
    _, rows = _read_csv(BUNDLED / "candels_cat.csv")
    for i in (0, 149):
        st = make_sample_stamp(DEFAULT_SEED, i)
        # floating point may differ in the last bits on other CPUs; labels almost never
        np.testing.assert_allclose(st.image, img[i], rtol=1e-5, atol=1e-6)
        assert np.mean(st.segmap == seg[i]) > 0.999
        assert st.row["segval"] == int(rows[i]["segval"])
        assert f"{st.row['mag']:.5f}" == rows[i]["mag"]
