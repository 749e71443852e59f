"""Readers that turn stamp files into one validated :class:`~candels_gui.core.data.stampset.StampSet`.

Three layouts are understood:

- ``"candels-blender"``: a folder with ``candels_img.npy``, ``candels_seg.npy``, ``candels_cat.csv``
  (:func:`read_candels_blender`; the image cube stays memory-mapped);
- ``"fits"``: a FITS cube or a folder of one FITS file per stamp, optional segmentation and catalog
  (:func:`read_fits_stamps`; segmentation computed with photutils when absent);
- ``"galsim"``: a GalSim/COSMOS ``real_galaxy_catalog_*.fits`` with its image and PSF files
  (:func:`read_galsim_catalog`; stamps padded with noise to one size, segmentation computed).

:func:`load_stampset` picks the reader from the path. Every reader validates everything (files, lengths,
shapes, columns, NaN pixels, IDs, central labels, uint8-wrapped labels) before it returns, raising a
:class:`~candels_gui.core.errors.DataError` that names the file and the problem, and records the SHA-256
of every file read in ``meta["input_hashes"]``.

Examples
--------
>>> stamps = load_stampset("sample_data")                       # doctest: +SKIP
>>> stamps = load_stampset("cosmos_hst", stamp_size=64, seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

from .autoseg import SegmentationParams
from ..errors import DataError
from ..jobs import CancelToken, Job, run_job
from .readers_common import DEFAULT_ZEROPOINT, ProgressCallback
from .readers_fits import FITS_SUFFIXES, iter_read_fits_stamps, list_fits, read_fits_stamps
from .readers_galsim import (find_galsim_catalog, is_galsim_catalog_name, iter_read_galsim_catalog,
                             read_galsim_catalog)
from .readers_npy import CANDELS_FILES, iter_read_candels_blender, read_candels_blender
from .stampset import StampSet

__all__ = ["load_stampset", "iter_load_stampset", "detect_kind", "KINDS", "read_candels_blender",
           "read_fits_stamps", "read_galsim_catalog", "SegmentationParams"]

#: Values of ``kind`` accepted by :func:`load_stampset`.
KINDS = ("auto", "candels-blender", "fits", "galsim")


def detect_kind(path: str | os.PathLike) -> str:
    """Tell which reader fits ``path``: ``"candels-blender"``, ``"galsim"`` or ``"fits"``.

    A folder holding ``candels_img.npy`` (or that file itself) is candels-blender; a
    ``real_galaxy_catalog_*.fits`` file, or a folder holding one, is galsim; a FITS file or a folder of
    FITS files is fits.

    Raises
    ------
    DataError
        If ``path`` does not exist or matches none of these.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if path.is_dir():
        if (path / CANDELS_FILES[0]).is_file():
            return "candels-blender"
        if any(is_galsim_catalog_name(p.name) for p in path.iterdir() if p.is_file()):
            return "galsim"
        if list_fits(path):
            return "fits"
        raise DataError(f"cannot tell what {path} holds: no {CANDELS_FILES[0]}, no real_galaxy_catalog_*.fits "
                        f"and no FITS stamps")
    if path.name == CANDELS_FILES[0]:
        return "candels-blender"
    if is_galsim_catalog_name(path.name):
        return "galsim"
    if path.name.lower().endswith(FITS_SUFFIXES):
        catalogs = [p.name for p in path.parent.iterdir() if p.is_file() and is_galsim_catalog_name(p.name)]
        if catalogs:      # e.g. real_galaxy_images_*.fits: one galaxy per HDU, read as one stamp
            raise DataError(f"{path}: a file of the GalSim catalogue {catalogs[0]} beside it; give that catalogue "
                            f"or the folder {path.parent}")
        return "fits"
    raise DataError(f"cannot tell what {path} is: expected a folder, {CANDELS_FILES[0]}, "
                    f"real_galaxy_catalog_*.fits or a FITS cube")


def iter_load_stampset(path: str | os.PathLike, *, kind: str = "auto",
                       column_map: Optional[Mapping[str, str]] = None, stamp_size: Optional[int] = None,
                       nan_policy: str = "error", mmap: bool = True, zeropoint: Optional[float] = None,
                       seed: int = 0, cancel: Optional[CancelToken] = None, **options: Any) -> Job:
    """Job form of :func:`load_stampset` (for GUI workers): yields progress, returns the StampSet."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if kind == "auto":
        kind = detect_kind(path)
    common = dict(column_map=column_map, nan_policy=nan_policy, cancel=cancel)
    if kind == "galsim":     # None: the zeropoint its catalogue implies (stamp_flux against MAG)
        return (yield from iter_read_galsim_catalog(find_galsim_catalog(path),
                                                    stamp_size=128 if stamp_size is None else stamp_size,
                                                    seed=seed, zeropoint=zeropoint, **common, **options))
    common["zeropoint"] = zeropoint if zeropoint is not None else DEFAULT_ZEROPOINT
    if kind == "candels-blender":
        folder = path.parent if path.is_file() else path
        return (yield from iter_read_candels_blender(folder, stamp_size=stamp_size, mmap=mmap,
                                                     **common, **options))
    return (yield from iter_read_fits_stamps(path, stamp_size=stamp_size, **common, **options))


def load_stampset(path: str | os.PathLike, *, kind: str = "auto", column_map: Optional[Mapping[str, str]] = None,
                  stamp_size: Optional[int] = None, nan_policy: str = "error", mmap: bool = True,
                  zeropoint: Optional[float] = None, seed: int = 0, progress: Optional[ProgressCallback] = None,
                  cancel: Optional[CancelToken] = None, **options: Any) -> StampSet:
    """Load galaxy stamps from ``path`` into one validated StampSet.

    Parameters
    ----------
    path : path
        A candels-blender folder, a ``real_galaxy_catalog_*.fits`` (or its folder), a FITS cube or a folder
        of FITS stamps.
    kind : {"auto", "candels-blender", "fits", "galsim"}
        Reader to use; ``"auto"`` decides with :func:`detect_kind`.
    column_map : dict, optional
        File column -> standard column (``id, ra, dec, mag, radius, z, galtype, segval``).
    stamp_size : int, optional
        Stamp size wanted. galsim stamps are always brought to one size (128 when None); the other
        readers keep the file's size when None, else centre-crop or zero-pad.
    nan_policy : {"error", "replace"}
        NaN/inf pixels raise a DataError, or are replaced by background (count in
        ``meta["nonfinite_replaced"]``).
    mmap : bool
        Memory-map a candels-blender cube (float32 images stay memory maps).
    zeropoint : float, optional
        AB magnitude zeropoint stored in the StampSet (default: a GalSim catalogue's own, implied by its
        ``stamp_flux`` and ``MAG`` columns — 25.94 for the COSMOS F814W stamps — else
        :data:`DEFAULT_ZEROPOINT`, CANDELS F160W's 25.96).
    seed : int
        Seed of the galsim padding noise.
    progress : callable, optional
        Called with each :class:`~candels_gui.core.jobs.Progress`.
    cancel : CancelToken, optional
        Stops the work between steps.
    **options
        Reader-specific keywords, e.g. ``segmaps=``, ``catalog=``, ``pixel_scale=`` (fits),
        ``allow_unlabelled=`` (candels-blender, fits), ``recentre=`` (galsim), ``segmentation=``
        (:class:`SegmentationParams`; fits, galsim).

    Returns
    -------
    StampSet
        With ``source = str(path)`` and ``meta["input_hashes"]`` = ``{file name: sha256}``.

    Raises
    ------
    DataError
        For anything wrong with the data (the message names the file and the problem).
    ValueError
        For a bad ``kind`` or ``nan_policy``.

    Examples
    --------
    >>> stamps = load_stampset("sample_data", mmap=True)              # doctest: +SKIP
    >>> len(stamps), stamps.stamp_shape                               # doctest: +SKIP
    (1000, (128, 128))
    """
    stamps = run_job(iter_load_stampset(path, kind=kind, column_map=column_map, stamp_size=stamp_size,
                                        nan_policy=nan_policy, mmap=mmap, zeropoint=zeropoint, seed=seed,
                                        cancel=cancel, **options), progress)
    stamps.source = str(path)
    return stamps
