"""Deep fields without torch: the mock field, reading and writing FITS fields, stamps cut from a field, the
real-vs-generated statistics, and the command line's answers to bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from candels_gui.cli import main
from candels_gui.core.data.field_fits import FieldWriter, read_field
from candels_gui.core.data.fieldsim import simulate_field, truth_path, write_mock_field
from candels_gui.core.errors import DataError
from candels_gui.core.jobs import run_job

SAMPLE_FIELD = Path(__file__).resolve().parents[1] / "sample_data" / "field" / "mock_field.fits"


@pytest.fixture(scope="module")
def mock_field(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("field") / "mock.fits"
    write_mock_field(simulate_field(384, seed=7), path)
    return path


def test_mock_field_is_reproducible_and_has_its_truth(tmp_path, mock_field):
    again = tmp_path / "again.fits"
    write_mock_field(simulate_field(384, seed=7), again)
    assert fits.getdata(again).tobytes() == fits.getdata(mock_field).tobytes()
    other = simulate_field(384, seed=8)
    assert not np.array_equal(other.image, fits.getdata(mock_field))
    truth = __import__("astropy.table", fromlist=["Table"]).Table.read(truth_path(mock_field))
    assert {"id", "x", "y", "mag", "radius", "galtype", "z", "in_field"} <= set(truth.colnames)
    assert truth["in_field"].sum() > 10
    hdr = fits.getheader(mock_field)
    assert hdr["MAGZERO"] == 25.96 and hdr["PIXSCALE"] == 0.06 and hdr["SIMSEED"] == 7


def test_mock_field_counts_follow_the_model():
    """Counts per magnitude per area near the model's (Poisson scatter allowed)."""
    from candels_gui.core.data.fieldsim import galaxy_counts

    f = simulate_field(1024, seed=3)
    t = f.truth[(f.truth["galtype"] != "star")]
    area = ((1024 + 48) * 0.06 / 3600) ** 2          # objects are drawn over the field and its margin
    n = ((t["mag"] >= 24) & (t["mag"] < 26)).sum()
    expected = np.trapezoid(galaxy_counts(np.linspace(24, 26, 201)), np.linspace(24, 26, 201)) * area
    assert abs(n - expected) < 4 * np.sqrt(expected)


def test_shipped_sample_field_loads():
    f = read_field(SAMPLE_FIELD)
    assert f.shape == (768, 768) and f.pixel_scale == 0.06
    assert truth_path(SAMPLE_FIELD).is_file()


def test_read_field_refuses_bad_files(tmp_path):
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])])]
                 ).writeto(table)
    with pytest.raises(DataError, match="no HDU holds image data"):
        read_field(table)
    cube = tmp_path / "cube.fits"
    fits.writeto(cube, np.random.default_rng(1).normal(size=(3, 64, 64)).astype(np.float32))
    with pytest.raises(DataError, match="cube of 3 planes"):
        read_field(cube)
    assert read_field(cube, band=2).shape == (64, 64)
    with pytest.raises(DataError, match="out of range"):
        read_field(cube, band=3)
    text = tmp_path / "text.fits"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a readable FITS"):
        read_field(text)
    with pytest.raises(DataError, match="smaller than"):
        read_field(cube, band=0, min_size=128)
    # the pixels: NaN pixels pass (masked later), an empty, infinite or all-NaN field does not
    for name, values, match in (("zero", np.zeros((64, 64)), "every finite pixel is 0"),
                                ("inf", np.where(np.eye(64) > 0, np.inf, 1.0 + np.eye(64)), "infinite"),
                                ("nan", np.full((64, 64), np.nan), "no finite pixel")):
        fits.writeto(tmp_path / f"{name}.fits", values.astype(np.float32))
        with pytest.raises(DataError, match=match):
            read_field(tmp_path / f"{name}.fits")
    some_nan = np.random.default_rng(2).normal(size=(64, 64)).astype(np.float32)
    some_nan[:10] = np.nan
    fits.writeto(tmp_path / "some_nan.fits", some_nan)
    assert read_field(tmp_path / "some_nan.fits").shape == (64, 64)


def test_field_writer_streams_tiles_and_renames_at_the_end(tmp_path):
    out = tmp_path / "w.fits"
    rng = np.random.default_rng(0)
    full = rng.normal(size=(2, 50, 70)).astype(np.float32)
    with FieldWriter(out, full.shape) as w:
        assert not out.exists()
        for r in range(0, 50, 16):
            for c in range(0, 70, 32):
                w.write(full[:, r:r + 16, c:c + 32], r, c)
    np.testing.assert_array_equal(fits.getdata(out), full)
    with pytest.raises(RuntimeError):
        with FieldWriter(tmp_path / "x.fits", (10, 10)) as w:
            raise RuntimeError("boom")
    assert not (tmp_path / "x.fits").exists() and not list(tmp_path.glob(".x.fits*"))


def test_stamps_from_a_field_are_a_candels_blender_folder_that_produce_reads(tmp_path, mock_field):
    from candels_gui.core.data.load import load_stampset

    out = tmp_path / "stamps"
    assert main(["field", "stamps", str(mock_field), "-o", str(out), "--size", "64"]) == 0
    stamps = load_stampset(out)
    n = len(stamps)
    assert n > 5 and stamps.images.shape[1:] == (64, 64) and stamps.segmaps.dtype == np.int32
    c = 32
    assert np.all(stamps.segmaps[:, c, c] == np.asarray(stamps.catalog["segval"]))
    cat = (out / "candels_cat.csv").read_text().splitlines()
    assert cat[0].startswith("ID,RA,DEC,FIELD,mag,mag_err,radius,z,galtype,segval,x,y")
    assert "source_sha256" in cat[0] and "model_sha256" in cat[0]
    # each stamp's centre is the object's position in the field
    x, y = float(stamps.catalog["x"][0]), float(stamps.catalog["y"][0])
    img = fits.getdata(mock_field).astype(np.float32)
    r0, c0 = int(np.floor(y + 0.5)) - c, int(np.floor(x + 0.5)) - c
    diff = stamps.images[0] - img[r0:r0 + 64, c0:c0 + 64]
    assert np.std(diff) < 0.02 * np.std(img)          # the same pixels, less a smooth background
    prod = tmp_path / "blends"
    assert main(["produce", "-n", "20", "-d", str(out), "-o", str(prod), "--mag_high", "40"]) == 0
    assert (prod / "blends.h5").is_file()


def test_stamps_of_a_crowded_field_are_centred_and_their_misread_cube_is_not():
    """128² stamps cut from a crowded (generated) field hold bright neighbours in their outer parts; the readers'
    centring check must still accept them, and still refuse the same cube stored channels-last."""
    from candels_gui.core.data.label_checks import check_light_centred

    rng = np.random.default_rng(5)
    n, s = 128, 128
    yy, xx = np.mgrid[:s, :s] - s // 2
    stamps = rng.normal(0, 0.05, (n, s, s))
    for i in range(n):
        stamps[i] += 0.3 * np.exp(-(xx**2 + yy**2) / (2 * 3.0**2))              # the faint centred galaxy
        for _ in range(6):                                                      # brighter neighbours
            r, t = rng.uniform(24, 62), rng.uniform(0, 2 * np.pi)
            cx, cy = r * np.cos(t), r * np.sin(t)
            stamps[i] += rng.uniform(1, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2))
    stamps = stamps.astype(np.float32)
    check_light_centred(stamps, "crowded")                                        # accepted
    with pytest.raises(DataError, match="not centred"):
        check_light_centred(np.ascontiguousarray(np.transpose(stamps, (1, 2, 0))), "misread")


def test_compare_a_field_with_itself_and_with_its_shuffled_pixels(tmp_path, mock_field):
    from candels_gui.core.measure.field_stats import compare_fields, field_statistics_job

    img = fits.getdata(mock_field)
    real = run_job(field_statistics_job(img, name="real", pixel_scale=0.06))
    same = compare_fields(real, run_job(field_statistics_job(img.copy(), name="copy", pixel_scale=0.06)))
    assert same["density_ratio"] == 1 and same["counts_log_ratio"] == 0 and same["power_log_ratio"] == 0
    for d in same["distributions"].values():
        assert d["ks"] == 0 and d["wasserstein"] == 0
    if importlib.util.find_spec("statmorph") is not None:      # statmorph's morphology joins the comparison
        for q in ("gini", "m20", "sersic_n"):
            assert q in same["distributions"] and same["distributions"][q]["n_real"] >= 3
        gini = real.quantities["gini"]
        assert np.all((gini > 0) & (gini < 1))
    shuffled = np.random.default_rng(0).permutation(img.ravel()).reshape(img.shape)
    far = compare_fields(real, run_job(field_statistics_job(shuffled, name="shuffled", pixel_scale=0.06)))
    assert far["power_log_ratio"] > 0.3
    assert far["distributions"]["flux_radius"]["ks"] > 0.5
    assert abs(np.log10(far["density_ratio"])) > 0.1


def test_compare_command_writes_plots_and_json(tmp_path, mock_field, capsys):
    import json

    assert main(["field", "compare", str(mock_field), str(mock_field), "--plots", str(tmp_path / "p"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["distributions"]["mag"]["ks"] == 0
    names = {p.name for p in (tmp_path / "p").iterdir()}
    assert {"fields.png", "counts.png", "flux_radius.png", "pixels.png", "power.png"} <= names


@pytest.mark.parametrize("argv, message", [
    (["field", "stamps", "{tmp}/missing.fits", "-o", "{tmp}/o"], "no such file"),
    (["field", "stamps", "{cube}", "-o", "{tmp}/o"], "cube of 2 planes"),
    (["field", "compare", "{small}", "{small}"], "smaller than the 64 px"),
    (["field", "train", "--image", "{nan}", "-o", "{tmp}/m.pt"], "NaN"),
    (["field", "train", "--image", "{small}", "-o", "{tmp}/m.pt"], "smaller than the 64 px training patch"),
    (["field", "generate", "--model", "{tmp}/none.pt", "-o", "{tmp}/g.fits", "--size", "64"], "no such model"),
    (["field", "simulate", "-o", "{tmp}/s.fits", "--size", "10"], "at least 64"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    cube, small, nan = tmp_path / "cube.fits", tmp_path / "small.fits", tmp_path / "nan.fits"
    fits.writeto(cube, np.zeros((2, 80, 80), np.float32))
    fits.writeto(small, np.random.default_rng(0).normal(size=(40, 40)).astype(np.float32))
    bad = np.random.default_rng(0).normal(size=(100, 100)).astype(np.float32)
    bad[5, 5] = np.nan
    fits.writeto(nan, bad)
    args = [a.format(tmp=tmp_path, cube=cube, small=small, nan=nan) for a in argv]
    before = set(tmp_path.iterdir())
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert set(tmp_path.iterdir()) == before           # nothing partial left


def test_stamps_at_cuts_a_galaxy_near_the_edge_when_its_stamp_fits():
    """A galaxy 80 px from the field's edge has a whole 128 px stamp: it is cut (the detection window is
    clipped to the field; it was refused for not having 128 px on every side); at 40 px it is refused."""
    from candels_gui.core.data.field_stamps import cuttable, stamps_at
    from candels_gui.core.errors import DataError

    rng = np.random.default_rng(0)
    field = rng.normal(0.0, 1.0, (600, 600)).astype(np.float32)
    yy, xx = np.mgrid[:600, :600]
    for x, y in ((80, 300), (40, 450)):
        field += 200.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0 ** 2))
    assert cuttable(field.shape, [80, 40], [300, 450]).tolist() == [True, False]
    stamps = stamps_at(field, [(80.0, 300.0)])
    assert stamps.images.shape == (1, 128, 128)
    assert abs(float(stamps.catalog["x"][0]) - 80) < 1 and abs(float(stamps.catalog["y"][0]) - 300) < 1
    assert stamps.images[0][64, 64] == stamps.images[0].max()           # the galaxy at the stamp's centre
    with pytest.raises(DataError, match="too near the field's edge"):
        stamps_at(field, [(40.0, 450.0)])


def test_field_morphology_leaves_out_sersic_indices_of_failed_fits(monkeypatch):
    """A Sérsic fit statmorph flags as bad (n of 137 on a generated source) is not a value of the comparison;
    the source's Gini and M20 still are."""
    from candels_gui.core.data import field_stamps
    from candels_gui.core.measure import field_morph, morphology

    rows = iter([{"flag": 0, "flag_sersic": 0, "gini": 0.5, "m20": -1.8, "sersic_n": 1.2},
                 {"flag": 0, "flag_sersic": 2, "gini": 0.6, "m20": -1.5, "sersic_n": 137.4},
                 {"flag": 2, "flag_sersic": 0, "gini": 0.9, "m20": -0.5, "sersic_n": 3.0}])
    monkeypatch.setattr(field_stamps, "stamps_at", lambda *a, **k: type("S", (), {
        "images": np.zeros((1, 64, 64), np.float32), "segmaps": np.zeros((1, 64, 64), np.int32)}))
    monkeypatch.setattr(morphology, "measure_stamp", lambda image, segmap: next(rows))
    from astropy.table import Table

    cat = Table({"x": [200.0, 250.0, 300.0], "y": [200.0, 250.0, 300.0]})
    got = field_morph.field_morphology(np.zeros((500, 500), np.float32), cat)
    assert got["gini"].tolist() == [0.5, 0.6] and got["m20"].tolist() == [-1.8, -1.5]
    assert got["sersic_n"].tolist() == [1.2]


def test_compare_uses_each_fields_own_scale_and_writes_strict_json(tmp_path, mock_field, capsys):
    """A field at 0.03"/px covers a quarter of the area of the same pixels at 0.06"/px: each field's own scale
    sets its area (the first's was used for both), with a warning; an empty distribution is null in the JSON
    (it was NaN, which strict JSON parsers refuse)."""
    import json

    with fits.open(mock_field) as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data.copy()
    fine = tmp_path / "fine.fits"
    header["PIXSCALE"] = header["PIXSCALE"] / 2
    fits.PrimaryHDU(data, header).writeto(fine)
    noise = tmp_path / "noise.fits"
    fits.PrimaryHDU(np.random.default_rng(0).normal(0, 1e-6, data.shape).astype(np.float32),
                    fits.getheader(mock_field)).writeto(noise)
    assert main(["field", "compare", str(mock_field), str(fine), "--json"]) == 0
    captured = capsys.readouterr()
    assert "pixel scales differ" in captured.err
    out = json.loads(captured.out)
    assert out["generated"]["area"] == pytest.approx(out["real"]["area"] / 4)
    assert out["generated"]["density"] == pytest.approx(4 * out["real"]["density"])
    assert main(["field", "compare", str(mock_field), str(noise), "--json"]) == 0
    text = capsys.readouterr().out
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


def test_field_stamps_mark_the_fields_nan_pixels_and_replace_a_stale_fill_mask(tmp_path, mock_field, capsys):
    """NaN pixels of the field are 0 in the stamps: they are said and marked in candels_fillmask.npy (the
    readers' fill mask; they were silent zeros that produce blended as sky); a rerun with --force on a field
    without NaN removes the earlier run's mask (it was left, and the folder no longer loaded)."""
    from candels_gui.core.data.load import load_stampset

    field = tmp_path / "field.fits"      # larger than the shared mock field: enough stamps for the readers' checks
    write_mock_field(simulate_field(768, seed=7), field)
    with fits.open(field) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header.copy()
    data[:, 380:390] = np.nan
    holed = tmp_path / "holed.fits"
    fits.PrimaryHDU(data, header).writeto(holed)
    out = tmp_path / "stamps"
    assert main(["field", "stamps", str(holed), "-o", str(out)]) == 0
    assert "NaN in the field" in capsys.readouterr().err
    mask, images = np.load(out / "candels_fillmask.npy"), np.load(out / "candels_img.npy")
    assert mask.shape == images.shape and mask.any() and (images[mask] == 0).all()
    assert load_stampset(out).fillmask is not None
    assert main(["field", "stamps", str(field), "-o", str(out), "--force"]) == 0
    assert not (out / "candels_fillmask.npy").exists()
    assert len(load_stampset(out)) == len(np.load(out / "candels_img.npy"))


def test_the_few_faint_stamps_of_a_small_field_load(tmp_path, mock_field):
    """The 9 stamps of the 384 px mock field (faint, small galaxies, bright neighbours) were refused by the
    readers' centring check as 'a channels-last cube?': their mean peaks in the middle, alone, which the rank
    correlations did not see; the same stamps misread as channels-last are still refused."""
    from candels_gui.core.data.label_checks import check_light_centred
    from candels_gui.core.data.load import load_stampset
    from candels_gui.core.errors import ShapeError

    out = tmp_path / "few"
    assert main(["field", "stamps", str(mock_field), "-o", str(out)]) == 0
    images = np.load(out / "candels_img.npy")
    assert len(images) < 16 and len(load_stampset(out)) == len(images)
    square = np.ascontiguousarray(np.moveaxis(np.resize(images, (128, 128, 128)), 0, -1))
    with pytest.raises(ShapeError, match="not centred"):
        check_light_centred(square, "misread")


def test_mock_field_with_only_faint_galaxies_and_a_spectrum_despite_bad_pixels():
    """--mag_bright above the stars' limit (26) failed with 'high - low < 0'; a few NaN pixels in every tile
    dropped the whole power spectrum."""
    from candels_gui.core.data.fieldsim import simulate_field
    from candels_gui.core.measure.field_stats import power_spectrum

    field = simulate_field(64, seed=3, mag_bright=26.5, mag_faint=28.0)
    assert np.isfinite(field.image).all()
    rng = np.random.default_rng(0)
    image = rng.normal(size=(512, 512))
    _, clean = power_spectrum(image)
    rows, cols = rng.integers(0, 512, (2, 20))
    image[rows, cols] = np.nan
    _, spotted = power_spectrum(image)
    assert np.isfinite(spotted).all() and np.allclose(spotted, clean, rtol=0.02)
    image[:200] = np.nan                      # tiles mostly bad are left out, not filled
    _, holed = power_spectrum(image)
    assert np.isfinite(holed).all()
