"""`candels-gui evaluate` and candels_gui.evaluation on a real (small) produce output."""

from __future__ import annotations

import dataclasses
import json
import math

import matplotlib.image as mpimg
import numpy as np
import pytest
from astropy.table import Table

from candels_gui.cli import main
from candels_gui.core.errors import Cancelled, DataError
from candels_gui.core.store.export import read_export
from candels_gui.core.jobs import CancelToken, run_job
from candels_gui.core.measure.binned import SUMMARY_KEYS
from candels_gui.deblend import base as deblend_base
from candels_gui.deblend import register
from candels_gui.deblend.base import DeblendResult, Deblender, catalog_table
from candels_gui.evaluation import PLOT_FILES, evaluate, truth_from_export, write_report

FRACTIONS = ("precision", "recall", "f1", "iou_mean", "outlier_frac", "shape_fail")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "o"
    assert main(["produce", "-n", "40", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def test_split(export_dir):
    return read_export(export_dir, split="test")


class PerfectDeblender(Deblender):
    """Returns the export's true isolated images, masks and fluxes, at the catalogue positions."""

    name = "perfect"

    def __init__(self, data, **params):
        super().__init__(**params)
        self._data = data
        self._index = {np.ascontiguousarray(im, np.float32).tobytes(): i for i, im in enumerate(data.images)}

    def _run_batch(self, images, psf, noise_sigma):
        h, w = images.shape[1:]
        out = []
        for im in images:
            i = self._index[im.tobytes()]
            row = self._data.catalog[i]
            x = [w // 2, w // 2 + float(row["shift_x"])]
            y = [h // 2, h // 2 + float(row["shift_y"])]
            out.append(DeblendResult(catalog_table(x, y, self._data.fluxes[i]), self._data.masks[i],
                                     self._data.isolated[i], name=self.name))
        return out


class _NoWeights(FileNotFoundError):
    pass


def _ghost(**kw):
    raise _NoWeights("no weights for deblender 'ghost': resources/models/ghost.pt does not exist")


@pytest.fixture
def registry(monkeypatch, test_split):
    """A private copy of the registry holding sep, a perfect deblender and a model without weights."""
    monkeypatch.setattr(deblend_base, "_REGISTRY", {"sep": deblend_base._REGISTRY["sep"]})
    register("perfect", lambda **kw: PerfectDeblender(test_split, **kw), "the truth, for tests")
    register("ghost", _ghost, "a torch model whose weights are missing")
    return deblend_base._REGISTRY


def test_cli_json_ecsv_and_plots(export_dir, test_split, tmp_path, capsys):
    rep, plots = tmp_path / "rep", tmp_path / "plots"
    rc = main(["evaluate", "--data", str(export_dir), "--deblenders", "photutils,sep", "--json",
               "-o", str(rep), "--plots", str(plots)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.count("\n") == 1                       # exactly one JSON object, nothing else
    result = json.loads(captured.out)
    n = len(test_split)
    assert list(result) == ["photutils", "sep"]
    for name, summary in result.items():
        assert tuple(summary) == SUMMARY_KEYS
        assert summary["n_blends"] == n
        for key in FRACTIONS:
            assert 0.0 <= summary[key] <= 1.0, (name, key, summary[key])
        assert summary["flux_mape"] >= 0 and summary["dmag_sigma"] >= 0 and summary["rmse"] > 0
        assert -1.0 <= summary["ssim"] <= 1.0
    # written files agree with what was printed
    assert json.loads((rep / "metrics.json").read_text()) == result
    table = Table.read(rep / "metrics.ecsv", format="ascii.ecsv")
    assert list(table["deblender"]) == ["photutils", "sep"]
    assert table.colnames == ["deblender", *SUMMARY_KEYS]
    assert table["flux_mape"].unit == "%"
    for row in table:
        for key in SUMMARY_KEYS:
            assert row[key] == pytest.approx(result[row["deblender"]][key])
    for name in ("photutils", "sep"):
        per_blend = Table.read(rep / f"per_blend_{name}.ecsv", format="ascii.ecsv")
        assert len(per_blend) == n
        assert list(per_blend["blend_id"]) == list(test_split.catalog["id"])
        assert {"iou_1", "dmag_2", "mag_true_1", "mag_pred_2", "separation"} <= set(per_blend.colnames)
        assert per_blend.meta["deblender"] == name
    assert sorted(p.name for p in plots.iterdir()) == sorted(PLOT_FILES.values())
    for png in plots.iterdir():
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 600
        assert img[..., :3].std() > 0.05                        # not a blank canvas
    # the separation figure's shape panels: the binned means of the per-blend shape residuals
    from candels_gui.core.measure.binned import SEPARATION_BINS, binned_metric
    from candels_gui.evaluation.plots import _binned_stats
    per_blend = Table.read(rep / "per_blend_sep.ecsv", format="ascii.ecsv")
    sep = np.asarray(per_blend["separation"], float)
    stats = _binned_stats(per_blend, sep, SEPARATION_BINS)
    residual = np.concatenate([np.asarray(per_blend[f"shape_err_{g}"], float) for g in (1, 2)])
    np.testing.assert_allclose(stats["shape"][0], binned_metric(np.r_[sep, sep], residual, SEPARATION_BINS))
    assert np.nanmax(stats["shape_lost"][0]) <= 1.0 and np.isfinite(stats["shape"][0]).any()


def test_readable_table_without_json(export_dir, capsys):
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "sep", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("5 blends (test split of")
    assert lines[1].split()[:4] == ["deblender", "precision", "recall", "f1"]
    assert "flux_mape[%]" in lines[1] and "psnr[dB]" in lines[1]
    assert lines[3].split()[0] == "sep" and lines[3].split()[-1] == "5"


def test_perfect_deblender_scores_perfectly(registry, export_dir, test_split, tmp_path, capsys):
    result = run_job(evaluate(export_dir, ["perfect"], split="test", max_separation=0.5, batch_size=3))
    s = result.summaries["perfect"]
    assert s["precision"] == 1.0 and s["recall"] == 1.0 and s["f1"] == 1.0
    assert s["iou_mean"] == 1.0
    assert s["flux_mape"] == pytest.approx(0.0, abs=1e-9)
    assert s["dmag_mean"] == pytest.approx(0.0, abs=1e-9) and s["outlier_frac"] == 0.0
    assert s["rmse"] == 0.0 and s["ssim"] == pytest.approx(1.0) and s["psnr"] == math.inf
    assert s["shape_err"] == 0.0 and s["shape_fail"] == 0.0       # same images, same HSM shapes
    assert s["n_blends"] == len(test_split)
    table = result.tables["perfect"]
    assert list(table["blend"]) == list(range(len(test_split)))     # global indices across batches
    np.testing.assert_allclose(table["separation"], np.hypot(test_split.catalog["shift_x"],
                                                             test_split.catalog["shift_y"]))
    np.testing.assert_allclose(table["mag_pred_1"], table["mag_true_1"])
    # through the command line: inf PSNR becomes null in strict JSON
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "perfect", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["perfect"]["psnr"] is None and out["perfect"]["recall"] == 1.0


def test_unknown_deblender_is_a_clear_error(export_dir, capsys):
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "sep,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown deblender 'nope'" in err and "photutils" in err and "sep" in err


def test_no_data_names_the_option(capsys):
    assert main(["evaluate", "--deblenders", "sep"]) == 2
    assert "--data" in capsys.readouterr().err


def test_missing_weights_skipped_by_default_error_when_named(registry, export_dir, capsys):
    assert main(["evaluate", "--data", str(export_dir), "--json", "--limit", "4"]) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"sep", "perfect"}
    notices = [ln for ln in captured.err.splitlines() if "ghost" in ln]
    assert notices == ["evaluate: skipping ghost: no weights for deblender 'ghost': "
                       "resources/models/ghost.pt does not exist"]
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "ghost,sep"]) == 2
    assert "no weights for deblender 'ghost'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="ghost"):
        run_job(evaluate(export_dir, "ghost"))


def test_export_without_isolated_images_or_masks(test_split, tmp_path):
    no_iso = dataclasses.replace(test_split, isolated=None, label_method="ogg_masks")
    result = run_job(evaluate(no_iso, ["sep"], limit=4))
    s = result.summaries["sep"]
    assert s["n_blends"] == 4 and math.isnan(s["rmse"]) and math.isnan(s["ssim"])
    assert 0 <= s["recall"] <= 1 and "no isolated galaxy images" in result.notes[0]
    written = write_report(result, tmp_path / "rep")
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["sep"]["rmse"] is None
    assert {p.name for p in written} == {"metrics.ecsv", "metrics.json", "per_blend_sep.ecsv"}
    # an earlier evaluation's tables of other deblenders do not stay beside this one's metrics.json
    (tmp_path / "rep" / "per_blend_photutils.ecsv").write_text("from an earlier run")
    (tmp_path / "rep" / "notes.txt").write_text("the user's")
    write_report(result, tmp_path / "rep")
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["metrics.ecsv", "metrics.json", "notes.txt",
                                                                    "per_blend_sep.ecsv"]
    no_masks = dataclasses.replace(test_split, masks=None, label_method="single_images")
    with pytest.raises(DataError, match="no galaxy masks"):
        truth_from_export(no_masks)


def test_truth_positions_and_cancel(test_split):
    truth, notes = truth_from_export(test_split, limit=3)
    h, w = test_split.images.shape[1:]
    assert len(truth) == 3 and not notes
    for i in range(3):
        spec = test_split.specs[i]
        np.testing.assert_array_equal(truth.positions[i],
                                      [[w // 2, h // 2], [w // 2 + spec.dx, h // 2 + spec.dy]])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(evaluate(test_split, ["sep"], cancel=token))
    with pytest.raises(ValueError, match="max_separation"):
        run_job(evaluate(test_split, ["sep"], max_separation=-1))


@pytest.mark.parametrize("fmt", ["fits", "npy"])
def test_other_export_formats_give_the_same_metrics(fmt, export_dir, test_split, tmp_path):
    from candels_gui.core.blending.engine import BlendEngine
    from candels_gui.core.store.export import export
    from candels_gui.core.data.load import load_stampset
    from candels_gui.paths import sample_data_dir

    engine = BlendEngine(load_stampset(sample_data_dir()))
    dest = tmp_path / ("blends.fits" if fmt == "fits" else "npy_export")
    run_job(export(dest, engine, test_split.specs, fmt=fmt))
    other = run_job(evaluate(dest, "sep")).summaries["sep"]
    ref = run_job(evaluate(export_dir, "sep")).summaries["sep"]
    keys = SUMMARY_KEYS if fmt == "fits" else ("precision", "recall", "f1", "iou_mean", "flux_mape",
                                               "dmag_mean", "dmag_sigma", "outlier_frac", "n_blends")
    for key in keys:
        assert other[key] == pytest.approx(ref[key], rel=1e-5, nan_ok=True), key
    if fmt == "npy":                                   # ogg_masks labels: no isolated images
        assert math.isnan(other["rmse"]) and math.isnan(other["psnr"])


def test_mag_high_keeps_only_blends_of_two_bright_galaxies(export_dir, test_split, capsys):
    from candels_gui.core.blending.labels import flux_to_mag
    from candels_gui.evaluation.evaluate import select_brighter

    mags = flux_to_mag(np.asarray(test_split.fluxes, float))
    cut = float(np.median(mags.max(axis=1)))
    expected = np.flatnonzero((mags < cut).all(axis=1))
    assert 0 < len(expected) < len(test_split.images)
    bright, index = select_brighter(test_split, cut)
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(bright.images, test_split.images[expected])
    assert [s.to_json() for s in bright.specs] == [test_split.specs[i].to_json() for i in expected]
    assert list(bright.catalog["id"]) == list(test_split.catalog["id"][expected])

    result = run_job(evaluate(export_dir, ["sep"], mag_high=cut))
    assert result.n_blends == len(expected)
    assert list(result.tables["sep"]["blend"]) == list(expected)
    assert any("brighter than" in n for n in result.notes)
    full = run_job(evaluate(export_dir, ["sep"]))
    # the same blends measured alone and within the full split give the same per-blend rows
    np.testing.assert_allclose(np.asarray(result.tables["sep"]["iou_1"]),
                               np.asarray(full.tables["sep"]["iou_1"])[expected])

    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "sep", "--mag_high", "10",
                 "--json"]) == 2
    assert "no blends with both galaxies brighter than 10 mag" in capsys.readouterr().err


def test_flux_only_deblender_matched_by_order_without_detection_figures(export_dir, test_split, tmp_path):
    class FluxOnly(Deblender):
        """Returns the true fluxes, both 'positions' at the stamp centre (as blend2flux)."""

        name = "fluxes"
        flux_only = True

        def __init__(self, data):
            super().__init__()
            self._index = {np.ascontiguousarray(im, np.float32).tobytes(): i for i, im in enumerate(data.images)}
            self._fluxes = data.fluxes

        def _run_batch(self, images, psf, noise_sigma):
            h, w = images.shape[1:]
            return [DeblendResult(catalog_table([w // 2] * 2, [h // 2] * 2,
                                                self._fluxes[self._index[im.tobytes()]]),
                                  np.zeros((2, h, w), bool), np.zeros((2, h, w), np.float32), name=self.name,
                                  flux_only=True)
                    for im in images]

    result = run_job(evaluate(export_dir, [FluxOnly(test_split)], split="test"))
    s = result.summaries["fluxes"]
    assert s["flux_mape"] == pytest.approx(0.0, abs=1e-9) and s["outlier_frac"] == 0.0
    for key in ("precision", "recall", "f1", "iou_mean", "rmse", "psnr", "ssim", "shape_err", "shape_fail"):
        assert math.isnan(s[key]), key
    table = result.tables["fluxes"]
    assert np.isnan(table["iou_1"]).all() and int(np.sum(table["tp"])) == 0
    np.testing.assert_allclose(table["flux_pred_2"], table["flux_true_2"])
    from candels_gui.evaluation import write_plots
    assert sorted(p.name for p in write_plots(result, tmp_path)) == sorted(PLOT_FILES.values())


def test_isolated_reference_measures_fluxes_on_the_true_isolated_images(registry, export_dir, test_split, capsys):
    """A deblender that returns the true images and measures them with the image models' aperture is
    exact against the isolated reference, and off against the catalogue (noise, light outside)."""
    from candels_gui.evaluation.measure import isolated_fluxes

    expected = isolated_fluxes(test_split.isolated, test_split.masks)
    region = np.zeros_like(test_split.masks)
    region[:, :, 40:50, 60:64] = True
    manual = (test_split.isolated.astype(np.float64) * region).sum(axis=(2, 3))
    np.testing.assert_allclose(isolated_fluxes(test_split.isolated, np.zeros_like(region)),
                               test_split.isolated.astype(np.float64).sum(axis=(2, 3)))   # empty: whole image
    assert not np.allclose(isolated_fluxes(test_split.isolated, region), manual)         # grown by 4 px
    aperture = dataclasses.replace(test_split, fluxes=expected)
    class Aperture(PerfectDeblender):
        name = "aperture"

    register("aperture", lambda **kw: Aperture(aperture, **kw), "true images, measured")
    iso = run_job(evaluate(export_dir, ["aperture"], split="test", reference="isolated"))
    cat = run_job(evaluate(export_dir, ["aperture"], split="test"))
    assert iso.summaries["aperture"]["flux_mape"] == pytest.approx(0.0, abs=1e-9)
    assert cat.summaries["aperture"]["flux_mape"] > 1.0
    assert iso.reference == "isolated" and any("isolated galaxy images" in n for n in iso.notes)
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "aperture", "--reference", "isolated",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["aperture"]["flux_mape"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="reference must be one of"):
        run_job(evaluate(export_dir, ["aperture"], split="test", reference="truth"))


def test_oracle_measures_the_truth_as_the_deblenders_are_measured(registry, export_dir, test_split, capsys):
    from candels_gui.deblend.base import split_by_footprints

    iso = run_job(evaluate(export_dir, ["sep"], split="test", reference="isolated", oracle=True))
    assert iso.deblenders == ["sep", "truth-footprints", "truth-isolated", "truth-relabelled"]
    for name in ("truth-footprints", "truth-isolated"):
        s = iso.summaries[name]
        assert s["iou_mean"] == 1.0 and s["recall"] == 1.0 and s["precision"] == 1.0, name
        assert iso.devices[name] == "truth"
    assert iso.summaries["truth-isolated"]["flux_mape"] == pytest.approx(0.0, abs=1e-9)
    assert iso.summaries["truth-isolated"]["rmse"] == 0.0
    table = iso.tables["truth-footprints"]
    expected = split_by_footprints(test_split.images[3], test_split.masks[3]).sum(axis=(1, 2))
    np.testing.assert_allclose([table["flux_pred_1"][3], table["flux_pred_2"][3]], expected, rtol=1e-5)
    assert main(["evaluate", "--data", str(export_dir), "--deblenders", "sep", "--oracle", "--json"]) == 0
    cat = json.loads(capsys.readouterr().out)
    assert set(cat) == {"sep", "truth-footprints", "truth-isolated", "truth-relabelled"}
    # the labels re-made through the blend's extra noise move: IoU below 1, far above a random footprint
    assert 0.5 < cat["truth-relabelled"]["iou_mean"] < 1.0 and cat["truth-relabelled"]["recall"] == 1.0
    again = run_job(evaluate(export_dir, ["sep"], split="test", reference="isolated", oracle=True))
    np.testing.assert_array_equal(again.tables["truth-relabelled"]["iou_1"],
                                  iso.tables["truth-relabelled"]["iou_1"])
    assert again.summaries["truth-relabelled"]["iou_mean"] == pytest.approx(cat["truth-relabelled"]["iou_mean"])
    assert cat["truth-isolated"]["flux_mape"] > 1.0          # the catalogue counts light below the noise
    no_iso = dataclasses.replace(test_split, isolated=None, label_method="ogg_masks")
    with pytest.raises(DataError, match="no truth to measure as an oracle"):
        run_job(evaluate(no_iso, ["sep"], oracle=True))


def test_every_plotted_row_has_its_own_look_and_oracles_are_grey_dashed():
    from candels_gui.evaluation.plots import _looks

    names = [f"deblender-{i}" for i in range(12)] + ["truth-footprints", "truth-isolated", "truth-relabelled"]
    looks = _looks(names)
    assert len(set(looks.values())) == len(names)          # colour, marker and line: never two alike
    assert looks["deblender-0"][2] == "-" and looks["deblender-9"][2] == "--"
    assert all(looks[n][2] == "--" and looks[n][0].startswith("0.")
               for n in ("truth-footprints", "truth-isolated", "truth-relabelled"))


def test_relabelled_footprints_re_detect_each_galaxy_with_the_companions_noise():
    from candels_gui.core.data.sample_labels import detect_label
    from candels_gui.deblend.base import noise_per_image
    from candels_gui.evaluation.measure import relabelled_footprints

    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(3)
    galaxy = 40 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 30.0)
    knot = 40 * np.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 6.0)            # another detection, not the galaxy
    stripe = 20 * np.exp(-((xx - 20) ** 2) / 8.0)
    first = galaxy + knot + rng.normal(0, 1.0, (64, 64))
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 28:37, 28:37] = True
    masks[1, :, 18:23] = True
    # a companion with almost no noise adds almost none: galaxy 1's footprint is the labeller's detection
    # that holds its true footprint
    quiet = np.stack([first, stripe + 1e-3 * rng.normal(size=(64, 64))])
    got = relabelled_footprints(quiet, masks, np.random.default_rng(0))
    assert got.shape == (2, 64, 64) and got.dtype == bool
    sigma = noise_per_image(quiet.astype(np.float32))
    assert sigma[1] < 0.01 < 0.8 < sigma[0] < 1.2
    labels = np.asarray(detect_label(first.astype(np.float32), sigma[0])[1].data)
    expected = labels == labels[32, 32]
    assert (got[0] != expected).sum() <= 2
    assert got[0, 32, 32] and not got[0, 8, 8]                          # the knot is another detection
    # both with noise of rms 1: each footprint moves with the other's noise, neither vanishes
    noisy = np.stack([first, stripe + rng.normal(0, 1.0, (64, 64))])
    got = relabelled_footprints(noisy, masks, np.random.default_rng(0))
    assert got[0, 32, 32] and got[1, 32, 20]
    assert 0.5 < (got[0] & expected).sum() / (got[0] | expected).sum() < 1.0
    np.testing.assert_array_equal(got, relabelled_footprints(noisy, masks, np.random.default_rng(0)))


def test_weights_files_are_evaluated_as_rows_named_after_them(export_dir, tmp_path, capsys):
    import shutil

    from candels_gui.deblend.torch_deblender import weights_path

    shipped = tmp_path / "copy.pt"
    shutil.copyfile(weights_path("unet-seg"), shipped)
    tiny = tmp_path / "tiny.pt"
    assert main(["train", "--model", "unet-seg", "--data", str(export_dir / "blends.h5"), "-o", str(tiny),
                 "--epochs", "1", "--batch_size", "8", "--base", "4", "--depth", "2", "--device", "cpu"]) == 0
    capsys.readouterr()
    args = ["evaluate", "--data", str(export_dir), "--limit", "6", "--json"]
    assert main([*args, "--deblenders", "unet-seg", "--weights", str(shipped), "--weights", f"{tiny}+tta"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(rows) == ["unet-seg", "copy", "tiny+tta"]
    assert rows["copy"] == rows["unet-seg"]                    # the same weights, read from the file given
    assert rows["tiny+tta"]["iou_mean"] != rows["unet-seg"]["iou_mean"]    # another network: not the shipped one
    assert main([*args, "--weights", str(tiny)]) == 0           # no --deblenders: only the files' rows
    assert list(json.loads(capsys.readouterr().out)) == ["tiny"]
    assert main([*args, "--weights", str(tiny), "--weights", str(tiny)]) == 2
    assert "a row named 'tiny' is evaluated already" in capsys.readouterr().err
    assert main([*args, "--weights", str(tmp_path / "none.pt")]) == 2
    assert "none.pt: no such file" in capsys.readouterr().err
