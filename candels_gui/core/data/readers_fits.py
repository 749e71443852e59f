"""Reader for FITS stamps: a cube (N, H, W) or a folder of one FITS file per stamp, with optional
segmentation (cube or folder) and catalog (FITS, CSV or ECSV)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from .autoseg import SegmentationParams, background_sigma, segment_stamp
from ..errors import DataError
from .label_checks import (check_light_centred, check_light_matches_labels, check_segval_matches,
                           check_wrapped_labels, is_narrow)
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .readers_common import (ProgressCallback, check_central, check_central_flux, check_finite, check_ids,
                             check_nan_policy,
                             fill_catalog, fit_to_size, hash_files, map_columns, open_fits, read_table,
                             require_columns, to_int32_labels, check_catalog_values,
                             check_stamp_pixels, check_stamp_shape)
from .stampset import StampSet

__all__ = ["read_fits_stamps", "iter_read_fits_stamps", "FITS_SUFFIXES", "list_fits", "FILL_EXTNAMES"]

#: File name endings taken as FITS files in a folder of stamps.
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz")
_PIXSCALE_KEYS = ("PIXSCALE", "PIXEL_SCALE", "PIXSCAL1", "PXSCALE")
#: Names (EXTNAME) of an image extension read as the fill mask (nonzero: the stamp holds no data there).
FILL_EXTNAMES = ("FILLMASK", "FILL", "MASK")


def _fill_extension(files: list[Path], shape: tuple[int, ...]) -> Optional[np.ndarray]:
    """The fill mask of the image files (an extension named in :data:`FILL_EXTNAMES`), or None.

    A cube file's extension must have the cube's shape; with one file per stamp, each file's extension
    has its stamp's shape (a file without one: no fill there).
    """
    masks: list[Optional[np.ndarray]] = []
    for f in files:
        found = None
        with open_fits(f, "image") as hdul:
            for hdu in hdul[1:]:
                if str(hdu.header.get("EXTNAME", "")).strip().upper() in FILL_EXTNAMES and hdu.data is not None:
                    found = np.asarray(hdu.data) != 0
                    break
        masks.append(found)
    if all(m is None for m in masks):
        return None
    if len(files) == 1:
        mask = masks[0]
        mask = mask[None] if mask.ndim == 2 else mask
        if mask.shape != tuple(shape):
            raise DataError(f"{files[0]}: fill mask extension has shape {mask.shape} but the stamps have "
                            f"{tuple(shape)}")
        return mask
    out = np.zeros(shape, dtype=bool)
    for k, (f, m) in enumerate(zip(files, masks)):
        if m is not None:
            if m.shape != tuple(shape[1:]):
                raise DataError(f"{f}: fill mask extension has shape {m.shape} but the stamp has {shape[1:]}")
            out[k] = m
    return out


def list_fits(folder: Path) -> list[Path]:
    """FITS files of a folder, sorted by name."""
    return sorted((p for p in Path(folder).iterdir()
                   if p.is_file() and p.name.lower().endswith(FITS_SUFFIXES)), key=lambda p: p.name)


def _first_image(hdul, path: Path, what: str) -> tuple[np.ndarray, Optional[float]]:
    """Data of the first HDU holding an image (N-d array), plus a pixel scale from its header if any.

    A candels-gui FITS blend export (``CGFORMAT`` in its primary header) is refused: it holds blends, not galaxy
    stamps (read as stamps, each blend became a galaxy with a made-up magnitude, blended with the others)."""
    try:
        fmt = hdul[0].header.get("CGFORMAT")
    except IndexError:       # no HDU at all: said below
        fmt = None
    if fmt:
        raise DataError(f"{path}: a candels-gui FITS blend export ({fmt}), not galaxy stamps: evaluate --data reads "
                        f"it; to open its blends in the app, export them as HDF5, or open the stamps they were made "
                        f"from")
    for index, hdu in enumerate(hdul):
        if not getattr(hdu, "is_image", False):
            continue
        try:
            data = hdu.data
        except ValueError as exc:
            if "memory-mapped" not in str(exc):
                raise
            data = _scaled_data(path, index)      # BSCALE/BZERO/BLANK integers: read and scaled, not mapped
        if data is not None:
            header = hdu.header
            scale = next((float(header[k]) for k in _PIXSCALE_KEYS if k in header), None)
            return data, scale
    raise DataError(f"{what} {path} holds no image HDU")


def _scaled_data(path: Path, index: int) -> np.ndarray:
    """HDU ``index`` of a FITS file read into memory with its BSCALE/BZERO applied and BLANK pixels as NaN (astropy
    cannot memory-map scaled integer images)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        return np.array(hdul[index].data)


def _read_cube(path: Path, what: str, *, kind: str) -> Job:
    """Job: read a FITS cube file or a folder of per-stamp FITS files into (array (N,H,W), files, scale).

    ``kind`` is ``"float"`` (images: native float32) or ``"labels"`` (kept in its integer dtype so the
    uint8 check can see it).
    """
    def native(a: np.ndarray) -> np.ndarray:
        if kind == "float":
            return np.asarray(a, dtype=np.float32)
        return np.asarray(a, dtype=a.dtype.newbyteorder("=")) if a.dtype.kind in "uifb" else np.asarray(a)

    if path.is_dir():
        files = list_fits(path)
        if not files:
            raise DataError(f"{what} folder {path} holds no FITS files ({', '.join(FITS_SUFFIXES)})")
        stamps, shape, scale = [], None, None
        for k, f in enumerate(files):
            with open_fits(f, what) as hdul:
                data, sc = _first_image(hdul, f, what)
                if data.ndim != 2:
                    raise DataError(f"{what} {f} must hold one 2-D stamp, got shape {data.shape}")
                if shape is None:
                    shape, scale = data.shape, sc
                elif data.shape != shape:
                    raise DataError(f"{what} {f} has shape {data.shape} but {files[0].name} has {shape}; "
                                    f"all stamps must share one size")
                stamps.append(native(data))
            if k % 64 == 63 or k == len(files) - 1:
                yield Progress(k + 1, len(files), f"reading {what}s")
        return np.stack(stamps), files, scale
    with open_fits(path, what) as hdul:
        data, scale = _first_image(hdul, path, what)
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3:
            raise DataError(f"{what} {path} must be a (N, H, W) cube or one 2-D stamp, got shape {data.shape}")
        cube = native(data)
    yield Progress(1, 1, f"read {path.name}")
    return cube, [path], scale


def iter_read_fits_stamps(images: str | os.PathLike, *, segmaps: str | os.PathLike | None = None,
                          catalog: str | os.PathLike | None = None,
                          column_map: Optional[Mapping[str, str]] = None, stamp_size: Optional[int] = None,
                          nan_policy: str = "error", zeropoint: float = 25.96,
                          pixel_scale: Optional[float] = None, allow_unlabelled: bool = False,
                          segmentation: Optional[SegmentationParams] = None, allow_narrow_labels: bool = False,
                          cancel: Optional[CancelToken] = None) -> Job:
    """Job form of :func:`read_fits_stamps`: yields progress, returns the StampSet."""
    check_nan_policy(nan_policy)
    img_path = Path(images)
    if not img_path.exists():
        raise DataError(f"FITS image cube or folder not found: {img_path}")
    params = segmentation or SegmentationParams()
    cube, files, header_scale = yield from _read_cube(img_path, "image", kind="float")
    check_stamp_shape(cube, str(img_path))
    n = len(cube)
    fillmask = _fill_extension(files, cube.shape)
    where = str(img_path)

    seg_files: list[Path] = []
    labels = None
    if segmaps is not None:
        seg_path = Path(segmaps)
        if not seg_path.exists():
            raise DataError(f"segmentation cube or folder not found: {seg_path}")
        labels, seg_files, _ = yield from _read_cube(seg_path, "segmentation", kind="labels")
        if len(labels) != n:
            raise DataError(f"{seg_path} holds {len(labels)} segmentation maps but {img_path} holds {n} stamps")
        if labels.shape != cube.shape:
            raise DataError(f"{seg_path} has shape {labels.shape} but {img_path} has {cube.shape}")

    table = None
    cat_files: list[Path] = []
    if catalog is not None:
        cat_path = Path(catalog)
        raw = read_table(cat_path, "catalog")
        if len(raw) != n:
            raise DataError(f"{cat_path} has {len(raw)} rows but {img_path} holds {n} stamps")
        table = map_columns(raw, str(cat_path), column_map=column_map)
        require_columns(table, str(cat_path))
        check_ids(table, str(cat_path))
        cat_files = [cat_path]
        where = str(cat_path)

    segval = None
    if labels is not None:
        segval = np.asarray(table["segval"]) if table is not None and "segval" in table.colnames else None
        raw_dtype = labels.dtype
        labels = to_int32_labels(labels, str(segmaps), segval=segval)
        if is_narrow(raw_dtype):
            check_wrapped_labels(labels, raw_dtype, str(segmaps), images=cube, catalog=table,
                                 content=not allow_narrow_labels)

    # NaN/inf: replaced by the stamp's sigma-clipped background when asked to.
    fill = np.zeros(n, dtype=np.float32)
    if nan_policy == "replace":
        fill = np.array([background_sigma(s)[0] for s in cube], dtype=np.float32)
    cube, n_bad = yield from check_finite(cube, str(img_path), nan_policy, fill=fill, cancel=cancel)
    check_stamp_pixels(cube, str(img_path))

    if stamp_size is not None:
        cube = np.ascontiguousarray(fit_to_size(cube, int(stamp_size)))
        if fillmask is not None:
            fillmask = np.ascontiguousarray(fit_to_size(fillmask, int(stamp_size), fill=True))
        if labels is not None:
            labels = np.ascontiguousarray(fit_to_size(labels, int(stamp_size)))

    how: list[str] = []
    if labels is None:  # no segmentation shipped: photutils on a background-estimated threshold
        labels = np.zeros(cube.shape, dtype=np.int32)
        for i in range(n):
            check_cancel(cancel)
            bkg, sigma = background_sigma(cube[i])
            labels[i], h = segment_stamp(cube[i], sigma, params, background=bkg)
            how.append(h)
            if i % 16 == 15 or i == n - 1:
                yield Progress(i + 1, n, "segmenting stamps")

    cat = fill_catalog(table, cube, labels, where, zeropoint=zeropoint, seg_computed=bool(how),
                       cancel=cancel)
    check_catalog_values(cat, where)
    if segval is not None:
        check_segval_matches(labels, cat["segval"], str(segmaps))
    n_unlabelled = check_central(labels, cat, str(segmaps or img_path), allow_unlabelled=allow_unlabelled)
    check_central_flux(cube, labels, cat, str(img_path))
    check_light_centred(cube, str(img_path))
    if not how:
        check_light_matches_labels(cube, labels, str(img_path))
    hashes = yield from hash_files([*files, *seg_files, *cat_files], cancel=cancel)
    meta = {"reader": "fits", "input_hashes": hashes, "nonfinite_replaced": n_bad,
            "unlabelled_centres": n_unlabelled, "segmentation": "file" if not how else "photutils"}
    if how:
        meta["seg_centre_fix"] = np.array(how)
        meta["segmentation_params"] = params.__dict__.copy()
    stamps = StampSet(images=cube, segmaps=labels, catalog=cat, zeropoint=zeropoint,
                      pixel_scale=pixel_scale if pixel_scale is not None else header_scale,
                      source=str(img_path), meta=meta, fillmask=fillmask)
    yield Progress(1, 1, "loaded")
    return stamps


def read_fits_stamps(images: str | os.PathLike, *, segmaps: str | os.PathLike | None = None,
                     catalog: str | os.PathLike | None = None, column_map: Optional[Mapping[str, str]] = None,
                     stamp_size: Optional[int] = None, nan_policy: str = "error", zeropoint: float = 25.96,
                     pixel_scale: Optional[float] = None, allow_unlabelled: bool = False,
                     segmentation: Optional[SegmentationParams] = None, allow_narrow_labels: bool = False,
                     progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelToken] = None) -> StampSet:
    """Read FITS stamps (+ optional segmentation and catalog) into a StampSet.

    Parameters
    ----------
    images : path
        A FITS file whose first image HDU is a (N, H, W) cube (or one 2-D stamp), or a folder of FITS
        files with one 2-D stamp each, taken in file-name order.
    segmaps : path, optional
        Segmentation in the same form (cube or folder). When absent it is computed per stamp with
        photutils (``detect_sources`` + ``deblend_sources``) above ``segmentation.nsigma`` times the
        sigma-clipped background noise; the central pixel is always labelled (see
        :func:`~candels_gui.core.data.autoseg.ensure_central_label`, how in ``meta["seg_centre_fix"]``).
    catalog : path, optional
        FITS, CSV or ECSV table with one row per stamp, read with ``astropy.table.Table.read``.
    column_map : dict, optional
        File column -> standard column, e.g. ``{"NUMBER": "id", "MAG_AUTO": "mag"}``. Without it,
        standard names are matched case-insensitively and common SExtractor names are recognised.
        ``id`` and ``mag`` are required when a catalog is given; with no catalog at all, ids are 1..N and
        magnitudes come from the central segment's flux and ``zeropoint``. Missing ``ra``/``dec``/``z``
        are NaN, ``galtype`` is ``"unknown"``, ``radius`` the half-light radius (px) of the central
        segment and ``segval`` the label at the centre.
    stamp_size : int, optional
        Centre-crop or zero-pad to this size.
    nan_policy : {"error", "replace"}
        NaN/inf pixels raise, or are replaced by the stamp's background (count in
        ``meta["nonfinite_replaced"]``).
    zeropoint : float
        AB zeropoint (used for magnitudes derived from flux, and stored).
    pixel_scale : float, optional
        Arcsec per pixel; by default from a ``PIXSCALE``-like header keyword, else None.
    allow_unlabelled : bool
        Accept a given segmentation whose central pixel is 0 in some stamps.
    segmentation : SegmentationParams, optional
        Options of the computed segmentation.
    progress, cancel
        Progress callback and cancel token (see :mod:`candels_gui.core.jobs`).

    Returns
    -------
    StampSet
        Images float32, labels int32, ``meta["input_hashes"]`` = SHA-256 of every file read; an image
        extension named ``FILLMASK``, ``FILL`` or ``MASK`` (nonzero = no data) becomes ``fillmask``.

    Examples
    --------
    >>> stamps = read_fits_stamps("cube.fits", catalog="cat.fits",
    ...                           column_map={"NUMBER": "id", "MAG_AUTO": "mag"})  # doctest: +SKIP
    """
    return run_job(iter_read_fits_stamps(images, segmaps=segmaps, catalog=catalog, column_map=column_map,
                                         stamp_size=stamp_size, nan_policy=nan_policy, zeropoint=zeropoint,
                                         pixel_scale=pixel_scale, allow_unlabelled=allow_unlabelled,
                                         segmentation=segmentation, allow_narrow_labels=allow_narrow_labels, cancel=cancel), progress)
