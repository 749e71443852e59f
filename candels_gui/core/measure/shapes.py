"""Galaxy shapes from adaptive moments (GalSim's HSM), for the shape metrics of deblended galaxies.

A deblender that gets a galaxy's flux right can still bend its shape (a companion's light left in its
image, a footprint cut across it), and a weak-lensing study cares about the shape. BlendingToolKit measures
it with GalSim's HSM on the deblended and the true isolated images; so does this module.

:func:`hsm_shapes` gives each image's ellipticity as the reduced shear ``(g1, g2)`` of its adaptive-moment
Gaussian (``|g| = (a - b) / (a + b)`` for axes ``a >= b``; ``g1 > 0`` along the x axis (the array's
columns), ``g2 > 0`` along the diagonal ``x = y``), measured on the image as it is: no PSF correction, since
the true and the deblended image share the PSF and the metric is their difference. NaN where HSM finds no
moments (an empty or all-negative image, a source too faint). GalSim is imported on first use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hsm_shapes", "shape_errors"]


def hsm_shapes(images: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Ellipticity ``(g1, g2)`` of every image from its adaptive moments (GalSim HSM).

    Parameters
    ----------
    images : (N, H, W) float
        One galaxy per image (an isolated galaxy, or one deblended source).
    centres : (N, 2) float
        ``(x, y)`` pixel position where the moments' iteration starts (0-based; the galaxy's centre).

    Returns
    -------
    (N, 2) float64
        ``g1, g2`` per image; NaN where HSM fails.

    Examples
    --------
    >>> y, x = np.mgrid[:48, :48] - 24.0
    >>> blob = np.exp(-0.5 * ((x / 4.0) ** 2 + (y / 2.0) ** 2))   # axis ratio 1/2 along x
    >>> (np.round(hsm_shapes(blob[None], [[24.0, 24.0]]), 3) + 0.0).tolist()
    [[0.333, 0.0]]
    """
    import galsim

    imgs = np.asarray(images, dtype=np.float64)
    xy = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if imgs.ndim != 3 or len(imgs) != len(xy):
        raise ValueError(f"hsm_shapes needs (N, H, W) images and (N, 2) centres, got {imgs.shape} and "
                         f"{xy.shape}")
    out = np.full((len(imgs), 2), np.nan)
    for i, (img, (x, y)) in enumerate(zip(imgs, xy)):
        if not np.isfinite(img).all() or not (img > 0).any():
            continue
        # GalSim's images start at pixel (1, 1)
        res = galsim.hsm.FindAdaptiveMom(galsim.Image(np.ascontiguousarray(img)), strict=False,
                                         guess_centroid=galsim.PositionD(x + 1.0, y + 1.0))
        if not res.error_message and res.moments_status == 0:
            out[i] = res.observed_shape.g1, res.observed_shape.g2
    return out


def shape_errors(true_g: np.ndarray, pred_g: np.ndarray) -> np.ndarray:
    """``|g_pred - g_true|``, the length of the ellipticity residual, per galaxy (NaN where either is).

    Examples
    --------
    >>> shape_errors(np.array([[0.3, 0.0]]), np.array([[0.0, 0.4]])).tolist()
    [0.5]
    """
    t, p = np.asarray(true_g, np.float64), np.asarray(pred_g, np.float64)
    if t.shape != p.shape or t.shape[-1:] != (2,):
        raise ValueError(f"shape_errors needs two (..., 2) arrays of the same shape, got {t.shape}, {p.shape}")
    return np.hypot(p[..., 0] - t[..., 0], p[..., 1] - t[..., 1])
