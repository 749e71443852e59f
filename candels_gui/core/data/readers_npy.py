"""Reader for the candels-blender layout: ``candels_img.npy``, ``candels_seg.npy``, ``candels_cat.csv``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from ..errors import DataError, ShapeError
from .label_checks import (check_light_centred, check_light_matches_labels, check_segval_matches,
                           check_wrapped_labels, is_narrow)
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .readers_common import (ProgressCallback, check_catalog_values, check_central, check_central_flux,
                             check_finite, check_ids,
                             check_nan_policy, check_stamp_pixels, check_stamp_shape,
                             fill_catalog, fit_to_size, hash_files, load_npy, map_columns, read_table,
                             require_columns, to_int32_labels)
from .stampset import StampSet

__all__ = ["read_candels_blender", "iter_read_candels_blender", "CANDELS_FILES", "CANDELS_COLUMNS",
           "CANDELS_FILLMASK"]

#: File names of the candels-blender layout: images, segmentation, catalog.
CANDELS_FILES = ("candels_img.npy", "candels_seg.npy", "candels_cat.csv")
#: Optional fill mask beside the images: (N, H, W), nonzero where the stamp holds no data of its own.
CANDELS_FILLMASK = "candels_fillmask.npy"
#: How candels-blender's catalog columns map onto the standard ones (the others keep their names).
CANDELS_COLUMNS = {"ID": "id", "RA": "ra", "DEC": "dec", "FIELD": "field", "mag": "mag",
                   "mag_err": "mag_err", "radius": "radius", "z": "z", "galtype": "galtype",
                   "segval": "segval"}


def iter_read_candels_blender(folder: str | os.PathLike, *, column_map: Optional[Mapping[str, str]] = None,
                              stamp_size: Optional[int] = None, nan_policy: str = "error",
                              mmap: bool = True, zeropoint: float = 25.96, allow_unlabelled: bool = False,
                              allow_narrow_labels: bool = False, cancel: Optional[CancelToken] = None) -> Job:
    """Job form of :func:`read_candels_blender`: yields progress, returns the StampSet."""
    check_nan_policy(nan_policy)
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"candels-blender folder not found: {folder}")
    img_path, seg_path, cat_path = (folder / name for name in CANDELS_FILES)

    images = load_npy(img_path, "image cube", mmap=mmap)
    segmaps = load_npy(seg_path, "segmentation cube", mmap=mmap)
    table = read_table(cat_path, "catalog")
    yield Progress(1, 4, "reading files")

    check_stamp_shape(images, str(img_path))
    if segmaps.ndim != 3:
        raise DataError(f"{seg_path}: segmentation must be a (N, H, W) cube, got shape {segmaps.shape}")
    if len(segmaps) != len(images):
        raise DataError(f"{seg_path} holds {len(segmaps)} segmentation maps but {img_path} holds "
                        f"{len(images)} images")
    if segmaps.shape != images.shape:
        raise DataError(f"{seg_path} has shape {segmaps.shape} but {img_path} has {images.shape}")
    if len(table) != len(images):
        raise DataError(f"{cat_path} has {len(table)} rows but {img_path} holds {len(images)} images")
    if images.dtype.kind != "f" and images.dtype.kind not in "iu":
        raise ShapeError(f"{img_path}: images have dtype {images.dtype}, expected float32")

    catalog = map_columns(table, str(cat_path), column_map=column_map, fixed=CANDELS_COLUMNS)
    require_columns(catalog, str(cat_path))
    check_ids(catalog, str(cat_path))
    segval = np.asarray(catalog["segval"]) if "segval" in catalog.colnames else None
    raw_dtype = segmaps.dtype
    segmaps = to_int32_labels(segmaps, str(seg_path), segval=segval)
    if is_narrow(raw_dtype):
        check_wrapped_labels(segmaps, raw_dtype, str(seg_path), images=images, catalog=catalog,
                             content=not allow_narrow_labels)
    if images.dtype != np.float32:  # float64, big-endian float32, ints: convert (no longer a memory map)
        images = np.asarray(images, dtype=np.float32)

    fill_path = folder / CANDELS_FILLMASK
    fillmask = _read_fillmask(fill_path, images.shape) if fill_path.is_file() else None
    images, n_bad = yield from check_finite(images, str(img_path), nan_policy, fill=0.0, cancel=cancel)
    check_stamp_pixels(images, str(img_path))
    if stamp_size is not None:
        images, segmaps = fit_to_size(images, int(stamp_size)), fit_to_size(segmaps, int(stamp_size))
        if fillmask is not None:  # padding is fill too
            fillmask = fit_to_size(fillmask, int(stamp_size), fill=True)
    check_cancel(cancel)
    catalog = fill_catalog(catalog, images, segmaps, str(cat_path), zeropoint=zeropoint,
                           seg_computed=False, cancel=cancel)
    check_catalog_values(catalog, str(cat_path))
    if segval is not None:
        check_segval_matches(segmaps, catalog["segval"], str(seg_path))
    n_unlabelled = check_central(segmaps, catalog, str(seg_path), allow_unlabelled=allow_unlabelled)
    check_central_flux(images, segmaps, catalog, str(img_path))
    check_light_centred(images, str(img_path))
    check_light_matches_labels(images, segmaps, str(img_path))
    hashes = yield from hash_files([img_path, seg_path, cat_path, *([fill_path] if fillmask is not None else [])],
                                   cancel=cancel)
    meta = {"reader": "candels-blender", "input_hashes": hashes, "nonfinite_replaced": n_bad,
            "unlabelled_centres": n_unlabelled}
    stamps = StampSet(images=images, segmaps=segmaps, catalog=catalog, zeropoint=zeropoint,
                      source=str(folder), meta=meta, fillmask=fillmask)
    yield Progress(4, 4, "loaded")
    return stamps


def _read_fillmask(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``candels_fillmask.npy`` as a bool cube of the images' shape (a clear DataError otherwise)."""
    mask = load_npy(path, "fill mask", mmap=True)
    if mask.shape != tuple(shape):
        raise DataError(f"{path} has shape {mask.shape} but the images have {tuple(shape)}")
    if mask.dtype.kind not in "biuf":
        raise DataError(f"{path}: fill mask has dtype {mask.dtype}, expected bool or integers")
    return mask if mask.dtype.kind in "biu" else np.asarray(mask) != 0  # bool / integers: stays a memory map


def read_candels_blender(folder: str | os.PathLike, *, column_map: Optional[Mapping[str, str]] = None,
                         stamp_size: Optional[int] = None, nan_policy: str = "error", mmap: bool = True,
                         zeropoint: float = 25.96, allow_unlabelled: bool = False,
                         allow_narrow_labels: bool = False, progress: Optional[ProgressCallback] = None,
                         cancel: Optional[CancelToken] = None) -> StampSet:
    """Read a candels-blender folder into a :class:`~candels_gui.core.data.stampset.StampSet`.

    Parameters
    ----------
    folder : path
        Folder holding ``candels_img.npy`` (N, H, W), ``candels_seg.npy`` (N, H, W) and ``candels_cat.csv``
        (``ID, RA, DEC, FIELD, mag, mag_err, radius, z, galtype, segval``); ``candels_fillmask.npy``
        (N, H, W), nonzero where a stamp was padded, is read into ``StampSet.fillmask`` when present.
    column_map : dict, optional
        File column name -> standard column name, for catalogs that name things differently.
    stamp_size : int, optional
        Centre-crop (a view) or zero-pad the stamps to this size; ``None`` keeps them as they are.
    nan_policy : {"error", "replace"}
        NaN/inf pixels raise :class:`~candels_gui.core.errors.DataError`, or are replaced by 0 (the
        count goes to ``meta["nonfinite_replaced"]``).
    mmap : bool
        Memory-map the cubes (read-only). A float32 image cube and an int32 segmentation cube stay memory
        maps; other dtypes are converted in memory (segmentation always to int32, never uint8).
    zeropoint : float
        AB zeropoint stored in the StampSet.
    allow_unlabelled : bool
        Accept stamps whose central pixel has segmentation 0 (otherwise a DataError names them).
    allow_narrow_labels : bool
        Accept uint8/uint16 maps that the content checks suspect of wrapped labels (a catalog number
        beyond the type still refuses them); see :mod:`~candels_gui.core.data.label_checks`.
    progress : callable, optional
        Called with each :class:`~candels_gui.core.jobs.Progress`.
    cancel : CancelToken, optional
        Stops the work between steps (raises :class:`~candels_gui.core.errors.Cancelled`).

    Returns
    -------
    StampSet
        ``meta["input_hashes"]`` holds the SHA-256 of the three files.

    Raises
    ------
    DataError
        Missing or corrupt file, mismatched lengths or shapes, non-square or tiny stamps, missing
        ``ID``/``mag`` columns or impossible values in them, NaN, huge or constant stamps, duplicated IDs,
        unlabelled centres, narrow segmentation whose labels wrapped around, maps that do not match the
        images or the catalog's ``segval``.

    Examples
    --------
    >>> stamps = read_candels_blender("sample_data")            # doctest: +SKIP
    >>> stamps.images.shape, stamps.segmaps.dtype               # doctest: +SKIP
    ((1000, 128, 128), dtype('int32'))
    """
    return run_job(iter_read_candels_blender(folder, column_map=column_map, stamp_size=stamp_size,
                                             nan_policy=nan_policy, mmap=mmap, zeropoint=zeropoint,
                                             allow_unlabelled=allow_unlabelled,
                                             allow_narrow_labels=allow_narrow_labels, cancel=cancel), progress)
