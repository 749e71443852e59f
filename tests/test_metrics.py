"""Deblender metrics: hand-computed cases and scipy / scikit-image references."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from candels_gui.core.measure import metrics as M
from candels_gui.core.measure import binned as MB
from candels_gui.core.blending.blend_metrics import blendedness as blendedness_one


# ------------------------------------------------------------------------------------------ matching
def test_match_2x2_crossed_optimum():
    # greedy nearest-first pairs true 0 with det 0 (distance 1), leaving true 1 - det 1 (5): total 6;
    # the crossed assignment costs 2 + 2 = 4.
    true = [[0.0, 0.0], [3.0, 0.0]]
    det = [[1.0, 0.0], [-2.0, 0.0]]
    m = M.match_detections(true, det)
    assert m.det_for_true().tolist() == [1, 0]
    assert sorted(m.distances.tolist()) == [2.0, 2.0]
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)


def test_match_3x3_known_optimum():
    true = np.array([[0, 0], [10, 0], [20, 0]], float)
    det = np.array([[19, 0], [1, 0], [12, 0]], float)
    m = M.match_detections(true, det)
    assert m.det_for_true().tolist() == [1, 2, 0]
    np.testing.assert_allclose(np.sort(m.distances), [1, 1, 2])


def test_match_max_separation_and_counts():
    true = [[0, 0], [10, 0], [50, 50]]
    det = [[0, 2], [10, 6], [30, 30], [31, 31]]
    m = M.match_detections(true, det, max_separation=5)
    assert m.det_for_true().tolist() == [0, -1, -1]
    assert (m.tp, m.fp, m.fn, m.n_true, m.n_det) == (1, 3, 2, 3, 4)
    # without the cut every true source gets a detection
    assert M.match_detections(true, det).tp == 3


def test_max_separation_prefers_more_pairs():
    # Assignment A = (t0-d0, t1-d1) = 4.9 + 5.0, both within 5 px; B = (t0-d1, t1-d0) = 1.0 + 7.5 is
    # shorter in total but has one pair beyond 5 px. Unconstrained -> B; max_separation=5 -> A.
    x = -8.24 / 7.8
    t1 = [x, math.sqrt(25 - (x - 1) ** 2)]
    true = [[0, 0], t1]
    det = [[4.9, 0], [1, 0]]
    free = M.match_detections(true, det)
    assert free.det_for_true().tolist() == [1, 0]
    np.testing.assert_allclose(np.sort(free.distances), [1.0, 7.5])
    cut = M.match_detections(true, det, max_separation=5)
    assert cut.det_for_true().tolist() == [0, 1] and cut.tp == 2
    np.testing.assert_allclose(cut.distances, [4.9, 5.0])


def test_match_empty_and_bad_shapes():
    m = M.match_detections(np.zeros((2, 2)), np.zeros((0, 2)))
    assert (m.tp, m.fp, m.fn) == (0, 0, 2)
    assert m.det_for_true().tolist() == [-1, -1]
    with pytest.raises(ValueError, match=r"det_xy must have shape \(N, 2\)"):
        M.match_detections([[0, 0]], [[1, 2, 3]])


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)),
              elements=st.floats(0, 100, allow_nan=False)))
def test_linear_sum_assignment_matches_brute_force(cost):
    n, m = cost.shape
    rows, cols = linear_sum_assignment(cost)
    best = math.inf
    if n <= m:
        for perm in itertools.permutations(range(m), n):
            best = min(best, sum(cost[i, perm[i]] for i in range(n)))
    else:
        for perm in itertools.permutations(range(n), m):
            best = min(best, sum(cost[perm[j], j] for j in range(m)))
    assert cost[rows, cols].sum() == pytest.approx(best, abs=1e-9)
    assert len(rows) == min(n, m)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31))
def test_match_detections_total_distance_is_minimal(n, m, seed):
    rng = np.random.default_rng(seed)
    t, d = rng.uniform(0, 50, (n, 2)), rng.uniform(0, 50, (m, 2))
    match = M.match_detections(t, d)
    dist = np.hypot(*(t[:, None, :] - d[None, :, :]).transpose(2, 0, 1))
    k = min(n, m)
    best = min(sum(dist[i, j] for i, j in zip(rows, perm))
               for rows in itertools.combinations(range(n), k)
               for perm in itertools.permutations(range(m), k))
    assert match.tp == k
    assert match.distances.sum() == pytest.approx(best)


# -------------------------------------------------------------------------------- detection scores
def test_detection_scores_by_hand():
    # blend A: 2 true, 3 detections, 2 matched -> tp 2, fp 1; blend B: 2 true, 1 det matched -> fn 1
    a = M.match_detections([[0, 0], [10, 0]], [[0, 1], [10, 1], [30, 30]], max_separation=3)
    b = M.match_detections([[0, 0], [10, 0]], [[10, 0]], max_separation=3)
    s = M.detection_scores([a, b])
    assert (s["tp"], s["fp"], s["fn"]) == (3, 1, 1)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(3 / 4)
    c = M.match_detections([[0, 0], [10, 0]], [[10, 0]], max_separation=3)
    s2 = M.detection_scores([c])  # P = 1, R = 1/2 -> F1 = 2/3
    assert (s2["precision"], s2["recall"]) == (1.0, 0.5)
    assert s2["f1"] == pytest.approx(2 / 3)
    assert math.isnan(M.detection_scores([M.match_detections([[0, 0]], np.zeros((0, 2)))])["precision"])


def test_efficiency_matrix():
    nt = [1, 1, 2, 2, 2, 2, 3]
    nd = [1, 0, 2, 2, 1, 5, 3]
    counts = M.efficiency_matrix(nt, nd, 3, normalize=False)
    assert counts[1, 1] == 1 and counts[0, 1] == 1
    assert counts[2, 2] == 2 and counts[1, 2] == 1 and counts[3, 2] == 1  # 5 detections -> last row
    assert counts.sum() == len(nt)
    eff = M.efficiency_matrix(nt, nd, 3)
    np.testing.assert_allclose(eff[:, 2], [0, 0.25, 0.5, 0.25])
    np.testing.assert_allclose(eff[:, 0], 0)          # no blend has 0 true sources
    np.testing.assert_allclose(eff.sum(axis=0), [0, 1, 1, 1])


# -------------------------------------------------------------------------------------------- IoU
def _rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_iou_of_rectangles():
    a = _rect((10, 10), 0, 4, 0, 4)      # 16 px
    b = _rect((10, 10), 2, 6, 2, 6)      # 16 px, overlap 2x2 = 4
    assert M.iou(a, b) == pytest.approx(4 / 28)
    assert M.iou(a, a) == 1.0
    assert M.iou(a, _rect((10, 10), 5, 9, 5, 9)) == 0.0
    assert math.isnan(M.iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)))
    with pytest.raises(ValueError, match="different shapes"):
        M.iou(a, a[:5])


def test_iou_per_galaxy_with_matching():
    shape = (12, 12)
    t = np.stack([_rect(shape, 0, 4, 0, 4), _rect(shape, 6, 10, 6, 10)])[None]          # (1,2,H,W)
    p = np.stack([_rect(shape, 6, 10, 6, 8), _rect(shape, 0, 4, 0, 4), _rect(shape, 0, 1, 11, 12)])[None]
    m = M.match_detections([[1.5, 1.5], [7.5, 7.5]], [[6.5, 7.5], [1.5, 1.5], [11, 0]])
    out = M.iou_per_galaxy(t, p, [m])
    np.testing.assert_allclose(out, [[1.0, 8 / 16]])
    out2 = M.iou_per_galaxy(t, p, np.array([[1, -1]]))
    np.testing.assert_allclose(out2, [[1.0, 0.0]])
    direct = M.iou_per_galaxy(t, p[:, :2])
    np.testing.assert_allclose(direct, [[0.0, 0.0]])
    rng = np.random.default_rng(1)
    tb, pb = rng.random((3, 2, 8, 8)) > 0.5, rng.random((3, 2, 8, 8)) > 0.5
    ref = [[M.iou(tb[i, k], pb[i, k]) for k in range(2)] for i in range(3)]
    np.testing.assert_allclose(M.iou_per_galaxy(tb, pb), ref)


# ---------------------------------------------------------------------------------- reconstruction
def test_rmse_psnr_ssim_against_references():
    rng = np.random.default_rng(3)
    true = rng.normal(5, 2, (3, 32, 32))
    pred = true + rng.normal(0, 0.3, true.shape)
    np.testing.assert_allclose(M.rmse(true, pred), np.sqrt(((true - pred) ** 2).mean(axis=(1, 2))))
    assert M.rmse(true[0], pred[0]) == pytest.approx(np.sqrt(np.mean((true[0] - pred[0]) ** 2)))
    for i in range(3):
        dr = true[i].max() - true[i].min()
        assert M.psnr(true[i], pred[i]) == pytest.approx(
            peak_signal_noise_ratio(true[i], pred[i], data_range=dr))
        assert M.psnr(true[i], pred[i], data_range=10.0) == pytest.approx(
            peak_signal_noise_ratio(true[i], pred[i], data_range=10.0))
        assert M.ssim(true[i], pred[i]) == pytest.approx(
            structural_similarity(true[i], pred[i], data_range=dr))
    assert M.ssim(true, pred).shape == (3,)
    assert M.ssim(true[0], true[0]) == pytest.approx(1.0)
    assert M.psnr(true[0], true[0]) == math.inf
    assert math.isnan(M.psnr(np.ones((8, 8)), np.zeros((8, 8))))
    with pytest.raises(ValueError, match="same shape"):
        M.rmse(true, pred[:, :4])


# -------------------------------------------------------------------------------------- photometry
def test_flux_errors_mape_dmag_by_hand():
    true = np.array([100.0, 200.0, 50.0, 10.0])
    pred = np.array([110.0, 150.0, 50.0, 0.0])
    np.testing.assert_allclose(M.flux_errors(true, pred), [0.1, -0.25, 0.0, -1.0])
    assert M.mape(true, pred) == pytest.approx((10 + 25 + 0 + 100) / 4)
    d = M.delta_mag(true, pred)
    np.testing.assert_allclose(d[:3], [-2.5 * np.log10(1.1), -2.5 * np.log10(0.75), 0.0])
    assert np.isnan(d[3])
    assert M.delta_mag([10.0], [1.0])[0] == pytest.approx(2.5)   # 10x fainter -> +2.5 mag


def test_dmag_stats_outliers():
    d = np.array([0.1, -0.2, 0.3, 0.8, -1.5, np.nan, 0.75])
    mean, sigma, frac = M.dmag_stats(d)
    inl = np.array([0.1, -0.2, 0.3, 0.75])          # |0.75| is not > 0.75: inlier
    assert frac == pytest.approx(3 / 7)
    assert mean == pytest.approx(inl.mean())
    assert sigma == pytest.approx(inl.std())
    assert M.dmag_stats(d, outlier=2.0)[2] == pytest.approx(1 / 7)
    assert all(math.isnan(v) for v in M.dmag_stats([]))
    m2, s2, f2 = M.dmag_stats([np.nan, 5.0])
    assert math.isnan(m2) and math.isnan(s2) and f2 == 1.0


# ------------------------------------------------------------------------------------- blendedness
def _gauss(shape, x, y, s=2.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / s**2)


def test_blendedness_zero_apart_positive_overlapping():
    apart = np.zeros((1, 2, 20, 20))
    apart[0, 0, :, :8], apart[0, 1, :, 12:] = 1.0, 2.0
    np.testing.assert_array_equal(M.blendedness(apart), [[0.0, 0.0]])
    close = np.stack([_gauss((32, 32), 14, 16), 0.5 * _gauss((32, 32), 18, 16)])[None]
    b = M.blendedness(close)
    assert np.all(b > 0) and np.all(b < 1)
    assert b[0, 1] > b[0, 0]               # the fainter galaxy is the more blended
    # same numbers as the one-blend function, with masks
    masks = close > 0.05
    np.testing.assert_allclose(M.blendedness(close, masks=masks)[0], blendedness_one(close[0], masks=masks[0]))
    i1, i2 = close[0]
    ref = 1 - (i1 * i1).sum() / (i1 * (i1 + i2)).sum()
    assert b[0, 0] == pytest.approx(ref)


# ----------------------------------------------------------------------------------------- binning
def test_bin_by_matches_numpy_histogram():
    rng = np.random.default_rng(5)
    v = np.concatenate([rng.uniform(0, 70, 500), MB.SEPARATION_BINS, [np.nan]])
    idx = MB.bin_by(v, MB.SEPARATION_BINS)
    counts = np.bincount(idx[idx >= 0], minlength=len(MB.SEPARATION_BINS) - 1)
    np.testing.assert_array_equal(counts, np.histogram(v[np.isfinite(v)], MB.SEPARATION_BINS)[0])
    assert idx[-1] == -1
    with pytest.raises(ValueError, match="increasing"):
        MB.bin_by(v, [3, 2])


def test_binned_metric_1d_and_2d():
    rng = np.random.default_rng(6)
    sep = rng.uniform(2, 60, 400)
    dm = rng.uniform(0, 2, 400)
    val = rng.normal(size=400)
    val[::17] = np.nan
    counts = MB.binned_metric(sep, val, MB.SEPARATION_BINS, statistic="count")
    np.testing.assert_array_equal(counts, np.histogram(sep, MB.SEPARATION_BINS)[0])
    means = MB.binned_metric(sep, val, MB.SEPARATION_BINS)
    idx = MB.bin_by(sep, MB.SEPARATION_BINS)
    for b in range(4):
        assert means[b] == pytest.approx(np.nanmean(val[idx == b]))
    grid = MB.binned_metric(sep, dm, MB.SEPARATION_BINS, MB.DELTA_MAG_BINS, values=val,
                            statistic="count")
    np.testing.assert_array_equal(grid, np.histogram2d(sep, dm, [MB.SEPARATION_BINS, MB.DELTA_MAG_BINS])[0])
    frac = MB.binned_metric(sep, np.where(np.isnan(val), np.nan, 0.0), MB.SEPARATION_BINS,
                            statistic=lambda d: M.dmag_stats(d)[2])
    for b in range(4):
        assert frac[b] == pytest.approx(np.isnan(val[idx == b]).mean())
    with pytest.raises(ValueError, match="values="):
        MB.binned_metric(sep, dm, MB.SEPARATION_BINS, MB.DELTA_MAG_BINS)


# -------------------------------------------------------------------------------------- evaluation
def _scene(n=4, size=24, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.zeros((n, 2, 2))
    iso = np.zeros((n, 2, size, size))
    for i in range(n):
        pos[i, 0] = (size // 2, size // 2)
        pos[i, 1] = pos[i, 0] + rng.uniform(4, 8, 2)
        for g in range(2):
            iso[i, g] = (g + 1) * 10 * _gauss((size, size), *pos[i, g], s=1.5)
    masks = iso > 0.5
    fluxes = iso.sum(axis=(2, 3))
    return MB.Truth(pos, masks, iso, fluxes)


def test_evaluate_perfect_and_degraded():
    truth = _scene()
    perfect = [MB.Prediction(truth.positions[i][::-1], truth.masks[i][::-1], truth.isolated[i][::-1],
                             truth.fluxes[i][::-1]) for i in range(len(truth))]
    s = MB.evaluate_results(truth, perfect)
    assert list(s) == list(MB.SUMMARY_KEYS)
    assert (s["precision"], s["recall"], s["f1"], s["iou_mean"]) == (1.0, 1.0, 1.0, 1.0)
    assert (s["flux_mape"], s["dmag_mean"], s["dmag_sigma"], s["outlier_frac"]) == (0, 0, 0, 0)
    assert s["rmse"] == 0 and s["ssim"] == pytest.approx(1.0) and s["n_blends"] == 4
    assert s["shape_err"] == 0 and s["shape_fail"] == 0

    # blend 0: only galaxy 1 found, flux 10 % high, plus a spurious far detection; others perfect
    preds = list(perfect)
    t0 = truth
    preds[0] = MB.Prediction([t0.positions[0, 0], [0, 0]], np.stack([t0.masks[0, 0], t0.masks[0, 0] * 0]),
                             None, [1.1 * t0.fluxes[0, 0], 5.0])
    table = MB.per_blend_table(truth, preds, max_separation=3)
    row = table[0]
    assert (row["tp"], row["fp"], row["fn"], row["matched_1"], row["matched_2"]) == (1, 1, 1, 0, -1)
    assert row["iou_2"] == 0.0 and row["flux_pred_2"] == 0.0 and np.isnan(row["dmag_2"])
    assert row["flux_relerr_1"] == pytest.approx(0.1)
    assert np.isnan(row["rmse"])                               # no images in that prediction
    s = MB.summarize_table(table)
    assert s["precision"] == pytest.approx(7 / 8) and s["recall"] == pytest.approx(7 / 8)
    assert s["iou_mean"] == pytest.approx(7 / 8)
    assert s["flux_mape"] == pytest.approx((10 + 100) / 8)
    assert s["outlier_frac"] == pytest.approx(1 / 8)
    assert s["dmag_mean"] == pytest.approx(-2.5 * np.log10(1.1) / 7)
    assert s["rmse"] == 0.0                                     # mean over blends with images
    assert s["shape_err"] == 0.0 and s["shape_fail"] == 0.0     # blend 0 has no images: not counted
    assert s == MB.evaluate_results(truth, preds, max_separation=3)


def test_per_blend_table_schema_and_files(tmp_path):
    truth = _scene(n=3)
    preds = [MB.Prediction(truth.positions[i], truth.masks[i], 0.5 * truth.isolated[i], None)
             for i in range(3)]
    table = MB.per_blend_table(truth, preds)
    for name in ("blend", "separation", "delta_mag", "iou_1", "iou_2", "dmag_1", "dmag_2", "rmse",
                 "rmse_1", "psnr_2", "ssim_1", "blendedness_1", "tp", "fp", "fn"):
        assert name in table.colnames
    np.testing.assert_allclose(table["separation"], np.hypot(*(truth.positions[:, 1] - truth.positions[:, 0]).T))
    np.testing.assert_allclose(table["delta_mag"], -2.5 * np.log10(truth.fluxes[:, 1] / truth.fluxes[:, 0]))
    np.testing.assert_allclose(table["rmse_1"], M.rmse(truth.isolated[:, 0], 0.5 * truth.isolated[:, 0]))
    s = MB.summarize_table(table)
    assert set(s) == set(MB.SUMMARY_KEYS)
    assert math.isnan(s["flux_mape"]) and math.isnan(s["outlier_frac"])   # no fluxes predicted
    assert s["psnr"] > 0 and 0 < s["ssim"] < 1
    table.write(tmp_path / "t.ecsv")
    from astropy.table import Table
    back = Table.read(tmp_path / "t.ecsv")
    assert back.colnames == table.colnames and len(back) == 3
    json.loads(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in s.items()}))


def test_truth_and_prediction_validation():
    truth = _scene(n=2)
    with pytest.raises(ValueError, match=r"Truth.fluxes must have shape \(2, 2\)"):
        MB.Truth(truth.positions, truth.masks, truth.isolated, truth.fluxes[:, :1])
    with pytest.raises(ValueError, match="Prediction.segmentation"):
        MB.Prediction(np.zeros((2, 2)), np.zeros((3, 8, 8), bool))
    with pytest.raises(ValueError, match="2 blends"):
        MB.per_blend_table(truth, [])
    empty = MB.Prediction(np.zeros((0, 2)), np.zeros((0, 24, 24), bool))
    table = MB.per_blend_table(truth, [empty, empty])
    assert list(table["fn"]) == [2, 2] and np.all(np.asarray(table["iou_1"]) == 0)
    assert math.isnan(MB.summarize_table(table)["precision"])


def test_truth_from_batch(small_stamps):
    from candels_gui.core.blending.engine import BlendEngine, BlendSpec
    from candels_gui.core.blending.labels import blend_fluxes

    ids = [int(v) for v in small_stamps.catalog["id"][:2]]
    specs = [BlendSpec(ids[0], ids[1], dx=5, dy=-3)]
    batch = BlendEngine(small_stamps).render_batch(specs)
    truth = MB.Truth.from_batch(batch, blend_fluxes(small_stamps, specs))
    h, w = batch.masks.shape[-2:]
    np.testing.assert_allclose(truth.positions[0], [[w // 2, h // 2], [w // 2 + 5, h // 2 - 3]])
    assert MB.per_blend_table(truth, [MB.Prediction(truth.positions[0], truth.masks[0])])["separation"][0] \
        == pytest.approx(math.hypot(5, 3))
