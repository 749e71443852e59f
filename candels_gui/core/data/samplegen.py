"""Synthetic CANDELS-like galaxy stamps in the candels-blender input layout (the bundled sample data).

Each stamp is a 128 x 128 HST WFC3/IR F160W-like cut-out (0.06"/px) centred on a galaxy of one of
candels-blender's types (``irr``, ``disk``, ``sph``, ``sphd``, see
:func:`~candels_gui.core.data.galaxy_models.draw_galaxy`), with 1-4 neighbours (galaxies, sometimes a star),
convolved with an F160W-like PSF, plus sky noise that is correlated between adjacent pixels (as in
drizzled mosaics) and source Poisson noise. Segmentation maps are made the way SExtractor makes them:
photutils ``detect_sources`` on the smoothed image at 1.5 sigma, then ``deblend_sources``; labels are
renumbered like the IDs of a CANDELS catalogue (up to ~41,000, growing with the row, as SExtractor
numbers objects), so most exceed 255.

Every stamp has its own generator, ``numpy.random.default_rng([seed, 0x5A4D, index])``: the same seed
gives the same bytes, and stamp *i* is the same whether made alone (:func:`make_sample_stamp`) or in a
set of any size.

Examples
--------
>>> import tempfile
>>> out = generate_sample_data(tempfile.mkdtemp(), n_stamps=2, stamp_size=64)
>>> sorted(p.name for p in out.iterdir())
['candels_cat.csv', 'candels_img.npy', 'candels_seg.npy']
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from functools import lru_cache, partial
from math import cos, log10, radians
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
from scipy.signal import fftconvolve

from ..atomic import temp_files
from ..errors import Cancelled
from .galaxy_models import F160W_ZEROPOINT, draw_galaxy, f160w_psf, half_light_radius, render
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .sample_labels import NOISE_CORR, noise, segment

__all__ = ["generate_sample_data", "sample_data_job", "stamp_set_job", "stamp_alone", "make_sample_stamp", "SampleStamp", "FIELDS",
           "CATALOG_COLUMNS", "IMAGE_FILE", "SEGMAP_FILE", "CATALOG_FILE", "DEFAULT_SEED"]

IMAGE_FILE, SEGMAP_FILE, CATALOG_FILE = "candels_img.npy", "candels_seg.npy", "candels_cat.csv"
#: Header of ``candels_cat.csv``, in order.
CATALOG_COLUMNS = ("ID", "RA", "DEC", "FIELD", "mag", "mag_err", "radius", "z", "galtype", "segval")
#: Seed of the bundled sample data (the Zenodo record number of the public CANDELS stamps).
DEFAULT_SEED = 2604740

_STAMP_STREAM = 0x5A4D   # per-stamp generators: [seed, _STAMP_STREAM, index]
_ID_STREAM = 0x1D5       # catalogue-number permutations: [seed, _ID_STREAM, field, block]
_MAX_TRIES = 8


@dataclass(frozen=True)
class _Field:
    name: str
    ra: float           # centre, degrees
    dec: float
    width: float        # arcmin (RA direction)
    height: float       # arcmin (DEC direction)
    n_objects: int      # size of the field's F160W catalogue: range of the labels
    sky_sigma: float    # per-pixel background rms, image units (e-/s)
    exptime: float      # effective exposure time (s), for source Poisson noise
    weight: float       # share of the stamps


#: The five CANDELS fields: centre, footprint, catalogue size and depth (deep fields are quieter).
FIELDS = (
    _Field("GOODS-S", 53.122, -27.805, 10.0, 16.0, 34930, 0.0075, 6000.0, 0.24),
    _Field("UDS", 34.406, -5.200, 9.4, 22.0, 35932, 0.0115, 3300.0, 0.19),
    _Field("COSMOS", 150.116, 2.291, 9.0, 22.0, 38671, 0.0115, 3200.0, 0.19),
    _Field("EGS", 214.825, 52.825, 6.7, 30.0, 41457, 0.0110, 3300.0, 0.18),
    _Field("GOODS-N", 189.228, 62.238, 10.0, 16.0, 35445, 0.0080, 5500.0, 0.20),
)
_FIELD_P = np.array([f.weight for f in FIELDS]) / sum(f.weight for f in FIELDS)
_GALTYPES = ("irr", "disk", "sph", "sphd")


@dataclass(frozen=True)
class SampleStamp:
    """One synthetic stamp: what goes into the files, plus the noiseless central galaxy.

    Attributes
    ----------
    image : (H, W) float32
        Observed stamp (galaxies convolved with the PSF, plus noise).
    segmap : (H, W) int32
        Segmentation map, 0 = background, ``segmap[H//2, W//2] == row['segval']``.
    central_model : (H, W) float32
        The central galaxy alone, PSF-convolved and noiseless; it sums to the catalogued flux.
    row : dict
        The catalogue row, keys :data:`CATALOG_COLUMNS`.
    sky_sigma : float
        Per-pixel rms of the background noise.
    """

    image: np.ndarray
    segmap: np.ndarray
    central_model: np.ndarray
    row: dict
    sky_sigma: float


# ------------------------------------------------------------------ random draws

def _stamp_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STAMP_STREAM, index])


def _draw_field(rng: np.random.Generator) -> int:
    """The first draw of every stamp generator: which field the stamp comes from."""
    return int(rng.choice(len(FIELDS), p=_FIELD_P))


@lru_cache(maxsize=64)
def _id_permutation(seed: int, field: int, block: int) -> np.ndarray:
    n = FIELDS[field].n_objects
    perm = np.random.default_rng([seed, _ID_STREAM, field, block]).permutation(n) + 1 + block * n
    perm.setflags(write=False)
    return perm


def _central_segval(seed: int, field: int, rank: int) -> int:
    """Catalogue number of the ``rank``-th stamp of ``field``: distinct within the field."""
    n = FIELDS[field].n_objects
    return int(_id_permutation(seed, field, rank // n)[rank % n])


def _draw_mag(rng: np.random.Generator, lo: float, hi: float, slope: float = 0.2) -> float:
    """Magnitude from number counts ``dN/dm ~ 10**(slope * m)`` on [lo, hi] (more faint ones)."""
    k = slope * np.log(10.0)
    u = rng.uniform()
    return float(np.log(np.exp(k * lo) + u * (np.exp(k * hi) - np.exp(k * lo))) / k)


def _draw_galtype(rng: np.random.Generator, mag: float) -> str:
    """Bright galaxies are more often spheroids; faint ones more often disks and irregulars."""
    t = np.clip((mag - 19.0) / 7.0, 0.0, 1.0)
    p = np.array([0.10 + 0.25 * t, 0.38 + 0.02 * t, 0.30 - 0.20 * t, 0.22 - 0.07 * t])
    return _GALTYPES[int(rng.choice(4, p=p / p.sum()))]


def _draw_size(rng: np.random.Generator, mag: float, galtype: str) -> float:
    """Intrinsic half-light radius (px): brighter is bigger; spheroids are compact for their flux."""
    factor = {"sph": 0.7, "sphd": 0.85, "disk": 1.1, "irr": 1.0}.get(galtype, 1.0)
    med = 9.0 * 10 ** (-0.12 * (mag - 21.0)) * factor
    return _truncated_lognormal(rng, med, 0.15 * np.log(10.0), 1.3, 18.0)


def _draw_z(rng: np.random.Generator, mag: float) -> float:
    """Photometric-redshift-like z: fainter galaxies lie farther away."""
    return _truncated_lognormal(rng, 0.25 + 0.3 * (mag - 19.0), 0.4, 0.1, 4.0)


def _truncated_lognormal(rng: np.random.Generator, median: float, sigma_ln: float, lo: float,
                         hi: float) -> float:
    """Log-normal draw redrawn until it lies in [lo, hi] (no pile-up at the bounds)."""
    median = min(max(median, lo), hi)
    for _ in range(100):
        v = median * float(np.exp(rng.normal(0.0, sigma_ln)))
        if lo <= v <= hi:
            return v
    return median


def _flux(mag: float) -> float:
    return 10 ** (-0.4 * (mag - F160W_ZEROPOINT))


def _draw_neighbours(rng: np.random.Generator, size: int, c: float, r_c: float, mag_c: float):
    """1-4 neighbours at random places; some overlap the outskirts of the central galaxy."""
    out = []
    for _ in range(int(rng.integers(1, 5))):
        star = rng.uniform() < 0.08
        for _try in range(50):
            mag = _draw_mag(rng, 19.5, 27.0)
            gt = "star" if star else _draw_galtype(rng, mag)
            r_n = 0.25 if star else _draw_size(rng, mag, gt)
            close = rng.uniform() < 0.35
            if close:
                d = rng.uniform(1.6, 3.0) * (r_c + r_n) + 4.0
                ang = rng.uniform(0, 2 * np.pi)
                x, y = c + d * np.cos(ang), c + d * np.sin(ang)
            else:
                x, y = rng.uniform(-6, size + 6, 2)
                d = float(np.hypot(x - c, y - c))
            # keep the centre the central galaxy's: neighbours near it must not outshine it
            if d < 1.5 * (r_c + r_n) + 5 or (d < 4 * r_c + 15 and mag < mag_c - 0.3):
                continue
            out.append((gt, mag, r_n, float(x), float(y)))
            break
    return out


def _renumber(rng: np.random.Generator, seg: np.ndarray, center: int, segval: int,
              ids_per_row: float) -> np.ndarray:
    """Give segments catalogue-like numbers: the central one ``segval``, the others by row."""
    nlab = int(seg.max())
    rows = np.broadcast_to(np.arange(seg.shape[0])[:, None], seg.shape)
    counts = np.bincount(seg.ravel(), minlength=nlab + 1)
    mean_row = np.bincount(seg.ravel(), weights=rows.ravel(), minlength=nlab + 1) / np.maximum(counts, 1)
    central = int(seg[center, center])
    lut = np.zeros(nlab + 1, np.int32)
    used = {segval}
    lut[central] = segval
    for lab in range(1, nlab + 1):
        if lab == central or counts[lab] == 0:
            continue
        v = max(1, segval + int(round((mean_row[lab] - center) * ids_per_row + rng.normal(0, 2.0))))
        while v in used:
            v += 1
        used.add(v)
        lut[lab] = v
    return lut[seg]


# ------------------------------------------------------------------ one stamp

def _make_stamp(seed: int, index: int, rank: int, stamp_size: int) -> SampleStamp:
    rng = _stamp_rng(seed, index)
    fi = _draw_field(rng)
    fld = FIELDS[fi]
    segval = _central_segval(seed, fi, rank)
    sigma = fld.sky_sigma * float(rng.uniform(0.85, 1.15))
    c = stamp_size // 2
    psf = f160w_psf(41)
    shape = (stamp_size, stamp_size)
    brighten = 0.0
    for _ in range(_MAX_TRIES):
        mag = max(19.0, _draw_mag(rng, 19.0, 26.0, 0.1) - brighten)
        galtype = _draw_galtype(rng, mag)
        r_e = _draw_size(rng, mag, galtype)
        z = _draw_z(rng, mag)
        central = draw_galaxy(rng, galtype, flux=1.0, r_e=r_e, x=float(c), y=float(c))
        model = fftconvolve(render(central.components, shape), psf, mode="same")
        model *= _flux(mag) / model.sum()            # the stamp holds exactly the catalogued flux
        truths = [model]
        for gt, m, r_n, x, y in _draw_neighbours(rng, stamp_size, c, r_e, mag):
            gal = draw_galaxy(rng, gt, flux=_flux(m), r_e=r_n, x=x, y=y)
            truths.append(fftconvolve(render(gal.components, shape), psf, mode="same"))
        truth = np.sum(truths, axis=0)
        image = (truth + noise(rng, shape, sigma, truth, fld.exptime)).astype(np.float32)
        seg = segment(image, sigma, truths)
        if seg[c, c] != 0:
            break
        brighten += 0.5            # missed: redraw, brighter, with the same generator
    else:  # pragma: no cover - a 19th-magnitude galaxy is always detected
        raise RuntimeError(f"stamp {index}: central galaxy not detected after {_MAX_TRIES} tries")
    ids_per_row = fld.n_objects / (fld.height * 1000.0)      # 1000 px per arcmin at 0.06"/px
    seg = _renumber(rng, seg, c, segval, ids_per_row)
    area = int(np.count_nonzero(seg == segval))
    flux = float(model.sum())
    err = 1.0857 * np.sqrt(area * sigma ** 2 * NOISE_CORR + flux / fld.exptime) / flux
    dec = fld.dec + ((segval - 1) % fld.n_objects / fld.n_objects - 0.5) * fld.height / 60.0
    ra = fld.ra + float(rng.uniform(-0.5, 0.5)) * fld.width / 60.0 / cos(radians(dec))
    row = {
        "ID": (fi + 1) * 10_000_000 + segval,
        "RA": ra, "DEC": dec, "FIELD": fld.name,
        "mag": F160W_ZEROPOINT - 2.5 * log10(flux),
        "mag_err": max(float(err), 5e-4),
        "radius": half_light_radius(model, c, c),
        "z": z, "galtype": galtype, "segval": int(segval),
    }
    return SampleStamp(image, seg.astype(np.int32), model.astype(np.float32), row, sigma)


def stamp_alone(seed: int, index: int, stamp_size: int, *, stamp_rng: Callable[[int, int], np.random.Generator],
                make: Callable[[int, int, int, int], SampleStamp]) -> SampleStamp:
    """Stamp ``index`` of a set made by :func:`stamp_set_job` with ``stamp_rng`` and ``make``, made alone: its
    field rank counted over the stamps before it, so it is identical to the one in the set."""
    seed, stamp_size = _check_options(1, seed, stamp_size)
    if index < 0:
        raise ValueError(f"stamp index must be >= 0, got {index}")
    field = _draw_field(stamp_rng(seed, index))
    rank = sum(_draw_field(stamp_rng(seed, j)) == field for j in range(index))
    return make(seed, int(index), rank, stamp_size)


def make_sample_stamp(seed: int, index: int, *, stamp_size: int = 128) -> SampleStamp:
    """Make stamp ``index`` of the sample set of ``seed`` alone (identical to the one in the set).

    Examples
    --------
    >>> s = make_sample_stamp(2604740, 0, stamp_size=64)
    >>> s.image.shape, s.segmap.dtype.name, int(s.segmap[32, 32]) == s.row["segval"]
    ((64, 64), 'int32', True)
    """
    return stamp_alone(seed, index, stamp_size, stamp_rng=_stamp_rng, make=_make_stamp)


def _check_options(n_stamps: int, seed: int, stamp_size: int) -> tuple[int, int]:
    if int(n_stamps) < 1:
        raise ValueError(f"n_stamps must be >= 1, got {n_stamps}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if int(stamp_size) < 32:
        raise ValueError(f"stamp_size must be >= 32 pixels, got {stamp_size}")
    return int(seed), int(stamp_size)


# ------------------------------------------------------------------ the files

def _format_row(row: dict) -> list[str]:
    return [str(row["ID"]), f"{row['RA']:.7f}", f"{row['DEC']:.7f}", row["FIELD"],
            f"{row['mag']:.5f}", f"{row['mag_err']:.4f}", f"{row['radius']:.3f}", f"{row['z']:.3f}",
            row["galtype"], str(row["segval"])]


#: Stamps a worker process makes per task (``workers > 1``).
_CHUNK = 16


def _field_ranks(stamp_rng: Callable[[int, int], np.random.Generator], seed: int, n: int) -> list[int]:
    """Each stamp's rank among the stamps of its field (its field is the first draw of its generator)."""
    counts = [0] * len(FIELDS)
    ranks = []
    for i in range(n):
        field = _draw_field(stamp_rng(seed, i))
        ranks.append(counts[field])
        counts[field] += 1
    return ranks


def _make_chunk(make: Callable[[int, int, int, int], SampleStamp], seed: int, start: int, ranks: list[int],
                stamp_size: int) -> list[SampleStamp]:
    return [make(seed, start + k, rank, stamp_size) for k, rank in enumerate(ranks)]


def _made_stamps(make: Callable[[int, int, int, int], SampleStamp], seed: int, ranks: list[int], stamp_size: int,
                 workers: int, cancel: Optional[CancelToken]) -> Iterator[list[SampleStamp]]:
    """The stamps in order: made here one at a time, or in ``workers`` processes a chunk at a time."""
    starts = range(0, len(ranks), _CHUNK)
    workers = min(int(workers), len(starts))     # no process without a chunk to make
    if workers <= 1:                             # here, a stamp at a time (progress after each)
        for i, rank in enumerate(ranks):
            check_cancel(cancel)
            yield [make(seed, i, rank, stamp_size)]
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..parallel import stop_process_pool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        chunks = pool.map(partial(_make_chunk, make, seed, stamp_size=stamp_size), starts,
                          [ranks[s:s + _CHUNK] for s in starts])
        for chunk in chunks:                     # in order, as the workers finish them
            check_cancel(cancel)
            yield chunk
    except BaseException:                        # cancelled or failed: the chunks still running stop too
        stop_process_pool(pool)
        raise
    pool.shutdown(wait=True)


#: Per-stamp record of an extra file of a stamp set, and the file's text from the records (in stamp order).
ExtraFile = tuple[Callable[[SampleStamp], Any], Callable[[list[Any]], str]]


def stamp_set_job(outdir: str | os.PathLike, *, n_stamps: int, seed: int, stamp_size: int,
                  stamp_rng: Callable[[int, int], np.random.Generator],
                  make: Callable[[int, int, int, int], SampleStamp], what: str,
                  extras: Optional[dict[str, ExtraFile]] = None, workers: int = 1,
                  cancel: Optional[CancelToken] = None) -> Job:
    """Write ``n_stamps`` stamps in the candels-blender layout (plus ``extras``) as a job generator.

    ``make(seed, index, rank, stamp_size)`` makes stamp ``index``, the ``rank``-th of its field (the first draw of
    ``stamp_rng(seed, index)``); it must be a module-level function when ``workers > 1`` (stamps are then made in
    that many processes, in chunks, and written in order: the same bytes). Files are written under temporary
    names in ``outdir`` and renamed at the end; when cancelled, the temporary files are removed and
    :class:`~candels_gui.core.errors.Cancelled` is raised. Returns the folder.
    """
    seed, stamp_size = _check_options(n_stamps, seed, stamp_size)
    n = int(n_stamps)
    extras = extras or {}
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    shape = (n, stamp_size, stamp_size)
    with temp_files(out, (IMAGE_FILE, SEGMAP_FILE, CATALOG_FILE, *extras)) as tmp:   # renamed at the end, or removed
        imgs = np.lib.format.open_memmap(tmp[IMAGE_FILE], mode="w+", dtype=np.float32, shape=shape)
        segs = np.lib.format.open_memmap(tmp[SEGMAP_FILE], mode="w+", dtype=np.int32, shape=shape)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CATALOG_COLUMNS)
        records: dict[str, list[Any]] = {name: [] for name in extras}
        done = 0
        for chunk in _made_stamps(make, seed, _field_ranks(stamp_rng, seed, n), stamp_size, workers, cancel):
            for stamp in chunk:
                imgs[done] = stamp.image
                segs[done] = stamp.segmap
                writer.writerow(_format_row(stamp.row))
                for name, (record, _) in extras.items():
                    records[name].append(record(stamp))
                done += 1
            yield Progress(done, n, what)
        imgs.flush()
        segs.flush()
        del imgs, segs
        with open(tmp[CATALOG_FILE], "w", newline="", encoding="utf-8") as fh:
            fh.write(text.getvalue())
        for name, (_, to_text) in extras.items():
            tmp[name].write_text(to_text(records[name]), encoding="utf-8")
        check_cancel(cancel)
    return out


def sample_data_job(outdir: str | os.PathLike, *, n_stamps: int = 150, seed: int = DEFAULT_SEED,
                    stamp_size: int = 128, workers: int = 1, cancel: Optional[CancelToken] = None) -> Job:
    """The work of :func:`generate_sample_data` as a job generator (yields Progress, returns the folder).

    Files are written under temporary names in ``outdir`` and renamed at the end; when cancelled,
    the temporary files are removed and :class:`~candels_gui.core.errors.Cancelled` is raised.
    """
    return (yield from stamp_set_job(outdir, n_stamps=n_stamps, seed=seed, stamp_size=stamp_size,
                                     stamp_rng=_stamp_rng, make=_make_stamp, what="making sample stamps",
                                     workers=workers, cancel=cancel))


def generate_sample_data(outdir: str | os.PathLike, *, n_stamps: int = 150, seed: int = DEFAULT_SEED,
                         stamp_size: int = 128, progress: Optional[Callable[[Progress], None]] = None,
                         workers: int = 1, cancel: Optional[CancelToken] = None) -> Path:
    """Write a synthetic CANDELS-like stamp set in the candels-blender input layout.

    Parameters
    ----------
    outdir : path
        Folder to write into (created if missing). Existing files of the same names are replaced.
    n_stamps : int
        Number of stamps N.
    seed : int
        Non-negative seed; the same seed (and library versions) gives the same bytes.
    stamp_size : int
        Stamp side S in pixels (central galaxy at ``(S // 2, S // 2)``).
    progress : callable, optional
        Called with a :class:`~candels_gui.core.jobs.Progress` as stamps are written.
    workers : int
        Processes that make the stamps (the same bytes for any number).
    cancel : CancelToken, optional
        Stops the work between stamps; nothing is left behind.

    Returns
    -------
    pathlib.Path
        ``outdir``, holding ``candels_img.npy`` (N, S, S) float32, ``candels_seg.npy`` (N, S, S) int32
        and ``candels_cat.csv`` (columns :data:`CATALOG_COLUMNS`).

    Examples
    --------
    >>> import tempfile
    >>> out = generate_sample_data(tempfile.mkdtemp(), n_stamps=3, stamp_size=64, seed=1)
    >>> np.load(out / "candels_seg.npy").shape
    (3, 64, 64)
    """
    return run_job(sample_data_job(outdir, n_stamps=n_stamps, seed=seed, stamp_size=stamp_size,
                                   workers=workers, cancel=cancel), progress)


def _main(argv: Optional[list[str]] = None) -> int:
    import argparse
    import time

    from tqdm import tqdm

    p = argparse.ArgumentParser(prog="python -m candels_gui.core.data.samplegen",
                                description="Write synthetic CANDELS-like stamps (candels-blender layout).")
    p.add_argument("outdir")
    p.add_argument("-n", "--n-stamps", type=int, default=150)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--stamp-size", type=int, default=128)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    with tqdm(total=a.n_stamps, desc="sample data", unit="stamp") as bar:
        try:
            out = generate_sample_data(a.outdir, n_stamps=a.n_stamps, seed=a.seed,
                                       stamp_size=a.stamp_size, progress=lambda p: bar.update(1))
        except (Cancelled, KeyboardInterrupt):
            return 130
    print(f"wrote {a.n_stamps} stamps to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
