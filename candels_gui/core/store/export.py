"""Export of blend data sets: the facade :func:`export` and the common reader :func:`read_export`.

Three formats, each written by a job generator (yields :class:`~candels_gui.core.jobs.Progress`,
checks a :class:`~candels_gui.core.jobs.CancelToken`, returns an :class:`ExportResult`):

* ``"npy"`` — :func:`~candels_gui.core.store.npy.write_npy`: candels-blender's "seed layout" in a
  folder (``images.npy``, ``labels.npy``, ``flux.npy``, ``catalogue.csv``, prefixed ``train_`` /
  ``test_`` when split) plus ``manifest.json``.
* ``"hdf5"`` — :func:`~candels_gui.core.store.hdf5.write_hdf5`: one HDF5 file, BTK-like dataset names;
  datasets in the root group when unsplit, in groups ``/train``, ``/test`` when split; every array
  stored, or (``storage="compact"``) specs plus a stamp library, the arrays rendered on read.
* ``"fits"`` — :func:`~candels_gui.core.store.fits.write_fits`: one multi-extension FITS file.

Every writer streams: blends are rendered ``batch_size`` at a time into files sized up front, so memory
does not grow with the number of blends. Every writer is atomic: files are written under temporary
names in the destination folder (``.candels-gui-tmp-PID-TOKEN-NAME``, :mod:`candels_gui.core.atomic`) and
renamed over their final names only when complete; on an error or :class:`~candels_gui.core.errors.Cancelled`
the temporaries (and a folder the writer created) are removed and an existing output is left untouched; the
temporaries a killed process left in the folder are removed when the next writer starts there. A batch that
renders non-finite pixels is never written.

The manifest records the format and tool versions, the UTC time, the seeds, the options, the label
method, the number of blends per split, the input hashes (``StampSet.meta["input_hashes"]`` and
``StampSet.content_hash()``), every file with its SHA-256 and every array with its shape and dtype, and
all :class:`~candels_gui.core.blending.engine.BlendSpec` s (``manifest["specs"][split or ""]``), so every blend
can be rendered again with :meth:`~candels_gui.core.blending.engine.BlendEngine.render`. It is ``manifest.json``
in the npy folder, ``FILE.manifest.json`` beside an HDF5/FITS file (or ``manifest.json`` with
``export(..., filename=)``), and a copy without the spec list sits inside HDF5 and FITS files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..blending.engine import BlendEngine, BlendSpec
from ..errors import DataError, ExportError
from .checks import child_path, read_json_object
from .common import (FORMAT_NAME, FORMAT_VERSION, ExportData, ExportResult, manifest_path_for,
                     sha256_file)
from .fits import fits_splits, read_fits, write_fits
from .hdf5 import hdf5_splits, read_hdf5, write_hdf5
from .npy import read_npy, read_npy_manifest, write_npy
from .signatures import FITS_MAGIC, HDF5_MAGIC
from .zarr_store import is_local, is_zarr, local_path, read_zarr, zarr_splits
from ..jobs import CancelToken, Job

__all__ = ["EXPORT_FORMATS", "FORMAT_NAME", "FORMAT_VERSION", "ExportData", "ExportResult", "export",
           "read_export", "export_splits", "manifest_path_for", "sha256_file", "write_npy",
           "write_hdf5", "write_fits", "detect_export"]

EXPORT_FORMATS = ("npy", "hdf5", "fits")


def detect_export(path: str | os.PathLike) -> tuple[str, Path | str]:
    """``(format, what to read)`` of an export folder, manifest, file, Zarr store or store URL.

    The format is ``"npy"``, ``"hdf5"``, ``"fits"`` or ``"zarr"``; a URL (``s3://...``) is returned as is.
    """
    if not is_local(path):
        return "zarr", os.fspath(path)
    return _detect(local_path(path))


def check_not_unfinished(folder: Path) -> None:
    """Refuse, saying how to finish it, a folder that holds only what a stopped ``produce --format zarr`` left."""
    if (folder / ".blends.zarr.partial").is_dir():
        raise ExportError(f"{folder}: holds only the unfinished store of a stopped produce (.blends.zarr.partial); "
                          f"finish it with the same produce command and --resume")


def _detect(path: Path) -> tuple[str, Path]:
    """(format, path to read) of an export folder, manifest or file."""
    if path.is_dir() and is_zarr(path):
        return "zarr", path
    if path.is_dir() or path.name == "manifest.json":
        folder = path if path.is_dir() else path.parent
        manifest = folder / "manifest.json"
        if manifest.is_file():
            kind_file = read_json_object(manifest, "manifest")
            if kind_file.get("kind") in ("hdf5", "fits", "zarr") and kind_file.get("data_file"):
                return kind_file["kind"], child_path(folder, kind_file["data_file"], "data_file", manifest)
        else:
            check_not_unfinished(folder)
        return "npy", folder
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file or folder (a pipe or a device)")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head.startswith(HDF5_MAGIC):
        return "hdf5", path
    if head == FITS_MAGIC:
        return "fits", path
    raise DataError(f"{path}: not an export folder, HDF5 file or FITS file")


def export_splits(path: str | os.PathLike) -> list[str | None]:
    """Split names held by an export (``[None]`` when unsplit).

    Examples
    --------
    >>> export_splits("out")   # doctest: +SKIP
    ['train', 'test']
    """
    fmt, p = detect_export(path)
    if fmt == "npy":
        return [s["name"] for s in read_npy_manifest(p)["splits"]]
    if fmt == "zarr":
        return zarr_splits(p)
    return hdf5_splits(p) if fmt == "hdf5" else fits_splits(p)


def read_export(path: str | os.PathLike, *, split: str | None = None, verify: bool = False,
                mmap: bool = False) -> ExportData:
    """Read one split of an export written by any writer of this package.

    Parameters
    ----------
    path : path
        npy export folder (or its ``manifest.json``), HDF5 file, FITS file, Zarr store (a folder or an
        fsspec URL), or a folder written with ``export(..., filename=)`` or by ``produce``.
    split : str, optional
        ``"train"``/``"test"``...; may be left out when the export has one split only.
    verify : bool
        First check the SHA-256 of every file against the manifest (:class:`DataError` if different).
    mmap : bool
        Memory-map the npy arrays instead of reading them (npy layout), or read a Zarr store's arrays
        when indexed (:class:`~candels_gui.core.store.zarr_store.LazyRows`).

    Returns
    -------
    ExportData

    Examples
    --------
    >>> data = read_export("out/blends.h5", split="train")   # doctest: +SKIP
    >>> data.images.shape, data.specs[0]                      # doctest: +SKIP
    """
    fmt, p = detect_export(path)
    if fmt == "npy":
        return read_npy(p, split=split, verify=verify, mmap=mmap)
    if fmt == "zarr":
        return read_zarr(p, split=split, verify=verify, lazy=mmap)
    if fmt == "hdf5":
        return read_hdf5(p, split=split, verify=verify)
    return read_fits(p, split=split, verify=verify)


def export(dest: str | os.PathLike, engine: BlendEngine,
           specs: Sequence[BlendSpec] | Mapping[str, Sequence[BlendSpec]] | None = None, *,
           fmt: str = "npy", method: str | None = None,
           split: tuple[Sequence[BlendSpec], Sequence[BlendSpec]] | None = None,
           filename: str | None = None, batch_size: int = 256, seed: int | None = None,
           options: Mapping[str, Any] | None = None, cancel: CancelToken | None = None,
           **format_options: Any) -> Job:
    """Export blends in format ``fmt``: a job generator returning an :class:`ExportResult`.

    Parameters
    ----------
    dest : path
        Folder (npy; hdf5/fits with ``filename``) or file (hdf5, fits).
    engine : BlendEngine
    specs : sequence of BlendSpec, or mapping split name -> specs
        Leave out when ``split`` is given.
    fmt : {"npy", "hdf5", "fits"}
    method : str, optional
        Label method (:data:`~candels_gui.core.blending.labels.LABEL_METHODS`). npy: ``"ogg_masks"`` when left
        out; hdf5/fits: a ``labels`` array only when given.
    split : (train_specs, test_specs), optional
        Write a ``train`` and a ``test`` split.
    filename : str, optional
        hdf5/fits only: ``dest`` is a folder that receives the file ``filename``, ``manifest.json`` and
        the blend catalogues ``{split_}catalogue.csv`` (candels-blender's output folder).
    batch_size, seed, options, cancel
        Blends per batch; the seed the specs were drawn with and further settings (recorded in the
        manifest); cancel token.
    **format_options
        Passed on: ``zeropoint`` (all), ``compression``/``compression_level`` and ``storage``
        (``"arrays"`` or ``"compact"``, see :mod:`~candels_gui.core.store.stamp_library`) (hdf5),
        ``catalogue_csv`` (hdf5, fits).

    Examples
    --------
    >>> from candels_gui.core.jobs import run_with_progress
    >>> run_with_progress(export("out", engine, specs, method="bogg_masks"))   # doctest: +SKIP
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    if split is not None:
        if specs is not None:
            raise ValueError("give either specs or split=(train_specs, test_specs), not both")
        if len(split) != 2:
            raise ValueError(f"split must be (train_specs, test_specs), got {len(split)} items")
        specs = {"train": split[0], "test": split[1]}
    if specs is None:
        raise ValueError("no specs to export: give specs or split=")
    common: dict[str, Any] = dict(batch_size=batch_size, seed=seed, options=options, cancel=cancel,
                                  **format_options)
    if fmt == "npy":
        if filename is not None:
            raise ValueError("filename= is for the hdf5 and fits formats; npy writes a folder")
        return write_npy(dest, engine, specs, method=method or "ogg_masks", **common)
    path = Path(dest)
    if filename is not None:
        if Path(filename).name != filename:
            raise ValueError(f"filename must be a bare file name, got {filename!r}")
        path = path / filename
        common.setdefault("catalogue_csv", True)
        common["manifest_name"] = "manifest.json"
    writer = write_hdf5 if fmt == "hdf5" else write_fits
    return writer(path, engine, specs, method=method, **common)
