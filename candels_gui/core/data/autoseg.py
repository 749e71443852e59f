"""Segmentation maps for data sets that ship none, and the light centre of a galaxy stamp (photutils).

Used by the FITS reader (when no segmentation is given) and the GalSim/COSMOS reader (which never has
any): smooth with a Gaussian, ``detect_sources`` above ``nsigma`` times the background noise,
``deblend_sources``, then make sure the central pixel carries a label (see :func:`ensure_central_label`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["SegmentationParams", "segment_stamp", "ensure_central_label", "background_sigma", "smooth",
           "light_centre"]


@dataclass(frozen=True)
class SegmentationParams:
    """How segmentation maps are computed when a data set ships none (photutils).

    Attributes
    ----------
    nsigma : float
        Detection threshold in units of the background noise sigma (on the smoothed image).
    kernel_fwhm : float
        FWHM (px) of the Gaussian the stamp is smoothed with before detection.
    n_pixels : int
        Minimum connected pixels of a source (detection and deblending).
    deblend : bool
        Split blended detections with ``photutils.segmentation.deblend_sources``.
    contrast : float
        Deblending contrast (higher splits less; 0.01 keeps clumpy disks whole more often than 0.001).
    snap_radius : float
        When nothing covers the central pixel, the nearest segment within this distance (px) is grown
        over the centre; otherwise a disc of ``disc_radius`` px becomes a new central label.
    disc_radius : float
        Radius (px) of that fallback disc.
    """

    nsigma: float = 1.5
    kernel_fwhm: float = 5.0
    n_pixels: int = 10
    deblend: bool = True
    contrast: float = 0.01
    snap_radius: float = 5.0
    disc_radius: float = 3.0


@lru_cache(maxsize=8)
def _kernel(fwhm: float) -> np.ndarray:
    from photutils.segmentation import make_2dgaussian_kernel

    size = 2 * int(round(fwhm)) + 1
    return np.asarray(make_2dgaussian_kernel(fwhm, size).array, dtype=np.float64)


def smooth(image: np.ndarray, fwhm: float) -> np.ndarray:
    """Convolve with the normalised Gaussian kernel used for detection."""
    from scipy import ndimage  # imported here: scipy.ndimage takes 0.3 s to import

    return ndimage.convolve(np.asarray(image, dtype=np.float64), _kernel(float(fwhm)), mode="reflect")


def background_sigma(image: np.ndarray) -> tuple[float, float]:
    """Sigma-clipped (median, standard deviation) of a stamp's pixels: its background and noise."""
    from astropy.stats import sigma_clipped_stats

    data = np.asarray(image, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 0.0
    _, median, std = sigma_clipped_stats(finite, sigma=3.0, maxiters=10)
    return float(median), float(std)


def ensure_central_label(seg: np.ndarray, params: SegmentationParams) -> tuple[np.ndarray, str]:
    """Make the central pixel labelled; returns ``(seg, how)``, how in ``"detected"``/``"snapped"``/``"disc"``.

    ``"snapped"``: the nearest segment (within ``params.snap_radius``) is grown over the background pixels
    of a disc around the centre reaching it, so the segment stays connected. ``"disc"``: no segment near,
    a disc of ``params.disc_radius`` px (background pixels only) gets a new label.
    """
    h, w = seg.shape
    cy, cx = h // 2, w // 2
    if seg[cy, cx]:
        return seg, "detected"
    yy, xx = np.ogrid[:h, :w]
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    ys, xs = np.nonzero(seg)
    if len(ys):
        k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        r2 = (ys[k] - cy) ** 2 + (xs[k] - cx) ** 2
        if r2 <= params.snap_radius ** 2:
            seg[(d2 <= r2) & (seg == 0)] = seg[ys[k], xs[k]]
            return seg, "snapped"
    seg[(d2 <= params.disc_radius ** 2) & (seg == 0)] = int(seg.max()) + 1
    return seg, "disc"


def segment_stamp(image: np.ndarray, sigma: float, params: SegmentationParams = SegmentationParams(), *,
                  background: float = 0.0) -> tuple[np.ndarray, str]:
    """Segment one stamp with photutils; returns ``(labels int32, how the centre got labelled)``.

    The stamp minus ``background`` is smoothed with a Gaussian of ``params.kernel_fwhm``, sources are
    detected above ``params.nsigma * sigma`` with ``detect_sources`` and split with ``deblend_sources``;
    :func:`ensure_central_label` then guarantees a labelled central pixel.

    Examples
    --------
    >>> yy, xx = np.mgrid[:33, :33]
    >>> img = np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / 8.0)
    >>> seg, how = segment_stamp(img, 0.01)
    >>> int(seg[16, 16]) > 0, how
    (True, 'detected')
    """
    from photutils.segmentation import deblend_sources, detect_sources

    data = np.asarray(image, dtype=np.float64) - background
    seg = np.zeros(data.shape, dtype=np.int32)
    if np.isfinite(sigma) and sigma > 0:
        conv = smooth(data, params.kernel_fwhm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NoDetectionsWarning, deblending mode notes
            found = detect_sources(conv, params.nsigma * sigma, params.n_pixels)
            if found is not None and params.deblend:
                found = deblend_sources(conv, found, params.n_pixels, contrast=params.contrast,
                                        progress_bar=False)
        if found is not None:
            seg = np.asarray(found.data, dtype=np.int32)
    return ensure_central_label(seg, params)


def light_centre(image: np.ndarray, sigma: float, params: SegmentationParams = SegmentationParams()
                 ) -> tuple[int, int]:
    """Pixel (row, column) nearest the light centroid of the galaxy at the middle of a stamp.

    The stamp is smoothed as for detection and thresholded at ``params.nsigma * sigma``; the connected
    region holding the stamp centre ``(H//2, W//2)`` (or, for a faint galaxy, the nearest region within
    ``params.snap_radius`` px) is taken as the galaxy, and the flux-weighted centroid of its positive
    pixels is rounded to a pixel. Falls back to ``(H//2, W//2)`` when nothing is detected there.
    """
    data = np.asarray(image, dtype=np.float64)
    h, w = data.shape
    cy, cx = h // 2, w // 2
    if not (np.isfinite(sigma) and sigma > 0):
        return cy, cx
    from scipy import ndimage

    mask = smooth(data, params.kernel_fwhm) > params.nsigma * sigma
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return cy, cx
    label = lab[cy, cx]
    if label == 0:
        ys, xs = np.nonzero(lab)
        d2 = (ys - cy) ** 2 + (xs - cx) ** 2
        k = int(np.argmin(d2))
        if d2[k] > params.snap_radius ** 2:
            return cy, cx
        label = lab[ys[k], xs[k]]
    wgt = np.where(lab == label, np.clip(data, 0.0, None), 0.0)
    total = wgt.sum()
    if not total > 0:
        return cy, cx
    yy, xx = np.indices(data.shape)
    yc = int(round(float((wgt * yy).sum() / total)))
    xc = int(round(float((wgt * xx).sum() / total)))
    return min(max(yc, 0), h - 1), min(max(xc, 0), w - 1)
