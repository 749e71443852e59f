"""Zarr export: the HDF5 layout as a Zarr (v3) store, whose chunks are partitions that many writers fill.

A Zarr store is a folder (or an object-store prefix: any URL fsspec understands, ``s3://bucket/run``)
of one small file per chunk, so the workers of a Dask cluster write their partitions in parallel, each
its own chunks, with no lock and no writer process (:mod:`candels_gui.core.parallel`). ``--format zarr``
writes one; :func:`~candels_gui.core.store.export.read_export`, ``concatenate``, ``deblend``,
``evaluate``, ``train`` and the app's Open read it.

Mapping from the HDF5 layout (:mod:`candels_gui.core.store.hdf5`)
-----------------------------------------------------------------
The same groups (the root, or ``train`` / ``test``), array names, shapes, dtypes and attributes:

===================  ======================================  =================================================
HDF5                 Zarr                                    note
===================  ======================================  =================================================
``blend_images``     ``blend_images`` (N, H, W) f4           chunks of (partition size, H, W)
``isolated_images``  ``isolated_images`` (N, 2, H, W) f4     chunks of (partition size, 2, H, W)
``masks``            ``masks`` (N, 2, H, W) u1               attribute ``channels`` as in HDF5
``fluxes``           ``fluxes`` (N, 2) f8
``flux_out_frac``    ``flux_out_frac`` (N,) f4
``specs``            ``specs`` (N,) string                   one BlendSpec as JSON per blend
``catalog``          group ``catalog``: one (N,) array a     a compound dataset has no portable Zarr v3 type;
(compound)           column, same names; strings as          the columns read back into the same table
                     Zarr strings
``labels``           ``labels``                              only with a label method
root attributes      the same names and values               JSON text where HDF5 has JSON text
===================  ======================================  =================================================

and, Zarr only: the root attributes ``partition_size`` (rows per chunk) and ``complete`` (``false``
until every partition is written), and per split the array ``partitions_done`` (n_partitions,) u1,
one chunk per partition, set by the writer of a partition after its rows (``--resume`` computes only
the partitions still 0). A store is written under a temporary name beside its final one
(``.NAME.partial``) and renamed when complete; on an object store, where renaming means copying, it is
written in place and readers refuse it until ``complete`` is true. ``compression``: none (default),
``gzip`` (level 4) or ``lzf`` (mapped to Zstandard level 1, Zarr's fast codec).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from astropy.table import Table

from ..blending.catalogue import catalog_record_dtype, catalog_to_records, records_to_catalog
from ..blending.engine import BlendEngine, BlendSpec
from ..blending.labels import label_dtype, label_shape
from ..errors import DataError, OptionError
from .common import (FORMAT_NAME, FORMAT_VERSION, ExportData, Splits, array_entry, embedded_manifest,
                     find_manifest, pick_split)

__all__ = ["ZARR_SUFFIX", "is_zarr", "is_local", "local_path", "partial_url", "create_zarr_layout",
           "open_zarr", "write_zarr_rows", "mark_partition_done", "done_partitions", "finish_zarr",
           "zarr_splits", "read_zarr", "zarr_rows", "zarr_tables", "zarr_catalog", "LazyRows", "ZARR_COMPRESSIONS",
           "remove_store", "resumable_store"]

ZARR_SUFFIX = ".zarr"
ZARR_COMPRESSIONS = (None, "lzf", "gzip")
_DONE = "partitions_done"


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise DataError("Zarr stores need zarr: pip install 'candels-gui[dask]'") from None
    return zarr


def is_local(url: str | os.PathLike) -> bool:
    """True for a path on this machine's file system (a plain path or a ``file://`` URL)."""
    text = os.fspath(url)
    return "://" not in text or text.startswith("file://")


def local_path(url: str | os.PathLike) -> Path:
    """The local path of a plain path or ``file://`` URL."""
    text = os.fspath(url)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


def is_zarr(path: str | os.PathLike) -> bool:
    """True when ``path`` is a Zarr store: a folder holding ``zarr.json``, or a URL of another protocol
    than ``file://`` (the object stores fsspec opens)."""
    if not is_local(path):
        return True
    return (local_path(path) / "zarr.json").is_file()


def partial_url(url: str | os.PathLike) -> str:
    """Where a store is written before it is complete: ``.NAME.partial`` beside a local ``NAME``, the
    final URL itself on an object store."""
    if not is_local(url):
        return os.fspath(url)
    p = local_path(url)
    return str(p.with_name(f".{p.name}.partial"))


def resumable_store(url: str, digest: str, what: str, *, final: str | None = None) -> bool:
    """True when an unfinished store at ``url`` was started by the same run (same digest); False when there is
    none to resume. An unfinished store of another run (other data, options or seed) is refused: resuming
    must not throw its partitions away unasked; so is ``--resume`` onto a finished local store ``final`` with
    nothing unfinished beside it (it would compute it all again)."""
    try:
        root = open_zarr(url, mode="r")
    except (DataError, OSError):
        if final is not None and is_local(final) and local_path(final).exists():
            raise OptionError(f"--resume: nothing to resume (no unfinished store {url}; {final} is complete): "
                              f"drop --resume to compute it again") from None
        return False
    if root.attrs.get("complete", False):
        return False
    if root.attrs.get("run_digest") != digest:
        raise OptionError(f"--resume: the unfinished store {url} was started by another run (other data, "
                          f"options, seed or partition size); resume it with {what} as it was first given, or run "
                          f"again without --resume (and with --force) to start over")
    return True


def remove_store(url: str | os.PathLike) -> None:
    """Delete a store (a local folder, or every object under a URL)."""
    if is_local(url):
        shutil.rmtree(local_path(url), ignore_errors=True)
        return
    import fsspec

    fs, root = fsspec.core.url_to_fs(os.fspath(url))
    if fs.exists(root):
        fs.rm(root, recursive=True)


def open_zarr(url: str | os.PathLike, mode: str = "r") -> Any:
    """The root group of the store at ``url`` (a path or an fsspec URL).

    Raises
    ------
    DataError
        The store is missing, or its metadata (``zarr.json``) cannot be read.
    """
    zarr = _zarr()
    target = str(local_path(url)) if is_local(url) else os.fspath(url)
    try:
        return zarr.open_group(store=target, mode=mode)
    except (FileNotFoundError, KeyError) as exc:
        raise DataError(f"{url}: not a Zarr store ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - zarr raises what its JSON and metadata parsers raise
        from ..errors import one_line

        raise DataError(f"{url}: damaged Zarr metadata (zarr.json): {type(exc).__name__}: "
                        f"{one_line(exc, 200)}") from None


#: The arrays of a split of a Zarr export: (trailing shape of a row, number kind: 'f' float, 'u' uint, ...).
_SPLIT_ARRAYS = {"blend_images": ("hw", "f"), "isolated_images": ("2hw", "f"), "masks": ("2hw", "ub"),
                 "fluxes": ("2", "f"), "flux_out_frac": ("", "f"), "specs": ("", "OUT")}
#: Arrays whose chunks always hold data (Zarr does not write a chunk that is all fill value: a missing chunk
#: of these is damage; of the masks or flux_out_frac it may be legitimate).
_NEVER_EMPTY = ("blend_images", "isolated_images", "fluxes", "specs")
_checked: dict[tuple[str, int], list[str | None]] = {}


def _missing_chunks(array: Any, folder: Path) -> int:
    """How many chunk files of a local array are absent (Zarr reads a missing chunk as zeros)."""
    shape, chunks = tuple(array.shape), tuple(array.chunks)
    counts = [max(1, -(-n // c)) for n, c in zip(shape, chunks)] if shape else []
    if not shape or 0 in shape:
        return 0
    missing = 0
    for index in np.ndindex(*counts):
        if not (folder / "c" / Path(*[str(i) for i in index])).is_file():
            missing += 1
    return missing


def check_export_store(url: str | os.PathLike, root: Any | None = None) -> list[str | None]:
    """Check a Zarr export before anything is read from it; returns its split names.

    Checked: the root attributes (format, version, ``complete``, the splits: a JSON list of plain names),
    every split's group and arrays (present, one row per blend, consistent image shapes, number types)
    and, for a local store, that no chunk file of the images, fluxes and specs is missing (Zarr would read
    zeros in its place). Checks
    once per state of the store's root metadata.

    Raises
    ------
    DataError
        Naming the store and what is wrong.
    """
    from .checks import check_split_names, format_version

    key = (os.fspath(url), 0)     # a remote store: checked once per process
    if is_local(url):
        meta = local_path(url) / "zarr.json"
        try:
            key = (str(meta.resolve()), meta.stat().st_mtime_ns)
        except OSError:
            raise DataError(f"{url}: not a Zarr store (no zarr.json)") from None
    if key in _checked:
        return _checked[key]
    root = open_zarr(url) if root is None else root
    attrs = root.attrs
    if attrs.get("format") != FORMAT_NAME:
        raise DataError(f"{url}: not a candels-gui Zarr export (root attribute 'format' is "
                        f"{attrs.get('format')!r}, expected {FORMAT_NAME!r})")
    format_version(attrs.get("format_version", 0), url, FORMAT_VERSION)
    if attrs.get("complete", False) is not True:
        raise DataError(f"{url}: an unfinished Zarr store (a run stopped before its end, attribute 'complete' "
                        f"false); finish it with the same command and --resume")
    try:
        names = json.loads(attrs.get("splits", ""))
    except (TypeError, ValueError):
        raise DataError(f"{url}: root attribute 'splits' is not a JSON list ({attrs.get('splits')!r})") from None
    splits = check_split_names(names, url)
    for split in splits:
        where = f"{url}" + (f", split {split!r}" if split else "")
        try:
            g = _split_group(root, split)
            arrays = {name: g[name] for name in _SPLIT_ARRAYS}
        except Exception as exc:  # noqa: BLE001 - a group or array missing or unreadable
            raise DataError(f"{where}: missing or unreadable group or array ({type(exc).__name__}: "
                            f"{exc})") from None
        n = int(arrays["specs"].shape[0]) if arrays["specs"].ndim == 1 else -1
        hw = tuple(arrays["blend_images"].shape[1:])
        if n < 0 or len(hw) != 2 or min(hw, default=0) < 1:
            raise DataError(f"{where}: 'specs' {arrays['specs'].shape} and 'blend_images' "
                            f"{arrays['blend_images'].shape} are not (N,) and (N, H, W)")
        want = {"hw": hw, "2hw": (2, *hw), "2": (2,), "": ()}
        for name, (rest, kinds) in _SPLIT_ARRAYS.items():
            a = arrays[name]
            if tuple(a.shape) != (n, *want[rest]):
                raise DataError(f"{where}: array {name!r} has shape {tuple(a.shape)}, expected "
                                f"{(n, *want[rest])} ({n} blends)")
            if np.dtype(a.dtype).kind not in kinds:
                raise DataError(f"{where}: array {name!r} holds {a.dtype}, not the expected numbers")
            if is_local(url) and name in _NEVER_EMPTY:
                folder = local_path(url) / (split or "") / name
                missing = _missing_chunks(a, folder)
                if missing:
                    raise DataError(f"{where}: array {name!r} lacks {missing} chunk file(s) under {folder} "
                                    f"(a damaged or partly copied store)")
        with read_guard(url, f"the specs of split {split!r}"):   # small, and needed by every reader
            arrays["specs"][...]
    _checked[key] = splits
    return splits


def read_guard(url: Any, what: str) -> Any:
    """A context manager turning a Zarr decoding error while reading ``what`` into a DataError."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - codecs raise RuntimeError, ValueError, TypeError...
            from ..errors import one_line

            raise DataError(f"{url}: cannot read {what} ({type(exc).__name__}: {one_line(exc, 200)}); "
                            f"the store is damaged") from None
    return guard()


def _compressors(compression: str | None) -> Any:
    if compression not in ZARR_COMPRESSIONS:
        raise ValueError(f"compression must be one of {ZARR_COMPRESSIONS}, got {compression!r}")
    if compression is None:
        return None
    from zarr.codecs import GzipCodec, ZstdCodec

    return [GzipCodec(level=4)] if compression == "gzip" else [ZstdCodec(level=1)]


def create_zarr_layout(url: str, engine: BlendEngine, splits: Splits, *, manifest: Mapping[str, Any],
                       partition_size: int, method: str | None = None, compression: str | None = None
                       ) -> list[dict[str, Any]]:
    """Create the empty store of an export at ``url``: groups, arrays sized and chunked by partition,
    the root attributes of :mod:`.hdf5`, ``complete`` false. Returns the manifest's array entries."""
    h, w = engine.shape
    p = int(partition_size)
    comp = _compressors(compression)
    root = open_zarr(url, mode="w")
    grouped = splits[0][0] is not None
    root.attrs.update({
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "tool_version": manifest["tool_version"],
        "seed": -1 if manifest["seed"] is None else int(manifest["seed"]),
        "options": json.dumps(manifest["options"]), "input_hashes": json.dumps(manifest["input"]),
        "label_method": method or "", "layout": "groups" if grouped else "root", "storage": "arrays",
        "splits": json.dumps([name for name, _ in splits]), "partition_size": p, "complete": False})
    rec = catalog_record_dtype(engine.stamps)
    entries = []
    for name, specs in splits:
        n = len(specs)
        g = root.create_group(name) if grouped else root
        g.attrs.update({"split": name or "", "n_blends": n})
        layout: list[tuple[str, tuple[int, ...], Any]] = [
            ("blend_images", (n, h, w), np.float32), ("isolated_images", (n, 2, h, w), np.float32),
            ("masks", (n, 2, h, w), np.uint8), ("fluxes", (n, 2), np.float64),
            ("flux_out_frac", (n,), np.float32), ("specs", (n,), str)]
        if method is not None:
            layout.append(("labels", label_shape(method, n, h, w), label_dtype(method)))
        for key, shape, dtype in layout:
            chunks = (max(1, min(p, n)), *shape[1:])
            arr = g.create_array(key, shape=shape, chunks=chunks, dtype=dtype,
                                 compressors=comp if dtype is not str else "auto",
                                 fill_value="" if dtype is str else 0)
            entries.append(array_entry(name, f"{'/' + name if name else ''}/{key}", shape,
                                       object if dtype is str else dtype))
            if key == "masks":
                arr.attrs["channels"] = "central, companion (0/1)"
            if key == "labels":
                arr.attrs["label_method"] = method
        cat = g.create_group("catalog")
        for field in rec.names:
            dt = rec[field]
            col_dtype: Any = str if dt.kind == "S" else dt
            cat.create_array(field, shape=(n,), chunks=(max(1, min(p, n)),), dtype=col_dtype,
                             fill_value="" if col_dtype is str else 0)
        entries.append(array_entry(name, f"{'/' + name if name else ''}/catalog", (n,), rec))
        n_parts = max(1, -(-n // p))
        g.create_array(_DONE, shape=(n_parts,), chunks=(1,), dtype=np.uint8, fill_value=0)
    return entries


def _split_group(root: Any, split: str | None) -> Any:
    return root if not split else root[split]


def write_zarr_rows(url: str, split: str | None, start: int, arrays: Mapping[str, np.ndarray],
                    catalog: Table | None = None) -> None:
    """Write rows ``start ..`` of the named arrays (and of the catalogue's columns) of one split."""
    g = _split_group(open_zarr(url, mode="r+"), split)
    for key, data in arrays.items():
        g[key][start:start + len(data)] = data
    if catalog is not None:
        for field, arr in g["catalog"].arrays():
            col = np.asarray(catalog[field])
            arr[start:start + len(col)] = col.astype(object) if col.dtype.kind in "US" else col


def mark_partition_done(url: str, split: str | None, index: int) -> None:
    """Record partition ``index`` of ``split`` as written (its own chunk of ``partitions_done``)."""
    g = _split_group(open_zarr(url, mode="r+"), split)
    g[_DONE][index] = 1


def done_partitions(url: str, split: str | None) -> np.ndarray:
    """(n_partitions,) bool: the partitions of ``split`` already written."""
    g = _split_group(open_zarr(url, mode="r"), split)
    return np.asarray(g[_DONE][...], bool)


def finish_zarr(url: str, manifest: Mapping[str, Any]) -> None:
    """Mark a store complete: the embedded manifest, then ``complete`` true."""
    root = open_zarr(url, mode="r+")
    root.attrs.update({"manifest": json.dumps(embedded_manifest(manifest)), "complete": True})


def _check(root: Any, url: Any) -> list[str | None]:
    return check_export_store(url, root)


def zarr_splits(url: str | os.PathLike) -> list[str | None]:
    """Split names of a Zarr export (``[None]`` when unsplit)."""
    return _check(open_zarr(url), url)


def zarr_catalog(group: Any, sel: Any = slice(None)) -> Table:
    """Rows ``sel`` of the blend catalogue of a split's group, as :mod:`.hdf5` reads it back."""
    from ..blending.catalogue import CATALOG_COLUMNS

    arrays = dict(group["catalog"].arrays())
    names = [n for n in CATALOG_COLUMNS if n in arrays] + sorted(set(arrays) - set(CATALOG_COLUMNS))
    cols = {}
    for name in names:
        col = np.asarray(arrays[name][sel])
        cols[name] = np.array(col.tolist(), dtype=str) if col.dtype.kind in "OUT" else col
    return records_to_catalog(catalog_to_records(Table(cols, names=names), _record_dtype(cols, names)))


def _record_dtype(cols: Mapping[str, np.ndarray], names: list[str]) -> np.dtype:
    fields = []
    for name in names:
        col = cols[name]
        if col.dtype.kind == "U":
            width = max(1, max((len(s.encode()) for s in col.tolist()), default=1))
            fields.append((name, f"S{width}"))
        else:
            fields.append((name, col.dtype))
    return np.dtype(fields)


def zarr_rows(url: str, split: str | None, sel: Any, *, isolated: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Blends ``sel`` (a slice or increasing indices) of one split: ``(images, isolated, masks)``."""
    check_export_store(url)
    g = _split_group(open_zarr(url), split)
    pick = (lambda a: a[sel]) if isinstance(sel, slice) else (lambda a: a.oindex[np.asarray(sel)])
    with read_guard(url, "the images"):
        iso = np.asarray(pick(g["isolated_images"]), np.float32) if isolated else None
        return (np.asarray(pick(g["blend_images"]), np.float32), iso, np.asarray(pick(g["masks"])).astype(bool))


def zarr_tables(url: str, split: str | None) -> dict[str, Any]:
    """The per-blend tables of one split, without the images: ``fluxes``, ``flux_out_frac``, ``specs``,
    ``catalog``, and ``n``."""
    from .checks import parse_specs

    check_export_store(url)
    g = _split_group(open_zarr(url), split)
    with read_guard(url, "the blend tables"):
        return {"n": int(g["specs"].shape[0]), "fluxes": np.asarray(g["fluxes"][...]),
                "flux_out_frac": np.asarray(g["flux_out_frac"][...]),
                "specs": parse_specs([str(s) for s in g["specs"][...].tolist()], str(url)),
                "catalog": zarr_catalog(g)}


class LazyRows:
    """A Zarr array read on indexing, as a memory-mapped npy array is: ``shape``, ``ndim``, ``dtype``,
    ``len``, ``rows[sel]`` (a numpy array of ``dtype``) and ``numpy.asarray(rows)`` (everything)."""

    def __init__(self, array: Any, dtype: Any) -> None:
        self.array, self.dtype = array, np.dtype(dtype)
        self.shape: tuple[int, ...] = tuple(int(n) for n in array.shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, sel: Any) -> np.ndarray:
        with read_guard(self.array.store_path, f"array {self.array.path!r}"):
            if isinstance(sel, np.ndarray) or isinstance(sel, list):
                return np.asarray(self.array.oindex[np.asarray(sel)]).astype(self.dtype, copy=False)
            return np.asarray(self.array[sel]).astype(self.dtype, copy=False)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"LazyRows({self.array.path!r}, shape={self.shape}, dtype={self.dtype})"


def read_zarr(url: str | os.PathLike, *, split: str | None = None, verify: bool = False, lazy: bool = False
              ) -> ExportData:
    """Read one split of a Zarr export (see :func:`~candels_gui.core.store.export.read_export`).

    ``verify`` checks the files the manifest lists beside a local store (the blend catalogues); the
    store's chunks are not hashed (Zarr checks nothing either: a missing chunk reads as zeros, so a
    store is read only once ``complete``). ``lazy``: the images, isolated images, masks and labels are
    :class:`LazyRows`, read when indexed (``read_export(..., mmap=True)``).
    """
    root = open_zarr(url)
    split = pick_split(_check(root, url), split, url)
    manifest = None
    if is_local(url):
        path = local_path(url)
        manifest = find_manifest(path)
        if verify and manifest is not None:
            from .common import verify_files

            verify_files(path.parent, {"files": [f for f in manifest.get("files", [])
                                                 if f.get("name") != path.name]})
    if manifest is None:
        manifest = json.loads(root.attrs.get("manifest", "{}"))
    g = _split_group(root, split)
    method = root.attrs.get("label_method") or None
    if lazy:
        images, isolated, masks = (LazyRows(g["blend_images"], np.float32),
                                   LazyRows(g["isolated_images"], np.float32), LazyRows(g["masks"], bool))
        labels: Any = LazyRows(g["labels"], g["labels"].dtype) if "labels" in g else None
    else:
        images, isolated, masks = zarr_rows(url, split, slice(None))
        with read_guard(url, "the labels"):
            labels = np.asarray(g["labels"][...]) if "labels" in g else None
    tables = zarr_tables(url, split)
    return ExportData(path=local_path(url) if is_local(url) else Path(os.fspath(url)), fmt="zarr",
                      split=split, images=images, fluxes=tables["fluxes"], catalog=tables["catalog"],  # type: ignore[arg-type]
                      specs=tables["specs"], manifest=manifest, isolated=isolated, masks=masks,  # type: ignore[arg-type]
                      labels=labels, label_method=method, flux_out_frac=tables["flux_out_frac"])
