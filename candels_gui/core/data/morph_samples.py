"""Labelled stamps for the morphology classifier: the sample-data generator's galaxies, point sources and junk.

Each stamp is made like a stamp of the bundled sample data (:mod:`.samplegen`: the same fields, noise,
PSF, neighbours, magnitudes, sizes and SExtractor-like segmentation) but its central object's class is
drawn first, uniformly over :data:`~.morph_labels.MORPH_CLASSES`, so every class has the same share:

- ``sph``, ``sphd``, ``disk``, ``irr``: a galaxy of that candels-blender type (:func:`.galaxy_models.draw_galaxy`),
  detected at a signal-to-noise ratio of at least :data:`MIN_GALAXY_SNR` (redrawn half a magnitude
  brighter until it is; the bundled sample data's faintest galaxy has S/N 7.9);
- ``ps``: a point source (a star: the PSF), magnitude 18-26, S/N at least :data:`MIN_GALAXY_SNR`;
- ``unc``, *unclassifiable*: a galaxy of any type too faint to classify (S/N below :data:`MAX_FAINT_SNR`,
  half the stamps of the class), or an artefact at the centre: a cosmic-ray hit (sharp, not blurred by
  the PSF), a hot column or a satellite trail.

A generator of its own seeds every stamp, ``numpy.random.default_rng([seed, 0x4D4F52, index])``, so these
draws never touch those of the bundled sample data (whose files stay byte-identical) and stamp *i* is the
same alone or in a set. :func:`morphology_sample_job` writes the candels-blender layout (``galtype`` holds
the class) plus ``labels.csv``, the one-hot vote fractions in the label-file format of :mod:`.morph_labels`.

Examples
--------
>>> s = make_morphology_stamp(1, 0, stamp_size=64)
>>> s.row["galtype"] in MORPH_CLASSES, s.image.shape
(True, (64, 64))
"""

from __future__ import annotations

import os
from math import cos, log10, radians
from typing import Optional

import numpy as np
from scipy.signal import fftconvolve

from ..jobs import CancelToken, Job
from .galaxy_models import F160W_ZEROPOINT, draw_galaxy, f160w_psf, half_light_radius, render
from .morph_labels import MORPH_CLASSES, labels_csv_text, one_hot
from .sample_labels import NOISE_CORR, noise, segment
from .samplegen import (FIELDS, SampleStamp, stamp_alone, stamp_set_job,
                        _central_segval, _draw_field, _draw_galtype, _draw_mag, _draw_neighbours, _draw_size,
                        _draw_z, _flux, _renumber)

__all__ = ["make_morphology_stamp", "morphology_sample_job", "LABELS_FILE", "MIN_GALAXY_SNR", "MAX_FAINT_SNR",
           "JUNK_KINDS"]

#: The label file written beside the stamps.
LABELS_FILE = "labels.csv"
#: Galaxies and point sources are at least this bright (signal-to-noise ratio over their segment).
MIN_GALAXY_SNR = 8.0
#: "Too faint" unclassifiable objects are at most this bright.
MAX_FAINT_SNR = 5.0
#: The kinds of unclassifiable stamp, with their shares.
JUNK_KINDS = {"faint": 0.5, "cosmic": 0.2, "column": 0.15, "trail": 0.15}

_STREAM = 0x4D4F52   # "MOR": never the sample data's stream
_TRIES = 12


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM, index])


def _snr(model: np.ndarray, seg: np.ndarray, label: int, sigma: float, exptime: float) -> float:
    area = int(np.count_nonzero(seg == label)) if label else 0
    flux = float(model.sum())
    if flux <= 0:
        return 0.0
    return flux / float(np.sqrt(max(area, 1) * sigma ** 2 * NOISE_CORR + flux / exptime))


def _artefact(rng: np.random.Generator, kind: str, shape: tuple[int, int], c: int, sigma: float) -> np.ndarray:
    """A noiseless artefact image at the centre: cosmic ray, hot column or satellite trail."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ang = rng.uniform(0, np.pi)
    dx, dy = np.cos(ang), np.sin(ang)
    x0, y0 = c + rng.uniform(-1.5, 1.5), c + rng.uniform(-1.5, 1.5)
    along = (xx - x0) * dx + (yy - y0) * dy
    across = -(xx - x0) * dy + (yy - y0) * dx
    if kind == "cosmic":   # a sharp track a few pixels long, not blurred by the PSF
        length = rng.uniform(2.0, 14.0)
        amp = rng.uniform(15.0, 150.0) * sigma
        width = rng.uniform(0.3, 0.7)
        img = amp * np.exp(-0.5 * (across / width) ** 2) * (np.abs(along) <= length / 2)
        for _ in range(int(rng.integers(0, 4))):   # a few stray hot pixels beside it
            img[int(rng.integers(0, h)), int(rng.integers(0, w))] += rng.uniform(10, 60) * sigma
        return img
    if kind == "column":   # a hot or bleeding column through the centre
        half = rng.uniform(6.0, 40.0)
        amp = rng.uniform(4.0, 25.0) * sigma
        img = np.zeros(shape)
        col = int(round(x0))
        rows = (np.arange(h) >= y0 - half) & (np.arange(h) <= y0 + half)
        img[rows, col] = amp * rng.uniform(0.6, 1.0, int(rows.sum()))
        return img
    # satellite trail: a line across the whole stamp, PSF-wide
    width = rng.uniform(0.8, 1.6)
    amp = rng.uniform(3.0, 20.0) * sigma
    return amp * np.exp(-0.5 * (across / width) ** 2)


def _draw_class(rng: np.random.Generator) -> str:
    return MORPH_CLASSES[int(rng.integers(len(MORPH_CLASSES)))]


def _make(seed: int, index: int, rank: int, stamp_size: int) -> SampleStamp:
    rng = _rng(seed, index)
    fi = _draw_field(rng)
    fld = FIELDS[fi]
    cls = _draw_class(rng)
    kind = "galaxy"
    if cls == "unc":
        kind = str(rng.choice(list(JUNK_KINDS), p=np.array(list(JUNK_KINDS.values()))))
    segval = _central_segval(seed, fi, rank)
    sigma = fld.sky_sigma * float(rng.uniform(0.85, 1.15))
    c = stamp_size // 2
    psf = f160w_psf(41)
    shape = (stamp_size, stamp_size)
    shift = 0.0
    for _try in range(_TRIES):
        if cls == "ps":
            mag = _draw_mag(rng, 18.0, 26.0, 0.1) - shift
            gtype, r_e = "star", 0.25
        elif kind == "faint":
            mag = float(rng.uniform(26.5, 28.5)) + shift
            gtype = _draw_galtype(rng, 26.0)
            r_e = _draw_size(rng, 26.0, gtype)
        elif kind == "galaxy":
            mag = max(19.0, _draw_mag(rng, 19.0, 26.0, 0.1) - shift)
            gtype = cls
            r_e = _draw_size(rng, mag, gtype)
        else:    # an artefact, over an empty centre
            mag, gtype, r_e = 99.0, "", 2.0
        z = _draw_z(rng, min(mag, 27.0))
        if gtype:
            central = draw_galaxy(rng, gtype, flux=1.0, r_e=r_e, x=float(c), y=float(c))
            model = fftconvolve(render(central.components, shape), psf, mode="same")
            model *= _flux(mag) / model.sum()
        else:
            model = _artefact(rng, kind, shape, c, sigma)
        truths = [model]
        for gt, m, r_n, x, y in _draw_neighbours(rng, stamp_size, c, r_e, min(mag, 26.0)):
            gal = draw_galaxy(rng, gt, flux=_flux(m), r_e=r_n, x=x, y=y)
            truths.append(fftconvolve(render(gal.components, shape), psf, mode="same"))
        truth = np.sum(truths, axis=0)
        image = (truth + noise(rng, shape, sigma, truth, fld.exptime)).astype(np.float32)
        seg = segment(image, sigma, truths)
        label = int(seg[c, c])
        snr = _snr(model, seg, label, sigma, fld.exptime)
        if kind == "faint":
            if snr > MAX_FAINT_SNR:
                shift += 0.5      # too bright to be "too faint": redraw fainter
                continue
            if label:
                break
            shift -= 0.25         # not detected at all: a little brighter
            continue
        if label and (cls not in ("ps", "sph", "sphd", "disk", "irr") or snr >= MIN_GALAXY_SNR):
            break
        shift += 0.5              # missed or too faint: redraw brighter
    if not seg[c, c]:     # nothing detected at the centre (too faint): a catalogue still has it, as a small disc
        yy, xx = np.ogrid[:stamp_size, :stamp_size]
        seg = seg.copy()
        seg[((yy - c) ** 2 + (xx - c) ** 2 <= 9) & (seg == 0)] = seg.max() + 1
    ids_per_row = fld.n_objects / (fld.height * 1000.0)
    seg = _renumber(rng, seg, c, segval, ids_per_row)
    area = int(np.count_nonzero(seg == segval))
    flux = max(float(model.sum()), 1e-6)
    err = 1.0857 * np.sqrt(max(area, 1) * sigma ** 2 * NOISE_CORR + flux / fld.exptime) / flux
    dec = fld.dec + ((segval - 1) % fld.n_objects / fld.n_objects - 0.5) * fld.height / 60.0
    ra = fld.ra + float(rng.uniform(-0.5, 0.5)) * fld.width / 60.0 / cos(radians(dec))
    row = {"ID": (fi + 1) * 10_000_000 + segval, "RA": ra, "DEC": dec, "FIELD": fld.name,
           "mag": F160W_ZEROPOINT - 2.5 * log10(flux), "mag_err": max(min(float(err), 9.99), 5e-4),
           "radius": half_light_radius(model, c, c) if flux > 1e-6 else 0.0,
           "z": z, "galtype": cls, "segval": int(segval)}
    return SampleStamp(image, seg.astype(np.int32), model.astype(np.float32), row, sigma)


def make_morphology_stamp(seed: int, index: int, *, stamp_size: int = 128) -> SampleStamp:
    """Make labelled stamp ``index`` of the set of ``seed`` alone (identical to the one in the set)."""
    return stamp_alone(seed, index, stamp_size, stamp_rng=_rng, make=_make)


def morphology_sample_job(outdir: str | os.PathLike, *, n_stamps: int, seed: int, stamp_size: int = 128,
                          workers: int = 1, cancel: Optional[CancelToken] = None) -> Job:
    """Write ``n_stamps`` labelled stamps (candels-blender layout + ``labels.csv``) as a job generator.

    Files are written under temporary names and renamed at the end; a cancelled run leaves nothing.
    ``workers`` processes make the stamps (the same bytes for any number). Returns the output folder.
    """
    def labels(records: list[tuple[int, str]]) -> str:
        return labels_csv_text([r[0] for r in records], one_hot([r[1] for r in records]))

    return (yield from stamp_set_job(outdir, n_stamps=n_stamps, seed=seed, stamp_size=stamp_size, stamp_rng=_rng,
                                     make=_make, what="making labelled stamps", workers=workers, cancel=cancel,
                                     extras={LABELS_FILE: (lambda st: (st.row["ID"], st.row["galtype"]), labels)}))
