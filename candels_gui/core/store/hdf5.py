"""HDF5 export: one file, BTK-like dataset names, chunked and optionally compressed.

Layout
------
An unsplit export keeps its datasets in the root group ``/``; a split export has one group per split
(``/train``, ``/test``) and nothing but attributes at the root. The root attribute ``layout`` says which
(``"root"`` or ``"groups"``) and ``splits`` lists the split names as JSON (``[null]`` when unsplit).

Datasets of a split (N blends of H x W pixels):

===================  ================  =========================================================
name                 shape, dtype      content
===================  ================  =========================================================
``blend_images``     (N, H, W) f4      the blends
``isolated_images``  (N, 2, H, W) f4   [central, companion], each with its own noise
``masks``            (N, 2, H, W) u1   footprints (0/1) of [central, companion]
``fluxes``           (N, 2) f8         fluxes from catalog magnitudes
``flux_out_frac``    (N,) f4           companion flux pushed out of the stamp
``specs``            (N,) str          one :class:`BlendSpec` as JSON per blend
``catalog``          (N,) compound     the blend catalogue (:data:`~.blendcat.CATALOG_COLUMNS`)
``labels``           method's shape    only when a label method is given
===================  ================  =========================================================

With ``storage="compact"`` a split holds only ``fluxes``, ``flux_out_frac``, ``specs`` and ``catalog``;
the images, masks and labels are rendered on read from the file's ``/stamp_library`` (see
:mod:`candels_gui.core.store.stamp_library`).

Root attributes: ``format``, ``format_version``, ``tool_version``, ``seed`` (-1 when
unknown), ``options`` (JSON), ``input_hashes`` (JSON), ``label_method`` (``""`` when none), ``layout``,
``storage`` (``"arrays"`` or ``"compact"``), ``splits`` and ``manifest`` (the manifest without its spec
list and creation time, JSON): no clock, so the same inputs and seed give the same bytes. The full manifest,
with ``created_utc``, is also written beside the file as ``FILE.manifest.json``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..errors import DataError, ExportError, one_line
from .checks import check_finite_array, check_split_names, format_version, open_h5, parse_specs
from .common import (FORMAT_NAME, FORMAT_VERSION, AtomicFiles, CatalogueCsv, ExportData,
                     ExportResult, Splits, array_entry, build_manifest, check_specs,
                     embedded_manifest, file_entry, find_manifest, manifest_path_for,
                     normalize_splits, pick_split, stream_batches, stream_spec_batches,
                     verify_files, write_json,
                     WritebackPacer)
from ..jobs import CancelToken, Job, check_cancel
from ..blending.catalogue import blend_catalog, catalog_record_dtype, catalog_to_records, records_to_catalog
from .stamp_library import STORAGES, SplitArrays, write_stamp_library
from ..blending.labels import LABEL_METHODS, blend_fluxes, label_dtype, label_shape, make_labels

__all__ = ["check_hdf5_header", "write_hdf5", "read_hdf5", "hdf5_splits", "HDF5_COMPRESSIONS"]

HDF5_COMPRESSIONS = (None, "lzf", "gzip")
_CHUNK_BYTES = 1 << 20
_SPEC_BATCH = 4096  # blends per batch of a compact export (tables only)
_PUT_ROWS = 16  # blends per h5py write call (2 MB of isolated images at 128 px)


def write_hdf5(path: str | os.PathLike, engine: BlendEngine,
               specs: Sequence[BlendSpec] | Mapping[str, Sequence[BlendSpec]], *,
               split_name: str | None = None, method: str | None = None,
               compression: str | None = None, compression_level: int = 4,
               zeropoint: float | None = None, batch_size: int = 256, seed: int | None = None,
               options: Mapping[str, Any] | None = None, manifest_name: str | None = None,
               catalogue_csv: bool = False, storage: str = "arrays",
               cancel: CancelToken | None = None, render: Callable[..., Job] = stream_batches) -> Job:
    """Write blends to one HDF5 file (a job generator returning an ExportResult).

    Parameters
    ----------
    path : path
        Output file; an existing file is replaced only once the new one is complete.
    engine : BlendEngine
    specs : sequence of BlendSpec, or mapping split name -> specs
        A mapping writes one group per split.
    split_name : str, optional
        Write a sequence of specs into group ``/split_name`` instead of the root group.
    method : str, optional
        Also write ``labels`` for this label method.
    compression : {None, "lzf", "gzip"}
        Filter of the chunked datasets; ``compression_level`` is gzip's level (0-9).
    zeropoint : float, optional
        AB zeropoint of ``fluxes``; ``engine.stamps.zeropoint`` by default.
    batch_size : int
        Blends rendered and written at a time; also the largest chunk length.
    seed, options
        Seed the specs were drawn with and further settings, recorded in the manifest.
    manifest_name : str, optional
        Name of the manifest written beside the file (default ``FILE.manifest.json``).
    catalogue_csv : bool
        Also write the blend catalogue of each split as ``{split_}catalogue.csv`` beside the file.
    storage : {"arrays", "compact"}
        ``"compact"`` writes the specs and a stamp library instead of the image arrays; readers render
        them (bit-identically) on read.
    cancel : CancelToken, optional
    render : callable, optional
        What renders the blends (``storage="arrays"``): :func:`~.common.stream_batches` here, or a
        function of the same signature that has them rendered elsewhere (on a Dask cluster,
        :mod:`candels_gui.core.store.distributed`) and calls ``write`` in split and row order.

    Examples
    --------
    >>> from candels_gui.core.jobs import run_job
    >>> run_job(write_hdf5("blends.h5", engine, {"train": tr, "test": te}))   # doctest: +SKIP
    """
    if compression not in HDF5_COMPRESSIONS:
        raise ValueError(f"compression must be one of {HDF5_COMPRESSIONS}, got {compression!r}")
    if method is not None:
        label_dtype(method)
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
    splits = normalize_splits(specs, split_name)
    check_specs(engine, splits)
    out = Path(path)
    if out.is_dir():
        raise DataError(f"{out}: is a folder; give the HDF5 file to write")
    opts = {"batch_size": int(batch_size), "label_method": method, "compression": compression,
            "compression_level": int(compression_level) if compression == "gzip" else None,
            "zeropoint": engine.stamps.zeropoint if zeropoint is None else float(zeropoint),
            "storage": storage, **dict(options or {})}
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mname = manifest_name or manifest_path_for(out).name
    if Path(mname).name != mname or mname == out.name:
        raise ValueError(f"manifest_name must be a bare file name other than {out.name!r}: {mname!r}")
    return _write(out, engine, splits, method, opts, seed, cancel, mname, bool(catalogue_csv), render)


def _create(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, opts: Mapping[str, Any]
            ) -> h5py.Dataset:
    n = shape[0]
    h5type = h5py.string_dtype("utf-8") if dtype is str else dtype
    if n == 0:  # HDF5 chunks must not exceed an empty extent
        return group.create_dataset(name, shape=shape, dtype=h5type)
    item = math.prod(shape[1:]) * (np.dtype(dtype).itemsize if dtype is not str else 64)
    rows = max(1, min(opts["batch_size"], n, _CHUNK_BYTES // max(1, item)))
    filt: dict[str, Any] = {}
    if opts["compression"] == "gzip":
        filt = {"compression": "gzip", "compression_opts": opts["compression_level"]}
    elif opts["compression"] == "lzf":
        filt = {"compression": "lzf"}
    return group.create_dataset(name, shape=shape, dtype=h5type, chunks=(rows, *shape[1:]), **filt)


def _put(dataset: h5py.Dataset, start: int, data: np.ndarray, rows: int = _PUT_ROWS) -> None:
    """Write ``data`` at ``start`` in slices of ``rows`` blends.

    h5py holds the GIL for the whole of one write call; when the disk throttles, one call for a
    full batch can block other threads (the app's UI thread) for tens of milliseconds. Slices of a
    few MB keep every call short.
    """
    for k in range(0, len(data), rows):
        piece = data[k:k + rows]
        dataset[start + k:start + k + len(piece)] = piece


def _write(path: Path, engine: BlendEngine, splits: Splits, method: str | None,
           opts: dict[str, Any], seed: int | None, cancel: CancelToken | None, manifest_name: str,
           catalogue_csv: bool, render: Callable[..., Job] = stream_batches) -> Job:
    h, w = engine.shape
    stamps, zp = engine.stamps, float(opts["zeropoint"])
    rec_dtype = catalog_record_dtype(stamps)
    grouped = splits[0][0] is not None
    manifest = build_manifest("hdf5", engine, splits, method=method, seed=seed, options=opts,
                              data_file=path.name,
                              split_info={name: {"group": f"/{name}" if name else "/"}
                                          for name, _ in splits})
    atomic = AtomicFiles(path.parent)
    tmp = atomic.temp(path.name)
    csv: CatalogueCsv | None = None
    try:
        csv = CatalogueCsv(atomic, splits) if catalogue_csv else None
        with h5py.File(tmp, "w") as f, WritebackPacer(tmp) as pacer:
            attrs = f.attrs
            attrs["format"] = FORMAT_NAME
            attrs["format_version"] = FORMAT_VERSION
            attrs["tool_version"] = manifest["tool_version"]
            attrs["seed"] = -1 if manifest["seed"] is None else int(manifest["seed"])
            attrs["options"] = json.dumps(manifest["options"])
            attrs["input_hashes"] = json.dumps(manifest["input"])
            attrs["label_method"] = method or ""
            attrs["layout"] = "groups" if grouped else "root"
            attrs["storage"] = storage = opts["storage"]
            attrs["splits"] = json.dumps([name for name, _ in splits])
            compact = storage == "compact"
            if compact:
                write_stamp_library(f, engine, {g for _, specs in splits for s in specs
                                                for g in (s.id1, s.id2)})
            targets: list[dict[str, h5py.Dataset]] = []
            for name, specs in splits:
                n = len(specs)
                g = f.create_group(name) if grouped else f
                g.attrs["split"] = name or ""
                g.attrs["n_blends"] = n
                layout: list[tuple[str, tuple[int, ...], Any]] = [
                    ("fluxes", (n, 2), np.float64),
                    ("flux_out_frac", (n,), np.float32),
                    ("specs", (n,), str),
                    ("catalog", (n,), rec_dtype)]
                if not compact:
                    layout[:0] = [("blend_images", (n, h, w), np.float32),
                                  ("isolated_images", (n, 2, h, w), np.float32),
                                  ("masks", (n, 2, h, w), np.uint8)]
                    if method is not None:
                        layout.append(("labels", label_shape(method, n, h, w), label_dtype(method)))
                ds = {}
                for key, shape, dtype in layout:
                    ds[key] = _create(g, key, shape, dtype, opts)
                    manifest["arrays"].append(array_entry(
                        name, ds[key].name, shape, object if dtype is str else dtype))
                if not compact:
                    ds["masks"].attrs["channels"] = "central, companion (0/1)"
                if "labels" in ds:
                    ds["labels"].attrs["label_method"] = method
                targets.append(ds)

            def write_tables(k: int, a: int, specs: list[BlendSpec], out_frac: np.ndarray) -> None:
                ds = targets[k]
                b = a + len(specs)
                ds["fluxes"][a:b] = blend_fluxes(stamps, specs, zeropoint=zp)
                ds["flux_out_frac"][a:b] = out_frac
                ds["specs"][a:b] = np.array([s.to_json() for s in specs], dtype=object)
                cat = blend_catalog(stamps, specs, start_id=a, flux_out_frac=out_frac)
                if csv is not None:
                    csv.append(k, cat)
                ds["catalog"][a:b] = catalog_to_records(cat, rec_dtype)

            def write(k: int, batch: BlendBatch) -> None:
                ds = targets[k]
                a = int(batch.indices[0])
                _put(ds["blend_images"], a, batch.images)
                _put(ds["isolated_images"], a, batch.isolated)
                _put(ds["masks"], a, batch.masks.view(np.uint8))
                write_tables(k, a, batch.specs, batch.flux_out_frac)
                if "labels" in ds:
                    _put(ds["labels"], a, make_labels(method, masks=batch.masks, isolated=batch.isolated))
                pacer.kick()

            if compact:
                # no images in memory: larger batches cut the per-batch overheads (tables, h5py calls)
                yield from stream_spec_batches(engine, splits, cancel=cancel, write=write_tables,
                                               batch_size=max(int(opts["batch_size"]), _SPEC_BATCH))
            else:
                yield from render(engine, splits, batch_size=opts["batch_size"], cancel=cancel, write=write)
            attrs["manifest"] = json.dumps(embedded_manifest(manifest))
        manifest["files"].append(file_entry(tmp, path.name))
        if csv is not None:
            csv.close()
            manifest["files"] += csv.file_entries()
        write_json(atomic.temp(manifest_name), manifest)  # renamed last
        check_cancel(cancel)
        atomic.commit()
    except BaseException:
        if csv is not None:
            csv.close()
        atomic.discard()
        raise
    return ExportResult(path=path, fmt="hdf5", manifest_path=path.parent / manifest_name,
                        counts={name: len(specs) for name, specs in splits},
                        files=manifest["files"])


def check_hdf5_header(f: h5py.File, path: Path) -> list[str | None]:
    """The split names of an open HDF5 export, after checking its root attributes (format, version,
    splits and their groups); ExportError otherwise."""
    if f.attrs.get("format") != FORMAT_NAME:
        raise ExportError(f"{path}: not a candels-gui HDF5 export (root attribute 'format' missing)")
    format_version(f.attrs.get("format_version", 0), path, FORMAT_VERSION)
    try:
        splits = json.loads(f.attrs["splits"])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path}: root attribute 'splits' is not a JSON list ({one_line(exc, 120)})") from None
    splits = check_split_names(splits, path)
    for name in splits:
        if name is not None and not isinstance(f.get(name), h5py.Group):
            raise ExportError(f"{path}: lists split {name!r} but has no group /{name}")
    return splits


def hdf5_splits(path: str | os.PathLike) -> list[str | None]:
    """Split names of an HDF5 export (``[None]`` when unsplit, datasets in the root group)."""
    with open_h5(path) as f:
        return check_hdf5_header(f, Path(path))


def read_hdf5(path: str | os.PathLike, *, split: str | None = None, verify: bool = False
              ) -> ExportData:
    """Read one split of an HDF5 export (see :func:`~candels_gui.core.store.export.read_export`)."""
    path = Path(path)
    manifest = find_manifest(path)
    if verify:
        if manifest is None:
            raise DataError(f"{path}: cannot verify, no manifest beside it "
                            f"({manifest_path_for(path).name} or manifest.json)")
        verify_files(path.parent, manifest)
    with open_h5(path) as f:
        split = pick_split(check_hdf5_header(f, path), split, path)
        g = f if split is None else f[split]
        missing = [k for k in ("fluxes", "flux_out_frac", "specs", "catalog")
                   if not isinstance(g.get(k), h5py.Dataset)]
        if missing:
            raise ExportError(f"{path}: group {g.name} lacks dataset(s) {missing}")
        if manifest is None:
            try:
                manifest = json.loads(f.attrs["manifest"])
            except (KeyError, TypeError, ValueError, RecursionError) as exc:
                raise ExportError(f"{path}: its embedded manifest is not JSON ({one_line(exc, 120)})") from None
        method = f.attrs.get("label_method") or None
        if method is not None and method not in LABEL_METHODS:
            raise ExportError(f"{path}: unknown label method {method!r}")
        arrays = SplitArrays(g)
        n = len(arrays)
        specs_ds = g["specs"]
        if h5py.check_string_dtype(specs_ds.dtype) is None or specs_ds.shape != (n,):
            raise ExportError(f"{path}: {g.name}/specs is {specs_ds.dtype} {specs_ds.shape}, expected {n} JSON texts")
        for key, shape in (("fluxes", (n, 2)), ("flux_out_frac", (n,)), ("catalog", (n,))):
            if g[key].shape != shape:
                raise ExportError(f"{path}: {g.name}/{key} has shape {g[key].shape}, expected {shape}")
        images, isolated, masks = arrays.read(slice(None))
        if "labels" in g:
            labels = g["labels"][...]
            if method is not None and labels.shape != label_shape(method, n, *arrays.shape):
                raise ExportError(f"{path}: {g.name}/labels has shape {labels.shape}, expected "
                                  f"{label_shape(method, n, *arrays.shape)} for {method}")
        elif arrays.compact and method is not None:
            labels = make_labels(method, masks=masks, isolated=isolated)
        else:
            labels = None
        fluxes = np.asarray(g["fluxes"][...], np.float64)
        check_finite_array(fluxes, f"{path}:{g.name}", "the true fluxes")
        try:
            catalog = records_to_catalog(g["catalog"][...])
        except (TypeError, ValueError, KeyError) as exc:
            raise ExportError(f"{path}: {g.name}/catalog is not a blend catalogue ({one_line(exc, 120)})") from None
        return ExportData(
            path=path, fmt="hdf5", split=split, images=images,
            fluxes=fluxes, catalog=catalog,
            specs=parse_specs(specs_ds[...], f"{path}:{g.name}/specs"), manifest=manifest,
            isolated=isolated, masks=masks, labels=labels,
            label_method=method, flux_out_frac=g["flux_out_frac"][...])
