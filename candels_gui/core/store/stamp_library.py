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
from ..errors import DataError, ExportError, one_line
from ..data.readers_common import check_stamp_pixels
from ..data.stampset import STANDARD_COLUMNS, StampSet
from .checks import check_finite_array, check_spec_offsets, parse_specs

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
        raise ExportError(f"{f.filename}: unknown storage {storage!r}; this program reads {STORAGES}")
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
    # what opening the export in the app needs beside rendering: where the stamps hold no data (the fill
    # overlay, the metrics' fill fractions) and the PSFs (statmorph, the deblenders that take one)
    if stamps.fillmask is not None:
        g.create_dataset("fillmask", data=np.asarray(stamps.fillmask[idx]) != 0, chunks=(1, h, w),
                         compression="gzip", compression_opts=1)
    if stamps.psfs is not None:
        g.create_dataset("psfs", data=np.asarray(stamps.psfs[idx], np.float32))
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
    """The blend engine of a compact export, rebuilt from its stamp library (checked first: shapes,
    lengths, finite and usable stamps, engine settings)."""
    src = f"{f.filename}:/{LIBRARY_GROUP}"
    if LIBRARY_GROUP not in f or not isinstance(f[LIBRARY_GROUP], h5py.Group):
        raise ExportError(f"{f.filename}: compact export without its /{LIBRARY_GROUP} group")
    g = f[LIBRARY_GROUP]
    missing = [k for k in ("images", "segmaps", "rng_index", "catalog") if k not in g]
    if missing:
        raise ExportError(f"{src} lacks {missing}")
    cat = g["catalog"]
    missing = [c for c in STANDARD_COLUMNS if c not in cat]
    if missing:
        raise ExportError(f"{src}/catalog lacks column(s) {missing}")
    images, segmaps, rng_index = g["images"], g["segmaps"], g["rng_index"]
    if images.ndim != 3 or images.dtype.kind != "f" or segmaps.shape != images.shape \
            or segmaps.dtype.kind not in "iu" or rng_index.shape != (images.shape[0],):
        raise ExportError(f"{src}: images {images.dtype} {images.shape}, segmaps {segmaps.dtype} {segmaps.shape}, "
                          f"rng_index {rng_index.shape}: expected float (M, H, W), integer (M, H, W) and (M,)")
    try:
        table = Table({c: (cat[c].asstr()[...] if cat[c].dtype.kind == "O" else cat[c][...])
                       for c in STANDARD_COLUMNS})
        a = g.attrs
        pixel_scale = float(a.get("pixel_scale", -1.0))
        zeropoint = float(a.get("zeropoint", 25.96))
        n_dilate, noise_model = int(a["n_dilate"]), str(a["noise_model"])
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ExportError(f"{src}: unreadable catalog or attributes ({one_line(exc, 160)})") from None
    if len(table) != images.shape[0]:
        raise ExportError(f"{src}/catalog has {len(table)} rows for {images.shape[0]} stamps")
    pixels = np.asarray(images[...], np.float32)
    check_stamp_pixels(pixels, src)
    fillmask, psfs = _optional_layers(g, images.shape, src)
    try:
        stamps = StampSet(images=pixels, segmaps=np.asarray(segmaps[...], np.int32), catalog=table,
                          fillmask=fillmask, psfs=psfs,
                          pixel_scale=None if not pixel_scale > 0 else pixel_scale, zeropoint=zeropoint,
                          source=f"{src} (from {a.get('source', '?')})",
                          meta={"library_content_hash": str(a.get("content_hash", ""))})
        return BlendEngine(stamps, n_dilate=n_dilate, noise_model=noise_model, rng_indices=rng_index[...])
    except DataError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{src}: not a valid stamp library ({one_line(exc, 160)})") from None


def _optional_layers(g: h5py.Group, shape: tuple[int, ...], src: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The library's fill masks and PSFs (``None`` when the data had none), checked against its stamps."""
    fillmask = psfs = None
    if "fillmask" in g:
        ds = g["fillmask"]
        if ds.shape != shape or ds.dtype.kind not in "bui":
            raise ExportError(f"{src}/fillmask: {ds.dtype} {ds.shape}, expected a boolean {shape}")
        fillmask = np.asarray(ds[...]) != 0
    if "psfs" in g:
        ds = g["psfs"]
        if ds.ndim != 3 or ds.shape[0] != shape[0] or ds.dtype.kind != "f":
            raise ExportError(f"{src}/psfs: {ds.dtype} {ds.shape}, expected float ({shape[0]}, h, w)")
        psfs = np.asarray(ds[...], np.float32)
        if not np.isfinite(psfs).all():
            raise ExportError(f"{src}/psfs hold NaN or infinite values; the export is corrupt")
    return fillmask, psfs


def _first_index(sel: slice | np.ndarray) -> int:
    """The first blend a selection (a slice, or increasing indices) reads: what its error messages count from."""
    if isinstance(sel, slice):
        return sel.start or 0
    return int(np.min(sel)) if len(sel) else 0


class SplitArrays:
    """The image arrays of one split of an HDF5 export, read from disk or rendered from the specs.

    Everything read is checked: the datasets' shapes, the specs (valid, naming galaxies of the library,
    galaxy 2 on the stamp) and the arrays (finite): a corrupt or tampered export raises a
    :class:`~candels_gui.core.errors.DataError` naming the file and the blend.

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
        self.where = f"{group.file.filename}:{group.name}"
        self.compact = storage_of(group.file) == "compact"
        needed = ("specs",) if self.compact else ("blend_images", "isolated_images", "masks")
        missing = [k for k in needed if k not in group or not isinstance(group[k], h5py.Dataset)]
        if missing:
            raise ExportError(f"{group.file.filename}: group {group.name} lacks dataset(s) {missing}")
        self.engine = (engine or library_engine(group.file)) if self.compact else None
        if self.compact:
            specs = group["specs"]
            if specs.ndim != 1 or h5py.check_string_dtype(specs.dtype) is None:
                raise ExportError(f"{self.where}/specs is {specs.dtype} {specs.shape}, expected (N,) JSON texts")
            self.n = int(specs.shape[0])
            self.shape: tuple[int, int] = self.engine.shape  # type: ignore[union-attr]
        else:
            images = group["blend_images"]
            if images.ndim != 3 or images.dtype.kind != "f":
                raise ExportError(f"{self.where}/blend_images is {images.dtype} {images.shape}, expected "
                                  f"float (N, H, W)")
            n, h, w = (int(v) for v in images.shape)
            for key in ("isolated_images", "masks"):
                if group[key].shape != (n, 2, h, w):
                    raise ExportError(f"{self.where}/{key} has shape {group[key].shape}, expected "
                                      f"{(n, 2, h, w)}")
            self.n, self.shape = n, (h, w)

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
        start = _first_index(sel)
        if self.engine is not None:
            batch = self.render(self.specs(sel), start=start, out=out)
            return batch.images, batch.isolated, batch.masks
        iso = np.asarray(g["isolated_images"][sel], np.float32) if isolated else None
        images, masks = np.asarray(g["blend_images"][sel], np.float32), np.asarray(g["masks"][sel]).astype(bool)
        check_finite_array(images, self.where, "the blend images", start=start)
        if iso is not None:
            check_finite_array(iso, self.where, "the isolated images", start=start)
        return images, iso, masks

    def specs(self, sel: slice | np.ndarray) -> list[BlendSpec]:
        """A compact export's specs ``sel``, parsed and checked (galaxy 2 on the stamp)."""
        start = _first_index(sel)
        specs = parse_specs(self.group["specs"][sel], f"{self.where}/specs", start=start)
        check_spec_offsets(specs, self.shape, f"{self.where}/specs", start=start)
        return specs

    def render(self, specs: list[BlendSpec], *, start: int, out: BlendBatch | None = None) -> BlendBatch:
        """Render a compact export's ``specs`` (from :meth:`specs`; blend ``start`` first) into ``out``, checked
        finite (the error names the export and the blend)."""
        if self.engine is None:
            raise ExportError(f"{self.where}: stores its arrays; read them with read()")
        try:
            batch = self.engine.render_batch(specs, out=out)
        except KeyError as exc:
            raise ExportError(f"{self.where}/specs: {one_line(exc.args[0] if exc.args else exc, 200)}") from None
        check_finite_array(batch.images, self.where, "the blend images", start=start)
        check_finite_array(batch.isolated, self.where, "the isolated images", start=start)
        return batch

    def __repr__(self) -> str:
        kind = "rendered" if self.compact else "stored"
        return f"SplitArrays({self.group.name!r}, n={self.n}, {kind})"

