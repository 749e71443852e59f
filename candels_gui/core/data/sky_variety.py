"""Domain-randomised synthetic stamps ("sky variety"): the sample-data generator with the sky's variety.

The bundled sample data (:mod:`.samplegen`) has one PSF, one pixel scale, one noise correlation and
galaxies with smooth, symmetric profiles. Networks trained only on it meet on real stamps what they never
saw. Each stamp made here draws, from its own generator (``numpy.random.default_rng([seed, 0x534B59,
index])``, a stream the sample data never uses), everything :mod:`.samplegen` draws plus:

- **instrument and pixel scale**: HST WFC3/IR F160W-like (0.06 or 0.09"/px) or ACS F814W / F606W-like
  (0.03 or 0.05"/px); galaxy sizes are drawn in arcseconds, so the same galaxy covers more pixels on a finer
  grid;
- **a PSF of that instrument with the field's variation**: obscured Airy at the band's wavelength, pointing
  jitter 0.02-0.07", scattered-light halo 1-6 %, a small ellipticity (0-0.08);
- **correlated noise**: the drizzle kernel's weight on adjacent pixels drawn in [0, 0.5] (lag-1
  correlation 0-0.67), and depth: sky rms 0.5-3x the field's;
- **bars** in 30 % of the barred-able disks (a flat n = 0.5 component, 5-20 % of the light) and
  **asymmetric irregulars and disks** (40 %: a lopsided group of 1-4 clumps off one side);
- **residuals of cleaned neighbours**: in 35 % of stamps the neighbours' segments are replaced by noise and
  unlabelled, as in stamp sets that ship cleaned (their light outside the segment stays);
- **masked pixels**: 8 % of stamps touch a mosaic edge (a band of zeros, unlabelled) and 5 % have a bad
  column (zeros).

The files are the candels-blender input layout (as :mod:`.samplegen`), plus ``variety.csv``: the draws of
every stamp (instrument, pixel scale, PSF FWHM, noise correlation, depth, bar, asymmetry, cleaned
neighbours, masked pixels), so a user can select or stratify by them.

Examples
--------
>>> s = make_sky_stamp(1, 0, stamp_size=64)
>>> s.image.shape, int(s.segmap[32, 32]) == s.row["segval"], sorted(s.variety)[:3]
((64, 64), True, ['asymmetric', 'bar', 'cleaned_neighbours'])
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, replace
from math import cos, log10, pi, radians
from typing import Any, Optional

import numpy as np
from scipy.signal import fftconvolve

from ..jobs import CancelToken, Job
from .galaxy_models import (F160W_ZEROPOINT, PIXEL_SCALE, SersicComponent, _clumps, _recentre, draw_galaxy,
                            f160w_psf, half_light_radius, render)
from .sample_labels import noise_corr, noise_lag1, segment, sky_noise
from .samplegen import (FIELDS, SampleStamp, stamp_alone, stamp_set_job,
                        _central_segval, _draw_field, _draw_galtype, _draw_mag, _draw_neighbours, _draw_size,
                        _draw_z, _flux, _renumber)

__all__ = ["make_sky_stamp", "sky_variety_job", "SkyStamp", "INSTRUMENTS", "VARIETY_FILE", "VARIETY_COLUMNS"]

#: The per-stamp draws, written beside the stamps.
VARIETY_FILE = "variety.csv"
VARIETY_COLUMNS = ("ID", "instrument", "pixel_scale", "psf_fwhm_arcsec", "noise_kernel", "noise_lag1",
                   "depth", "bar", "asymmetric", "cleaned_neighbours", "masked")

_STREAM = 0x534B59   # "SKY": never the sample data's or the morphology set's stream
_TRIES = 8


@dataclass(frozen=True)
class _Instrument:
    name: str
    wavelength_um: float
    pixel_scales: tuple[float, ...]
    weight: float


#: The instruments drawn from: name, pivot wavelength, pixel scales of its mosaics, share of the stamps.
INSTRUMENTS = (
    _Instrument("wfc3-f160w", 1.537, (0.06, 0.09), 0.5),
    _Instrument("acs-f814w", 0.806, (0.03, 0.05), 0.3),
    _Instrument("acs-f606w", 0.606, (0.03, 0.05), 0.2),
)
_INSTRUMENT_P = np.array([i.weight for i in INSTRUMENTS]) / sum(i.weight for i in INSTRUMENTS)


@dataclass(frozen=True)
class SkyStamp(SampleStamp):
    """A :class:`~.samplegen.SampleStamp` plus ``variety``: the domain-randomisation draws of the stamp."""

    variety: dict[str, Any] | None = None


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM, index])


def _elliptical(psf: np.ndarray, e: float, angle: float) -> np.ndarray:
    """``psf`` stretched by ``1 + e`` along ``angle`` and shrunk by ``1 - e`` across it (sum kept)."""
    import cv2

    if e <= 0:
        return psf
    c, s = cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    a = rot @ np.diag([1 + e, 1 - e]) @ rot.T
    n = psf.shape[0]
    centre = np.array([(n - 1) / 2.0, (n - 1) / 2.0])
    m = np.hstack([a, (centre - a @ centre)[:, None]])
    out = cv2.warpAffine(psf, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out = np.clip(out, 0, None)
    return out / out.sum()


def _fwhm(psf: np.ndarray, oversample: int = 8) -> float:
    """FWHM (px) of a centred PSF: the diameter of the circle of the area above half the peak, measured on
    the PSF resampled ``oversample`` times finer (bicubic), so that a PSF of 1-2 pixels is resolved."""
    import cv2

    n = psf.shape[0] * oversample
    fine = cv2.resize(np.asarray(psf, np.float64), (n, n), interpolation=cv2.INTER_CUBIC)
    return float(2.0 * np.sqrt(np.count_nonzero(fine >= 0.5 * fine.max()) / pi)) / oversample


def _bar(rng: np.random.Generator, comps: list[SersicComponent], r_e: float, x: float, y: float
         ) -> list[SersicComponent]:
    """Move 5-20 % of the light into a flat bar (n = 0.5, axis ratio 0.2-0.35) through the centre."""
    frac = rng.uniform(0.05, 0.2)
    total = sum(c.flux for c in comps)
    bar = SersicComponent(total * frac, x, y, r_e * rng.uniform(0.3, 0.6), 0.5, rng.uniform(0.2, 0.35),
                          rng.uniform(0, pi))
    return [replace(c, flux=c.flux * (1 - frac)) for c in comps] + [bar]


def _lopsided(rng: np.random.Generator, comps: list[SersicComponent], r_e: float, x: float, y: float
              ) -> list[SersicComponent]:
    """Move 10-35 % of the light into 1-4 clumps grouped off one side (an asymmetric galaxy)."""
    frac = rng.uniform(0.1, 0.35)
    total = sum(c.flux for c in comps)
    ang = rng.uniform(0, 2 * pi)
    d = rng.uniform(0.4, 1.0) * r_e
    cx, cy = x + d * np.cos(ang), y + d * np.sin(ang)
    group = _clumps(rng, int(rng.integers(1, 5)), total * frac, r_e, 1.0, 0.0, cx, cy, 0.4, (0.1, 0.35))
    return list(_recentre([replace(c, flux=c.flux * (1 - frac)) for c in comps] + group, x, y))


def _draw_galaxy_varied(rng: np.random.Generator, galtype: str, r_e: float, c: float) -> tuple[Any, bool, bool]:
    gal = draw_galaxy(rng, galtype, flux=1.0, r_e=r_e, x=c, y=c)
    comps = list(gal.components)
    bar = galtype in ("disk", "sphd") and comps[0].q > 0.4 and rng.uniform() < 0.3
    if bar:
        comps = _bar(rng, comps, r_e, c, c)
    asym = galtype in ("irr", "disk") and rng.uniform() < 0.4
    if asym:
        comps = _lopsided(rng, comps, r_e, c, c)
    return comps, bool(bar), bool(asym)


def _mask_pixels(rng: np.random.Generator, image: np.ndarray, seg: np.ndarray) -> str:
    """Zero a mosaic-edge band (8 %) or a bad column (5 %), unlabelled; returns what was masked."""
    h, w = image.shape
    u = rng.uniform()
    if u < 0.08:
        width = int(rng.integers(4, max(5, int(0.3 * min(h, w)))))
        side = int(rng.integers(4))
        band = [(slice(None, width), slice(None)), (slice(h - width, None), slice(None)),
                (slice(None), slice(None, width)), (slice(None), slice(w - width, None))][side]
        image[band], seg[band] = 0.0, 0
        return f"edge{width}"
    if u < 0.13:
        col = int(rng.integers(0, w))
        if abs(col - w // 2) < 3:
            col = (col + w // 4) % w
        image[:, col], seg[:, col] = 0.0, 0
        return "column"
    return ""


def _make(seed: int, index: int, rank: int, stamp_size: int) -> SkyStamp:
    rng = _rng(seed, index)
    fi = _draw_field(rng)
    fld = FIELDS[fi]
    segval = _central_segval(seed, fi, rank)
    inst = INSTRUMENTS[int(rng.choice(len(INSTRUMENTS), p=_INSTRUMENT_P))]
    scale = float(rng.choice(inst.pixel_scales))
    zoom = PIXEL_SCALE / scale                      # sizes are drawn on the 0.06"/px grid
    psf = f160w_psf(41, pixel_scale=scale, wavelength_um=inst.wavelength_um,
                    jitter_arcsec=float(rng.uniform(0.02, 0.07)), halo_frac=float(rng.uniform(0.01, 0.06)))
    psf = _elliptical(psf, float(rng.uniform(0.0, 0.08)), float(rng.uniform(0, pi)))
    depth = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    sigma = fld.sky_sigma * depth
    exptime = fld.exptime / depth ** 2
    kernel_a = float(rng.uniform(0.0, 0.5))
    cleaned = rng.uniform() < 0.35
    c = stamp_size // 2
    shape = (stamp_size, stamp_size)
    brighten = 0.0
    for _ in range(_TRIES):
        mag = max(19.0, _draw_mag(rng, 19.0, 26.0, 0.1) - brighten)
        galtype = _draw_galtype(rng, mag)
        r_e = _draw_size(rng, mag, galtype) * zoom
        z = _draw_z(rng, mag)
        comps, bar, asym = _draw_galaxy_varied(rng, galtype, r_e, float(c))
        model = fftconvolve(render(comps, shape), psf, mode="same")
        model *= _flux(mag) / model.sum()
        truths = [model]
        for gt, m, r_n, x, y in _draw_neighbours(rng, stamp_size, c, r_e / zoom, mag):
            gal = draw_galaxy(rng, gt, flux=_flux(m), r_e=r_n * zoom, x=c + (x - c) * zoom, y=c + (y - c) * zoom)
            truths.append(fftconvolve(render(gal.components, shape), psf, mode="same"))
        truth = np.sum(truths, axis=0)
        sky = sky_noise(rng, shape, sigma, kernel_a)
        image = truth + sky + rng.standard_normal(shape) * np.sqrt(np.clip(truth, 0, None) / exptime)
        seg = segment(image, sigma, truths)
        if seg[c, c] != 0:
            break
        brighten += 0.5
    else:  # pragma: no cover - a 19th-magnitude galaxy is always detected
        raise RuntimeError(f"stamp {index}: central galaxy not detected after {_TRIES} tries")
    if cleaned:   # neighbours' segments become noise (their light beyond the segment stays)
        others = (seg != 0) & (seg != seg[c, c])
        image[others] = sky_noise(rng, shape, sigma, kernel_a)[others]
        seg[others] = 0
    masked = _mask_pixels(rng, image, seg)
    ids_per_row = fld.n_objects / (fld.height * 1000.0)
    seg = _renumber(rng, seg, c, segval, ids_per_row)
    flux = float(model.sum())
    dec = fld.dec + ((segval - 1) % fld.n_objects / fld.n_objects - 0.5) * fld.height / 60.0
    ra = fld.ra + float(rng.uniform(-0.5, 0.5)) * fld.width / 60.0 / cos(radians(dec))
    area = int(np.count_nonzero(seg == segval))
    err = 1.0857 * np.sqrt(area * sigma ** 2 * noise_corr(kernel_a) + flux / exptime) / flux
    row = {"ID": (fi + 1) * 10_000_000 + segval, "RA": ra, "DEC": dec, "FIELD": fld.name,
           "mag": F160W_ZEROPOINT - 2.5 * log10(flux), "mag_err": max(float(err), 5e-4),
           "radius": half_light_radius(model, c, c), "z": z, "galtype": galtype, "segval": int(segval)}
    variety = {"ID": row["ID"], "instrument": inst.name, "pixel_scale": scale,
               "psf_fwhm_arcsec": round(_fwhm(psf) * scale, 4), "noise_kernel": round(kernel_a, 4),
               "noise_lag1": round(noise_lag1(kernel_a), 4), "depth": round(depth, 4),
               "bar": int(bar), "asymmetric": int(asym), "cleaned_neighbours": int(cleaned), "masked": masked}
    return SkyStamp(image.astype(np.float32), seg.astype(np.int32), model.astype(np.float32), row, sigma,
                    variety)


def make_sky_stamp(seed: int, index: int, *, stamp_size: int = 128) -> SkyStamp:
    """Make stamp ``index`` of the sky-variety set of ``seed`` alone (identical to the one in the set)."""
    return stamp_alone(seed, index, stamp_size, stamp_rng=_rng, make=_make)


def sky_variety_job(outdir: str | os.PathLike, *, n_stamps: int, seed: int, stamp_size: int = 128,
                    workers: int = 1, cancel: Optional[CancelToken] = None) -> Job:
    """Write ``n_stamps`` sky-variety stamps (candels-blender layout + :data:`VARIETY_FILE`) as a job generator.

    Files are written under temporary names and renamed at the end; a cancelled run leaves nothing.
    ``workers`` processes make the stamps (the same bytes for any number). Returns the output folder.
    """
    def variety_csv(rows: list[dict[str, Any]]) -> str:
        text = io.StringIO()
        writer = csv.DictWriter(text, VARIETY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue()

    return (yield from stamp_set_job(outdir, n_stamps=n_stamps, seed=seed, stamp_size=stamp_size, stamp_rng=_rng,
                                     make=_make, what="making sky-variety stamps", workers=workers,
                                     cancel=cancel,
                                     extras={VARIETY_FILE: (lambda st: st.variety, variety_csv)}))
