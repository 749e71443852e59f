"""Physics on fields: the statistics of a field, and how far a generated field's are from a real one's.

:func:`field_statistics_job` measures one field (a 2-D array, memory-mapped or not): SEP detections with
fixed settings (:mod:`~candels_gui.core.data.field_detect`, tile by tile), then per unit area (arcmin^2
when the pixel scale is known, else per megapixel) the number counts vs magnitude, the distributions of
magnitude, half-light (flux) radius and shape (ellipticity ``1 - b/a`` from SEP's moments), a sample of the
pixel values (a regular sub-grid of at most :data:`PIXEL_SAMPLE` pixels) and the azimuthally averaged power
spectrum (the mean over up to 64 tiles of 256 x 256 pixels spread over the field).

Morphology (Gini, M20, Sérsic n) comes from statmorph when it is installed (:func:`morphology_quantities`:
:func:`~.field_morph.field_morphology` on a seeded sample of up to 100 sources per field); without it only the
detection catalog's shapes are compared.

:func:`compare_fields` puts two fields' statistics side by side: for every distribution the two-sample
Kolmogorov-Smirnov statistic (and p-value) and the Wasserstein (earth mover's) distance; for the counts the
ratio of the surface densities and the mean absolute log10 ratio of the counts per bin; for the power
spectrum the mean absolute log10 ratio. A field compared with itself gives zeros everywhere.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from astropy.table import Table

from ..data.field_detect import DetectionSettings, detect_field_job
from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["FieldStatistics", "field_statistics_job", "compare_fields", "two_sample", "power_spectrum",
           "pixel_sample",
           "morphology_quantities", "MAG_BINS", "PIXEL_SAMPLE", "DISTRIBUTIONS"]

#: Magnitude bins of the number counts (AB).
MAG_BINS = np.arange(16.0, 31.01, 0.5)
#: Most pixels the pixel-value distribution is measured on.
PIXEL_SAMPLE = 2_000_000
#: Catalog quantities compared as distributions (plus any the morphology hook adds).
DISTRIBUTIONS = ("mag", "flux_radius", "ellipticity")
_PS_TILE, _PS_MAX_TILES = 256, 64


@dataclass
class FieldStatistics:
    """What :func:`field_statistics_job` measures on one field."""

    name: str
    shape: tuple[int, int]
    area: float                   # in ``area_unit``
    area_unit: str                # "arcmin2" or "Mpix"
    catalog: Table
    quantities: dict[str, np.ndarray]
    counts: np.ndarray            # per area per magnitude bin (MAG_BINS)
    pixels: np.ndarray            # sampled pixel values
    ps_freq: np.ndarray           # cycles per pixel
    ps_power: np.ndarray
    rms: float
    meta: dict = field(default_factory=dict)

    @property
    def density(self) -> float:
        """Detected objects per unit area."""
        return len(self.catalog) / self.area if self.area > 0 else float("nan")


#: Largest share of non-finite pixels a tile of the power spectrum may hold (they are set to its mean).
MAX_BAD_FRACTION = 0.01


def pixel_sample(image: np.ndarray, n_max: int = PIXEL_SAMPLE) -> np.ndarray:
    """The finite values of a regular sub-grid of at most ``n_max`` pixels (read strip by strip)."""
    h, w = image.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / n_max))))
    parts = []
    for r in range(0, h, step * 256):
        block = np.asarray(image[r:min(h, r + step * 256):step, ::step], dtype=np.float64)
        parts.append(block[np.isfinite(block)])
    return np.concatenate(parts) if parts else np.zeros(0)


def power_spectrum(image: np.ndarray, *, tile: int = _PS_TILE, max_tiles: int = _PS_MAX_TILES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum: mean over up to ``max_tiles`` tiles spread over the field.

    Each tile has its mean removed (its non-finite pixels, up to :data:`MAX_BAD_FRACTION` of it, set to that
    mean; tiles with more are left out) and a Hann window applied; power is ``|FFT|^2 / sum(window^2)`` binned in
    rings of width ``1 / tile`` cycles per pixel. Returns ``(frequency, power)`` (cycles per pixel).
    """
    h, w = image.shape
    t = min(tile, h, w)
    ny, nx = h // t, w // t
    cells = [(i, j) for i in range(ny) for j in range(nx)]
    if len(cells) > max_tiles:
        pick = np.linspace(0, len(cells) - 1, max_tiles).round().astype(int)
        cells = [cells[k] for k in pick]
    win = np.outer(np.hanning(t), np.hanning(t))
    fy = np.fft.fftfreq(t)[:, None]
    fx = np.fft.fftfreq(t)[None, :]
    ring = np.minimum((np.hypot(fy, fx) * t).round().astype(int), t // 2)
    nbins = t // 2 + 1
    acc = np.zeros(nbins)
    used = 0
    for i, j in cells:
        block = np.asarray(image[i * t:(i + 1) * t, j * t:(j + 1) * t], dtype=np.float64)
        finite = np.isfinite(block)
        if finite.mean() < 1.0 - MAX_BAD_FRACTION:
            continue
        mean = block[finite].mean()
        # a few bad pixels (cosmic rays, hot pixels: every real image has some) take the tile's mean, which the
        # mean removal makes 0: a tile with one NaN was dropped, and with them the whole spectrum
        block = (np.where(finite, block, mean) - mean) * win
        p = np.abs(np.fft.fft2(block)) ** 2 / (win ** 2).sum()
        acc += np.bincount(ring.ravel(), weights=p.ravel(), minlength=nbins)[:nbins]
        used += 1
    counts = np.bincount(ring.ravel(), minlength=nbins)[:nbins]
    freq = np.arange(nbins) / t
    if used == 0:
        return freq[1:], np.full(nbins - 1, np.nan)
    return freq[1:], (acc / used / np.maximum(counts, 1))[1:]


def morphology_quantities(image: np.ndarray, catalog: Table) -> dict[str, np.ndarray]:
    """statmorph's Gini, M20 and Sérsic n of a sample of the field's sources (:mod:`.field_morph`) when
    statmorph is installed, else nothing."""
    try:
        importlib.import_module("statmorph")
    except ImportError:
        return {}
    from .field_morph import field_morphology

    out = field_morphology(image, catalog)
    return {str(k): np.asarray(v, float) for k, v in dict(out).items()}


def field_statistics_job(image: np.ndarray, *, name: str = "field", pixel_scale: Optional[float] = None,
                         settings: DetectionSettings = DetectionSettings(), morphology: bool = True,
                         cancel: Optional[CancelToken] = None) -> Job:
    """Measure the statistics of a 2-D field (see the module docstring); returns :class:`FieldStatistics`."""
    if image.ndim != 2:
        raise DataError(f"{name}: a field must be 2-D, got shape {image.shape}")
    h, w = image.shape
    if min(h, w) < 64:
        raise DataError(f"{name}: the field is {h}x{w} px; statistics need at least 64 x 64")
    cat = yield from detect_field_job(image, settings, cancel=cancel)
    check_cancel(cancel)
    yield Progress(0, 2, f"{name}: pixels and power spectrum")
    area_pix = float(cat.meta.get("area_pix", h * w))
    if pixel_scale:
        area, unit = area_pix * (pixel_scale / 60.0) ** 2, "arcmin2"
    else:
        area, unit = area_pix / 1e6, "Mpix"
    a, b = np.asarray(cat["a"], float), np.asarray(cat["b"], float)
    quantities = {"mag": np.asarray(cat["mag"], float), "flux_radius": np.asarray(cat["flux_radius"], float),
                  "ellipticity": 1.0 - b / np.maximum(a, 1e-9)}
    if morphology:
        quantities.update(morphology_quantities(image, cat))
    mags = quantities["mag"][np.isfinite(quantities["mag"])]
    counts = np.histogram(mags, MAG_BINS)[0] / area / np.diff(MAG_BINS)
    pixels = pixel_sample(image)
    yield Progress(1, 2, f"{name}: power spectrum")
    freq, power = power_spectrum(image)
    yield Progress(2, 2, f"{name}: done")
    return FieldStatistics(name, (h, w), area, unit, cat, quantities, counts, pixels, freq, power,
                           float(cat.meta.get("rms", np.nan)), {"settings": settings.__dict__})


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    return x[np.isfinite(x)]


def two_sample(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Two-sample comparison of the finite values of ``a`` (real) and ``b`` (generated): KS statistic and
    p-value, Wasserstein distance, medians and counts (NaN where either has fewer than two values)."""
    from scipy.stats import ks_2samp, wasserstein_distance

    a, b = _finite(a), _finite(b)
    if len(a) < 2 or len(b) < 2:
        return {"ks": float("nan"), "ks_pvalue": float("nan"), "wasserstein": float("nan"),
                "n_real": int(len(a)), "n_generated": int(len(b))}
    with warnings.catch_warnings():   # small samples with ties: scipy falls back to the asymptotic p-value, says so
        warnings.simplefilter("ignore", RuntimeWarning)
        ks = ks_2samp(a, b)
    return {"ks": float(ks.statistic), "ks_pvalue": float(ks.pvalue), "wasserstein": float(wasserstein_distance(a, b)),
            "median_real": float(np.median(a)), "median_generated": float(np.median(b)),
            "n_real": int(len(a)), "n_generated": int(len(b))}


def _log_ratio(p: np.ndarray, q: np.ndarray) -> float:
    ok = (p > 0) & (q > 0) & np.isfinite(p) & np.isfinite(q)
    return float(np.mean(np.abs(np.log10(p[ok] / q[ok])))) if ok.any() else float("nan")


def compare_fields(real: FieldStatistics, generated: FieldStatistics) -> dict[str, Any]:
    """How far ``generated``'s statistics are from ``real``'s (see the module docstring).

    Returns
    -------
    dict
        ``{"real": {...}, "generated": {...}, "density_ratio", "counts_log_ratio", "power_log_ratio",
        "distributions": {quantity: {"ks", "ks_pvalue", "wasserstein", ...}}}`` (plain floats: JSON-ready).
    """
    if real.area_unit != generated.area_unit:
        raise DataError(f"the fields' areas are in different units ({real.area_unit} and {generated.area_unit}): "
                        "give both a pixel scale (PIXSCALE or a WCS in the header) or neither")
    dists = {q: two_sample(real.quantities[q], generated.quantities[q])
             for q in real.quantities if q in generated.quantities}
    dists["pixel_value"] = two_sample(real.pixels, generated.pixels)
    n = min(len(real.ps_power), len(generated.ps_power))
    out = {
        "real": {"name": real.name, "shape": list(real.shape), "area": real.area, "area_unit": real.area_unit,
                 "n_objects": len(real.catalog), "density": real.density, "rms": real.rms},
        "generated": {"name": generated.name, "shape": list(generated.shape), "area": generated.area,
                      "area_unit": generated.area_unit, "n_objects": len(generated.catalog),
                      "density": generated.density, "rms": generated.rms},
        "density_ratio": generated.density / real.density if real.density > 0 else float("nan"),
        "counts_log_ratio": _log_ratio(real.counts, generated.counts),
        "power_log_ratio": _log_ratio(real.ps_power[:n], generated.ps_power[:n]),
        "distributions": dists,
    }
    return out
