"""The npy "seed layout" of candels-blender: one folder of ``.npy`` arrays, a CSV catalogue, a manifest.

Files of a split with prefix ``P`` (``""`` when unsplit, ``"train_"``/``"test_"`` when split):

============================  ======================  =========================================
file                          shape                   content
============================  ======================  =========================================
``Pimages.npy``               (N, H, W) float32       the blends
``Plabels.npy``               label method's shape    :func:`~candels_gui.core.blending.labels.make_labels`
``Pflux.npy``                 (N, 2) float64          fluxes of [central, companion] from mags
``Pcatalogue.csv``            N rows                  :data:`~candels_gui.core.blending.labels.CATALOG_COLUMNS`
``manifest.json``             --                      provenance, hashes, all specs
============================  ======================  =========================================

Arrays are written into pre-sized ``.npy`` files (:func:`numpy.lib.format.open_memmap`) batch by batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..errors import DataError, ExportError, FileFormatError, one_line
from .checks import check_finite_array, check_split_names, format_version, read_json_object
from ..blending.catalogue import blend_catalog, read_catalog_csv
from .common import (FORMAT_NAME, FORMAT_VERSION, AtomicFiles, CatalogueCsv, ExportData,
                     ExportResult, Splits, array_entry, build_manifest, check_specs, file_entry,
                     normalize_splits, pick_split, specs_from_manifest, split_prefix,
                     stream_batches, verify_files, write_json)
from ..jobs import CancelToken, Job, check_cancel
from ..blending.labels import LABEL_METHODS, blend_fluxes, label_dtype, label_shape, make_labels, masks_from_labels

__all__ = ["write_npy", "read_npy", "read_npy_manifest", "npy_file_names"]


def npy_file_names(split: str | None) -> dict[str, str]:
    """File names of one split: keys ``images``, ``labels``, ``flux``, ``catalogue``.

    Examples
    --------
    >>> npy_file_names("train")["images"]
    'train_images.npy'
    """
    pre = split_prefix(split)
    return {"images": f"{pre}images.npy", "labels": f"{pre}labels.npy", "flux": f"{pre}flux.npy",
            "catalogue": f"{pre}catalogue.csv"}


def write_npy(outdir: str | os.PathLike, engine: BlendEngine,
              specs: Sequence[BlendSpec] | Mapping[str, Sequence[BlendSpec]], *,
              method: str = "ogg_masks", prefix: str = "", zeropoint: float | None = None,
              batch_size: int = 256, seed: int | None = None, options: Mapping[str, Any] | None = None,
              cancel: CancelToken | None = None) -> Job:
    """Write blends in candels-blender's npy layout (a job generator returning an ExportResult).

    Parameters
    ----------
    outdir : path
        Output folder (created when missing). Files of an earlier export there are replaced only
        once the new ones are complete.
    engine : BlendEngine
    specs : sequence of BlendSpec, or mapping split name -> specs
        A mapping writes one set of prefixed files per split (``{"train": ..., "test": ...}``).
    method : {"gg_masks", "ogg_masks", "bogg_masks", "single_images"}
        Label method of ``labels.npy``.
    prefix : str
        Split name used as file prefix (``"train"`` -> ``train_images.npy``); ``""`` for none.
    zeropoint : float, optional
        AB zeropoint of ``flux.npy``; ``engine.stamps.zeropoint`` (normally 25.96) by default.
    batch_size : int
        Blends rendered and written at a time (bounds the memory used).
    seed : int, optional
        Seed the specs were drawn with, recorded in the manifest.
    options : mapping, optional
        Further settings recorded in the manifest (e.g. the sampling rules).
    cancel : CancelToken, optional

    Examples
    --------
    >>> from candels_gui.core.jobs import run_job
    >>> result = run_job(write_npy("out", engine, specs, method="bogg_masks"))   # doctest: +SKIP
    >>> np.load("out/labels.npy").shape                                           # doctest: +SKIP
    (100, 128, 128, 4)
    """
    label_dtype(method)  # validates the method name
    splits = normalize_splits(specs, prefix or None)
    check_specs(engine, splits)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    opts = {"batch_size": int(batch_size), "label_method": method,
            "zeropoint": engine.stamps.zeropoint if zeropoint is None else float(zeropoint),
            **dict(options or {})}
    return _write(out, engine, splits, method, opts, seed, cancel)


def _write(outdir: Path, engine: BlendEngine, splits: Splits, method: str, opts: dict[str, Any],
           seed: int | None, cancel: CancelToken | None) -> Job:
    h, w = engine.shape
    stamps, zp = engine.stamps, float(opts["zeropoint"])
    atomic = AtomicFiles(outdir)
    outs: list[dict[str, np.memmap]] = []
    described: list[dict[str, Any]] = []  # temp path, final name, split, shape, dtype
    csv: CatalogueCsv | None = None

    def close_all() -> None:
        for o in outs:
            for arr in o.values():
                arr.flush()
            o.clear()
        if csv is not None:
            csv.close()

    try:
        for name, specs in splits:
            n, names, o = len(specs), npy_file_names(name), {}
            outs.append(o)
            for key, shape, dtype in (("images", (n, h, w), np.float32),
                                      ("labels", label_shape(method, n, h, w), label_dtype(method)),
                                      ("flux", (n, 2), np.float64)):
                tmp = atomic.temp(names[key])
                o[key] = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
                described.append({"tmp": tmp, "name": names[key], "split": name,
                                  "shape": list(shape), "dtype": np.dtype(dtype).str})
        csv = CatalogueCsv(atomic, splits)

        def write(k: int, batch: BlendBatch) -> None:
            o = outs[k]
            a = int(batch.indices[0])
            b = a + len(batch)
            o["images"][a:b] = batch.images
            make_labels(method, masks=batch.masks, isolated=batch.isolated, out=o["labels"][a:b])
            o["flux"][a:b] = blend_fluxes(stamps, batch.specs, zeropoint=zp)
            csv.append(k, blend_catalog(stamps, batch.specs, start_id=a,
                                        flux_out_frac=batch.flux_out_frac))

        yield from stream_batches(engine, splits, batch_size=opts["batch_size"], cancel=cancel,
                                  write=write)
        close_all()
        manifest = build_manifest("npy", engine, splits, method=method, seed=seed, options=opts,
                                  split_info={name: {"prefix": split_prefix(name)}
                                              for name, _ in splits})
        for d in described:
            extra = {k: v for k, v in d.items() if k not in ("tmp", "name")}
            manifest["files"].append(file_entry(d["tmp"], d["name"], **extra))
            manifest["arrays"].append(array_entry(d["split"], d["name"], d["shape"], d["dtype"]))
        manifest["files"] += csv.file_entries()
        write_json(atomic.temp("manifest.json"), manifest)
        check_cancel(cancel)
        atomic.commit()
    except BaseException:
        try:
            close_all()
        finally:
            atomic.discard()
        raise
    return ExportResult(path=outdir, fmt="npy", manifest_path=outdir / "manifest.json",
                        counts={name: len(specs) for name, specs in splits},
                        files=manifest["files"])


def load_export_npy(path: Path, mode: str | None) -> np.ndarray:
    """One array of an npy export; a truncated, corrupt or pickled file raises FileFormatError."""
    import pickle

    try:
        return np.load(path, mmap_mode=mode, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise FileFormatError(f"cannot read {path}: corrupt or truncated .npy ({one_line(exc, 120)})") from None


def read_npy_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check the ``manifest.json`` of an npy export folder."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise ExportError(f"{folder}: no manifest.json (not an export folder written by candels-gui)")
    manifest = read_json_object(path, "manifest")
    if manifest.get("format") != FORMAT_NAME or manifest.get("kind") != "npy":
        raise ExportError(f"{path}: not a candels-gui npy export manifest")
    format_version(manifest.get("format_version", 0), path, FORMAT_VERSION)
    splits = manifest.get("splits")
    if not isinstance(splits, list) or not all(isinstance(s, dict) and "name" in s for s in splits):
        raise ExportError(f"{path}: 'splits' is not a list of {{'name': ...}} entries")
    check_split_names([s["name"] for s in splits], path)
    return manifest


def read_npy(folder: str | os.PathLike, *, split: str | None = None, verify: bool = False,
             mmap: bool = False) -> ExportData:
    """Read one split of an npy export folder (see :func:`~candels_gui.core.store.export.read_export`)."""
    folder = Path(folder)
    manifest = read_npy_manifest(folder)
    split = pick_split([s["name"] for s in manifest["splits"]], split, folder)
    if verify:
        verify_files(folder, manifest)
    names = npy_file_names(split)
    mode = "r" if mmap else None
    arrays = {}
    for key in ("images", "labels", "flux"):
        path = folder / names[key]
        if not path.exists():
            raise DataError(f"{path}: missing (listed by the manifest of {folder})")
        arrays[key] = load_export_npy(path, mode)
    catalog = read_catalog_csv(folder / names["catalogue"])
    specs = specs_from_manifest(manifest, split)
    method = manifest.get("label_method")
    n = len(specs)
    for key, arr in (*arrays.items(), ("catalogue", catalog)):
        if len(arr) != n:
            raise DataError(f"{folder / names[key]}: {len(arr)} rows but the manifest has {n} specs")
    labels = arrays["images"]
    if labels.ndim != 3 or labels.dtype.kind != "f":
        raise ExportError(f"{folder / names['images']}: {labels.dtype} {labels.shape}, expected float (N, H, W)")
    if method not in LABEL_METHODS:
        raise ExportError(f"{folder}/manifest.json: unknown label method {method!r}")
    check_finite_array(arrays["images"], str(folder / names["images"]), "the blend images")
    check_finite_array(arrays["flux"], str(folder / names["flux"]), "the fluxes")
    labels = arrays["labels"]
    expected = label_shape(method, n, *arrays["images"].shape[1:])
    if labels.shape != expected or labels.dtype != label_dtype(method):
        raise DataError(f"{folder / names['labels']}: {labels.dtype} {labels.shape}, expected "
                        f"{label_dtype(method)} {expected} for {method}")
    isolated = None
    if method == "single_images":
        isolated = np.moveaxis(labels, -1, 1)
        if not mmap:
            isolated = np.ascontiguousarray(isolated)
    return ExportData(path=folder, fmt="npy", split=split, images=arrays["images"],
                      fluxes=arrays["flux"], catalog=catalog, specs=specs, manifest=manifest,
                      isolated=isolated, masks=masks_from_labels(method, labels), labels=labels,
                      label_method=method, flux_out_frac=None)
