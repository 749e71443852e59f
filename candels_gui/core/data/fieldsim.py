"""A mock HST deep field (WFC3/IR F160W-like) from the project's galaxy models, with its truth catalog.

What :func:`simulate_field` draws, in order, each from its own seeded generator:

* **Number counts**: galaxies per magnitude as in deep H-band counts (Windhorst et al. 2011-like):
  ``dN/dm = 4.5e4 deg^-2 mag^-1`` at H = 23.5, slope 0.30 dex/mag brighter and 0.17 fainter, from
  ``mag_bright`` to ``mag_faint`` (about 170 galaxies per arcmin^2 from 18 to 28); plus stars, about 2
  per arcmin^2 from 18 to 26 with flat counts. Positions uniform over the field and a margin around it
  (galaxies just outside the edge spill in).
* **Types and sizes**: the sample stamps' relations (:mod:`.samplegen`): bright galaxies more often
  spheroids, faint ones disks and irregulars; half-light radius ``9 px x 10^(-0.12 (mag - 21))`` with
  0.15 dex scatter (spheroids more compact), light profiles from :func:`~.galaxy_models.draw_galaxy`.
* **PSF**: :func:`~.galaxy_models.f160w_psf` (FWHM about 3 px = 0.18").
* **Noise**: correlated sky noise (:func:`~.sample_labels.sky_noise`, per-pixel rms ``sky_sigma``) and the
  sources' Poisson noise for ``exptime`` seconds.

The image is in e-/s per pixel (zeropoint :data:`~.galaxy_models.F160W_ZEROPOINT`), background subtracted.
The truth catalog lists every galaxy and star with its position (0-based pixels, ``x`` = column), AB
magnitude, intrinsic and PSF-convolved half-light radius, type and redshift.

Examples
--------
>>> field = simulate_field(256, seed=3)
>>> field.image.shape, field.image.dtype.name, len(field.truth) > 0
((256, 256), 'float32', True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from astropy.table import Table

from ..atomic import interrupts_deferred, remove_stale_temps, temp_path
from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .galaxy_models import F160W_ZEROPOINT, PIXEL_SCALE, draw_galaxy, f160w_psf, half_light_radius, render
from .sample_labels import sky_noise
from .samplegen import _draw_galtype, _draw_size, _draw_z  # the sample stamps' relations, shared on purpose

__all__ = ["MockField", "simulate_field", "simulate_field_job", "write_mock_field", "truth_path",
           "galaxy_counts", "COUNTS_NORM", "DEFAULT_FIELD_SEED"]

#: Galaxies per deg^2 per magnitude at H = 23.5.
COUNTS_NORM = 4.5e4
_PIVOT, _SLOPE_BRIGHT, _SLOPE_FAINT = 23.5, 0.30, 0.17
_STARS_PER_ARCMIN2 = 2.0
#: Seed of the mock field that ships in ``sample_data/field/``.
DEFAULT_FIELD_SEED = 2019
_COUNT_STREAM, _OBJECT_STREAM, _NOISE_STREAM = 0xF1E1, 0xF1E2, 0xF1E3
_PSF_SIZE = 41
_MARGIN = 24   # px around the field where objects are placed too


@dataclass(frozen=True)
class MockField:
    """A simulated field: the image, its truth catalog and what made it.

    Attributes
    ----------
    image : (H, W) float32
        e-/s per pixel, background subtracted.
    truth : astropy.table.Table
        One row per object: ``id, x, y, mag, flux, r_e, radius, galtype, z`` (``radius`` = half-light
        radius of the PSF-convolved object, px; ``r_e`` = intrinsic; ``galtype`` ``star`` for stars).
    meta : dict
        Seed, pixel scale, zeropoint, sky noise, exposure time, magnitude range.
    """

    image: np.ndarray
    truth: Table
    meta: dict


def galaxy_counts(mag: np.ndarray) -> np.ndarray:
    """Galaxy number counts ``dN/dm`` (deg^-2 mag^-1) at H-band magnitude ``mag``.

    Examples
    --------
    >>> float(galaxy_counts(np.array([23.5]))[0])
    45000.0
    """
    m = np.asarray(mag, float)
    slope = np.where(m < _PIVOT, _SLOPE_BRIGHT, _SLOPE_FAINT)
    return COUNTS_NORM * 10.0 ** (slope * (m - _PIVOT))


def _draw_mags(rng: np.random.Generator, area_deg2: float, lo: float, hi: float) -> np.ndarray:
    grid = np.linspace(lo, hi, 2001)
    pdf = galaxy_counts(grid)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    n = int(rng.poisson(cdf[-1] * area_deg2))
    return np.interp(rng.uniform(0, cdf[-1], n), cdf, grid)


def _check(size: int, mag_bright: float, mag_faint: float, sky_sigma: float, exptime: float) -> None:
    if int(size) < 64:
        raise DataError(f"--size must be at least 64 pixels, got {size}")
    if int(size) > 16384:
        raise DataError(f"--size {size}: a mock field is rendered in memory; 16384 is the largest")
    if not mag_bright < mag_faint:
        raise DataError(f"the magnitude range must be bright < faint, got {mag_bright} to {mag_faint}")
    if not (sky_sigma > 0 and exptime > 0):
        raise DataError(f"sky noise and exposure time must be > 0, got {sky_sigma} and {exptime}")


def simulate_field_job(size: int = 2048, *, seed: int = DEFAULT_FIELD_SEED, mag_bright: float = 18.0,
                       mag_faint: float = 28.0, sky_sigma: float = 0.0075, exptime: float = 6000.0,
                       cancel: Optional[CancelToken] = None) -> Job:
    """The work of :func:`simulate_field` as a job generator (yields Progress, returns a :class:`MockField`)."""
    _check(size, mag_bright, mag_faint, sky_sigma, exptime)
    size, seed = int(size), int(seed)
    rng = np.random.default_rng([seed, _COUNT_STREAM])
    side = size + 2 * _MARGIN
    area = (side * PIXEL_SCALE / 3600.0) ** 2
    mags = _draw_mags(rng, area, mag_bright, mag_faint)
    n_star = int(rng.poisson(_STARS_PER_ARCMIN2 * area * 3600.0))
    # stars to magnitude 26 (or --mag_faint), never brighter than --mag_bright
    star_mags = rng.uniform(mag_bright, max(mag_bright, min(26.0, mag_faint)), n_star)
    kinds = np.concatenate([np.zeros(len(mags), bool), np.ones(n_star, bool)])
    all_mags = np.concatenate([mags, star_mags])
    psf = f160w_psf(_PSF_SIZE)
    model = np.zeros((size, size), np.float64)
    rows: list[tuple] = []
    n = len(all_mags)
    for i in range(n):
        if i % 64 == 0:
            check_cancel(cancel)
            yield Progress(i, n + 1, "drawing galaxies")
        orng = np.random.default_rng([seed, _OBJECT_STREAM, i])
        mag, star = float(all_mags[i]), bool(kinds[i])
        x, y = orng.uniform(-_MARGIN, size + _MARGIN, 2)
        galtype = "star" if star else _draw_galtype(orng, mag)
        r_e = 0.25 if star else _draw_size(orng, mag, galtype)
        z = 0.0 if star else _draw_z(orng, mag)
        flux = 10 ** (-0.4 * (mag - F160W_ZEROPOINT))
        half = int(np.ceil(r_e * 8 + 12 + _PSF_SIZE // 2))
        cx, cy = int(round(x)), int(round(y))
        gal = draw_galaxy(orng, galtype, flux=1.0, r_e=r_e, x=float(x - cx + half), y=float(y - cy + half))
        from scipy.signal import fftconvolve  # scipy.signal: ~0.5 s to import; the CLI's parser imports this module

        stamp = fftconvolve(render(gal.components, (2 * half + 1, 2 * half + 1)), psf, mode="same")
        stamp *= flux / stamp.sum()
        radius = half_light_radius(stamp, y - cy + half, x - cx + half) if not star else float("nan")
        r0, c0 = cy - half, cx - half
        a0, b0 = max(r0, 0), max(c0, 0)
        a1, b1 = min(r0 + stamp.shape[0], size), min(c0 + stamp.shape[1], size)
        if a0 < a1 and b0 < b1:
            model[a0:a1, b0:b1] += stamp[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
        rows.append((i + 1, float(x), float(y), mag, flux, float(r_e), float(radius), galtype, float(z)))
    check_cancel(cancel)
    nrng = np.random.default_rng([seed, _NOISE_STREAM])
    image = model + sky_noise(nrng, model.shape, sky_sigma)
    image += nrng.standard_normal(model.shape) * np.sqrt(np.clip(model, 0, None) / exptime)
    names = ("id", "x", "y", "mag", "flux", "r_e", "radius", "galtype", "z")
    truth = Table(rows=rows, names=names, dtype=(np.int64, float, float, float, float, float, float, "U8",
                                                  float)) if rows else Table(names=names)
    inside = (truth["x"] >= -0.5) & (truth["x"] < size - 0.5) & (truth["y"] >= -0.5) & (truth["y"] < size - 0.5)
    truth["in_field"] = np.asarray(inside, bool)
    meta = {"seed": seed, "pixel_scale": PIXEL_SCALE, "zeropoint": F160W_ZEROPOINT, "sky_sigma": float(sky_sigma),
            "exptime": float(exptime), "mag_bright": float(mag_bright), "mag_faint": float(mag_faint),
            "psf_fwhm_px": 3.0}
    yield Progress(n + 1, n + 1, "drawing galaxies")
    return MockField(image.astype(np.float32), truth, meta)


def simulate_field(size: int = 2048, *, seed: int = DEFAULT_FIELD_SEED, mag_bright: float = 18.0,
                   mag_faint: float = 28.0, sky_sigma: float = 0.0075, exptime: float = 6000.0) -> MockField:
    """Simulate a square mock HST F160W deep field of ``size`` x ``size`` pixels (0.06"/px).

    Parameters
    ----------
    size : int
        Side in pixels (64 to 16384; the image is rendered in memory).
    seed : int
        The same seed gives the same bytes.
    mag_bright, mag_faint : float
        Magnitude range of the galaxies (AB, F160W).
    sky_sigma : float
        Per-pixel rms of the sky noise, e-/s (GOODS-S deep: 0.0075).
    exptime : float
        Effective exposure time (s) for the sources' Poisson noise.

    Returns
    -------
    MockField
    """
    return run_job(simulate_field_job(size, seed=seed, mag_bright=mag_bright, mag_faint=mag_faint,
                                      sky_sigma=sky_sigma, exptime=exptime))


def truth_path(fits_path: str | os.PathLike) -> Path:
    """Where the truth catalog of a mock field is written: ``NAME_truth.ecsv`` beside ``NAME.fits``."""
    p = Path(fits_path)
    stem = p.name[:-len(".fits")] if p.name.endswith(".fits") else p.stem
    return p.with_name(stem + "_truth.ecsv")


def write_mock_field(field: MockField, path: str | os.PathLike, *, overwrite: bool = True) -> tuple[Path, Path]:
    """Write the image as FITS (with a TAN WCS on GOODS-S and the field's settings in the header) and its
    truth catalog as ECSV beside it, both atomically (temporary name, then rename).

    Returns
    -------
    (Path, Path)
        The FITS file and the truth catalog.
    """
    from astropy.io import fits

    from .field_fits import field_header

    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; pass overwrite=True (--force) to replace it")
    h, w = field.image.shape
    hdr = field_header((h, w), pixel_scale=field.meta["pixel_scale"], zeropoint=field.meta["zeropoint"])
    for key, value, comment in (("SKYSIG", field.meta["sky_sigma"], "per-pixel sky noise rms (e-/s)"),
                                ("EXPTIME", field.meta["exptime"], "effective exposure time (s)"),
                                ("SIMSEED", field.meta["seed"], "seed of candels-gui field simulate"),
                                ("MAGBRI", field.meta["mag_bright"], "brightest galaxy magnitude drawn"),
                                ("MAGFNT", field.meta["mag_faint"], "faintest galaxy magnitude drawn"),
                                ("ORIGIN", "candels-gui field simulate", "mock HST F160W deep field")):
        hdr[key] = (value, comment)
    tpath = truth_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp_f, tmp_t = temp_path(path), temp_path(tpath)
    try:
        fits.PrimaryHDU(field.image, header=hdr).writeto(tmp_f, overwrite=True)
        truth = field.truth.copy()
        truth.meta.update({k: v for k, v in field.meta.items()})
        truth.meta["image"] = path.name
        truth.write(tmp_t, format="ascii.ecsv", overwrite=True)
        with interrupts_deferred():       # the image and its truth table, never one without the other
            os.replace(tmp_f, path)
            os.replace(tmp_t, tpath)
    except BaseException:
        tmp_f.unlink(missing_ok=True)
        tmp_t.unlink(missing_ok=True)
        raise
    return path, tpath

