"""What a worker reads by itself: the stamps a run renders from, and rows of one split of an export.

The tasks of a partitioned run (:mod:`candels_gui.core.parallel`) carry descriptions, not data: a
:class:`StampSource` (the input's path and the content hash the client read there) and a
:class:`SplitSource` (an export's path or URL, its format and split). A worker loads the stamps once per
process (:func:`~candels_gui.core.parallel.worker_cached`) and checks that it reads the same data as the
client (same :meth:`~candels_gui.core.data.stampset.StampSet.content_hash`); it reads only the rows of its
partition from an HDF5 file or a Zarr store (npy and FITS exports are read whole, once per worker).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..blending.engine import BlendEngine, BlendSpec
from ..data.stampset import StampSet
from ..errors import DataError
from ..parallel import worker_cached
from .common import ExportData, find_manifest

__all__ = ["StampSource", "SplitSource", "open_split", "split_tables", "compare_exports"]


@dataclass(frozen=True)
class StampSource:
    """The stamps of a run, as a worker finds them: the input at ``path`` (the same path on every
    machine, or shared storage) read with ``load_options``, whose content hash must be ``content_hash``.

    ``path`` None: the tasks carry the StampSet itself (stamps held in memory with no file behind them;
    sent to each worker once) and pass it to :meth:`load`.
    """

    path: str | None
    content_hash: str
    load_options: tuple[tuple[str, Any], ...] = ()

    def load(self, stamps: StampSet | None = None) -> StampSet:
        """The stamps, read once per process and checked against :attr:`content_hash` (``stamps`` when
        given)."""
        if stamps is not None:
            return stamps
        return worker_cached(("stamps", self.path, self.content_hash, self.load_options), self._read)

    def _read(self) -> StampSet:
        from ..data.load import load_stampset

        if self.path is None or not Path(self.path).exists():
            raise DataError(f"a worker cannot find the input data {self.path}: every worker needs it at the "
                            f"same path (or on shared storage)")
        stamps = load_stampset(self.path, **dict(self.load_options))
        if stamps.content_hash() != self.content_hash:
            raise DataError(f"a worker reads other data at {self.path} (content hash {stamps.content_hash()}, "
                            f"the client's {self.content_hash}): give every worker the same input")
        return stamps

    def engine(self, stamps: StampSet | None = None, *, noise_model: str, n_dilate: int = 5) -> BlendEngine:
        """A blend engine on these stamps, one per process (its cleaned-stamp cache is kept)."""
        return worker_cached(("engine", self.content_hash, self.path, noise_model, int(n_dilate)),
                             lambda: BlendEngine(self.load(stamps), noise_model=noise_model,  # type: ignore[arg-type]
                                                 n_dilate=int(n_dilate)))


@dataclass(frozen=True)
class SplitSource:
    """One split of an export: ``path`` (file, folder or URL), its ``fmt`` and ``split``, ``n`` blends.

    :meth:`rows` reads blends by row on whichever machine runs it.
    """

    path: str
    fmt: str
    split: str | None
    n: int

    def rows(self, sel: slice | np.ndarray, *, isolated: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Blends ``sel`` (a slice or increasing indices): ``(images, isolated, masks)``; ``isolated``
        and ``masks`` are ``None`` when the export lacks them (npy layouts) or ``isolated`` is False."""
        if self.fmt == "zarr":
            from .zarr_store import zarr_rows

            return zarr_rows(self.path, self.split, sel, isolated=isolated)
        if self.fmt == "hdf5":
            return _hdf5_rows(self.path, self.split, sel, isolated)
        data = _whole(self.path, self.split)
        iso = None if data.isolated is None or not isolated else np.asarray(data.isolated[sel], np.float32)
        masks = None if data.masks is None else np.asarray(data.masks[sel], bool)
        return np.asarray(data.images[sel], np.float32), iso, masks


def _stat_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return path, st.st_mtime_ns, st.st_size


def _whole(path: str, split: str | None) -> ExportData:
    """An npy or FITS export read once per process (npy memory-mapped)."""
    from .export import read_export

    key = _stat_key(path if not Path(path).is_dir() else str(Path(path) / "manifest.json"))
    return worker_cached(("export", key, split), lambda: read_export(path, split=split, mmap=True)
                         if Path(path).is_dir() else read_export(path, split=split))


def _hdf5_rows(path: str, split: str | None, sel: Any, isolated: bool
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    import h5py

    from .stamp_library import SplitArrays, library_engine, storage_of

    key = _stat_key(path)
    with h5py.File(path, "r") as f:
        engine = None
        if storage_of(f) == "compact":
            engine = worker_cached(("library", key), lambda: library_engine(f))
        arrays = SplitArrays(f if split is None else f[split], engine)
        return arrays.read(sel, isolated=isolated)


def open_split(path: str | os.PathLike, split: str | None) -> SplitSource:
    """The :class:`SplitSource` of ``split`` of the export at ``path`` (any format ``read_export``
    reads; ``split`` None when it has one split only)."""
    from .common import pick_split
    from .export import detect_export, export_splits

    fmt, where = detect_export(path)
    if isinstance(where, Path):
        where = where.resolve()       # workers have other working folders
    split = pick_split(export_splits(path), split, path)
    if fmt == "zarr":
        from .zarr_store import open_zarr

        root = open_zarr(where)
        n = int((root if not split else root[split])["specs"].shape[0])
    elif fmt == "hdf5":
        import h5py

        with h5py.File(where, "r") as f:
            n = int((f if split is None else f[split])["specs"].shape[0])
    else:
        n = len(_whole(os.fspath(where), split))
    return SplitSource(os.fspath(where), fmt, split, n)


def split_tables(source: SplitSource) -> dict[str, Any]:
    """The per-blend tables of a split, without its images: ``fluxes``, ``specs``, ``catalog``,
    ``manifest``, ``label_method``, ``has_isolated``, ``has_masks``, ``path``."""
    if source.fmt == "zarr":
        from .zarr_store import open_zarr, zarr_tables
        import json

        out = zarr_tables(source.path, source.split)
        root = open_zarr(source.path)
        from .zarr_store import is_local, local_path

        manifest = find_manifest(local_path(source.path)) if is_local(source.path) else None
        out.update(manifest=manifest or json.loads(root.attrs.get("manifest", "{}")),
                   label_method=root.attrs.get("label_method") or None, has_isolated=True, has_masks=True)
        return out
    if source.fmt == "hdf5":
        import json

        import h5py

        from ..blending.catalogue import records_to_catalog

        with h5py.File(source.path, "r") as f:
            g = f if source.split is None else f[source.split]
            manifest = find_manifest(Path(source.path)) or json.loads(f.attrs["manifest"])
            return {"n": source.n, "fluxes": g["fluxes"][...], "flux_out_frac": g["flux_out_frac"][...],
                    "specs": [BlendSpec.from_json(s) for s in g["specs"].asstr()[...]],
                    "catalog": records_to_catalog(g["catalog"][...]), "manifest": manifest,
                    "label_method": f.attrs.get("label_method") or None, "has_isolated": True,
                    "has_masks": True}
    data = _whole(source.path, source.split)
    return {"n": len(data), "fluxes": np.asarray(data.fluxes), "flux_out_frac": data.flux_out_frac,
            "specs": data.specs, "catalog": data.catalog, "manifest": data.manifest,
            "label_method": data.label_method, "has_isolated": data.isolated is not None,
            "has_masks": data.masks is not None}


def compare_exports(a: str | os.PathLike, b: str | os.PathLike, *, limit: int | None = None,
                    chunk: int = 256) -> list[str]:
    """What differs between two exports of the same blends (any formats, storages): their splits, and per
    split the blend images, isolated images, masks, fluxes, specs and catalogue of the first ``limit``
    blends (all by default), read ``chunk`` at a time. An empty list: the same values, bit for bit.

    Examples
    --------
    >>> compare_exports("BIG", "REF", limit=2000)     # doctest: +SKIP
    []
    """
    from .export import export_splits

    if export_splits(a) != export_splits(b):
        return [f"splits differ: {export_splits(a)} vs {export_splits(b)}"]
    out = []
    for split in export_splits(a):
        sa, sb = open_split(a, split), open_split(b, split)
        if sa.n != sb.n:
            out.append(f"{split}: {sa.n} vs {sb.n} blends")
            continue
        n = sa.n if limit is None else min(sa.n, int(limit))
        ta, tb = split_tables(sa), split_tables(sb)
        for key in ("fluxes", "flux_out_frac"):
            if ta[key] is not None and tb[key] is not None and not np.array_equal(ta[key][:n], tb[key][:n]):
                out.append(f"{split}: {key} differ")
        if ta["specs"][:n] != tb["specs"][:n]:
            out.append(f"{split}: specs differ")
        for col in ta["catalog"].colnames:
            if col not in tb["catalog"].colnames or not np.array_equal(np.asarray(ta["catalog"][col][:n]),
                                                                       np.asarray(tb["catalog"][col][:n])):
                out.append(f"{split}: catalogue column {col} differs")
        for start in range(0, n, int(chunk)):
            sel = slice(start, min(n, start + int(chunk)))
            for name, x, y in zip(("blend images", "isolated images", "masks"), sa.rows(sel), sb.rows(sel)):
                if x is not None and y is not None and not np.array_equal(x, y):
                    out.append(f"{split}: {name} differ in blends {sel.start}..{sel.stop - 1}")
    return out
