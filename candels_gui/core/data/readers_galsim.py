"""Reader for GalSim / COSMOS "real galaxy catalogs" (``real_galaxy_catalog_*.fits``).

The catalog names, per galaxy, an image file and HDU (``GAL_FILENAME``, ``GAL_HDU``), a PSF file and HDU,
the pixel scale and the noise variance; its ``*_fits.fits`` companion adds ``flux_radius``, ``ZPHOT``, ...
Stamps come in many sizes; each is centre-cropped or padded with Gaussian noise of its catalogued
variance to ``stamp_size``, the galaxy's light centre landing on pixel ``(H//2, W//2)``, and a
segmentation map is computed with photutils (none ships).
"""

from __future__ import annotations

import contextlib
import warnings
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
from astropy.table import Table, hstack

from .autoseg import SegmentationParams, background_sigma, light_centre, segment_stamp
from ..errors import DataError, DataWarning, DegenerateError, ShapeError
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .readers_common import (DEFAULT_ZEROPOINT, FITS_ERRORS, ProgressCallback, centred_slices, check_central, check_central_flux,
                             check_ids,
                             check_nan_policy, fill_catalog, fits_error, hash_files, map_columns,
                             open_fits_file, read_table, truncation_guard, check_catalog_values,
                             check_stamp_pixels, MIN_STAMP)
from ..rng import galaxy_rng
from ..validate import file_in_folder
from .stampset import StampSet

__all__ = ["read_galsim_catalog", "iter_read_galsim_catalog", "find_galsim_catalog", "GALSIM_COLUMNS",
           "is_galsim_catalog_name"]

#: Standard columns of a real-galaxy catalog (and its ``_fits`` companion).
GALSIM_COLUMNS = {"IDENT": "id", "RA": "ra", "DEC": "dec", "MAG": "mag", "flux_radius": "radius",
                  "ZPHOT": "z"}
_NEEDED = ("IDENT", "MAG", "GAL_FILENAME", "GAL_HDU")


def is_galsim_catalog_name(name: str) -> bool:
    """True for ``real_galaxy_catalog_*.fits`` that is not a ``*_fits.fits`` companion."""
    name = name.lower()
    return (name.startswith("real_galaxy_catalog") and name.endswith(".fits")
            and not name.endswith("_fits.fits"))


def find_galsim_catalog(path: str | os.PathLike) -> Path:
    """The real-galaxy catalog file at ``path`` (a file, or a folder holding exactly one)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and is_galsim_catalog_name(p.name))
        if not found:
            raise DataError(f"no real_galaxy_catalog_*.fits in {path}")
        if len(found) > 1:
            raise DataError(f"{path} holds several real-galaxy catalogs ({', '.join(p.name for p in found)}); "
                            f"pass the one to read")
        return found[0]
    if not path.is_file():
        raise DataError(f"real-galaxy catalog not found: {path}")
    return path


def _companion(cat_path: Path, table: Table) -> tuple[Table, Optional[Path]]:
    """Join the ``*_fits.fits`` companion (same galaxies) onto the catalog, matching IDENT."""
    comp_path = cat_path.with_name(cat_path.name[:-len(".fits")] + "_fits.fits")
    if not comp_path.is_file():
        return table, None
    comp = read_table(comp_path, "companion catalog")
    if "IDENT" in comp.colnames:
        pos = {int(v): k for k, v in enumerate(comp["IDENT"])}
        missing = [int(v) for v in table["IDENT"] if int(v) not in pos]
        if missing:
            raise DataError(f"{comp_path} lacks IDENT {missing[:5]} ({len(missing)} galaxies of {cat_path.name})")
        comp = comp[[pos[int(v)] for v in table["IDENT"]]]
        comp.remove_column("IDENT")
    elif len(comp) != len(table):
        raise DataError(f"{comp_path} has {len(comp)} rows but {cat_path} has {len(table)} and no IDENT to match")
    for name in comp.colnames:
        if name in table.colnames:
            comp.rename_column(name, f"{name}_fits")
    return hstack([table, comp], join_type="exact"), comp_path


def _place(stamp: np.ndarray, centre: tuple[int, int], size: int, sigma: float,
           rng: np.random.Generator) -> tuple[np.ndarray, bool, np.ndarray]:
    """Noise stamp of ``size`` with ``stamp`` pasted so pixel ``centre`` lands at ``(size//2, size//2)``.

    Returns the stamp, whether the file's stamp was cropped, and the fill mask (True on the noise padding).
    """
    out = rng.normal(0.0, sigma if np.isfinite(sigma) and sigma > 0 else 0.0, (size, size))
    h, w = stamp.shape
    sy, dy = centred_slices(h, centre[0], size, size // 2)
    sx, dx = centred_slices(w, centre[1], size, size // 2)
    out[dy, dx] = stamp[sy, sx]
    fill = np.ones((size, size), dtype=bool)
    fill[dy, dx] = False
    cropped = (sy.stop - sy.start) < h or (sx.stop - sx.start) < w
    return out.astype(np.float32), cropped, fill


def _fit_psfs(psfs: list[np.ndarray]) -> np.ndarray:
    """Stack PSFs, zero-padding smaller ones (centred) to the largest shape."""
    hmax, wmax = max(p.shape[0] for p in psfs), max(p.shape[1] for p in psfs)
    out = np.zeros((len(psfs), hmax, wmax), dtype=np.float32)
    for k, p in enumerate(psfs):
        oy, ox = (hmax - p.shape[0]) // 2, (wmax - p.shape[1]) // 2
        out[k, oy:oy + p.shape[0], ox:ox + p.shape[1]] = p
    return out


def _hdu_data(hdul, index: int, path: Path, row: int, ident: int, what: str) -> np.ndarray:
    """HDU ``index`` of an open file as a float64 2-D array; bad index, shape or bytes raise DataError."""
    hdu = data = None
    try:
        with truncation_guard(path, f"{what} file"):
            if index >= 0:
                try:
                    hdu = hdul[index]
                except IndexError:
                    hdu = None
            if hdu is not None and hdu.data is not None:
                data = np.array(hdu.data, dtype=np.float64)
    except FITS_ERRORS as exc:
        raise fits_error(path, f"{what} file", exc) from exc
    if hdu is None:
        raise DataError(f"{path}: galaxy {ident} (row {row}) asks for {what} HDU {index} but the file has "
                        f"{len(hdul)} HDUs")
    if data is None or data.ndim != 2:
        raise DataError(f"{path}: {what} HDU {index} of galaxy {ident} (row {row}) is not a 2-D image "
                        f"(shape {None if data is None else data.shape})")
    return data


def _check_distinct_images(table: Table, cat_path: Path) -> None:
    """Refuse rows that name the same image (file and HDU): every galaxy would get another's pixels."""
    seen: dict[tuple[str, int], int] = {}
    for i, (name, hdu) in enumerate(zip(table["GAL_FILENAME"], table["GAL_HDU"])):
        key = (str(name).strip(), int(hdu))
        if key in seen:
            raise DataError(f"{cat_path}: rows {seen[key]} and {i} (IDENT {table['IDENT'][seen[key]]} and "
                            f"{table['IDENT'][i]}) both name image HDU {key[1]} of {key[0]}: each galaxy needs its "
                            f"own stamp")
        seen[key] = i


def _warn_not_positive(values: np.ndarray, column: str, cat_path: Path, instead: str) -> bool:
    """Say (a :class:`DataWarning`) which rows of ``column`` are not positive numbers and what is done
    ``instead``; True when some are."""
    unusable = ~(np.isfinite(values) & (values > 0))
    if unusable.any():
        warnings.warn(DataWarning(f"{cat_path}: {column} is not a positive number for {int(unusable.sum())} "
                                  f"galaxies (row {', '.join(map(str, np.flatnonzero(unusable)[:5]))}); {instead}"))
    return bool(unusable.any())


def _pixel_scales(table: Table, cat_path: Path) -> np.ndarray:
    """The distinct pixel scales of the catalog's ``PIXEL_SCALE`` (none: unknown). Values that are not
    positive numbers make the scale unknown, with a warning."""
    if "PIXEL_SCALE" not in table.colnames:
        return np.array([])
    values = np.asarray(table["PIXEL_SCALE"], dtype=np.float64)
    if _warn_not_positive(values, "PIXEL_SCALE", cat_path, "the data's pixel scale is taken as unknown"):
        return np.array([])
    return np.unique(values)


def _zeropoint_from_stamp_flux(table: Any) -> Optional[float]:
    """The AB zeropoint the catalogue's ``stamp_flux`` (counts in the stamp) and ``MAG`` imply, rounded to 0.001
    (the COSMOS F814W stamps: 25.937); ``None`` without those columns or a positive finite flux."""
    if "stamp_flux" not in table.colnames:
        return None
    flux = np.asarray(table["stamp_flux"], dtype=np.float64)
    mag = np.asarray(table["MAG"], dtype=np.float64)
    ok = np.isfinite(flux) & (flux > 0) & np.isfinite(mag)
    if not ok.any():
        return None
    return round(float(np.median(mag[ok] + 2.5 * np.log10(flux[ok]))), 3)


def iter_read_galsim_catalog(path: str | os.PathLike, *, stamp_size: int = 128, seed: int = 0,
                             column_map: Optional[Mapping[str, str]] = None, nan_policy: str = "error",
                             zeropoint: Optional[float] = None, recentre: bool = True,
                             segmentation: Optional[SegmentationParams] = None,
                             cancel: Optional[CancelToken] = None) -> Job:
    """Job form of :func:`read_galsim_catalog`: yields progress, returns the StampSet."""
    check_nan_policy(nan_policy)
    if int(stamp_size) < 8:
        raise ValueError(f"stamp_size must be at least 8 pixels, got {stamp_size}")
    size = int(stamp_size)
    params = segmentation or SegmentationParams()
    cat_path = find_galsim_catalog(path)
    table = read_table(cat_path, "real-galaxy catalog")
    absent = [c for c in _NEEDED if c not in table.colnames]
    if absent:
        raise DataError(f"{cat_path} lacks column(s) {absent}; found {table.colnames}")
    table, comp_path = _companion(cat_path, table)
    n = len(table)
    if n == 0:
        raise DataError(f"{cat_path} has no rows")
    _check_distinct_images(table, cat_path)
    catalog = map_columns(table, str(cat_path), column_map=column_map, fixed=GALSIM_COLUMNS)
    check_ids(catalog, str(cat_path))
    folder = cat_path.parent
    idents = np.asarray(table["IDENT"])
    has_psf = "PSF_FILENAME" in table.colnames and "PSF_HDU" in table.colnames
    variance = (np.asarray(table["NOISE_VARIANCE"], dtype=np.float64) if "NOISE_VARIANCE" in table.colnames
                else np.full(n, np.nan))
    if "NOISE_VARIANCE" in table.colnames:
        _warn_not_positive(variance, "NOISE_VARIANCE", cat_path, "their noise is measured on their stamps")
    images = np.empty((n, size, size), dtype=np.float32)
    segmaps = np.empty((n, size, size), dtype=np.int32)
    fillmask = np.zeros((n, size, size), dtype=bool)
    psfs: list[np.ndarray] = []
    shapes = np.zeros((n, 2), dtype=np.int64)
    shifts = np.zeros((n, 2), dtype=np.int64)
    cropped = np.zeros(n, dtype=bool)
    how: list[str] = []
    n_bad = 0
    used: dict[Path, None] = {cat_path: None, **({comp_path: None} if comp_path else {})}
    with contextlib.ExitStack() as stack:
        opened: dict[str, object] = {}

        def hdul_for(name: str, what: str):  # each file opened once, its HDUs indexed per row
            if name not in opened:
                p = file_in_folder(folder, name, f"{what} file", cat_path)
                opened[name] = open_fits_file(p, f"{what} file named by {cat_path.name}")
                stack.callback(opened[name].close)
                used[p] = None
            return opened[name], file_in_folder(folder, name, f"{what} file", cat_path)

        for i in range(n):
            check_cancel(cancel)
            gal_hdul, gal_path = hdul_for(str(table["GAL_FILENAME"][i]).strip(), "image")
            stamp = _hdu_data(gal_hdul, int(table["GAL_HDU"][i]), gal_path, i, int(idents[i]), "image")
            where = f"{gal_path}: galaxy {idents[i]} (row {i}, HDU {int(table['GAL_HDU'][i])})"
            if min(stamp.shape) < MIN_STAMP:
                raise ShapeError(f"{where} is a {stamp.shape[0]}x{stamp.shape[1]} stamp, expected at least "
                                 f"{MIN_STAMP}x{MIN_STAMP} pixels (a galaxy and its background)")
            bad = ~np.isfinite(stamp)
            if bad.any():
                if nan_policy == "error":
                    raise DataError(f"{gal_path}: {int(bad.sum())} NaN/inf pixel(s) in galaxy {idents[i]} "
                                    f"(row {i}, HDU {int(table['GAL_HDU'][i])}); fix them, or replace them by the "
                                    f"background with produce --nan_policy replace (from Python, "
                                    f"nan_policy='replace')")
                stamp[bad], n_bad = 0.0, n_bad + int(bad.sum())
            if np.ptp(stamp) == 0:
                raise DegenerateError(f"{where} holds one constant value ({stamp.flat[0]:g}): no galaxy; remove "
                                      f"its row")
            if not (np.isfinite(variance[i]) and variance[i] > 0):
                variance[i] = background_sigma(stamp)[1] ** 2
            sigma = float(np.sqrt(variance[i]))
            h, w = stamp.shape
            centre = light_centre(stamp, sigma, params) if recentre else (h // 2, w // 2)
            shapes[i], shifts[i] = (h, w), (centre[0] - h // 2, centre[1] - w // 2)
            images[i], cropped[i], fillmask[i] = _place(stamp, centre, size, sigma, galaxy_rng(seed, i))
            segmaps[i], fix = segment_stamp(images[i], sigma, params)
            how.append(fix)
            if has_psf:
                psf_hdul, psf_path = hdul_for(str(table["PSF_FILENAME"][i]).strip(), "PSF")
                psfs.append(_hdu_data(psf_hdul, int(table["PSF_HDU"][i]), psf_path, i, int(idents[i]), "PSF")
                            .astype(np.float32))
            if i % 8 == 7 or i == n - 1:
                yield Progress(i + 1, n, "loading galaxies")

    scales = _pixel_scales(table, cat_path)
    implied = _zeropoint_from_stamp_flux(table)
    zeropoint = zeropoint if zeropoint is not None else (implied if implied is not None else DEFAULT_ZEROPOINT)
    catalog = fill_catalog(catalog, images, segmaps, str(cat_path), zeropoint=zeropoint, seg_computed=True,
                           cancel=cancel)
    check_catalog_values(catalog, str(cat_path))
    check_stamp_pixels(images, str(cat_path))
    check_central(segmaps, catalog, str(cat_path), allow_unlabelled=False)
    check_central_flux(images, segmaps, catalog, str(cat_path))
    hashes = yield from hash_files(list(used), cancel=cancel)
    meta = {"reader": "galsim", "input_hashes": hashes, "nonfinite_replaced": n_bad, "seed": int(seed),
            "noise_variance": variance, "original_shape": shapes, "centre_shift": shifts, "cropped": cropped,
            "seg_centre_fix": np.array(how), "segmentation": "photutils",
            "segmentation_params": params.__dict__.copy()}
    if implied is not None:
        meta["zeropoint_from_stamp_flux"] = implied
    if len(scales) > 1:
        meta["pixel_scale_per_stamp"] = np.asarray(table["PIXEL_SCALE"], dtype=np.float64)
    stamps = StampSet(images=images, segmaps=segmaps, catalog=catalog,
                      psfs=_fit_psfs(psfs) if has_psf else None,
                      pixel_scale=float(scales[0]) if len(scales) == 1 else None,
                      zeropoint=zeropoint, source=str(cat_path), meta=meta, fillmask=fillmask)
    yield Progress(n, n, "loaded")
    return stamps


def read_galsim_catalog(path: str | os.PathLike, *, stamp_size: int = 128, seed: int = 0,
                        column_map: Optional[Mapping[str, str]] = None, nan_policy: str = "error",
                        zeropoint: Optional[float] = None, recentre: bool = True,
                        segmentation: Optional[SegmentationParams] = None,
                        progress: Optional[ProgressCallback] = None,
                        cancel: Optional[CancelToken] = None) -> StampSet:
    """Read a GalSim/COSMOS real-galaxy catalog (images, PSFs, noise) into a StampSet.

    Parameters
    ----------
    path : path
        ``real_galaxy_catalog_*.fits``, or a folder holding exactly one. Image and PSF files named in
        ``GAL_FILENAME``/``PSF_FILENAME`` are looked up next to it, each opened once (memory-mapped) and
        indexed by ``GAL_HDU``/``PSF_HDU``. A ``*_fits.fits`` companion, when present, is joined on IDENT.
    stamp_size : int
        Output stamp size. Larger stamps are centre-cropped, smaller ones padded with Gaussian noise of
        the row's ``NOISE_VARIANCE`` (the stamp's sigma-clipped variance when not catalogued), drawn from
        :func:`~candels_gui.core.rng.galaxy_rng` ``(seed, i)``.
    seed : int
        Seed of the padding noise; the same seed gives bit-identical stamps.
    column_map : dict, optional
        Overrides of the mapping ``IDENT->id, RA->ra, DEC->dec, MAG->mag, flux_radius->radius, ZPHOT->z``.
    nan_policy : {"error", "replace"}
        NaN/inf pixels raise, or are replaced by 0 (background-subtracted stamps).
    zeropoint : float, optional
        AB zeropoint stored in the StampSet (default: the one the catalogue's ``stamp_flux`` implies, also in
        ``meta["zeropoint_from_stamp_flux"]``, else 25.96).
    recentre : bool
        Put the galaxy's light centroid (see :func:`~candels_gui.core.data.autoseg.light_centre`) on the
        stamp centre; ``False`` keeps the file's pixel ``(h//2, w//2)`` there. Shifts go to
        ``meta["centre_shift"]``.
    segmentation : SegmentationParams, optional
        Options of the photutils segmentation (default: 1.5 sigma of the noise variance, deblended).
        The central pixel is always labelled: a missed detection is snapped to the nearest segment or
        given a small disc (``meta["seg_centre_fix"]`` says which).
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    StampSet
        ``psfs`` (N, h, w) float32, ``pixel_scale`` from ``PIXEL_SCALE``; catalog ``id=IDENT, mag=MAG,
        radius=flux_radius (px), z=ZPHOT, galtype="unknown"``, ``segval`` = label at the centre, other
        columns kept; ``meta`` has ``noise_variance``, ``original_shape``, ``cropped``, ``input_hashes``;
        ``fillmask`` marks the noise padding (True where the file's stamp had no pixels).

    Examples
    --------
    >>> stamps = read_galsim_catalog("cosmos_hst", stamp_size=64)   # doctest: +SKIP
    >>> stamps.psfs.shape                                           # doctest: +SKIP
    (100, 65, 51)
    """
    return run_job(iter_read_galsim_catalog(path, stamp_size=stamp_size, seed=seed, column_map=column_map,
                                            nan_policy=nan_policy, zeropoint=zeropoint, recentre=recentre,
                                            segmentation=segmentation, cancel=cancel), progress)
