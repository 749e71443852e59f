"""Metrics binned by separation and magnitude difference, and the evaluation of one deblender.

Truth comes per batch (:class:`Truth`, two galaxies per blend, as the blend engine makes them);
a deblender's output comes per blend (:class:`Prediction`, any number of sources). :func:`per_blend_table`
matches the predicted sources to the two true galaxies (Hungarian on positions) and measures each pair;
:func:`summarize_table` turns any set of its rows into the summary that ``candels-gui evaluate --json``
prints, and :func:`evaluate_results` does both.

A true galaxy that no predicted source is matched to counts as a miss everywhere: IoU 0, predicted
flux 0 (relative error -1, so 100 % in MAPE; Δmag NaN, so an outlier) and a predicted image of zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from astropy.table import Table

from candels_gui.core.measure import metrics as M
from ..blending.engine import BlendBatch
from .shapes import hsm_shapes, shape_errors

__all__ = [
    "SEPARATION_BINS", "DELTA_MAG_BINS", "SUMMARY_KEYS", "bin_by", "binned_metric",
    "Truth", "Prediction", "per_blend_table", "summarize_table", "shapes_lost", "evaluate_results",
]

#: Separation bins of Boucaud et al. (2020), pixels: [2, 8), [8, 13), [13, 18), [18, 60].
SEPARATION_BINS = np.array([2.0, 8.0, 13.0, 18.0, 60.0])
#: |Δmag| bins of Boucaud et al. (2020): [0, .35), [.35, .76), [.76, 1.25), [1.25, 2].
DELTA_MAG_BINS = np.array([0.0, 0.35, 0.76, 1.25, 2.0])
#: Keys of the summary of one deblender (``evaluate --json``), in order.
SUMMARY_KEYS = ("precision", "recall", "f1", "iou_mean", "flux_mape", "dmag_mean", "dmag_sigma",
                "outlier_frac", "rmse", "psnr", "ssim", "shape_err", "shape_fail", "n_blends")

_NAN_DROPPING = {"mean", "median", "std", "min", "max", "sum"}


# ---------------------------------------------------------------------------------------------- bins
def _edges(edges: Sequence[float], name: str) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64).ravel()
    if e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"{name} must be at least two increasing bin edges, got {e.tolist()}")
    return e


def bin_by(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin index of every value: ``i`` for ``edges[i] <= v < edges[i+1]``, -1 outside (and for NaN).

    As in :func:`numpy.histogram` and :func:`scipy.stats.binned_statistic`, the last bin also holds
    its right edge.

    Examples
    --------
    >>> bin_by([1.0, 2.0, 8.0, 59.0, 60.0, 61.0], SEPARATION_BINS).tolist()
    [-1, 0, 1, 3, 3, -1]
    """
    e = _edges(edges, "edges")
    v = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(e, v, side="right") - 1
    idx[v == e[-1]] = len(e) - 2
    idx[(idx < 0) | (idx >= len(e) - 1) | ~np.isfinite(v)] = -1
    return idx


def binned_metric(x: np.ndarray, y: np.ndarray, edges_x: Sequence[float],
                  edges_y: Sequence[float] | None = None, *, values: np.ndarray | None = None,
                  statistic: str | Callable[[np.ndarray], float] = "mean") -> np.ndarray:
    """A statistic of a metric in bins of one or two blend properties.

    One dimension (``edges_y`` None): ``y`` holds the metric, binned by ``x``
    (:func:`scipy.stats.binned_statistic`). Two dimensions: ``values`` holds the metric, binned by
    ``x`` and ``y`` (:func:`scipy.stats.binned_statistic_2d`).

    Parameters
    ----------
    statistic : str or callable
        Any statistic scipy knows. For ``mean, median, std, min, max, sum`` non-finite metric values are
        left out first; ``count`` and callables see every value (so a callable such as
        ``lambda d: dmag_stats(d)[2]`` can count NaNs as outliers).

    Returns
    -------
    ndarray (len(edges_x) - 1,) or (len(edges_x) - 1, len(edges_y) - 1)
        NaN for an empty bin (0 for ``count``).

    Examples
    --------
    >>> binned_metric([3, 4, 10, 20], [1.0, 3.0, 5.0, np.nan], SEPARATION_BINS).tolist()
    [2.0, 5.0, nan, nan]
    """
    ex = _edges(edges_x, "edges_x")
    xa = np.asarray(x, dtype=np.float64).ravel()
    if edges_y is None:
        metric = np.asarray(y, dtype=np.float64).ravel()
        coords: list[np.ndarray] = [xa]
    else:
        if values is None:
            raise ValueError("binned_metric with edges_y needs the metric in values=")
        metric = np.asarray(values, dtype=np.float64).ravel()
        coords = [xa, np.asarray(y, dtype=np.float64).ravel()]
    if any(c.shape != metric.shape for c in coords):
        raise ValueError(f"x, y (and values) must have the same length; got "
                         f"{[c.size for c in coords]} and {metric.size}")
    keep = np.all([np.isfinite(c) for c in coords], axis=0)
    if isinstance(statistic, str) and statistic in _NAN_DROPPING:
        keep &= np.isfinite(metric)
    coords = [c[keep] for c in coords]
    metric = metric[keep]
    if not metric.size:            # nothing measured (a flux-only deblender's IoU, say): every bin empty
        shape = (len(ex) - 1,) if edges_y is None else (len(ex) - 1, len(_edges(edges_y, "edges_y")) - 1)
        return np.full(shape, 0.0 if statistic in ("count", "sum") else np.nan)
    if edges_y is None:
        from scipy.stats import binned_statistic  # scipy.stats takes ~0.5 s to import: only when binning

        stat = binned_statistic(coords[0], metric, statistic=statistic, bins=ex).statistic
    else:
        ey = _edges(edges_y, "edges_y")
        from scipy.stats import binned_statistic_2d

        stat = binned_statistic_2d(coords[0], coords[1], metric, statistic=statistic,
                                   bins=[ex, ey]).statistic
    return np.asarray(stat, dtype=np.float64)


# ------------------------------------------------------------------------------------------- inputs
@dataclass
class Truth:
    """The true content of a batch of two-galaxy blends.

    Attributes
    ----------
    positions : (B, 2, 2) float
        ``(x, y)`` pixel centre of galaxy 1 and galaxy 2 of each blend.
    masks : (B, 2, H, W) bool
    isolated : (B, 2, H, W) float
        Each galaxy's image alone.
    fluxes : (B, 2) float
    shapes : (B, 2, 2) float, optional
        Ellipticity ``(g1, g2)`` of each isolated galaxy (:func:`~candels_gui.core.measure.shapes.hsm_shapes`);
        measured on first use of :attr:`galaxy_shapes` when not given.
    """

    positions: np.ndarray
    masks: np.ndarray
    isolated: np.ndarray
    fluxes: np.ndarray
    shapes: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64)
        self.masks = np.asarray(self.masks, dtype=bool)
        self.isolated = np.asarray(self.isolated)
        self.fluxes = np.asarray(self.fluxes, dtype=np.float64)
        b = len(self.positions)
        if self.positions.shape != (b, 2, 2):
            raise ValueError(f"Truth.positions must have shape (B, 2, 2), got {self.positions.shape}")
        if self.masks.ndim != 4 or self.masks.shape[:2] != (b, 2):
            raise ValueError(f"Truth.masks must have shape ({b}, 2, H, W), got {self.masks.shape}")
        if self.isolated.shape != self.masks.shape:
            raise ValueError(f"Truth.isolated has shape {self.isolated.shape}, masks {self.masks.shape}")
        if self.fluxes.shape != (b, 2):
            raise ValueError(f"Truth.fluxes must have shape ({b}, 2), got {self.fluxes.shape}")
        if self.shapes is not None:
            self.shapes = np.asarray(self.shapes, dtype=np.float64)
            if self.shapes.shape != (b, 2, 2):
                raise ValueError(f"Truth.shapes must have shape ({b}, 2, 2), got {self.shapes.shape}")

    @property
    def galaxy_shapes(self) -> np.ndarray:
        """(B, 2, 2) ellipticity ``(g1, g2)`` of each isolated galaxy, measured once (NaN: unmeasurable)."""
        if self.shapes is None:
            h, w = self.isolated.shape[-2:]
            g = hsm_shapes(self.isolated.reshape(-1, h, w), self.positions.reshape(-1, 2))
            self.shapes = g.reshape(len(self), 2, 2)
        return self.shapes

    def __getitem__(self, rows: slice | Sequence[int] | np.ndarray) -> "Truth":
        """The truth of some of the blends (a slice or indices; their shapes too, when measured)."""
        return Truth(self.positions[rows], self.masks[rows], self.isolated[rows], self.fluxes[rows],
                     None if self.shapes is None else self.shapes[rows])

    def __len__(self) -> int:
        return len(self.positions)

    @classmethod
    def from_batch(cls, batch: BlendBatch, fluxes: np.ndarray) -> "Truth":
        """Truth of engine blends: galaxy 1 at pixel ``(W//2, H//2)``, galaxy 2 moved by ``(dx, dy)``.

        ``fluxes`` (B, 2) as :func:`candels_gui.core.blending.labels.blend_fluxes` gives them.
        """
        h, w = batch.masks.shape[-2:]
        pos = np.zeros((len(batch), 2, 2))
        pos[:, :, 0], pos[:, :, 1] = w // 2, h // 2
        pos[:, 1, 0] += [s.dx for s in batch.specs]
        pos[:, 1, 1] += [s.dy for s in batch.specs]
        return cls(pos, batch.masks, batch.isolated, fluxes)


@dataclass
class Prediction:
    """What a deblender returned for one blend: K sources (K may be 0).

    Attributes
    ----------
    positions : (K, 2) float
        ``(x, y)`` pixel centre of each source.
    segmentation : (K, H, W) bool
        Footprint of each source.
    images : (K, H, W) float or None
        Deblended image of each source, when the deblender makes them.
    fluxes : (K,) float or None
        Flux of each source, when the deblender measures them.
    """

    positions: np.ndarray
    segmentation: np.ndarray
    images: np.ndarray | None = None
    fluxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 2)
        self.segmentation = np.asarray(self.segmentation, dtype=bool)
        k = len(self.positions)
        if self.segmentation.ndim != 3 or len(self.segmentation) != k:
            raise ValueError(f"Prediction.segmentation must have shape ({k}, H, W) for {k} sources, "
                             f"got {self.segmentation.shape}")
        if self.images is not None:
            self.images = np.asarray(self.images)
            if self.images.shape != self.segmentation.shape:
                raise ValueError(f"Prediction.images has shape {self.images.shape}, segmentation "
                                 f"{self.segmentation.shape}")
        if self.fluxes is not None:
            self.fluxes = np.asarray(self.fluxes, dtype=np.float64).ravel()
            if len(self.fluxes) != k:
                raise ValueError(f"Prediction.fluxes has {len(self.fluxes)} values for {k} sources")


# --------------------------------------------------------------------------------------- evaluation
def per_blend_table(truth: Truth, predictions: Sequence[Prediction], *,
                    max_separation: float | None = None) -> Table:
    """Match and measure every blend: one row per blend.

    Columns: ``blend`` (index), ``separation`` (px), ``delta_mag`` (true magnitude of galaxy 2 minus
    galaxy 1), ``n_det, tp, fp, fn``, ``blendedness_1/2``, and per galaxy ``g`` = 1, 2: ``matched_g``
    (predicted source index, -1 = none), ``iou_g``, ``flux_true_g, flux_pred_g, flux_relerr_g, dmag_g``,
    ``rmse_g, psnr_g, ssim_g``, ``g1_true_g, g2_true_g, g1_pred_g, g2_pred_g`` (ellipticities,
    :func:`~candels_gui.core.measure.shapes.hsm_shapes`, each measured from the true galaxy's position) and
    ``shape_err_g`` (``|g_pred - g_true|``); plus ``rmse`` = mean of ``rmse_1, rmse_2``. Flux columns are
    NaN when the deblender gives no fluxes, image and shape columns when it gives no images; a missed
    galaxy's predicted shape is NaN (its image is empty).
    """
    n = len(truth)
    if len(predictions) != n:
        raise ValueError(f"{len(predictions)} predictions for {n} blends of truth")
    h, w = truth.masks.shape[-2:]
    cols: dict[str, np.ndarray] = {name: np.full(n, np.nan) for name in (
        "iou_1", "iou_2", "flux_pred_1", "flux_pred_2", "rmse_1", "rmse_2", "psnr_1", "psnr_2",
        "ssim_1", "ssim_2")}
    pred_shapes = np.full((n, 2, 2), np.nan)
    counts = np.zeros((n, 4), np.int64)
    matched = np.full((n, 2), -1, np.int64)
    for i, pred in enumerate(predictions):
        if pred.segmentation.shape[1:] != (h, w):
            raise ValueError(f"prediction {i} is {pred.segmentation.shape[1:]} pixels, truth ({h}, {w})")
        m = M.match_detections(truth.positions[i], pred.positions, max_separation=max_separation)
        counts[i] = (m.n_det, m.tp, m.fp, m.fn)
        matched[i] = m.det_for_true()
        for g in range(2):
            j = matched[i, g]
            pmask = pred.segmentation[j] if j >= 0 else np.zeros((h, w), bool)
            # a missed galaxy scores 0 (its mask is not empty); two empty masks stay NaN (undefined)
            cols[f"iou_{g + 1}"][i] = M.iou(truth.masks[i, g], pmask)
            if pred.fluxes is not None:
                cols[f"flux_pred_{g + 1}"][i] = pred.fluxes[j] if j >= 0 else 0.0
            if pred.images is not None:
                img = pred.images[j] if j >= 0 else np.zeros((h, w))
                cols[f"rmse_{g + 1}"][i] = M.rmse(truth.isolated[i, g], img)
                cols[f"psnr_{g + 1}"][i] = M.psnr(truth.isolated[i, g], img)
                cols[f"ssim_{g + 1}"][i] = M.ssim(truth.isolated[i, g], img) if min(h, w) >= 7 else np.nan
                if j >= 0:                                 # a missed galaxy has no shape (NaN)
                    pred_shapes[i, g] = hsm_shapes(img[None], truth.positions[i, g][None])[0]
    pos = truth.positions
    with np.errstate(divide="ignore", invalid="ignore"):
        true_dmag = -2.5 * np.log10(truth.fluxes[:, 1] / truth.fluxes[:, 0])
    blnd = M.blendedness(truth.isolated, masks=truth.masks)
    table = Table()
    table["blend"] = np.arange(n)
    table["separation"] = np.hypot(pos[:, 1, 0] - pos[:, 0, 0], pos[:, 1, 1] - pos[:, 0, 1])
    table["delta_mag"] = true_dmag
    for c, name in enumerate(("n_det", "tp", "fp", "fn")):
        table[name] = counts[:, c]
    table["blendedness_1"], table["blendedness_2"] = blnd[:, 0], blnd[:, 1]
    for g in (1, 2):
        ft, fp = truth.fluxes[:, g - 1], cols[f"flux_pred_{g}"]
        table[f"matched_{g}"] = matched[:, g - 1]
        table[f"iou_{g}"] = cols[f"iou_{g}"]
        table[f"flux_true_{g}"] = ft
        table[f"flux_pred_{g}"] = fp
        table[f"flux_relerr_{g}"] = M.flux_errors(ft, fp)
        table[f"dmag_{g}"] = M.delta_mag(ft, fp)
        for name in ("rmse", "psnr", "ssim"):
            table[f"{name}_{g}"] = cols[f"{name}_{g}"]
    if any(p.images is not None for p in predictions):
        true_shapes = truth.galaxy_shapes
    else:                          # no images, no shape metrics: the truth's shapes need not be measured
        true_shapes = np.full((n, 2, 2), np.nan)
    for g in (1, 2):
        table[f"g1_true_{g}"], table[f"g2_true_{g}"] = true_shapes[:, g - 1, 0], true_shapes[:, g - 1, 1]
        table[f"g1_pred_{g}"], table[f"g2_pred_{g}"] = pred_shapes[:, g - 1, 0], pred_shapes[:, g - 1, 1]
        table[f"shape_err_{g}"] = shape_errors(true_shapes[:, g - 1], pred_shapes[:, g - 1])
    table["rmse"] = 0.5 * (cols["rmse_1"] + cols["rmse_2"])
    table.meta["max_separation"] = max_separation
    return table


def _both(table: Table, name: str) -> np.ndarray:
    return np.concatenate([np.asarray(table[f"{name}_1"], float), np.asarray(table[f"{name}_2"], float)])


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def shapes_lost(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Per galaxy (galaxy 1 of every row, then galaxy 2): has it a true shape and a deblended image, and
    did that image give no shape (missed galaxies included)? Two bool arrays of length ``2 * len(table)``.

    ``rmse_g`` tells whether the prediction had images (NaN where it had none).
    """
    measurable = np.isfinite(_both(table, "g1_true")) & np.isfinite(_both(table, "rmse"))
    return measurable, measurable & ~np.isfinite(_both(table, "g1_pred"))


def summarize_table(table: Table) -> dict[str, float | int]:
    """Summary of one deblender over the rows of a :func:`per_blend_table` (any subset of them).

    Precision, recall and F1 from the pooled TP/FP/FN; ``iou_mean`` the mean IoU over galaxies (NaN
    entries left out); ``flux_mape`` in percent; Δmag mean, sigma and outlier fraction as
    :func:`~candels_gui.core.measure.metrics.dmag_stats`; ``rmse, psnr, ssim`` means over galaxies (``psnr``
    is ``inf`` when some reconstruction is perfect); ``shape_err`` the mean ``|g_pred - g_true|`` over the
    galaxies whose true and deblended shapes HSM measures, ``shape_fail`` the fraction of the galaxies
    with a true shape whose deblended image has none (missed galaxies included). Keys:
    :data:`SUMMARY_KEYS`.
    """
    tp, fp, fn = (int(np.sum(table[c])) for c in ("tp", "fp", "fn"))
    det = M.detection_scores([M.Matching(np.zeros(tp, np.int64), np.zeros(tp, np.int64),
                                         np.zeros(tp), tp + fn, tp + fp)])
    relerr = np.abs(_both(table, "flux_relerr"))
    mean, sigma, frac = M.dmag_stats(_both(table, "dmag"))
    has_flux = np.isfinite(_both(table, "flux_pred")).any()
    measurable, lost = shapes_lost(table)
    return {
        "precision": det["precision"], "recall": det["recall"], "f1": det["f1"],
        "iou_mean": _nanmean(_both(table, "iou")),
        "flux_mape": 100.0 * _nanmean(relerr) if has_flux else float("nan"),
        "dmag_mean": mean if has_flux else float("nan"),
        "dmag_sigma": sigma if has_flux else float("nan"),
        "outlier_frac": frac if has_flux else float("nan"),
        "rmse": _nanmean(_both(table, "rmse")),
        "psnr": _nanmean(_both(table, "psnr")),
        "ssim": _nanmean(_both(table, "ssim")),
        "shape_err": _nanmean(_both(table, "shape_err")),
        "shape_fail": float(lost.sum() / measurable.sum()) if measurable.any() else float("nan"),
        "n_blends": int(len(table)),
    }


def evaluate_results(truth: Truth, predictions: Sequence[Prediction], *,
                     max_separation: float | None = None) -> dict[str, float | int]:
    """Summary of one deblender over many blends (:data:`SUMMARY_KEYS`; fractions 0-1, MAPE in %).

    Use :func:`per_blend_table` + :func:`summarize_table` to also keep the per-blend table.

    Examples
    --------
    >>> m = np.zeros((1, 2, 8, 8), bool); m[0, 0, :, :4] = True; m[0, 1, :, 4:] = True
    >>> truth = Truth([[[2, 4], [6, 4]]], m, m * 1.0, [[32.0, 32.0]])
    >>> pred = Prediction([[6, 4], [2, 4]], m[0, ::-1], m[0, ::-1] * 1.0, [32.0, 16.0])
    >>> s = evaluate_results(truth, [pred])
    >>> s["f1"], s["iou_mean"], s["flux_mape"], s["rmse"]
    (1.0, 1.0, 25.0, 0.0)
    """
    return summarize_table(per_blend_table(truth, predictions, max_separation=max_separation))
