"""Compact HDF5 exports: blends stored as their specs plus a stamp library, rendered on read.

An HDF5 export has one of two storages (root attribute ``storage``):

* ``"arrays"`` — every blend's ``blend_images``, ``isolated_images`` and ``masks`` are written out
  (224 kB per 128×128 blend);
* ``"compact"`` — only the per-blend tables (``specs``, ``fluxes``, ``flux_out_frac``, ``catalog``) and,
  once, the group ``/stamp_library``: the raw stamps, segmentation maps and catalog rows of the
  galaxies the specs use, with the index that seeded each galaxy's noise in the original stamp set
  and the engine settings. A reader rebuilds the :class:`~candels_gui.core.blending.engine.BlendEngine` and
  renders the arrays on demand; a blend is a pure function of its spec and the data (see
  :mod:`candels_gui.core.blending.engine`), so the rendered arrays are bit-identical to what ``"arrays"``
  storage would have written, at a few hundred bytes per blend.

:class:`SplitArrays` reads the arrays of one split the same way from either storage; every reader of
HDF5 exports (``read_export``, ``concatenate``, ``train``) goes through it.
"""

from __future__ import annotations

from typing import Iterable

import h5py
import numpy as np
from astropy.table import Table

from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..errors import DataError
from ..data.stampset import STANDARD_COLUMNS, StampSet

__all__ = ["STORAGES", "LIBRARY_GROUP", "write_stamp_library", "library_engine", "storage_of",
           "SplitArrays"]

#: Storages of an HDF5 export (root attribute ``storage``).
STORAGES = ("arrays", "compact")
#: Group of a compact export that holds the stamp library.
LIBRARY_GROUP = "stamp_library"


def storage_of(f: h5py.File) -> str:
    """Storage of an open HDF5 export (``"arrays"`` for files written before compact storage existed)."""
    storage = f.attrs.get("storage", "arrays")
    if storage not in STORAGES:
        raise DataError(f"{f.filename}: unknown storage {storage!r}; this program reads {STORAGES}")
    return str(storage)


def write_stamp_library(f: h5py.File, engine: BlendEngine, galaxy_ids: Iterable[int]) -> int:
    """Write the stamps of ``galaxy_ids`` (and what rendering them needs) into ``f/stamp_library``.

    Parameters
    ----------
    f : h5py.File
        The export being written.
    engine : BlendEngine
        The engine that rendered (or would render) the blends; its settings are recorded.
    galaxy_ids : iterable of int
        Catalog IDs used by the specs.

    Returns
    -------
    int
        Number of stamps written.
    """
    stamps = engine.stamps
    idx = np.unique(stamps.indices_of(sorted({int(g) for g in galaxy_ids})))
    g = f.create_group(LIBRARY_GROUP)
    g.create_dataset("images", data=np.asarray(stamps.images[idx], np.float32))
    h, w = stamps.stamp_shape
    # segmentation maps are mostly zeros: gzip level 1 stores them in ~1 % of the bytes, as fast
    g.create_dataset("segmaps", data=np.asarray(stamps.segmaps[idx], np.int32), chunks=(1, h, w),
                     compression="gzip", compression_opts=1)
    g.create_dataset("rng_index", data=np.array([engine.cache.rng_index(i) for i in idx], np.int64))
    cat = g.create_group("catalog")
    for name in STANDARD_COLUMNS:
        col = np.asarray(stamps.catalog[name][idx])
        if col.dtype.kind in "US":
            cat.create_dataset(name, data=col.astype(str).astype(object), dtype=h5py.string_dtype("utf-8"))
        else:
            cat.create_dataset(name, data=col)
    g.attrs.update({"n_dilate": engine.cache.n_dilate, "noise_model": engine.cache.noise_model,
                    "zeropoint": float(stamps.zeropoint), "source": str(stamps.source),
                    "pixel_scale": -1.0 if stamps.pixel_scale is None else float(stamps.pixel_scale),
                    "content_hash": stamps.content_hash()})
    return int(len(idx))


def library_engine(f: h5py.File) -> BlendEngine:
    """The blend engine of a compact export, rebuilt from its stamp library."""
    if LIBRARY_GROUP not in f:
        raise DataError(f"{f.filename}: compact export without its /{LIBRARY_GROUP} group")
    g = f[LIBRARY_GROUP]
    cat = g["catalog"]
    missing = [c for c in STANDARD_COLUMNS if c not in cat]
    if missing:
        raise DataError(f"{f.filename}: /{LIBRARY_GROUP}/catalog lacks column(s) {missing}")
    table = Table({c: (cat[c].asstr()[...] if cat[c].dtype.kind == "O" else cat[c][...])
                   for c in STANDARD_COLUMNS})
    a = g.attrs
    pixel_scale = float(a.get("pixel_scale", -1.0))
    stamps = StampSet(images=g["images"][...], segmaps=g["segmaps"][...], catalog=table,
                      pixel_scale=None if pixel_scale <= 0 else pixel_scale,
                      zeropoint=float(a.get("zeropoint", 25.96)),
                      source=f"{f.filename}:/{LIBRARY_GROUP} (from {a.get('source', '?')})",
                      meta={"library_content_hash": str(a.get("content_hash", ""))})
    return BlendEngine(stamps, n_dilate=int(a["n_dilate"]), noise_model=str(a["noise_model"]),
                       rng_indices=g["rng_index"][...])


class SplitArrays:
    """The image arrays of one split of an HDF5 export, read from disk or rendered from the specs.

    Parameters
    ----------
    group : h5py.Group
        The split's group (the file must stay open while this object is used).
    engine : BlendEngine, optional
        A compact export's engine, when the caller already built it (:func:`library_engine`).

    Examples
    --------
    >>> with h5py.File("out/blends.h5") as f:                        # doctest: +SKIP
    ...     images, isolated, masks = SplitArrays(f["train"]).read(slice(0, 64))
    """

    def __init__(self, group: h5py.Group, engine: BlendEngine | None = None) -> None:
        self.group = group
        self.compact = storage_of(group.file) == "compact"
        needed = ("specs",) if self.compact else ("blend_images", "isolated_images", "masks")
        missing = [k for k in needed if k not in group]
        if missing:
            raise DataError(f"{group.file.filename}: group {group.name} lacks dataset(s) {missing}")
        self.engine = (engine or library_engine(group.file)) if self.compact else None
        first = group["specs"] if self.compact else group["blend_images"]
        self.n = int(first.shape[0])
        self.shape: tuple[int, int] = (self.engine.shape if self.engine is not None
                                       else tuple(int(s) for s in first.shape[1:3]))  # type: ignore

    def __len__(self) -> int:
        return self.n

    def read(self, sel: slice | np.ndarray, *, isolated: bool = True, out: BlendBatch | None = None
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Blends ``sel`` (a slice, or increasing indices): ``(images, isolated, masks)``.

        ``images`` (B,H,W) float32, ``isolated`` (B,2,H,W) float32 (``None`` when not asked for and
        stored), ``masks`` (B,2,H,W) bool. A compact export renders into ``out`` when given (a
        :class:`BlendBatch` holding at least B blends; the arrays returned are views of it).
        """
        g = self.group
        if self.engine is not None:
            specs = [BlendSpec.from_json(s) for s in g["specs"].asstr()[sel]]
            batch = self.engine.render_batch(specs, out=out)
            return batch.images, batch.isolated, batch.masks
        iso = np.asarray(g["isolated_images"][sel], np.float32) if isolated else None
        return (np.asarray(g["blend_images"][sel], np.float32), iso,
                np.asarray(g["masks"][sel]).astype(bool))

    def __repr__(self) -> str:
        kind = "rendered" if self.compact else "stored"
        return f"SplitArrays({self.group.name!r}, n={self.n}, {kind})"

