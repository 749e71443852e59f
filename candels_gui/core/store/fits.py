"""FITS export: one multi-extension file, written with pre-sized HDUs filled batch by batch.

Layout
------
* Primary HDU (no data) with provenance keywords: ``CGFORMAT``, ``FMTVER``, ``TOOLVER``,
  ``SEED`` (-1 when unknown), ``LBLMETH``, ``INHASH`` (content hash of the stamps), ``ZEROPNT``,
  ``NBLEND``, ``LAYOUT``, ``SPLITS`` (JSON), and as long strings ``OPTIONS``, ``INHASHES`` and
  ``MANIFEST`` (the manifest without its spec list, JSON).
* Per split, extensions named with the split as prefix (``TRAIN_BLEND`` ...; no prefix when unsplit):

  ============  =====================  =================================================================
  EXTNAME       data                   content
  ============  =====================  =================================================================
  ``BLEND``     (N, H, W) float32      the blends
  ``ISOLATED``  (N, 2, H, W) float32   [central, companion]
  ``MASKS``     (N, 2, H, W) uint8     footprints (0/1) of [central, companion]
  ``LABELS``    method's shape         only when a label method is given
  ``CATALOG``   binary table, N rows   blend catalogue + ``g1_flux``, ``g2_flux``; its ``g1_id``,
                                       ``g2_id``, ``shift_x``, ``shift_y``, ``rotation``, ``flip``,
                                       ``flux_scale``, ``seed`` columns are the specs, full precision
  ============  =====================  =================================================================

(Array shapes in numpy order; FITS lists ``NAXIS1`` = W first.) Headers are written first with their
final sizes; the data areas are then memory-mapped and filled, so memory does not grow with N.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..data.readers_common import open_fits
from ..errors import DataError, ExportError, one_line
from .checks import check_finite_array, check_split_names, format_version
from .common import (FORMAT_NAME, FORMAT_VERSION, AtomicFiles, CatalogueCsv, ExportData,
                     ExportResult, Splits, array_entry, build_manifest, check_specs,
                     embedded_manifest, file_entry, find_manifest, manifest_path_for,
                     normalize_splits, pick_split, stream_batches, verify_files, write_json)
from ..jobs import CancelToken, Job, check_cancel
from ..blending.catalogue import CATALOG_COLUMNS, blend_catalog, catalog_record_dtype, catalog_to_records
from ..blending.labels import LABEL_METHODS, blend_fluxes, label_dtype, label_shape, make_labels

__all__ = ["write_fits", "read_fits", "fits_splits", "fits_extname"]

_BLOCK = 2880
_FLUX_FIELDS = (("g1_flux", np.float64), ("g2_flux", np.float64))


def fits_extname(split: str | None, name: str) -> str:
    """Extension name of array ``name`` of ``split``.

    Examples
    --------
    >>> fits_extname("train", "BLEND"), fits_extname(None, "BLEND")
    ('TRAIN_BLEND', 'BLEND')
    """
    return f"{split.upper()}_{name}" if split else name


def write_fits(path: str | os.PathLike, engine: BlendEngine,
               specs: Sequence[BlendSpec] | Mapping[str, Sequence[BlendSpec]], *,
               split_name: str | None = None, method: str | None = None,
               zeropoint: float | None = None, batch_size: int = 256, seed: int | None = None,
               options: Mapping[str, Any] | None = None, manifest_name: str | None = None,
               catalogue_csv: bool = False, cancel: CancelToken | None = None) -> Job:
    """Write blends to one multi-extension FITS file (a job generator returning an ExportResult).

    Parameters
    ----------
    path : path
        Output file; an existing file is replaced only once the new one is complete.
    engine : BlendEngine
    specs : sequence of BlendSpec, or mapping split name -> specs
        A mapping writes one set of extensions per split, prefixed with the split name.
    split_name : str, optional
        Prefix the extensions of a sequence of specs with this split name.
    method : str, optional
        Also write a ``LABELS`` extension for this label method.
    zeropoint : float, optional
        AB zeropoint of the ``g1_flux``/``g2_flux`` columns; ``engine.stamps.zeropoint`` by default.
    batch_size, seed, options
        Blends per batch; seed the specs were drawn with and further settings (manifest).
    manifest_name : str, optional
        Name of the manifest written beside the file (default ``FILE.manifest.json``).
    catalogue_csv : bool
        Also write the blend catalogue of each split as ``{split_}catalogue.csv`` beside the file.
    cancel : CancelToken, optional

    Examples
    --------
    >>> from candels_gui.core.jobs import run_job
    >>> run_job(write_fits("blends.fits", engine, specs))   # doctest: +SKIP
    """
    if method is not None:
        label_dtype(method)
    splits = normalize_splits(specs, split_name)
    check_specs(engine, splits)
    out = Path(path)
    if out.is_dir():
        raise DataError(f"{out}: is a folder; give the FITS file to write")
    opts = {"batch_size": int(batch_size), "label_method": method,
            "zeropoint": engine.stamps.zeropoint if zeropoint is None else float(zeropoint),
            **dict(options or {})}
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mname = manifest_name or manifest_path_for(out).name
    if Path(mname).name != mname or mname == out.name:
        raise ValueError(f"manifest_name must be a bare file name other than {out.name!r}: {mname!r}")
    return _write(out, engine, splits, method, opts, seed, cancel, mname, bool(catalogue_csv))


def _image_header(extname: str, shape: tuple[int, ...], dtype: np.dtype, split: str | None
                  ) -> fits.Header:
    bitpix = {"u1": 8, "f4": -32}[dtype.str[1:]]
    cards = [("XTENSION", "IMAGE"), ("BITPIX", bitpix), ("NAXIS", len(shape))]
    cards += [(f"NAXIS{i + 1}", int(n)) for i, n in enumerate(reversed(shape))]
    cards += [("PCOUNT", 0), ("GCOUNT", 1), ("EXTNAME", extname), ("SPLIT", split or ""),
              ("NBLEND", int(shape[0]))]
    return fits.Header(cards)


def _disk_dtype(rec: np.dtype) -> np.dtype:
    """Big-endian row layout of the binary table (FITS logicals are the bytes 'T'/'F')."""
    fields = []
    for name in rec.names:
        dt = rec[name]
        if dt.kind == "b":
            fields.append((name, "u1"))
        elif dt.kind == "S":
            fields.append((name, dt))
        else:
            fields.append((name, dt.newbyteorder(">")))
    return np.dtype(fields)


def _primary_header(manifest: Mapping[str, Any], splits: Splits, method: str | None) -> fits.Header:
    hdr = fits.PrimaryHDU().header
    hdr["CGFORMAT"] = (FORMAT_NAME, "file written by candels-gui")
    hdr["FMTVER"] = (FORMAT_VERSION, "layout version")
    hdr["TOOLVER"] = (manifest["tool_version"], "candels-gui version")
    hdr["SEED"] = (-1 if manifest["seed"] is None else int(manifest["seed"]), "seed (-1: unknown)")
    hdr["LBLMETH"] = (method or "", "label method")
    hdr["INHASH"] = (manifest["input"]["content_hash"], "content hash of the input stamps")
    hdr["ZEROPNT"] = (float(manifest["options"]["zeropoint"]), "AB zeropoint of the fluxes")
    hdr["NBLEND"] = (sum(len(s) for _, s in splits), "blends in all splits")
    hdr["LAYOUT"] = ("prefixed" if splits[0][0] else "plain", "extension names")
    hdr["SPLITS"] = json.dumps([name for name, _ in splits])
    hdr["OPTIONS"] = json.dumps(manifest["options"])
    hdr["INHASHES"] = json.dumps(manifest["input"])
    hdr["MANIFEST"] = json.dumps(embedded_manifest(manifest))
    return hdr


def _write(path: Path, engine: BlendEngine, splits: Splits, method: str | None,
           opts: dict[str, Any], seed: int | None, cancel: CancelToken | None, manifest_name: str,
           catalogue_csv: bool) -> Job:
    h, w = engine.shape
    stamps, zp = engine.stamps, float(opts["zeropoint"])
    rec_dtype = catalog_record_dtype(stamps, extra=_FLUX_FIELDS)
    row_dtype = _disk_dtype(rec_dtype)
    manifest = build_manifest("fits", engine, splits, method=method, seed=seed, options=opts,
                              data_file=path.name,
                              split_info={name: {"extension_prefix": fits_extname(name, "")}
                                          for name, _ in splits})
    # plan: (header, shape, on-disk dtype, split index, key)
    plan: list[tuple[fits.Header, tuple[int, ...], np.dtype, int, str]] = []
    for k, (name, specs) in enumerate(splits):
        n = len(specs)
        arrays = [("BLEND", (n, h, w), np.dtype(">f4")), ("ISOLATED", (n, 2, h, w), np.dtype(">f4")),
                  ("MASKS", (n, 2, h, w), np.dtype("u1"))]
        if method is not None:
            arrays.append(("LABELS", label_shape(method, n, h, w),
                           label_dtype(method).newbyteorder(">")))
        for key, shape, dt in arrays:
            ext = fits_extname(name, key)
            plan.append((_image_header(ext, shape, dt, name), shape, dt, k, key))
            manifest["arrays"].append(array_entry(name, ext, shape, dt))
        ext = fits_extname(name, "CATALOG")
        th = fits.BinTableHDU(np.zeros(1, rec_dtype), name=ext).header
        th["NAXIS2"] = n
        th["SPLIT"], th["NBLEND"] = name or "", n
        if th["NAXIS1"] != row_dtype.itemsize:  # would mean a layout bug, never bad input
            raise RuntimeError(f"FITS row size {th['NAXIS1']} != {row_dtype.itemsize}")
        plan.append((th, (n,), row_dtype, k, "CATALOG"))
        manifest["arrays"].append(array_entry(name, ext, (n,), rec_dtype))

    atomic = AtomicFiles(path.parent)
    tmp = atomic.temp(path.name)
    csv: CatalogueCsv | None = None
    maps: list[dict[str, np.memmap]] = [{} for _ in splits]
    try:
        csv = CatalogueCsv(atomic, splits) if catalogue_csv else None
        offsets = []
        with open(tmp, "wb") as fh:
            fh.write(_primary_header(manifest, splits, method).tostring().encode("ascii"))
            for header, shape, dt, _, _ in plan:
                fh.write(header.tostring().encode("ascii"))
                offsets.append(fh.tell())
                nbytes = int(np.prod(shape)) * dt.itemsize
                padded = nbytes + (-nbytes) % _BLOCK
                if padded:
                    fh.seek(padded - 1, os.SEEK_CUR)
                    fh.write(b"\0")
        for (_, shape, dt, k, key), off in zip(plan, offsets):
            if shape[0]:
                maps[k][key] = np.memmap(tmp, dtype=dt, mode="r+", offset=off, shape=shape)

        def write(k: int, batch: BlendBatch) -> None:
            m = maps[k]
            a = int(batch.indices[0])
            b = a + len(batch)
            m["BLEND"][a:b] = batch.images
            m["ISOLATED"][a:b] = batch.isolated
            m["MASKS"][a:b] = batch.masks.view(np.uint8)
            if "LABELS" in m:
                m["LABELS"][a:b] = make_labels(method, masks=batch.masks, isolated=batch.isolated)
            cat = blend_catalog(stamps, batch.specs, start_id=a, flux_out_frac=batch.flux_out_frac)
            if csv is not None:
                csv.append(k, cat)
            flux = blend_fluxes(stamps, batch.specs, zeropoint=zp)
            cat["g1_flux"], cat["g2_flux"] = flux[:, 0], flux[:, 1]
            rec = catalog_to_records(cat, rec_dtype)
            rows = m["CATALOG"]
            for field in rec_dtype.names:
                value = rec[field]
                if value.dtype.kind == "b":
                    value = np.where(value, ord("T"), ord("F")).astype(np.uint8)
                rows[field][a:b] = value

        yield from stream_batches(engine, splits, batch_size=opts["batch_size"], cancel=cancel,
                                  write=write)
        for m in maps:
            for arr in m.values():
                arr.flush()
            m.clear()
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
        for m in maps:
            m.clear()
        atomic.discard()
        raise
    return ExportResult(path=path, fmt="fits", manifest_path=path.parent / manifest_name,
                        counts={name: len(specs) for name, specs in splits},
                        files=manifest["files"])


def _check(hdul: fits.HDUList, path: Path) -> list[str | None]:
    len(hdul)  # reads every header: a truncated file is reported (open_fits) whatever split is read
    hdr = hdul[0].header
    if hdr.get("CGFORMAT") != FORMAT_NAME:
        raise ExportError(f"{path}: not a candels-gui FITS export (keyword CGFORMAT missing)")
    format_version(hdr.get("FMTVER", 0), path, FORMAT_VERSION)
    try:
        splits = json.loads(hdr["SPLITS"])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path}: keyword SPLITS is not a JSON list ({one_line(exc, 120)})") from None
    return check_split_names(splits, path)


def fits_splits(path: str | os.PathLike) -> list[str | None]:
    """Split names of a FITS export (``[None]`` when unsplit)."""
    with open_fits(Path(path), "FITS export", memmap=False) as hdul:
        return _check(hdul, Path(path))


def _image(hdul: fits.HDUList, name: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Extension ``name`` as a native array of ``shape`` (checked), float32 or uint8 as its BITPIX says."""
    if name not in hdul:
        raise ExportError(f"{path}: extension {name} missing")
    hdu = hdul[name]
    if not getattr(hdu, "is_image", False):
        raise ExportError(f"{path}: extension {name} is not an image")
    dtype = np.dtype(np.uint8 if hdu.header.get("BITPIX") == 8 else np.float32)
    if hdu.data is None:
        if shape[0] == 0:
            return np.zeros(shape, dtype)
        raise ExportError(f"{path}: extension {name} holds no data, expected {shape}")
    data = np.asarray(hdu.data)
    if data.shape != shape:
        raise ExportError(f"{path}: extension {name} has shape {data.shape}, expected {shape}")
    return data.astype(dtype)  # native byte order, a copy


def read_fits(path: str | os.PathLike, *, split: str | None = None, verify: bool = False
              ) -> ExportData:
    """Read one split of a FITS export (see :func:`~candels_gui.core.store.export.read_export`)."""
    path = Path(path)
    manifest = find_manifest(path)
    if verify:
        if manifest is None:
            raise DataError(f"{path}: cannot verify, no manifest beside it "
                            f"({manifest_path_for(path).name} or manifest.json)")
        verify_files(path.parent, manifest)
    with open_fits(path, "FITS export", memmap=False) as hdul:
        split = pick_split(_check(hdul, path), split, path)
        if manifest is None:
            try:
                manifest = json.loads(hdul[0].header["MANIFEST"])
            except (KeyError, TypeError, ValueError, RecursionError) as exc:
                raise ExportError(f"{path}: keyword MANIFEST is not JSON ({one_line(exc, 120)})") from None
        method = hdul[0].header.get("LBLMETH") or None
        if method is not None and method not in LABEL_METHODS:
            raise ExportError(f"{path}: unknown label method {method!r}")
        ext = fits_extname(split, "CATALOG")
        if ext not in hdul:
            raise ExportError(f"{path}: extension {ext} missing")
        try:
            table = Table.read(hdul[ext], mask_invalid=False, character_as_bytes=False)
        except (TypeError, ValueError, KeyError) as exc:
            raise ExportError(f"{path}: extension {ext} is not a table ({one_line(exc, 120)})") from None
        cols = {}
        for name in table.colnames:
            col = np.asarray(table[name])
            cols[name] = col.astype(col.dtype.newbyteorder("=")) if col.dtype.kind in "iuf" else col
        missing = [c for c in (*CATALOG_COLUMNS, "g1_flux", "g2_flux") if c not in cols]
        if missing:
            raise ExportError(f"{path}: extension {ext} lacks column(s) {missing}")
        catalog = Table([cols[c] for c in CATALOG_COLUMNS], names=CATALOG_COLUMNS)
        specs = []
        for k, r in enumerate(zip(*(cols[c] for c in ("g1_id", "g2_id", "shift_x", "shift_y", "rotation",
                                                       "flip", "flux_scale", "seed")))):
            try:
                specs.append(BlendSpec(id1=int(r[0]), id2=int(r[1]), dx=float(r[2]), dy=float(r[3]),
                                       rotation=float(r[4]), flip=bool(r[5]), flux_scale=float(r[6]),
                                       seed=int(r[7])))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ExportError(f"{path}: {ext} row {k} is not a valid blend spec ({one_line(exc, 120)})") from None
        blend_ext = fits_extname(split, "BLEND")
        if blend_ext not in hdul or getattr(hdul[blend_ext], "data", None) is None and len(specs):
            raise ExportError(f"{path}: extension {blend_ext} missing or empty")
        n = len(specs)
        shape = tuple(int(v) for v in hdul[blend_ext].shape) if hdul[blend_ext].data is not None else (0, 0, 0)
        if len(shape) != 3 or shape[0] != n:
            raise ExportError(f"{path}: extension {blend_ext} has shape {shape}, expected ({n}, H, W)")
        h, w = shape[1:]
        images = _image(hdul, blend_ext, path, (n, h, w))
        isolated = _image(hdul, fits_extname(split, "ISOLATED"), path, (n, 2, h, w))
        masks = _image(hdul, fits_extname(split, "MASKS"), path, (n, 2, h, w)).astype(bool)
        labels = None
        if fits_extname(split, "LABELS") in hdul and method is not None:
            labels = _image(hdul, fits_extname(split, "LABELS"), path, label_shape(method, n, h, w))
        fluxes = np.stack([cols["g1_flux"], cols["g2_flux"]], axis=1).astype(np.float64)
        where = f"{path}:{split or ''}"
        check_finite_array(images, where, "the blend images")
        check_finite_array(isolated, where, "the isolated images")
        check_finite_array(fluxes, where, "the true fluxes")
        return ExportData(
            path=path, fmt="fits", split=split, images=images,
            fluxes=fluxes, catalog=catalog, specs=specs,
            manifest=manifest, isolated=isolated,
            masks=masks, labels=labels,
            label_method=method, flux_out_frac=cols["flux_out_frac"].astype(np.float32))
