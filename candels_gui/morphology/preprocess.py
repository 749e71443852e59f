"""Stamps to network inputs (numpy only): resampling to the training pixel scale, noise units, three views.

Every stamp becomes three 64 x 64 channels:

0. the central 64 x 64 pixels, ``asinh(image / (3 sigma)) / 3`` (``sigma``: the stamp's background noise,
   a median absolute deviation over the pixels no segment covers), so inputs are in units of the noise
   whatever the survey's depth and flux units;
1. the central 128 x 128 pixels in the same units, binned 2 x 2 (the context: neighbours, large galaxies);
2. the central galaxy's segment (the segmentation label at the stamp centre), central 64 x 64 pixels.

Stamps of another pixel scale are first resampled to :data:`TRAIN_PIXEL_SCALE` (the CANDELS mosaics'
0.06"/px) when the data knows its scale, so that a galaxy covers as many pixels as in training (COSMOS
ACS stamps at 0.03"/px are binned 2 x 2). Stamps smaller than the views are padded with zeros
(the background level in noise units). Non-finite pixels count as 0 and are reported.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> imgs = rng.normal(0, 0.01, (2, 128, 128)).astype(np.float32)
>>> segs = np.zeros((2, 128, 128), np.int32)
>>> x, bad = prepare_inputs(imgs, segs)
>>> x.shape, x.dtype.name, bad.tolist()
((2, 3, 64, 64), 'float32', [False, False])
"""

from __future__ import annotations

import numpy as np

__all__ = ["prepare_inputs", "noise_sigma", "resample_factor", "small_stamp_note", "TRAIN_PIXEL_SCALE", "INPUT_SIZE",
           "N_CHANNELS"]

#: Arcseconds per pixel of the training stamps.
TRAIN_PIXEL_SCALE = 0.06
#: Side of every input view, pixels.
INPUT_SIZE = 64
#: Channels of the input (see the module docstring).
N_CHANNELS = 3
_SOFTENING = 3.0     # asinh softening, in noise sigmas


def resample_factor(pixel_scale: float | None) -> float:
    """Zoom applied to stamps of ``pixel_scale`` (1 when unknown or within 20 % of the training scale)."""
    if not pixel_scale or not np.isfinite(pixel_scale) or pixel_scale <= 0:
        return 1.0
    f = float(pixel_scale) / TRAIN_PIXEL_SCALE
    return 1.0 if 0.8 <= f <= 1.25 else f


def small_stamp_note(shape: tuple[int, int], pixel_scale: float | None) -> str | None:
    """A warning when stamps of ``shape`` do not fill the classifier's widest view (128 training pixels, i.e.
    ``2 * INPUT_SIZE`` at the training scale): the rest is zeros, which it reads as 'unclassifiable'."""
    need = int(np.ceil(2 * INPUT_SIZE / resample_factor(pixel_scale)))
    h, w = shape
    if min(h, w) >= need:
        return None
    at = f" at {pixel_scale:g}\"/px" if pixel_scale else ""
    return (f"stamps are {h}x{w} px{at}, smaller than the {need} px the classifier's widest view covers: the rest "
            f"of that view is zeros, which pushes its predictions towards 'unclassifiable'; cut {need} px stamps, or "
            f"fine-tune it on labels of these stamps (docs/morphology.md)")


def _resample(images: np.ndarray, masks: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom images and masks by ``factor`` about the stamp centre (exact 2 x 2 binning for 0.5)."""
    n, h, w = images.shape
    inv = 1.0 / factor
    if abs(inv - round(inv)) < 1e-6 and round(inv) >= 2:   # integer binning: average blocks
        k = int(round(inv))
        cy, cx = h // 2, w // 2
        # blocks aligned so that the centre pixel's block lands on the new centre
        y0, x0 = cy - (cy // k) * k, cx - (cx // k) * k
        hh, ww = (h - y0) // k, (w - x0) // k
        def binned(a: np.ndarray) -> np.ndarray:
            a = a[:, y0:y0 + hh * k, x0:x0 + ww * k]
            return a.reshape(n, hh, k, ww, k).mean(axis=(2, 4))
        return binned(images).astype(np.float32), binned(masks.astype(np.float32))
    from scipy import ndimage

    zi = ndimage.zoom(images, (1, factor, factor), order=1, grid_mode=True, mode="grid-constant")
    zm = ndimage.zoom(masks.astype(np.float32), (1, factor, factor), order=1, grid_mode=True,
                      mode="grid-constant")
    return zi.astype(np.float32), zm


def noise_sigma(images: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """(N,) background noise of each stamp: 1.4826 x median absolute deviation of its background pixels.

    ``background`` (N, H, W) bool marks the pixels no source covers (default: all). Every fourth pixel of
    each row and column is used (enough for the statistic, 16 x faster). A stamp with fewer than 32
    background pixels uses all its pixels; a stamp of constant value gets 1.
    """
    n = len(images)
    out = np.ones(n, np.float64)
    sub = np.asarray(images[:, ::4, ::4], dtype=np.float32)
    bg = None if background is None else np.asarray(background[:, ::4, ::4], dtype=bool)
    for i in range(n):
        v = sub[i]
        if bg is not None and np.count_nonzero(bg[i]) >= 32:
            v = v[bg[i]]
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        med = np.median(v)
        s = 1.4826 * np.median(np.abs(v - med))
        if not np.isfinite(s) or s <= 0:
            s = float(np.std(v))
        if np.isfinite(s) and s > 0:
            out[i] = s
    return out


def _centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    """Central ``size`` x ``size`` pixels of (N, H, W) stacks (a view when it fits, else zero-padded)."""
    n, h, w = a.shape
    cy, cx = h // 2, w // 2
    r0, c0 = cy - size // 2, cx - size // 2
    if r0 >= 0 and c0 >= 0 and r0 + size <= h and c0 + size <= w:
        return a[:, r0:r0 + size, c0:c0 + size]
    out = np.zeros((n, size, size), a.dtype)
    sr0, sc0 = max(r0, 0), max(c0, 0)
    sr1, sc1 = min(r0 + size, h), min(c0 + size, w)
    out[:, sr0 - r0:sr1 - r0, sc0 - c0:sc1 - c0] = a[:, sr0:sr1, sc0:sc1]
    return out


def prepare_inputs(images: np.ndarray, segmaps: np.ndarray, *, pixel_scale: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs of a batch of stamps.

    Parameters
    ----------
    images : (N, H, W) array
        Stamps, central galaxy at ``(H // 2, W // 2)``.
    segmaps : (N, H, W) int array
        Their segmentation maps (0 = background).
    pixel_scale : float, optional
        Arcseconds per pixel of the stamps (resampled to :data:`TRAIN_PIXEL_SCALE` when it differs).

    Returns
    -------
    inputs : (N, 3, 64, 64) float32
    nonfinite : (N,) bool
        Stamps that had NaN or infinite pixels (counted as 0).
    """
    images = np.asarray(images)
    segmaps = np.asarray(segmaps)
    if images.ndim != 3 or segmaps.shape != images.shape:
        raise ValueError(f"images and segmaps must be (N, H, W) of one shape, got {images.shape} and "
                         f"{segmaps.shape}")
    n, h, w = images.shape
    central = segmaps[:, h // 2, w // 2]
    factor = resample_factor(pixel_scale)
    span = int(np.ceil(2 * INPUT_SIZE / factor)) + 2 if factor != 1.0 else 2 * INPUT_SIZE
    images = _centre_crop(images, span)           # only what the views will show
    segmaps = _centre_crop(segmaps, span)
    nonfinite = ~np.isfinite(images.reshape(n, -1).sum(axis=1, dtype=np.float64))  # NaN or inf poisons the sum
    images = np.asarray(images, dtype=np.float32)
    if nonfinite.any():
        images = np.where(np.isfinite(images), images, np.float32(0))
    masks = (segmaps == central[:, None, None]) & (central[:, None, None] != 0)
    background = segmaps == 0
    if factor != 1.0:
        images, masks = _resample(images, masks, factor)
        _, bg = _resample(np.zeros(background.shape, np.float32), background, factor)
        background = bg > 0.999
        images, masks, background = (_centre_crop(a, 2 * INPUT_SIZE) for a in (images, masks, background))
    sigma = noise_sigma(images, background)
    x = np.arcsinh(images * (1.0 / (_SOFTENING * sigma[:, None, None])).astype(np.float32))
    x *= np.float32(1.0 / _SOFTENING)
    lo, hi = INPUT_SIZE // 2, INPUT_SIZE // 2 + INPUT_SIZE
    out = np.empty((n, N_CHANNELS, INPUT_SIZE, INPUT_SIZE), np.float32)
    out[:, 0] = x[:, lo:hi, lo:hi]
    out[:, 1] = 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2])
    out[:, 2] = masks[:, lo:hi, lo:hi]
    return out, nonfinite
