"""The blend catalogue: one row per blend, candels-blender's columns then ours.

Columns (:data:`CATALOG_COLUMNS`), in file order: candels-blender's ``id, distance, shift_x, shift_y,
g1_id, g1_mag, g1_rad, g1_z, g1_type, g2_id, g2_mag, g2_rad, g2_z, g2_type`` then ours ``rotation, flip,
flux_scale, flux_out_frac, seed``. ``shift_x`` is ``dx`` (columns), ``shift_y`` is ``dy`` (rows),
``g2_mag`` is the companion's magnitude *after* flux scaling. The CSV holds floats with 6 decimals, as
candels-blender writes them; the HDF5 and FITS exports keep full precision.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Sequence

import numpy as np
from astropy.table import Table

from .engine import BlendSpec
from ..errors import DataError
from ..data.stampset import StampSet

__all__ = ["CANDELS_BLENDER_COLUMNS", "EXTRA_COLUMNS", "CATALOG_COLUMNS", "catalog_column",
           "blend_catalog", "catalog_record_dtype", "catalog_to_records", "records_to_catalog",
           "write_catalog_csv", "append_catalog_csv", "read_catalog_csv"]

#: candels-blender's columns (``blender/catalog.py``), in its order.
CANDELS_BLENDER_COLUMNS = ("id", "distance", "shift_x", "shift_y",
                           "g1_id", "g1_mag", "g1_rad", "g1_z", "g1_type",
                           "g2_id", "g2_mag", "g2_rad", "g2_z", "g2_type")
#: Our columns, after candels-blender's.
EXTRA_COLUMNS = ("rotation", "flip", "flux_scale", "flux_out_frac", "seed")
#: All columns of the blend catalogue, in file order.
CATALOG_COLUMNS = CANDELS_BLENDER_COLUMNS + EXTRA_COLUMNS
_INT_COLUMNS = ("id", "g1_id", "g2_id", "seed")
_STR_COLUMNS = ("g1_type", "g2_type")
_BOOL_COLUMNS = ("flip",)


def catalog_column(stamps: StampSet, name: str, dtype: Any) -> np.ndarray:
    """Column ``name`` of the stamps' catalog as a plain array (masked values -> NaN or "")."""
    col = stamps.catalog[name]
    if hasattr(col, "filled"):
        col = col.filled("" if dtype is str else np.nan)
    arr = np.asarray(col)
    return arr.astype(str) if dtype is str else arr.astype(dtype)


def blend_catalog(stamps: StampSet, specs: Sequence[BlendSpec], *, start_id: int = 0,
                  flux_out_frac: np.ndarray | Sequence[float] | None = None) -> Table:
    """Catalogue of blends with candels-blender's columns then ours (:data:`CATALOG_COLUMNS`).

    Parameters
    ----------
    stamps : StampSet
    specs : sequence of BlendSpec
    start_id : int
        ``id`` of the first row (blend index in its split).
    flux_out_frac : array, optional
        Fraction of the companion's flux outside the stamp, per blend (NaN when not given).

    Returns
    -------
    astropy.table.Table
        ``shift_x`` = ``dx`` (columns), ``shift_y`` = ``dy`` (rows), ``distance`` their hypotenuse,
        ``g2_mag`` the companion's magnitude after flux scaling. Full precision (the CSV rounds).

    Examples
    --------
    >>> cat = blend_catalog(stamps, [BlendSpec(1, 2, dx=3, dy=4)])   # doctest: +SKIP
    >>> float(cat["distance"][0])                                     # doctest: +SKIP
    5.0
    """
    n = len(specs)
    i1 = stamps.indices_of([s.id1 for s in specs])
    i2 = stamps.indices_of([s.id2 for s in specs])
    f = {name: np.fromiter((getattr(s, name) for s in specs), np.float64, count=n)
         for name in ("dx", "dy", "rotation", "flux_scale")}
    mag, rad = catalog_column(stamps, "mag", np.float64), catalog_column(stamps, "radius", np.float64)
    z, gtype = catalog_column(stamps, "z", np.float64), catalog_column(stamps, "galtype", str)
    ids = catalog_column(stamps, "id", np.int64)
    if flux_out_frac is None:
        fout = np.full(n, np.nan)
    else:
        fout = np.asarray(flux_out_frac, dtype=np.float64)
        if fout.shape != (n,):
            raise ValueError(f"flux_out_frac must have shape ({n},), got {fout.shape}")
    cols: dict[str, np.ndarray] = {
        "id": np.arange(start_id, start_id + n, dtype=np.int64),
        "distance": np.hypot(f["dx"], f["dy"]),
        "shift_x": f["dx"], "shift_y": f["dy"],
        "g1_id": ids[i1], "g1_mag": mag[i1], "g1_rad": rad[i1], "g1_z": z[i1], "g1_type": gtype[i1],
        "g2_id": ids[i2], "g2_mag": mag[i2] - 2.5 * np.log10(f["flux_scale"]),
        "g2_rad": rad[i2], "g2_z": z[i2], "g2_type": gtype[i2],
        "rotation": f["rotation"],
        "flip": np.fromiter((s.flip for s in specs), bool, count=n),
        "flux_scale": f["flux_scale"], "flux_out_frac": fout,
        "seed": np.fromiter((s.seed for s in specs), np.int64, count=n),
    }
    return Table([cols[c] for c in CATALOG_COLUMNS], names=CATALOG_COLUMNS)


def catalog_record_dtype(stamps: StampSet, *, extra: Sequence[tuple[str, Any]] = ()) -> np.dtype:
    """Fixed-width structured dtype of the catalogue (strings as bytes wide enough for ``stamps``).

    Used for the HDF5 compound dataset and the FITS binary table; ``extra`` appends fields.
    """
    types = catalog_column(stamps, "galtype", str)
    width = max(1, max((len(t.encode()) for t in types), default=1))
    fields = []
    for c in CATALOG_COLUMNS:
        if c in _INT_COLUMNS:
            fields.append((c, np.int64))
        elif c in _STR_COLUMNS:
            fields.append((c, f"S{width}"))
        elif c in _BOOL_COLUMNS:
            fields.append((c, bool))
        else:
            fields.append((c, np.float64))
    return np.dtype(fields + [(name, dt) for name, dt in extra])


def catalog_to_records(table: Table, dtype: np.dtype) -> np.ndarray:
    """Structured array of ``dtype`` from a catalogue table (strings encoded to UTF-8 bytes)."""
    rec = np.zeros(len(table), dtype)
    for name in dtype.names:
        col = np.asarray(table[name])
        if name in _STR_COLUMNS:
            col = np.char.encode(col.astype(str), "utf-8")
            width = dtype[name].itemsize
            if col.dtype.itemsize > width:
                raise ValueError(f"catalogue column {name!r} holds values longer than {width} bytes")
        rec[name] = col
    return rec


def records_to_catalog(rec: np.ndarray) -> Table:
    """Inverse of :func:`catalog_to_records`: a Table with str type columns and bool ``flip``."""
    cols = {}
    for name in rec.dtype.names:
        col = np.asarray(rec[name])
        if col.dtype.kind == "S":
            col = np.char.decode(col, "utf-8").astype(str)
        elif name in _BOOL_COLUMNS:
            col = col.astype(bool)
        elif col.dtype.byteorder not in ("=", "|"):
            col = col.astype(col.dtype.newbyteorder("="))
        cols[name] = col
    return Table(cols, names=list(rec.dtype.names))


def _format_column(name: str, values: Any) -> list[str]:
    """One catalogue column as CSV text: integers, strings, True/False, or floats to 6 decimals."""
    items = np.asarray(values).tolist()
    if name in _INT_COLUMNS:
        return [str(int(v)) for v in items]
    if name in _STR_COLUMNS:
        return [str(v) for v in items]
    if name in _BOOL_COLUMNS:
        return ["True" if v else "False" for v in items]
    return [f"{float(v):.6f}" for v in items]


def append_catalog_csv(fh: Any, table: Table) -> None:
    """Append the rows of ``table`` to an open CSV text file (no header).

    Integers as integers, floats with 6 decimals like candels-blender, ``flip`` as True/False.
    """
    columns = [_format_column(c, table[c]) for c in CATALOG_COLUMNS]
    csv.writer(fh, lineterminator="\n").writerows(zip(*columns))


def write_catalog_csv(path: str | os.PathLike, table: Table) -> None:
    """Write a blend catalogue as candels-blender's CSV (header line, then rows)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(CATALOG_COLUMNS) + "\n")
        append_catalog_csv(fh, table)


def _parse_int(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        f = float(v)
        if not f.is_integer():
            raise ValueError(f"not an integer: {v!r}") from None
        return int(f)


def _parse_unknown(values: list[str]) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], np.float64)
    except ValueError:
        return np.array(values, str)


def read_catalog_csv(path: str | os.PathLike) -> Table:
    """Read a blend catalogue CSV (ours, or candels-blender's with its 14 columns only).

    Columns keep the file's order; known columns get their types (ints, floats, str types, bool
    ``flip``), unknown ones become float when they parse, else str.

    Raises
    ------
    DataError
        If a column of :data:`CANDELS_BLENDER_COLUMNS` is missing or a value cannot be parsed.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0] if rows else []
    missing = [c for c in CANDELS_BLENDER_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: header lacks column(s) {missing}; found "
                        f"{','.join(header) if header else '(empty file)'}")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: header repeats a column name: {','.join(header)}")
    body = [r for r in rows[1:] if r]
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        values = [r[j] if j < len(r) else "" for r in body]
        try:
            if name in _INT_COLUMNS:
                cols[name] = np.array([_parse_int(v) for v in values], np.int64)
            elif name in _STR_COLUMNS:
                cols[name] = np.array(values, str) if values else np.zeros(0, "U1")
            elif name in _BOOL_COLUMNS:
                bad = [v for v in values if v not in ("True", "False")]
                if bad:
                    raise ValueError(f"not True/False: {bad[0]!r}")
                cols[name] = np.array([v == "True" for v in values], bool)
            elif name in CATALOG_COLUMNS:
                cols[name] = np.array([float(v) for v in values], np.float64)
            else:
                cols[name] = _parse_unknown(values)
        except ValueError as exc:
            raise DataError(f"{path}: column {name!r}: {exc}") from None
    return Table([cols[c] for c in header], names=header)
