"""Training targets of blends (candels-blender's label methods), fluxes and the blend catalogue.

Label methods, vectorised over a batch of B blends (masks ``(B, 2, H, W)`` bool, channel 0 = central
galaxy, 1 = companion; isolated images ``(B, 2, H, W)`` float32):

=================  =====================  =======  ==============================================
method             shape                  dtype    content
=================  =====================  =======  ==============================================
``gg_masks``       (B, 2, H, W)           uint8    [central, companion] (channels first)
``ogg_masks``      (B, H, W, 3)           uint8    [overlap, central, companion]
``bogg_masks``     (B, H, W, 4)           uint8    one-hot [background, overlap, central only,
                                                   companion only]
``single_images``  (B, H, W, 2)           float32  [central, companion] isolated images
=================  =====================  =======  ==============================================

These are exactly candels-blender's shapes, so training scripts written for it read our exports.

The blend catalogue lives in :mod:`candels_gui.core.blending.catalogue`; its names are re-exported here.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from .engine import BlendSpec
from .catalogue import (CANDELS_BLENDER_COLUMNS, CATALOG_COLUMNS, EXTRA_COLUMNS, append_catalog_csv,
                        blend_catalog, catalog_column, catalog_record_dtype, catalog_to_records,
                        read_catalog_csv, records_to_catalog, write_catalog_csv)
from ..data.stampset import StampSet

__all__ = [
    "LABEL_METHODS", "gg_masks", "ogg_masks", "bogg_masks", "single_images", "make_labels",
    "label_shape", "label_dtype", "masks_from_labels", "mag_to_flux", "flux_to_mag", "blend_fluxes",
    "DEFAULT_ZEROPOINT",
    # re-exported from blendcat
    "CANDELS_BLENDER_COLUMNS", "EXTRA_COLUMNS", "CATALOG_COLUMNS", "blend_catalog",
    "catalog_record_dtype", "catalog_to_records", "records_to_catalog", "write_catalog_csv",
    "append_catalog_csv", "read_catalog_csv",
]

#: Names of the label methods, as candels-blender's ``concatenate -m``.
LABEL_METHODS = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")
#: Default AB zeropoint of candels-blender's ``convert``.
DEFAULT_ZEROPOINT = 25.96


# ------------------------------------------------------------------------------------------ labels
def _batch(arr: np.ndarray, name: str, dtype: Any) -> tuple[np.ndarray, bool]:
    """Return ``arr`` as (B, 2, H, W) and whether it was a single (2, H, W) blend."""
    a = np.asarray(arr)
    single = a.ndim == 3
    if single:
        a = a[None]
    if a.ndim != 4 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (B, 2, H, W) or (2, H, W), got {np.shape(arr)}")
    if dtype is bool and a.dtype != bool:
        a = a != 0
    return a, single


def _out(out: np.ndarray | None, shape: tuple[int, ...], dtype: Any, single: bool) -> np.ndarray:
    if out is None:
        out = np.empty(shape, dtype)
    elif single and out.shape == shape[1:]:
        out = out[None]
    if out.shape != shape or out.dtype != np.dtype(dtype):
        raise ValueError(f"out must be a {np.dtype(dtype)} array of shape {shape}, "
                         f"got {out.dtype} {out.shape}")
    return out


def _interleave(channels: list[np.ndarray], res: np.ndarray) -> None:
    """Write boolean ``channels`` (each ``(B, H, W)``) into ``res`` ``(B, H, W, K)`` uint8 as 0/1, channels last:
    OpenCV's merge, one blend at a time (a plain strided copy per channel costs ~5 times more)."""
    planes = [np.ascontiguousarray(ch).view(np.uint8) for ch in channels]
    _, h, w, k = res.shape
    dense = res.strides[1:] == (w * k, k, 1)
    for i in range(res.shape[0]):
        if dense:
            cv2.merge([p[i] for p in planes], dst=res[i])
        else:  # a caller's strided view: plain copies
            for c, p in enumerate(planes):
                res[i, ..., c] = p[i]


def gg_masks(masks: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Galaxy/galaxy masks: ``masks`` cast to uint8, channels first ``(B, 2, H, W)``.

    Parameters
    ----------
    masks : (B, 2, H, W) or (2, H, W) bool
        Footprints of the central galaxy (channel 0) and of the companion (channel 1).
    out : ndarray, optional
        Array to fill (e.g. a slice of a memory-mapped file).

    Examples
    --------
    >>> m = np.zeros((1, 2, 2, 2), bool); m[0, 0, 0, 0] = True
    >>> gg_masks(m)[0, 0].tolist()
    [[1, 0], [0, 0]]
    """
    m, single = _batch(masks, "masks", bool)
    res = _out(out, m.shape, np.uint8, single)
    np.copyto(res, m, casting="unsafe")
    return res[0] if single else res


def ogg_masks(masks: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Overlap/galaxy/galaxy masks ``(B, H, W, 3)`` uint8 = [overlap, central, companion].

    Examples
    --------
    >>> m = np.zeros((1, 2, 1, 3), bool); m[0, 0, 0, :2] = True; m[0, 1, 0, 1:] = True
    >>> ogg_masks(m)[0, 0].tolist()   # pixels: central only, both, companion only
    [[0, 1, 0], [1, 1, 1], [0, 0, 1]]
    """
    m, single = _batch(masks, "masks", bool)
    b, _, h, w = m.shape
    res = _out(out, (b, h, w, 3), np.uint8, single)
    c, o = m[:, 0], m[:, 1]
    _interleave([c & o, c, o], res)
    return res[0] if single else res


def bogg_masks(masks: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """One-hot masks ``(B, H, W, 4)`` uint8 = [background, overlap, central only, companion only].

    Every pixel belongs to exactly one class, so the channels sum to 1.

    Examples
    --------
    >>> m = np.zeros((1, 2, 1, 4), bool); m[0, 0, 0, 1:3] = True; m[0, 1, 0, 2:] = True
    >>> bogg_masks(m)[0, 0].tolist()
    [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    """
    m, single = _batch(masks, "masks", bool)
    b, _, h, w = m.shape
    res = _out(out, (b, h, w, 4), np.uint8, single)
    c, o = m[:, 0], m[:, 1]
    _interleave([~(c | o), c & o, c & ~o, o & ~c], res)
    return res[0] if single else res


def single_images(isolated: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Isolated galaxies channels last: ``(B, H, W, 2)`` float32 = [central, companion].

    Examples
    --------
    >>> iso = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    >>> single_images(iso)[0, 0, 1].tolist()
    [1.0, 5.0]
    """
    a, single = _batch(isolated, "isolated images", None)
    b, _, h, w = a.shape
    res = _out(out, (b, h, w, 2), np.float32, single)
    np.copyto(res, np.moveaxis(a, 1, -1), casting="same_kind")
    return res[0] if single else res


def _check_method(method: str) -> str:
    if method not in LABEL_METHODS:
        raise ValueError(f"unknown label method {method!r}; choose one of {LABEL_METHODS}")
    return method


def label_shape(method: str, n: int, h: int, w: int) -> tuple[int, int, int, int]:
    """Shape of the labels of ``n`` blends of ``h`` x ``w`` pixels for ``method``.

    Examples
    --------
    >>> label_shape("ogg_masks", 10, 128, 128)
    (10, 128, 128, 3)
    """
    _check_method(method)
    if method == "gg_masks":
        return (n, 2, h, w)
    return (n, h, w, {"ogg_masks": 3, "bogg_masks": 4, "single_images": 2}[method])


def label_dtype(method: str) -> np.dtype:
    """Dtype of the labels of ``method`` (uint8 masks, float32 images)."""
    _check_method(method)
    return np.dtype(np.float32 if method == "single_images" else np.uint8)


def make_labels(method: str, *, masks: np.ndarray | None = None, isolated: np.ndarray | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """Labels of a batch of blends for label method ``method``.

    Parameters
    ----------
    method : {"gg_masks", "ogg_masks", "bogg_masks", "single_images"}
    masks : (B, 2, H, W) bool, optional
        Needed by the mask methods.
    isolated : (B, 2, H, W) float32, optional
        Needed by ``single_images``.
    out : ndarray, optional
        Array of shape ``label_shape(method, B, H, W)`` to fill.

    Examples
    --------
    >>> m = np.ones((3, 2, 4, 4), bool)
    >>> make_labels("bogg_masks", masks=m).shape
    (3, 4, 4, 4)
    """
    _check_method(method)
    if method == "single_images":
        if isolated is None:
            raise ValueError("label method 'single_images' needs the isolated images")
        return single_images(isolated, out=out)
    if masks is None:
        raise ValueError(f"label method {method!r} needs the masks")
    return {"gg_masks": gg_masks, "ogg_masks": ogg_masks, "bogg_masks": bogg_masks}[method](
        masks, out=out)


def masks_from_labels(method: str, labels: np.ndarray) -> np.ndarray | None:
    """Recover the (B, 2, H, W) bool masks from mask labels (``None`` for ``single_images``).

    Examples
    --------
    >>> m = np.random.default_rng(0).random((2, 2, 5, 5)) > 0.5
    >>> bool((masks_from_labels("bogg_masks", bogg_masks(m)) == m).all())
    True
    """
    _check_method(method)
    lab = np.asarray(labels)
    if method == "single_images":
        return None
    if method == "gg_masks":
        return lab != 0
    if method == "ogg_masks":
        return np.moveaxis(lab[..., 1:3] != 0, -1, 1)
    onehot = lab != 0
    central = onehot[..., 1] | onehot[..., 2]
    companion = onehot[..., 1] | onehot[..., 3]
    return np.stack([central, companion], axis=1)


# ------------------------------------------------------------------------------------------ fluxes
def mag_to_flux(mag: Any, zeropoint: float = DEFAULT_ZEROPOINT) -> Any:
    """AB magnitude to flux: ``10 ** (-0.4 * (mag - zeropoint))``.

    Examples
    --------
    >>> float(mag_to_flux(25.96))
    1.0
    >>> round(float(mag_to_flux(23.46, zeropoint=25.96)), 6)
    10.0
    """
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - zeropoint))


def flux_to_mag(flux: Any, zeropoint: float = DEFAULT_ZEROPOINT) -> Any:
    """Flux to AB magnitude: ``zeropoint - 2.5 log10(flux)`` (NaN where flux <= 0).

    Examples
    --------
    >>> float(flux_to_mag(100.0, zeropoint=25.0))
    20.0
    """
    f = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, zeropoint - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)


def blend_fluxes(stamps: StampSet, specs: Sequence[BlendSpec], *,
                 zeropoint: float | None = None) -> np.ndarray:
    """Fluxes ``(B, 2)`` float64 of the two galaxies of every blend, from catalog magnitudes.

    Galaxy 1's flux comes from its ``mag``; galaxy 2's from its ``mag`` times ``spec.flux_scale``.

    Parameters
    ----------
    stamps : StampSet
    specs : sequence of BlendSpec
    zeropoint : float, optional
        AB zeropoint; ``stamps.zeropoint`` (25.96 unless the reader knew better) by default.
    """
    zp = stamps.zeropoint if zeropoint is None else float(zeropoint)
    mags = catalog_column(stamps, "mag", np.float64)
    i1 = stamps.indices_of([s.id1 for s in specs])
    i2 = stamps.indices_of([s.id2 for s in specs])
    scale = np.fromiter((s.flux_scale for s in specs), np.float64, count=len(specs))
    out = np.empty((len(specs), 2), np.float64)
    out[:, 0] = mag_to_flux(mags[i1], zp)
    out[:, 1] = mag_to_flux(mags[i2], zp) * scale
    return out
