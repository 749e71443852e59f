"""Deblender metrics: detection matching, segmentation, reconstruction, photometry and blendedness.

Pure numpy / scipy / scikit-image. Binning and the evaluation of a deblender over a whole data set live in
:mod:`candels_gui.core.measure.binned`.

Conventions
-----------
* Positions are ``(x, y)`` pixel coordinates (x = column, y = row); distances are Euclidean, in pixels.
* Undefined values are NaN (precision with no detection, IoU of two empty masks, the magnitude of a
  non-positive flux), and summaries use ``nanmean`` so they are left out -- except Δmag, where a NaN
  means "no usable photometry" and counts as an outlier (:func:`dmag_stats`).
* Image metrics (:func:`rmse`, :func:`psnr`, :func:`ssim`) reduce over the last two axes, so a single
  ``(H, W)`` image gives a float and a stack ``(..., H, W)`` gives one value per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..blending.blend_metrics import blendedness as _blendedness_one

__all__ = [
    "Matching", "match_detections", "detection_scores", "efficiency_matrix",
    "iou", "iou_per_galaxy", "rmse", "psnr", "ssim",
    "flux_errors", "mape", "delta_mag", "dmag_stats", "DMAG_OUTLIER", "blendedness",
]

#: |Δmag| above which a galaxy's photometry is an outlier (Boucaud et al. 2020).
DMAG_OUTLIER = 0.75


# ------------------------------------------------------------------------------------------ detection
@dataclass(frozen=True)
class Matching:
    """One-to-one assignment of detections to true sources in one blend.

    Attributes
    ----------
    true_idx, det_idx : ndarray (P,) int
        Matched pairs: true source ``true_idx[p]`` is detection ``det_idx[p]``.
    distances : ndarray (P,) float
        Pixel distance of each matched pair.
    n_true, n_det : int
        Number of true sources and of detections.
    """

    true_idx: np.ndarray
    det_idx: np.ndarray
    distances: np.ndarray
    n_true: int
    n_det: int

    @property
    def tp(self) -> int:
        """True positives: matched pairs."""
        return int(len(self.true_idx))

    @property
    def fp(self) -> int:
        """False positives: detections matched to no true source."""
        return self.n_det - self.tp

    @property
    def fn(self) -> int:
        """False negatives: true sources matched to no detection."""
        return self.n_true - self.tp

    def det_for_true(self) -> np.ndarray:
        """Detection index of every true source, -1 where it is unmatched; shape (n_true,)."""
        out = np.full(self.n_true, -1, dtype=np.int64)
        out[self.true_idx] = self.det_idx
        return out


def _xy(arr: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 2)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) as (x, y) pixel positions, got {a.shape}")
    return a


def match_detections(true_xy: np.ndarray, det_xy: np.ndarray, *,
                     max_separation: float | None = None) -> Matching:
    """Match detections to true sources by minimum total pixel distance (Hungarian algorithm).

    Parameters
    ----------
    true_xy : (N, 2) float
        True positions ``(x, y)`` in pixels.
    det_xy : (M, 2) float
        Detected positions ``(x, y)`` in pixels.
    max_separation : float, optional
        Pairs farther apart than this are never matched. Among all assignments the one with the most
        pairs within ``max_separation`` wins, then the one with the smallest total distance.

    Returns
    -------
    Matching

    Examples
    --------
    >>> m = match_detections([[0, 0], [10, 0]], [[9, 0], [1, 0], [50, 50]], max_separation=5)
    >>> m.det_for_true().tolist(), m.tp, m.fp, m.fn
    ([1, 0], 2, 1, 0)
    """
    t = _xy(true_xy, "true_xy")
    d = _xy(det_xy, "det_xy")
    n, m = len(t), len(d)
    empty = np.zeros(0, np.int64)
    if n == 0 or m == 0:
        return Matching(empty, empty, np.zeros(0), n, m)
    if max_separation is not None and not max_separation >= 0:
        raise ValueError(f"max_separation must be >= 0, got {max_separation}")
    dist = np.hypot(t[:, None, 0] - d[None, :, 0], t[:, None, 1] - d[None, :, 1])
    cost = dist
    if max_separation is not None:
        allowed = dist <= max_separation
        # A forbidden pair costs more than any set of allowed pairs, so the number of allowed pairs is
        # maximised first and their total distance minimised second.
        big = float(max_separation) * (min(n, m) + 1) + 1.0
        cost = np.where(allowed, dist, big)
    from scipy.optimize import linear_sum_assignment  # scipy.optimize: ~1 s to import, only when matching

    rows, cols = linear_sum_assignment(cost)
    keep = np.ones(len(rows), bool) if max_separation is None else dist[rows, cols] <= max_separation
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    return Matching(rows, cols, dist[rows, cols], n, m)


def _ratio(a: float, b: float) -> float:
    return float(a) / b if b > 0 else float("nan")


def detection_scores(matchings: Iterable[Matching]) -> dict[str, float]:
    """Precision, recall and F1 of detection, pooled over many blends.

    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``F1 = 2 P R / (P + R)``, with TP, FP, FN
    summed over all blends first. A ratio with a zero denominator is NaN; F1 is 0 when P + R = 0.

    Returns
    -------
    dict
        ``precision, recall, f1`` (floats, 0-1) and ``tp, fp, fn`` (ints).

    Examples
    --------
    >>> m = match_detections([[0, 0], [10, 0]], [[0, 1], [40, 40]], max_separation=3)
    >>> detection_scores([m])
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'tp': 1, 'fp': 1, 'fn': 1}
    """
    tp = fp = fn = 0
    for m in matchings:
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    if np.isnan(p) or np.isnan(r):
        f1 = float("nan")
    else:
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def efficiency_matrix(n_true_per_blend: Sequence[int], n_det_per_blend: Sequence[int], max_n: int, *,
                      normalize: bool = True) -> np.ndarray:
    """BTK's efficiency matrix: how many sources were detected, for each true number of sources.

    Parameters
    ----------
    n_true_per_blend, n_det_per_blend : (B,) int
        True and detected number of sources of every blend.
    max_n : int
        Largest count shown; larger counts are put in the last row / column.
    normalize : bool
        Divide each column by its number of blends (columns with no blend stay 0).

    Returns
    -------
    ndarray (max_n + 1, max_n + 1)
        Entry ``[i, j]``: blends with ``j`` true sources and ``i`` detections (fraction of column ``j``
        when ``normalize``).

    Examples
    --------
    >>> efficiency_matrix([2, 2, 2, 1], [2, 1, 2, 1], 2).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.3333333333333333], [0.0, 0.0, 0.6666666666666666]]
    """
    nt = np.asarray(n_true_per_blend, dtype=np.int64).ravel()
    nd = np.asarray(n_det_per_blend, dtype=np.int64).ravel()
    if nt.shape != nd.shape:
        raise ValueError(f"n_true_per_blend has {nt.size} blends but n_det_per_blend has {nd.size}")
    if max_n < 0 or (nt.size and (nt.min() < 0 or nd.min() < 0)):
        raise ValueError("counts and max_n must be >= 0")
    counts = np.zeros((max_n + 1, max_n + 1), dtype=np.float64)
    np.add.at(counts, (np.minimum(nd, max_n), np.minimum(nt, max_n)), 1.0)
    if not normalize:
        return counts
    col = counts.sum(axis=0, keepdims=True)
    return np.divide(counts, col, out=np.zeros_like(counts), where=col > 0)


# --------------------------------------------------------------------------------------- segmentation
def iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; NaN when both are empty (undefined).

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2, :2] = True
    >>> b = np.zeros((4, 4), bool); b[:2, :] = True
    >>> iou(a, b)
    0.5
    """
    a, b = np.asarray(mask_a, bool), np.asarray(mask_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks have different shapes {a.shape} and {b.shape}")
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / float(union) if union else float("nan")


def iou_per_galaxy(true_masks: np.ndarray, pred_masks: np.ndarray,
                   matching: Sequence[Matching] | np.ndarray | None = None) -> np.ndarray:
    """IoU of every true galaxy with the predicted mask assigned to it.

    Parameters
    ----------
    true_masks : (B, K, H, W) bool
    pred_masks : (B, Kp, H, W) bool
    matching : sequence of B Matching, or (B, K) int array, optional
        Which predicted mask belongs to which true galaxy (-1 = none). Default: mask ``k`` to mask ``k``
        (requires ``Kp >= K``).

    Returns
    -------
    ndarray (B, K) float
        IoU; 0 for a true galaxy with no assigned mask; NaN where both masks are empty.

    Examples
    --------
    >>> t = np.zeros((1, 2, 4, 4), bool); t[0, 0, :2] = True; t[0, 1, 2:] = True
    >>> iou_per_galaxy(t, t[:, ::-1], np.array([[1, -1]])).tolist()
    [[1.0, 0.0]]
    """
    t = np.asarray(true_masks, dtype=bool)
    p = np.asarray(pred_masks, dtype=bool)
    if t.ndim != 4 or p.ndim != 4 or t.shape[0] != p.shape[0] or t.shape[2:] != p.shape[2:]:
        raise ValueError(f"masks must be (B, K, H, W) with the same B, H, W; got true {t.shape}, "
                         f"predicted {p.shape}")
    b, k = t.shape[:2]
    if matching is None:
        if p.shape[1] < k:
            raise ValueError(f"predicted masks have {p.shape[1]} sources per blend, fewer than the "
                             f"{k} true ones; pass a matching")
        assign = np.broadcast_to(np.arange(k), (b, k))
    elif isinstance(matching, np.ndarray):
        assign = np.asarray(matching, dtype=np.int64)
    else:
        assign = np.stack([m.det_for_true() for m in matching]) if len(matching) else np.zeros((0, k))
        assign = assign.astype(np.int64)
    if assign.shape != (b, k):
        raise ValueError(f"matching must give ({b}, {k}) predicted indices, got {assign.shape}")
    if assign.size and assign.max() >= p.shape[1]:
        raise ValueError(f"matching refers to predicted mask {assign.max()} of {p.shape[1]}")
    picked = p[np.arange(b)[:, None], np.clip(assign, 0, None)]       # (B, K, H, W)
    picked &= (assign >= 0)[:, :, None, None]
    inter = np.count_nonzero((t & picked).reshape(b, k, -1), axis=-1).astype(np.float64)
    union = np.count_nonzero((t | picked).reshape(b, k, -1), axis=-1).astype(np.float64)
    out = np.divide(inter, union, out=np.full((b, k), np.nan), where=union > 0)
    return out


# ------------------------------------------------------------------------------------- reconstruction
def _pair(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim < 2:
        raise ValueError(f"true and predicted images must have the same shape (..., H, W); got "
                         f"{t.shape} and {p.shape}")
    return t, p


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def rmse(true: np.ndarray, pred: np.ndarray) -> float | np.ndarray:
    """Root-mean-square error over the pixels of each image: ``sqrt(mean((true - pred)**2))``.

    Examples
    --------
    >>> rmse(np.zeros((2, 2)), np.array([[1.0, -1.0], [1.0, -1.0]]))
    1.0
    """
    t, p = _pair(true, pred)
    return _scalar(np.sqrt(np.mean((t - p) ** 2, axis=(-2, -1))))


def _data_range(t: np.ndarray, data_range: float | np.ndarray | None) -> np.ndarray:
    if data_range is None:
        return np.max(t, axis=(-2, -1)) - np.min(t, axis=(-2, -1))
    return np.broadcast_to(np.asarray(data_range, dtype=np.float64), t.shape[:-2])


def psnr(true: np.ndarray, pred: np.ndarray, data_range: float | np.ndarray | None = None
         ) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``.

    Parameters
    ----------
    data_range : float or array, optional
        Default: the range (max - min) of each *true* image, so the value does not depend on how far the
        prediction strays. NaN where the range is 0; ``inf`` for a perfect prediction.

    Examples
    --------
    >>> round(psnr(np.array([[0.0, 1.0]]), np.array([[0.0, 0.9]])), 3)
    23.01
    """
    t, p = _pair(true, pred)
    dr = _data_range(t, data_range)
    mse = np.mean((t - p) ** 2, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(dr ** 2 / mse)
    out = np.where(dr > 0, out, np.nan)
    return _scalar(out)


def ssim(true: np.ndarray, pred: np.ndarray, *, data_range: float | np.ndarray | None = None,
         **kwargs) -> float | np.ndarray:
    """Structural similarity, :func:`skimage.metrics.structural_similarity` on each image.

    Parameters
    ----------
    data_range : float or array, optional
        Default: the range (max - min) of each *true* image (skimage would otherwise assume the dtype's
        range, meaningless for float flux images). NaN where the range is 0.
    **kwargs
        Passed to ``structural_similarity`` (``win_size``, ``gaussian_weights``, ...). Images must be
        at least ``win_size`` (7) pixels on a side.

    Examples
    --------
    >>> img = np.arange(64.0).reshape(8, 8)
    >>> ssim(img, img)
    1.0
    """
    from skimage.metrics import structural_similarity   # scikit-image and scipy.ndimage: ~0.3 s to import

    t, p = _pair(true, pred)
    dr = _data_range(t, data_range)
    lead = t.shape[:-2]
    out = np.full(lead, np.nan)
    for idx in np.ndindex(*lead):
        if dr[idx] > 0:
            out[idx] = structural_similarity(t[idx], p[idx], data_range=float(dr[idx]), **kwargs)
    return _scalar(out)


# ---------------------------------------------------------------------------------------- photometry
def flux_errors(true_flux: np.ndarray, pred_flux: np.ndarray) -> np.ndarray:
    """Relative flux error ``(pred - true) / true`` (NaN where the true flux is not > 0).

    Examples
    --------
    >>> flux_errors([100.0, 50.0], [110.0, 25.0]).tolist()
    [0.1, -0.5]
    """
    t = np.asarray(true_flux, dtype=np.float64)
    p = np.asarray(pred_flux, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"true flux has shape {t.shape} but predicted flux {p.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, (p - t) / t, np.nan)


def mape(true_flux: np.ndarray, pred_flux: np.ndarray) -> float:
    """Mean absolute percentage error of the fluxes, in percent (NaN entries are left out).

    Examples
    --------
    >>> mape([100.0, 50.0], [110.0, 25.0])
    30.0
    """
    err = np.abs(flux_errors(true_flux, pred_flux))
    return float(100.0 * np.nanmean(err)) if np.isfinite(err).any() else float("nan")


def delta_mag(true_flux: np.ndarray, pred_flux: np.ndarray) -> np.ndarray:
    """Magnitude error ``pred mag - true mag = -2.5 log10(pred / true)``.

    NaN where either flux is not > 0 (no magnitude); :func:`dmag_stats` counts those as outliers.

    Examples
    --------
    >>> np.round(delta_mag([100.0, 100.0], [1000.0, 10.0]), 6).tolist(), delta_mag([1.0], [0.0]).tolist()
    ([-2.5, 2.5], [nan])
    """
    t = np.asarray(true_flux, dtype=np.float64)
    p = np.asarray(pred_flux, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"true flux has shape {t.shape} but predicted flux {p.shape}")
    ok = (t > 0) & (p > 0)
    out = np.full(t.shape, np.nan)
    out[ok] = -2.5 * np.log10(p[ok] / t[ok])
    return out


def dmag_stats(dmag: np.ndarray, outlier: float = DMAG_OUTLIER) -> tuple[float, float, float]:
    """Mean, standard deviation and outlier fraction of magnitude errors (Boucaud et al. 2020).

    A galaxy is an outlier when ``|Δmag| > outlier`` or Δmag is NaN (no usable flux). The mean and the
    (population, ``ddof=0``) standard deviation are taken over the non-outliers only, so a few lost
    galaxies do not dominate them; the outlier fraction is over all galaxies.

    Returns
    -------
    (mean, sigma, outlier_frac) : tuple of float
        NaN for the mean and sigma when no galaxy is an inlier; all NaN for an empty input.

    Examples
    --------
    >>> [round(v, 4) for v in dmag_stats([0.1, -0.1, 0.3, 1.0, np.nan])]
    [0.1, 0.1633, 0.4]
    """
    d = np.asarray(dmag, dtype=np.float64).ravel()
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    with np.errstate(invalid="ignore"):
        inlier = np.isfinite(d) & (np.abs(d) <= outlier)
    frac = 1.0 - inlier.sum() / d.size
    if not inlier.any():
        return float("nan"), float("nan"), float(frac)
    good = d[inlier]
    return float(good.mean()), float(good.std()), float(frac)


# --------------------------------------------------------------------------------------- blendedness
def blendedness(isolated: np.ndarray, *, masks: np.ndarray | None = None,
                clip_negative: bool = True) -> np.ndarray:
    """Blendedness of every galaxy of every blend, ``1 - sum(I_k I_k) / sum(I_k I_total)``.

    Bosch et al. (2018) as BlendingToolKit computes it; the per-blend work is
    :func:`candels_gui.core.blending.blend_metrics.blendedness`. Isolated images carry noise, so negative pixels
    are clipped to 0 (``clip_negative``) and, when ``masks`` are given, each image is zeroed outside its
    footprint: a "noiseless-ish" positive part.

    Parameters
    ----------
    isolated : (B, K, H, W) float
    masks : (B, K, H, W) bool, optional

    Returns
    -------
    ndarray (B, K) float, in [0, 1]
        0 for a galaxy that does not overlap any other (or has no positive flux).

    Examples
    --------
    >>> iso = np.zeros((1, 2, 4, 4)); iso[0, 0, :, :2] = 1.0; iso[0, 1, :, 2:] = 1.0
    >>> blendedness(iso).tolist()
    [[0.0, 0.0]]
    """
    iso = np.asarray(isolated)
    if iso.ndim != 4:
        raise ValueError(f"isolated images must have shape (B, K, H, W), got {iso.shape}")
    if masks is not None and np.shape(masks) != iso.shape:
        raise ValueError(f"masks have shape {np.shape(masks)} but isolated images have {iso.shape}")
    out = np.zeros(iso.shape[:2])
    for i in range(len(iso)):
        out[i] = _blendedness_one(iso[i], masks=None if masks is None else masks[i],
                                  clip_negative=clip_negative)
    return out
