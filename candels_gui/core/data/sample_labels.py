"""Noise and labels of the synthetic sample stamps (:mod:`.samplegen`): correlated sky noise, and the
SExtractor-like labeller that makes their segmentation maps (photutils ``detect_sources`` at
:data:`LABEL_NSIGMA` sigma on the smoothed image, then ``deblend_sources``; pieces one galaxy dominates merged).

:func:`detect_label` and :func:`sky_noise` are public so that evaluation can re-run the labeller
(``evaluate --oracle``'s ``truth-relabelled`` row).
"""

from __future__ import annotations

import inspect
import warnings
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["sky_noise", "noise", "noise_kernel", "noise_corr", "noise_lag1", "detect_label", "segment",
           "LABEL_NSIGMA", "LABEL_NPIXELS", "NOISE_CORR", "NOISE_KERNEL_WEIGHT"]

#: The labeller of the segmentation maps: detection threshold (x sky rms) on the smoothed image, minimum area (px).
LABEL_NSIGMA, LABEL_NPIXELS = 1.5, 10

#: Weight on adjacent pixels of the drizzle-like kernel of the sample stamps' sky noise.
NOISE_KERNEL_WEIGHT = 0.35


def noise_kernel(weight: float = NOISE_KERNEL_WEIGHT) -> np.ndarray:
    """The 3 x 3 separable kernel ``[w, 1, w]`` x ``[w, 1, w]`` that correlates white noise as drizzling does,
    scaled to keep the per-pixel rms (``w = 0``: white noise)."""
    kernel = np.outer([weight, 1.0, weight], [weight, 1.0, weight])
    kernel /= np.sqrt((kernel ** 2).sum())
    return kernel


def noise_corr(weight: float = NOISE_KERNEL_WEIGHT) -> float:
    """Variance of a sum over many pixels of that noise relative to white noise of the same per-pixel rms."""
    return float(noise_kernel(weight).sum() ** 2)


def noise_lag1(weight: float = NOISE_KERNEL_WEIGHT) -> float:
    """Correlation of adjacent pixels (along rows or columns) of that noise: ``2w / (1 + 2w**2)``."""
    kernel = noise_kernel(weight)
    return float((kernel[:, :-1] * kernel[:, 1:]).sum())


_NOISE_KERNEL = noise_kernel()
#: :func:`noise_corr` of the sample stamps' noise.
NOISE_CORR = noise_corr()


def sky_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float,
              weight: float = NOISE_KERNEL_WEIGHT) -> np.ndarray:
    """The sample stamps' sky noise: Gaussian, per-pixel rms ``sigma``, correlated over neighbouring pixels
    as in drizzled HST images.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator to draw from.
    shape : (int, int)
        Image shape.
    sigma : float
        Per-pixel rms.
    weight : float
        Weight of the correlation kernel on adjacent pixels (:func:`noise_kernel`; 0: white noise).

    Returns
    -------
    ndarray of float64, ``shape``
    """
    white = rng.standard_normal((shape[0] + 2, shape[1] + 2))
    from scipy import ndimage   # ~0.3 s to import: only when noise is drawn

    kernel = _NOISE_KERNEL if weight == NOISE_KERNEL_WEIGHT else noise_kernel(weight)
    return sigma * ndimage.correlate(white, kernel, mode="constant")[1:-1, 1:-1]


def noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float, model: np.ndarray,
          exptime: float) -> np.ndarray:
    """Sky noise plus the galaxies' Poisson noise (``model`` in counts/s, ``exptime`` in s)."""
    sky = sky_noise(rng, shape, sigma)
    poisson = rng.standard_normal(shape) * np.sqrt(np.clip(model, 0, None) / exptime)
    return sky + poisson


@lru_cache(maxsize=1)
def _smoothing_kernel() -> np.ndarray:
    from photutils.segmentation import make_2dgaussian_kernel

    k = make_2dgaussian_kernel(3.0, size=5).array
    return k / k.sum()


@lru_cache(maxsize=1)
def _deblend_kwargs() -> dict:
    """photutils 2.x spells the options ``nlevels``; 3.x spells them ``n_levels``."""
    from photutils.segmentation import deblend_sources

    params = inspect.signature(deblend_sources).parameters
    kw = {"contrast": 0.005, "progress_bar": False}
    kw["n_levels" if "n_levels" in params else "nlevels"] = 32
    return kw


def detect_label(image: np.ndarray, sigma: float) -> tuple[np.ndarray, Any]:
    """The detection step of the labeller: ``LABEL_NSIGMA * sigma`` on the image smoothed by a Gaussian of
    FWHM 3 px, ``LABEL_NPIXELS`` connected pixels at least.

    Parameters
    ----------
    image : (H, W) array
    sigma : float
        Per-pixel rms of the sky noise.

    Returns
    -------
    smooth : (H, W) float64
        The smoothed image.
    segm : photutils.segmentation.SegmentationImage or None
        The detections (``None`` when there is none).
    """
    from photutils.segmentation import detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning

    from scipy import ndimage

    smooth = ndimage.convolve(np.asarray(image, np.float64), _smoothing_kernel(), mode="reflect")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        return smooth, detect_sources(smooth, LABEL_NSIGMA * sigma, LABEL_NPIXELS)


def segment(image: np.ndarray, sigma: float, truths: list[np.ndarray]) -> np.ndarray:
    """SExtractor-like segmentation: 1.5 sigma on the smoothed image, 10 px minimum, deblended.

    ``deblend_sources`` splits clumpy galaxies (knots, bright clumps of irregulars) into pieces, as
    SExtractor does; pieces of one detection that the same galaxy dominates (by the noiseless
    ``truths``, one image per galaxy) are merged again, so a galaxy is one segment. Galaxies that the
    detection merged and the deblending could not split stay merged.

    Parameters
    ----------
    image : (H, W) array
        The noisy stamp.
    sigma : float
        Per-pixel rms of its sky noise.
    truths : list of (H, W) arrays
        Each galaxy's noiseless image.

    Returns
    -------
    ndarray (H, W) int32
        Labels 1..n, 0 = background.
    """
    from photutils.segmentation import deblend_sources

    smooth, segm = detect_label(image, sigma)
    if segm is None:
        return np.zeros(image.shape, np.int32)
    parent = np.asarray(segm.data)
    child = np.asarray(deblend_sources(smooth, segm, LABEL_NPIXELS, **_deblend_kwargs()).data)
    nchild = int(child.max())
    parent_of = np.zeros(nchild + 1, np.int64)
    parent_of[child.ravel()] = parent.ravel()
    flux = np.stack([np.bincount(child.ravel(), weights=t.ravel(), minlength=nchild + 1)
                     for t in truths])
    owner = flux.argmax(axis=0)
    keys: dict[tuple[int, int], int] = {}
    lut = np.zeros(nchild + 1, np.int32)
    for lab in range(1, nchild + 1):
        if parent_of[lab]:
            lut[lab] = keys.setdefault((int(parent_of[lab]), int(owner[lab])), len(keys) + 1)
    return lut[child]
