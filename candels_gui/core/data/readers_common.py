"""Pieces shared by the stamp readers: file access, validation, catalog mapping and segmentation.

Every reader (:mod:`.readers_npy`, :mod:`.readers_fits`, :mod:`.readers_galsim`) loads its arrays,
then runs the same checks from here before it builds a :class:`~candels_gui.core.data.stampset.StampSet`,
so a bad input fails with the same clear :class:`~candels_gui.core.errors.DataError` whatever its format,
and nothing half-loaded is ever returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np
from astropy.table import Table

from ..errors import (CatalogError, DataError, DataWarning, DegenerateError, LabelError, ShapeError,
                      WrappedLabelsError)
from .label_checks import background_level, check_stamp_pixels, is_narrow
from ..jobs import CancelToken, Job, Progress, check_cancel
from .stampset import STANDARD_COLUMNS

__all__ = [
    "DEFAULT_ZEROPOINT", "NAN_POLICIES", "REQUIRED_COLUMNS", "COLUMN_ALIASES", "FITS_ERRORS",
    "sha256_file", "hash_files", "require_file", "open_fits", "open_fits_file", "fits_error", "truncation_guard",
    "load_npy",
    "read_table",
    "check_nan_policy", "check_finite", "to_int32_labels", "check_stamp_shape", "check_stamp_pixels",
    "check_catalog_values", "MIN_STAMP", "map_columns", "require_columns",
    "fill_catalog",
    "check_ids", "check_central", "check_central_flux", "centred_slices", "fit_to_size", "half_light_radius", "segment_fluxes",
]

#: AB zeropoint of a StampSet whose data does not give one (CANDELS F160W, candels-blender's).
DEFAULT_ZEROPOINT = 25.96

ProgressCallback = Callable[[Progress], None]

#: Accepted values of ``nan_policy``.
NAN_POLICIES = ("error", "replace")
#: Standard columns a catalog must provide (unless a reader can derive them).
REQUIRED_COLUMNS = ("id", "mag")
#: File column names recognised (case-insensitively, after the standard name itself) for each standard column.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("number", "ident", "objid", "object_id", "source_id"),
    "ra": ("alpha_j2000", "ra_deg", "raj2000"),
    "dec": ("delta_j2000", "dec_deg", "dej2000"),
    "mag": ("mag_auto", "magnitude"),
    "radius": ("flux_radius", "r_half", "rhalf"),
    "z": ("zphot", "z_phot", "photo_z", "redshift"),
    "galtype": ("galaxy_type",),
    "segval": ("seg_id", "seglabel"),
}
_FILE_COLUMNS = "_file_columns"  # table.meta key: column names as the file had them (for messages)
_CHUNK_PIXELS = 1 << 24  # pixels per chunk when scanning big (memory-mapped) cubes: 64 MB of float32
#: Smallest stamp side accepted (pixels).
MIN_STAMP = 16
#: A central segment whose deepest pixel lies this many background sigmas below the background (and which
#: sums below it) is a sign-flipped galaxy (:func:`check_central_flux`).
FLIPPED_SIGMA = 5.0


# --------------------------------------------------------------------------- files
def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is an existing file, else raise :class:`DataError` naming it and ``what`` it is."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{what} not found: {path} is a folder, not a file")
    if not path.is_file():
        raise DataError(f"{what} not found: {path} is missing")
    return path


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20, cancel: Optional[CancelToken] = None) -> str:
    """SHA-256 (hex) of a file, read in ``chunk``-byte (1 MiB) pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            check_cancel(cancel)
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def hash_files(paths: Sequence[Path], *, cancel: Optional[CancelToken] = None) -> Job:
    """Job: hash every file; returns ``{name: sha256}`` keyed by file name (relative path when names clash)."""
    paths = list(dict.fromkeys(Path(p).resolve() for p in paths))
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        root = Path(os.path.commonpath([str(p) for p in paths]))
        names = [p.relative_to(root).as_posix() for p in paths]
    out: dict[str, str] = {}
    for k, (name, p) in enumerate(zip(names, paths)):
        out[name] = sha256_file(p, cancel=cancel)
        yield Progress(k + 1, len(paths), f"hashing {p.name}")
    return out


FITS_ERRORS = (OSError, ValueError, TypeError, EOFError, IndexError, KeyError, Warning)


def fits_error(path: Path, what: str, exc: BaseException) -> DataError:
    """The :class:`DataError` for a FITS file astropy could not read."""
    return DataError(f"cannot read {what} {path}: corrupt or truncated FITS ({type(exc).__name__}: {exc})")


@contextlib.contextmanager
def truncation_guard(path: Path, what: str) -> Iterator[None]:
    """Turn astropy's "File may have been truncated" warning, issued inside the block, into a DataError.

    The warning is recorded (not raised inside astropy, which would leave the file open) and reported
    once the block is done; other warnings are passed on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    truncated = None
    for w in caught:
        if "truncated" in str(w.message):
            truncated = w
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if truncated is not None:
        raise fits_error(path, what, truncated.message)  # type: ignore[arg-type]


def open_fits_file(path: Path, what: str = "FITS file", *, memmap: bool = True) -> Any:
    """``astropy.io.fits.open`` (memory-mapped, lazy HDUs); a missing, corrupt or truncated file raises DataError.

    The caller closes the returned HDUList.
    """
    from astropy.io import fits

    path = require_file(path, what)
    hdul = None
    try:
        with truncation_guard(path, what):
            hdul = fits.open(path, memmap=memmap, lazy_load_hdus=True)
    except DataError:
        if hdul is not None:
            hdul.close()
        raise
    except FITS_ERRORS as exc:
        raise fits_error(path, what, exc) from exc
    return hdul


@contextlib.contextmanager
def open_fits(path: Path, what: str = "FITS file", *, memmap: bool = True) -> Iterator[Any]:
    """Context manager around :func:`open_fits_file` whose body is covered too.

    Use it where the body only reads the file: data read lazily from the HDUs that turns out truncated
    is then reported as a :class:`DataError` naming the file.
    """
    hdul = open_fits_file(path, what, memmap=memmap)
    try:
        with truncation_guard(path, what):
            yield hdul
    except DataError:
        raise
    except FITS_ERRORS as exc:
        raise fits_error(path, what, exc) from exc
    finally:
        hdul.close()


def load_npy(path: Path, what: str, *, mmap: bool) -> np.ndarray:
    """``np.load`` (memory-mapped read-only when ``mmap``), re-raising a corrupt/truncated file as DataError."""
    import pickle

    path = require_file(path, what)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"cannot read {what} {path}: corrupt or truncated .npy ({exc})") from exc


def read_table(path: Path, what: str = "catalog") -> Table:
    """Read a FITS, CSV or ECSV table with astropy (format from the extension), errors as DataError."""
    path = require_file(path, what)
    name = path.name.lower()
    fmt = ("ascii.ecsv" if name.endswith(".ecsv") else "ascii.csv" if name.endswith(".csv")
           else "fits" if name.endswith((".fits", ".fit", ".fits.gz", ".fts")) else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unit warnings of foreign catalogs are not our concern
            table = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # astropy raises many kinds (InconsistentTableError, OSError, ...)
        raise DataError(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from exc
    table.convert_bytestring_to_unicode()
    if table.colnames and table.colnames[0].startswith("\ufeff"):  # a UTF-8 byte-order mark (Excel)
        table.rename_column(table.colnames[0], table.colnames[0].lstrip("\ufeff"))
    return table


# ------------------------------------------------------------------------ pixels
def check_nan_policy(nan_policy: str) -> str:
    """Validate ``nan_policy`` (one of :data:`NAN_POLICIES`)."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    return nan_policy


def check_finite(images: np.ndarray, where: str, nan_policy: str, *,
                 fill: float | np.ndarray = 0.0, cancel: Optional[CancelToken] = None) -> Job:
    """Job: count NaN/inf pixels; raise (``"error"``) or replace them by ``fill`` (``"replace"``).

    Scans in chunks so a memory-mapped cube is never doubled in memory. ``fill`` is a scalar or one value
    per stamp (e.g. its background). Returns ``(images, n_bad)``; ``images`` is a writable in-memory copy
    only when something was replaced.
    """
    check_nan_policy(nan_policy)
    n = len(images)
    step = max(1, _CHUNK_PIXELS // max(1, images[0].size if n else 1))
    bad_per_stamp = np.zeros(n, dtype=np.int64)
    for i in range(0, n, step):
        check_cancel(cancel)
        bad_per_stamp[i:i + step] = (~np.isfinite(images[i:i + step])).sum(axis=(1, 2))
        yield Progress(min(n, i + step), n, "checking pixels")
    n_bad = int(bad_per_stamp.sum())
    if n_bad == 0:
        return images, 0
    stamps = np.flatnonzero(bad_per_stamp)
    if nan_policy == "error":
        raise DataError(
            f"{where}: {n_bad} NaN/inf pixel(s) in {len(stamps)} stamp(s) (first: index "
            f"{', '.join(map(str, stamps[:5]))}); fix them, or replace them by the background with --nan_policy "
            f"replace (produce, morphology, classify; from Python, nan_policy='replace')")
    out = np.array(images, dtype=np.float32)  # writable copy; the file is never touched
    fills = np.broadcast_to(np.asarray(fill, dtype=np.float32), (n,))
    for i in stamps:
        bad = ~np.isfinite(out[i])
        out[i][bad] = fills[i]
    return out, n_bad


def to_int32_labels(seg: np.ndarray, where: str, *, segval: Optional[np.ndarray] = None) -> np.ndarray:
    """Return segmentation labels as int32 (kept as is when already int32), after checking them.

    Raises :class:`DataError` for narrow (uint8, uint16, ...) maps whose catalog ``segval`` exceeds the
    type (the labels wrapped around when someone cast them; the content checks of
    :mod:`~candels_gui.core.data.label_checks` look further), negative or non-integer labels, and labels
    beyond int32.
    """
    dt = seg.dtype
    if is_narrow(dt) and segval is not None and len(segval):
        try:
            top = np.nanmax(np.asarray(segval, dtype=np.float64))
        except (TypeError, ValueError):
            top = np.nan
        if np.isfinite(top) and top > np.iinfo(dt).max:
            raise WrappedLabelsError(
                f"{where}: segmentation is {dt.name} but the catalog's segval goes up to {int(top)}; labels "
                f"above {np.iinfo(dt).max} have wrapped around (e.g. label 300 became 44 in uint8) because the "
                f"maps were cast to {dt.name} (CANDELS labels exceed 255). Re-create the segmentation maps as int32.")
    if dt.kind not in "uifb":
        raise LabelError(f"{where}: segmentation has dtype {dt}, expected integer labels")
    step = max(1, _CHUNK_PIXELS // max(1, seg[0].size if len(seg) else 1))
    native = dt == np.int32
    out = seg if native else np.empty(seg.shape, dtype=np.int32)
    for i in range(0, len(seg), step):
        block = np.asarray(seg[i:i + step])
        if dt.kind == "f" and not (np.isfinite(block).all() and (block == np.round(block)).all()):
            raise LabelError(f"{where}: segmentation holds non-integer or NaN labels (dtype {dt})")
        if block.size and dt.kind != "b" and (block.min() < 0 or block.max() > np.iinfo(np.int32).max):
            raise LabelError(f"{where}: segmentation labels must lie in 0..2**31-1, "
                             f"found {block.min()}..{block.max()}")
        if not native:
            out[i:i + step] = block
    return out


def check_stamp_shape(images: np.ndarray, where: str, *, min_size: int = MIN_STAMP) -> None:
    """Refuse cubes that are not (N, S, S) stamps of at least ``min_size`` pixels a side.

    A cube stored channels-last, (H, W, N), reads as H stamps of W x N: it is named as such.
    """
    if images.ndim != 3:
        raise ShapeError(f"{where}: stamps must be a (N, H, W) cube, got shape {images.shape}")
    n, h, w = images.shape
    if h != w:
        hint = (f"; it looks like a channels-last ({n}, {h}, N={w}) cube: store it as (N, H, W)"
                if n in (h, w) or h > 4 * w or w > 4 * h else "")
        raise ShapeError(f"{where}: stamps are {h}x{w} pixels, expected square stamps{hint}")
    if h < min_size:
        raise ShapeError(f"{where}: stamps are {h}x{w} pixels, expected at least {min_size}x{min_size}")


def check_catalog_values(catalog: Table, where: str) -> None:
    """Refuse standard columns with values no galaxy has: infinite anything, magnitudes beyond +-1000
    (99 or 999 "not measured" pass), a ``mag`` or ``radius`` column with no finite value.

    Negative radii and redshifts (catalogs' "not measured" sentinels, e.g. -99) are read as NaN, said in a
    :class:`~candels_gui.core.errors.DataWarning` (the documented repair): such galaxies never enter a pair,
    and a redshift cut drops them.
    """
    for col, lo, hi in (("mag", -1000.0, 1000.0), ("radius", None, None), ("z", None, None),
                        ("ra", None, None), ("dec", None, None)):
        v = np.asarray(catalog[col], dtype=np.float64)
        bad = np.isinf(v)
        if lo is not None:
            bad |= v < lo
        if hi is not None:
            bad |= v > hi
        if bad.any():
            rows = np.flatnonzero(bad)
            raise CatalogError(f"{where}: column {col!r} holds {len(rows)} impossible value(s) (row "
                               f"{', '.join(str(int(r)) for r in rows[:5])}: {v[rows[0]]:g}); expected finite"
                               f"{f' values from {lo:g} to {hi:g}' if lo is not None else ' values'}")
        if col in ("radius", "z"):
            negative = v < 0
            if negative.any():
                warnings.warn(DataWarning(f"{where}: {int(negative.sum())} negative value(s) in column {col!r} "
                                          f"read as not measured (NaN)"), stacklevel=2)
                catalog[col] = np.where(negative, np.nan, v)
        if col in ("mag", "radius") and len(v) and not np.isfinite(np.asarray(catalog[col], float)).any():
            raise CatalogError(f"{where}: column {col!r} has no finite value"
                               f"{'; remove the column to have radii measured' if col == 'radius' else ''}")


def centred_slices(n_src: int, c_src: int, n_dst: int, c_dst: int) -> tuple[slice, slice]:
    """Slices (source, destination) along one axis that put source pixel ``c_src`` on destination ``c_dst``."""
    off = c_dst - c_src
    lo, hi = max(0, -off), min(n_src, n_dst - off)
    if hi <= lo:
        return slice(0, 0), slice(0, 0)
    return slice(lo, hi), slice(lo + off, hi + off)


def fit_to_size(cube: np.ndarray, size: int, *, fill: float = 0) -> np.ndarray:
    """Centre-crop or pad a (N, H, W) cube to (N, size, size), keeping pixel (H//2, W//2) at (size//2, size//2).

    A pure crop is a view (a memory map stays one); padding makes an in-memory copy filled with ``fill``.
    """
    n, h, w = cube.shape
    if (h, w) == (size, size):
        return cube
    sy, dy = centred_slices(h, h // 2, size, size // 2)
    sx, dx = centred_slices(w, w // 2, size, size // 2)
    if h >= size and w >= size:
        return cube[:, sy, sx]
    out = np.full((n, size, size), fill, dtype=cube.dtype)
    out[:, dy, dx] = cube[:, sy, sx]
    return out


# ----------------------------------------------------------------------- catalog
def map_columns(table: Table, where: str, *, column_map: Optional[Mapping[str, str]] = None,
                fixed: Optional[Mapping[str, str]] = None) -> Table:
    """Rename file columns onto :data:`~candels_gui.core.data.stampset.STANDARD_COLUMNS`.

    Precedence: ``column_map`` (file name -> standard name, user's choice), then ``fixed`` (the reader's
    known layout), then a case-insensitive match of the standard name, then :data:`COLUMN_ALIASES`.
    Other columns are kept unchanged. A ``column_map`` key the file lacks raises :class:`DataError`.
    """
    table = table.copy(copy_data=False)
    found = list(table.colnames)
    table.meta[_FILE_COLUMNS] = found
    renames: dict[str, str] = {}
    for src, dst in {**(fixed or {}), **(column_map or {})}.items():
        if src not in found:
            if column_map and src in column_map:
                raise DataError(f"{where}: column_map names column {src!r} that the catalog lacks; "
                                f"found {found}")
            continue
        renames = {k: v for k, v in renames.items() if v != dst}
        renames[src] = dst
    lower = {c.lower(): c for c in reversed(found)}
    for std in STANDARD_COLUMNS:
        if std in renames.values():
            continue
        for cand in (std, *COLUMN_ALIASES.get(std, ())):
            col = lower.get(cand)
            if col is not None and col not in renames:
                renames[col] = std
                break
    for src, dst in renames.items():
        if src == dst:
            continue
        if dst in table.colnames and dst not in renames:
            table.rename_column(dst, f"{dst}_orig")  # the file's own column of that name is kept aside
        table.rename_column(src, dst)
    return table


def require_columns(catalog: Table, where: str) -> None:
    """Raise :class:`DataError` listing the columns found when a required standard column is missing."""
    missing = [c for c in REQUIRED_COLUMNS if c not in catalog.colnames]
    if missing:
        found = list(catalog.meta.get(_FILE_COLUMNS, catalog.colnames))  # the file's own names
        seps = [sep for sep in (";", "\t", "|") if len(found) == 1 and sep in str(found[0])]
        hint = (f"its columns look separated by {seps[0]!r}: write it comma-separated" if seps else
                f"rename a column of the file, or from Python pass column_map={{'FILE_NAME': '{missing[0]}'}}")
        raise DataError(f"{where}: catalog lacks required column(s) {missing}; found {found}: {hint}")


def segment_fluxes(images: np.ndarray, segmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flux and area (pixels) of the central segment of every stamp."""
    n, h, w = images.shape
    cy, cx = h // 2, w // 2
    flux, area = np.zeros(n), np.zeros(n)
    for i in range(n):
        lab = segmaps[i, cy, cx]
        if lab:
            m = segmaps[i] == lab
            flux[i], area[i] = float(np.asarray(images[i], dtype=np.float64)[m].sum()), float(m.sum())
    return flux, area


def half_light_radius(image: np.ndarray, mask: np.ndarray) -> float:
    """Radius (px) around the light centroid of ``mask`` holding half its positive flux; NaN if none.

    Falls back to the area radius ``sqrt(area / pi) / 2`` when the segment has no positive flux.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return float("nan")
    f = np.clip(np.asarray(image, dtype=np.float64)[ys, xs], 0.0, None)
    total = f.sum()
    if total <= 0:
        return float(np.sqrt(len(ys) / np.pi) / 2)
    yc, xc = (f * ys).sum() / total, (f * xs).sum() / total
    r = np.hypot(ys - yc, xs - xc)
    order = np.argsort(r)
    k = int(np.searchsorted(np.cumsum(f[order]), 0.5 * total))
    return float(r[order][min(k, len(r) - 1)])


def fill_catalog(catalog: Optional[Table], images: np.ndarray, segmaps: np.ndarray, where: str, *,
                 zeropoint: float, seg_computed: bool, cancel: Optional[CancelToken] = None) -> Table:
    """Give a mapped catalog every standard column, deriving or defaulting the missing ones.

    With ``catalog=None`` (no catalog at all) ``id`` is 1..N and ``mag`` comes from the central segment's
    flux and ``zeropoint``; otherwise both are required. Defaults: ``ra``/``dec``/``z`` NaN, ``galtype``
    ``"unknown"``, ``radius`` the half-light radius of the central segment, ``segval`` the label at the
    centre (always so when the segmentation was computed here; the file's value then moves to
    ``segval_catalog``). Standard columns get standard dtypes.
    """
    n, h, w = images.shape
    if catalog is None:
        catalog = Table()
        catalog["id"] = np.arange(1, n + 1, dtype=np.int64)
        flux, _ = segment_fluxes(images, segmaps)
        with np.errstate(divide="ignore", invalid="ignore"):
            catalog["mag"] = np.where(flux > 0, zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, 1)), np.nan)
    require_columns(catalog, where)
    centre = np.asarray(segmaps[:, h // 2, w // 2], dtype=np.int64)
    for col in ("ra", "dec", "z"):
        if col not in catalog.colnames:
            catalog[col] = np.full(n, np.nan)
    if "galtype" not in catalog.colnames:
        catalog["galtype"] = np.full(n, "unknown", dtype="U16")
    if "radius" not in catalog.colnames:
        radius = np.full(n, np.nan)
        for i in range(n):
            check_cancel(cancel)
            if centre[i]:
                radius[i] = half_light_radius(images[i], np.asarray(segmaps[i]) == centre[i])
        catalog["radius"] = radius
    if seg_computed and "segval" in catalog.colnames:
        catalog.rename_column("segval", "segval_catalog")
    if "segval" not in catalog.colnames:
        catalog["segval"] = centre
    if np.ma.getmaskarray(catalog["id"]).any():
        raise DataError(f"{where}: catalog column 'id' has empty values")
    try:
        for col in ("ra", "dec", "mag", "radius", "z"):
            catalog[col] = np.ma.filled(np.ma.asarray(catalog[col]).astype(np.float64), np.nan)
        ids = np.asarray(catalog["id"])
        if ids.dtype.kind == "f" and not (np.isfinite(ids).all() and np.all(ids == np.round(ids))
                                          and np.abs(ids).max(initial=0) < 2 ** 63):
            raise ValueError("IDs must be whole numbers")
        catalog["id"] = ids.astype(np.int64)
        segval = np.ma.filled(np.ma.asarray(catalog["segval"]).astype(np.float64), np.nan)
        if not (np.isfinite(segval).all() and (segval == np.round(segval)).all() and (segval >= 0).all()
                and segval.max(initial=0) < 2 ** 31):
            raise ValueError("segval must hold whole numbers from 0 to 2**31-1 (the central galaxy's label)")
        catalog["segval"] = segval.astype(np.int64)
        catalog["galtype"] = np.asarray(catalog["galtype"]).astype(str)
    except (ValueError, TypeError, OverflowError) as exc:
        raise CatalogError(f"{where}: a standard column has values of the wrong kind ({exc})") from None
    catalog.meta.pop(_FILE_COLUMNS, None)
    return catalog


def check_ids(catalog: Table, where: str) -> None:
    """Raise :class:`DataError` naming a few duplicated IDs."""
    ids, counts = np.unique(np.asarray(catalog["id"]), return_counts=True)
    dup = ids[counts > 1]
    if len(dup):
        few = ", ".join(f"{d} (x{int(c)})" for d, c in zip(dup[:5], counts[counts > 1][:5]))
        raise DataError(f"{where}: {len(dup)} duplicated ID(s) in the catalog, e.g. {few}")


def check_central_flux(images: np.ndarray, segmaps: np.ndarray, catalog: Table, where: str) -> None:
    """Refuse sign-flipped stamps: the central segment sums below the background and its deepest pixel lies
    more than :data:`FLIPPED_SIGMA` background sigmas below it, three times further than its brightest lies
    above. A too-faint object (sum and extremes within the noise, correlated or not) passes, as does a
    galaxy with a bad pixel (its light outweighs it).

    Raises :class:`DegenerateError` naming stamp indices and IDs. Stamps with an unlabelled centre are
    :func:`check_central`'s business and skipped here.
    """
    n, h, w = images.shape
    step = max(1, _CHUNK_PIXELS // max(1, h * w))
    bad: list[int] = []
    for a in range(0, n, step):
        seg = np.asarray(segmaps[a:a + step])
        centre = seg[:, h // 2, w // 2]
        inside = seg == centre[:, None, None]
        # a float32 pass picks the candidates (a sum near zero may land either side: the exact test follows)
        flux = np.where(inside, np.asarray(images[a:a + step], dtype=np.float32), np.float32(0)).sum(axis=(1, 2))
        for k in np.flatnonzero((centre != 0) & ~(flux > 0)):    # the few candidates: their background
            img = np.asarray(images[a + k], dtype=np.float64)
            med, sigma = background_level(img, seg[k])
            d = img[inside[k]] - med
            deepest, brightest = -float(d.min()), max(float(d.max()), 0.0)
            if d.sum() < 0 and deepest > FLIPPED_SIGMA * sigma and deepest > 3.0 * brightest:
                bad.append(a + int(k))
    if bad:
        ids = np.asarray(catalog["id"])
        few = ", ".join(f"index {i} (ID {ids[i]})" for i in bad[:5])
        raise DegenerateError(f"{where}: the central galaxy is darker than the background (sign-flipped?) in "
                              f"{len(bad)} stamp(s): {few}; fix its sign or remove it")


def check_central(segmaps: np.ndarray, catalog: Table, where: str, *, allow_unlabelled: bool) -> int:
    """Check that every stamp's central pixel is labelled; return the number that are not.

    Raises :class:`DataError` naming stamp indices and IDs unless ``allow_unlabelled``.
    """
    n, h, w = segmaps.shape
    bad = np.flatnonzero(np.asarray(segmaps[:, h // 2, w // 2]) == 0)
    if len(bad) and not allow_unlabelled:
        ids = np.asarray(catalog["id"])
        few = ", ".join(f"index {i} (ID {ids[i]})" for i in bad[:5])
        raise DataError(f"{where}: central pixel ({h // 2}, {w // 2}) is unlabelled (segmentation 0) in "
                        f"{len(bad)} stamp(s): {few}; fix their maps or remove them (from Python, allow_unlabelled=True loads "
                        f"them anyway)")
    return int(len(bad))
