"""Analytic galaxy light profiles and an HST WFC3/IR F160W-like PSF, for synthetic stamps.

Galaxies are sums of :class:`SersicComponent` (a Sérsic profile with index ``n``, half-light radius
``r_e``, axis ratio ``q`` and position angle, optionally with logarithmic spiral arms). A Sérsic profile
with ``n = 0.5`` is a Gaussian, which is what clumps and stars use. :func:`render` integrates the
profiles over pixels by sub-sampling (4 x 4 everywhere, 32 x 32 on the few pixels around every
component centre, where cuspy bulges and compact clumps change fastest; even counts, so no sample
lands on a cusp). :func:`f160w_psf` is an obscured-Airy pattern blurred by pointing jitter, with a
faint scattered-light halo (FWHM about 3 px, i.e. 0.18" at 0.06"/px).

:func:`draw_galaxy` turns a galaxy type of candels-blender's catalog (``irr``, ``disk``, ``sph``,
``sphd``), a total flux and a size into components, with random shape parameters from a
``numpy.random.Generator``.

Examples
--------
>>> import numpy as np
>>> gal = draw_galaxy(np.random.default_rng(1), "disk", flux=10.0, r_e=5.0, x=32.0, y=32.0)
>>> img = render(gal.components, (64, 64))
>>> bool(abs(img.sum() - 10.0) < 0.5)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import ceil, pi

import numpy as np
from scipy.special import gamma, gammaincinv, j1

__all__ = ["SersicComponent", "Galaxy", "sersic_bn", "render", "f160w_psf", "draw_galaxy",
           "half_light_radius", "PIXEL_SCALE", "F160W_ZEROPOINT"]

#: Arcseconds per pixel of the CANDELS F160W mosaics.
PIXEL_SCALE = 0.06
#: AB zeropoint of the stamps (candels-blender's ``--zeropoint``).
F160W_ZEROPOINT = 25.96


@dataclass(frozen=True)
class SersicComponent:
    """One Sérsic light component; positions in pixels (``x`` = column, ``y`` = row).

    ``flux`` is the total flux (integrated to infinity). ``pa`` is the position angle of the major
    axis in radians from the +x axis. ``arm_amp`` > 0 adds ``arm_m`` logarithmic spiral arms of
    pitch angle ``arm_pitch`` (radians) that redistribute, not add, light.
    """

    flux: float
    x: float
    y: float
    r_e: float
    n: float = 1.0
    q: float = 1.0
    pa: float = 0.0
    arm_amp: float = 0.0
    arm_m: int = 2
    arm_pitch: float = 0.35
    arm_phase: float = 0.0


@dataclass(frozen=True)
class Galaxy:
    """A galaxy: its type, centre and light components."""

    galtype: str
    x: float
    y: float
    components: tuple[SersicComponent, ...] = field(default_factory=tuple)

    @property
    def flux(self) -> float:
        """Total flux of all components."""
        return float(sum(c.flux for c in self.components))


def sersic_bn(n: float) -> float:
    """Return ``b_n`` such that ``r_e`` encloses half the light: ``gammaincinv(2n, 0.5)``."""
    return float(gammaincinv(2.0 * n, 0.5))


def _intensity(c: SersicComponent, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Surface brightness of ``c`` at positions ``(yy, xx)``, normalised to total flux ``c.flux``."""
    b = sersic_bn(c.n)
    cos, sin = np.cos(c.pa), np.sin(c.pa)
    dx, dy = xx - c.x, yy - c.y
    xm = dx * cos + dy * sin          # along the major axis
    ym = (-dx * sin + dy * cos) / c.q  # along the minor axis, stretched to face-on
    rr = np.hypot(xm, ym)
    norm = c.flux * b ** (2 * c.n) / (2 * pi * c.q * c.r_e ** 2 * c.n * gamma(2 * c.n))
    out = norm * np.exp(-b * (rr / c.r_e) ** (1.0 / c.n))
    if c.arm_amp > 0:
        theta = np.arctan2(ym, xm)
        rs = np.maximum(rr, 1e-3) / c.r_e
        phase = c.arm_m * (theta - np.log(rs) / np.tan(c.arm_pitch)) + c.arm_phase
        # sharp arms: ((1 + cos)/2)^4 has mean 35/128 over a turn, so the factor keeps the mean light
        arms = (0.5 * (1.0 + np.cos(phase))) ** 4 / (35.0 / 128.0)
        w = c.arm_amp * (1.0 - np.exp(-(rs / 0.5) ** 2)) * np.exp(-rs / 6.0)
        out = out * (1.0 - w + w * arms)
    return out


def _box(c: SersicComponent, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel box (r0, r1, c0, c1) outside which ``c`` is negligible, clipped to ``shape``."""
    h = int(ceil(c.r_e * (4.0 + 2.5 * c.n) + 6))
    return (max(0, int(c.y) - h), min(shape[0], int(c.y) + h + 1),
            max(0, int(c.x) - h), min(shape[1], int(c.x) + h + 1))


def _integrate(c: SersicComponent, r0: int, r1: int, c0: int, c1: int, ss: int) -> np.ndarray:
    """Mean of the profile over each pixel of rows r0:r1, columns c0:c1, with ss x ss sub-samples."""
    off = (np.arange(ss) + 0.5) / ss - 0.5
    ys = (np.arange(r0, r1)[:, None] + off[None, :]).ravel()
    xs = (np.arange(c0, c1)[:, None] + off[None, :]).ravel()
    vals = _intensity(c, ys[:, None], xs[None, :])
    return vals.reshape(r1 - r0, ss, c1 - c0, ss).mean(axis=(1, 3))


def render(components: tuple[SersicComponent, ...] | list[SersicComponent], shape: tuple[int, int], *,
           oversample: int = 4, core_oversample: int = 32, core_half: int = 2) -> np.ndarray:
    """Render light components into a pixel-integrated image (no PSF).

    Parameters
    ----------
    components : sequence of SersicComponent
        What to draw; centres may lie outside the image.
    shape : (int, int)
        Image (rows, columns).
    oversample : int
        Sub-samples per pixel side everywhere a component is not negligible.
    core_oversample, core_half : int
        Sub-samples per pixel side on the ``2 * core_half + 1`` square pixels around each centre.

    Returns
    -------
    ndarray, float64
        Flux per pixel.
    """
    img = np.zeros(shape, np.float64)
    for c in components:
        r0, r1, c0, c1 = _box(c, shape)
        if r0 >= r1 or c0 >= c1:
            continue
        img[r0:r1, c0:c1] += _integrate(c, r0, r1, c0, c1, oversample)
        cy, cx = int(round(c.y)), int(round(c.x))
        k0, k1 = max(r0, cy - core_half), min(r1, cy + core_half + 1)
        l0, l1 = max(c0, cx - core_half), min(c1, cx + core_half + 1)
        if k0 < k1 and l0 < l1:
            img[k0:k1, l0:l1] += (_integrate(c, k0, k1, l0, l1, core_oversample)
                                  - _integrate(c, k0, k1, l0, l1, oversample))
    return img


@lru_cache(maxsize=4)
def _psf_cached(size: int, lam_over_d_px: float, obscuration: float, jitter_px: float,
                halo_frac: float, oversample: int) -> np.ndarray:
    n = size * oversample
    off = (np.arange(n) + 0.5) / oversample - size / 2.0
    rr = np.hypot(off[:, None], off[None, :])
    v = pi * rr / lam_over_d_px
    eps = obscuration
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(v > 0, 2 * j1(v) / v, 1.0)
        b = np.where(v > 0, 2 * j1(eps * v) / (eps * v), 1.0)
    airy = (a - eps ** 2 * b) ** 2
    airy = airy.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    # pointing jitter (and drizzle): Gaussian blur, done in Fourier space on the binned pattern
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    gauss_ft = np.exp(-2 * (pi * jitter_px) ** 2 * (fx ** 2 + fy ** 2))
    core = np.fft.irfft2(np.fft.rfft2(np.fft.ifftshift(airy)) * gauss_ft, s=(size, size))
    core = np.clip(np.fft.fftshift(core), 0, None)
    core /= core.sum()
    # scattered-light halo: a broad Moffat (beta = 2, alpha = 6 px)
    c = (size - 1) / 2.0
    r2 = (np.arange(size)[:, None] - c) ** 2 + (np.arange(size)[None, :] - c) ** 2
    halo = (1 + r2 / 36.0) ** -2.0
    halo /= halo.sum()
    psf = (1 - halo_frac) * core + halo_frac * halo
    psf = (psf / psf.sum()).astype(np.float64)
    psf.setflags(write=False)
    return psf


def f160w_psf(size: int = 41, *, pixel_scale: float = PIXEL_SCALE, wavelength_um: float = 1.537,
              diameter_m: float = 2.4, obscuration: float = 0.33, jitter_arcsec: float = 0.05,
              halo_frac: float = 0.03, oversample: int = 5) -> np.ndarray:
    """HST WFC3/IR F160W-like PSF on the CANDELS pixel grid (odd ``size``, centred, sum 1).

    An obscured Airy pattern (2.4 m aperture, 33 % central obstruction) at the F160W pivot wavelength,
    integrated over pixels, blurred by a Gaussian for pointing jitter and drizzling, plus a faint
    Moffat halo. With the defaults the FWHM is about 3 px (0.18").

    Examples
    --------
    >>> psf = f160w_psf()
    >>> psf.shape, bool(abs(psf.sum() - 1) < 1e-9)
    ((41, 41), True)
    """
    if size % 2 != 1 or size < 5:
        raise ValueError(f"PSF size must be odd and >= 5, got {size}")
    lam_over_d = wavelength_um * 1e-6 / diameter_m * 206264.806 / pixel_scale
    return _psf_cached(int(size), float(lam_over_d), float(obscuration),
                       float(jitter_arcsec / pixel_scale), float(halo_frac), int(oversample))


def half_light_radius(image: np.ndarray, y: float, x: float) -> float:
    """Radius (px) of the circle around ``(y, x)`` that holds half the total flux of ``image``.

    Like SExtractor's ``FLUX_RADIUS(0.5)``, on a noiseless image: pixels are split 5 x 5 so that
    small radii are resolved, and the enclosed-flux curve is interpolated.
    """
    ss = 5
    h, w = image.shape
    off = (np.arange(ss) + 0.5) / ss - 0.5
    ys = (np.arange(h)[:, None] + off).ravel() - y
    xs = (np.arange(w)[:, None] + off).ravel() - x
    rr = np.hypot(ys[:, None], xs[None, :]).ravel()
    flux = np.repeat(np.repeat(image, ss, axis=0), ss, axis=1).ravel() / ss ** 2
    order = np.argsort(rr, kind="stable")
    cum = np.cumsum(flux[order])
    half = 0.5 * cum[-1]
    k = int(np.searchsorted(cum, half))
    k = min(max(k, 1), len(cum) - 1)
    r_lo, r_hi = rr[order][k - 1], rr[order][k]
    c_lo, c_hi = cum[k - 1], cum[k]
    t = 0.0 if c_hi == c_lo else (half - c_lo) / (c_hi - c_lo)
    return float(r_lo + t * (r_hi - r_lo))


# ---------------------------------------------------------------- random galaxies by type

def _inclined_q(rng: np.random.Generator, q0: float) -> float:
    """Apparent axis ratio of a thin disk (intrinsic thickness ``q0``) at a random inclination."""
    cos_i = rng.uniform(0.0, 1.0)
    return float(np.sqrt(cos_i ** 2 * (1 - q0 ** 2) + q0 ** 2))


def _clumps(rng: np.random.Generator, k: int, flux: float, r_e: float, q: float, pa: float,
            x: float, y: float, spread: float, size: tuple[float, float]) -> list[SersicComponent]:
    """``k`` Gaussian clumps scattered in the plane of a disk of axis ratio ``q`` and angle ``pa``."""
    if k <= 0 or flux <= 0:
        return []
    fr = rng.dirichlet(np.full(k, 1.5)) * flux
    out = []
    for f in fr:
        rad = abs(rng.normal(0.0, spread * r_e))
        ang = rng.uniform(0, 2 * pi)
        u, v = rad * np.cos(ang), rad * np.sin(ang) * q
        dx, dy = u * np.cos(pa) - v * np.sin(pa), u * np.sin(pa) + v * np.cos(pa)
        rc = max(0.45, rng.uniform(*size) * r_e)
        out.append(SersicComponent(float(f), x + dx, y + dy, rc, 0.5, rng.uniform(0.6, 1.0),
                                   rng.uniform(0, pi)))
    return out


def _recentre(comps: list[SersicComponent], x: float, y: float) -> tuple[SersicComponent, ...]:
    """Shift components so that their flux-weighted centre is at ``(x, y)``."""
    tot = sum(c.flux for c in comps)
    mx = sum(c.flux * c.x for c in comps) / tot
    my = sum(c.flux * c.y for c in comps) / tot
    return tuple(replace(c, x=c.x + x - mx, y=c.y + y - my) for c in comps)


def draw_galaxy(rng: np.random.Generator, galtype: str, *, flux: float, r_e: float,
                x: float, y: float) -> Galaxy:
    """Draw the light components of a galaxy of a candels-blender type.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random shape parameters.
    galtype : {'sph', 'disk', 'sphd', 'irr', 'star'}
        ``sph``: de Vaucouleurs-like spheroid (n 3.3-4.5). ``disk``: exponential disk at a random
        inclination, often with spiral arms, star-forming knots and a small bulge. ``sphd``: bulge +
        disk (B/T 0.3-0.7). ``irr``: diffuse low-n body plus 2-6 bright clumps. ``star``: a point
        source (neighbours only).
    flux : float
        Total flux (image units).
    r_e : float
        Overall half-light radius in pixels before the PSF (the main component's radius).
    x, y : float
        Centre (column, row) in pixels; the light-weighted centre lands there.

    Returns
    -------
    Galaxy
    """
    pa = float(rng.uniform(0, pi))
    comps: list[SersicComponent] = []
    if galtype == "star":
        comps = [SersicComponent(flux, x, y, 0.25, 0.5, 1.0, 0.0)]
    elif galtype == "sph":
        comps = [SersicComponent(flux, x, y, r_e, rng.uniform(3.3, 4.5), rng.uniform(0.55, 1.0), pa)]
    elif galtype == "disk":
        q = _inclined_q(rng, 0.12)
        bt = rng.uniform(0.0, 0.15) if rng.uniform() < 0.6 else 0.0
        knots = rng.uniform(0.0, 0.12) if r_e > 3 else 0.0
        fd = flux * (1 - bt - knots)
        arms = rng.uniform(0.5, 0.9) if (r_e > 4 and q > 0.35 and rng.uniform() < 0.65) else 0.0
        comps.append(SersicComponent(fd, x, y, r_e, rng.uniform(0.8, 1.2), q, pa, arms,
                                     int(rng.choice([2, 2, 3])), rng.uniform(0.2, 0.5),
                                     rng.uniform(0, 2 * pi)))
        if bt > 0:
            comps.append(SersicComponent(flux * bt, x, y, max(0.5, rng.uniform(0.12, 0.25) * r_e),
                                         rng.uniform(2.0, 4.0), max(q, rng.uniform(0.6, 0.95)), pa))
        comps += _clumps(rng, int(rng.integers(2, 6)), flux * knots, r_e, q, pa, x, y, 1.0,
                         (0.05, 0.12))
    elif galtype == "sphd":
        q = _inclined_q(rng, 0.2)
        bt = rng.uniform(0.3, 0.7)
        rd = r_e * rng.uniform(1.0, 1.3)
        arms = rng.uniform(0.25, 0.5) if (rd > 5 and q > 0.4 and rng.uniform() < 0.35) else 0.0
        comps.append(SersicComponent(flux * (1 - bt), x, y, rd, rng.uniform(0.8, 1.3), q, pa, arms,
                                     2, rng.uniform(0.2, 0.45), rng.uniform(0, 2 * pi)))
        comps.append(SersicComponent(flux * bt, x, y, max(0.6, r_e * rng.uniform(0.25, 0.5)),
                                     rng.uniform(3.0, 4.5), max(q, rng.uniform(0.65, 0.95)), pa))
    elif galtype == "irr":
        q = rng.uniform(0.3, 0.9)
        fdiff = rng.uniform(0.4, 0.7)
        comps.append(SersicComponent(flux * fdiff, x, y, r_e, rng.uniform(0.5, 1.0), q, pa))
        comps += _clumps(rng, int(rng.integers(2, 7)), flux * (1 - fdiff), r_e, q, pa, x, y, 0.7,
                         (0.08, 0.3))
        comps = list(_recentre(comps, x, y))
    else:
        raise ValueError(f"unknown galaxy type {galtype!r}; expected one of irr, disk, sph, sphd, star")
    return Galaxy(galtype, float(x), float(y), tuple(comps))
