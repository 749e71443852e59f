"""Morphology classes and vote-fraction label files (the CSV the classifier trains and fine-tunes on).

The classes are candels-blender's galaxy types plus the two CANDELS classes it lacks:

=========  =========================================  ==========================================
class      candels-blender / catalog ``galtype``      CANDELS main class (Kartaltepe et al. 2015)
=========  =========================================  ==========================================
``sph``    ``sph``                                    spheroid
``sphd``   ``sphd``                                   disk + spheroid (both flags: half a vote each)
``disk``   ``disk``                                   disk
``irr``    ``irr``                                    irregular / peculiar
``ps``     (none: stars are not catalogued there)     point source / compact
``unc``    (none)                                     unclassifiable (too faint, artefact)
=========  =========================================  ==========================================

A label file has one row per galaxy: a column ``ID`` (the catalog's ``id``) and one column ``p_<class>``
per class (:data:`PROB_COLUMNS`) holding the fraction of votes for that class; each row sums to 1.
Other columns (``n_votes``, ``labellers``, ...) are kept for the reader but not needed.
``candels-gui classify`` writes the same ``p_<class>`` columns, so a classifier's output is a label file.

Examples
--------
>>> import numpy as np
>>> fractions_from_votes(["disk", "disk", "sphd", "irr"]).round(2).tolist()
[0.0, 0.25, 0.5, 0.25, 0.0, 0.0]
>>> main_class_fractions(one_hot(["sphd"]))[0].tolist()
[0.5, 0.5, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError

__all__ = ["MORPH_CLASSES", "PROB_COLUMNS", "MAIN_CLASSES", "CLASS_NAMES", "LabelSet", "one_hot",
           "fractions_from_votes", "main_class_fractions", "read_labels_csv", "write_labels_csv",
           "labels_csv_text", "ROW_SUM_TOLERANCE"]

#: The classes, in the order of every probability vector here.
MORPH_CLASSES = ("sph", "sphd", "disk", "irr", "ps", "unc")
#: Column of each class in label files and ``classify`` output.
PROB_COLUMNS = tuple(f"p_{c}" for c in MORPH_CLASSES)
#: Readable name of each class (menus, legends).
CLASS_NAMES = {"sph": "spheroid", "sphd": "disk + spheroid", "disk": "disk", "irr": "irregular",
               "ps": "point source", "unc": "unclassifiable"}
#: The CANDELS main classes that :func:`main_class_fractions` maps onto.
MAIN_CLASSES = ("spheroid", "disk", "irregular", "point source", "unclassifiable")
#: |row sum - 1| allowed in a label file (votes written with 3 decimals sum to 1 within it).
ROW_SUM_TOLERANCE = 0.01

# rows: MORPH_CLASSES, columns: MAIN_CLASSES
_TO_MAIN = np.array([[1, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                     [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=np.float64)


class LabelSet:
    """Galaxy IDs and their vote fractions, as read from a label file.

    Attributes
    ----------
    ids : (N,) int64
        Catalog IDs, in file order.
    fractions : (N, K) float64
        Vote fraction of each class of :data:`MORPH_CLASSES`, each row summing to 1.
    source : str
        The file read (for messages).
    lines : (N,) int64 or None
        The file line of each row (for messages).
    """

    def __init__(self, ids: np.ndarray, fractions: np.ndarray, source: str = "",
                 lines: np.ndarray | Sequence[int] | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.fractions = np.asarray(fractions, dtype=np.float64)
        self.source = source
        self.lines = None if lines is None else np.asarray(lines, dtype=np.int64)

    def check_known(self, known_ids: Sequence[int] | np.ndarray) -> "LabelSet":
        """Itself, when every ID is among ``known_ids`` (the data's catalog).

        Raises
        ------
        DataError
            Naming the file and the line of the first unknown ID.
        """
        unknown = np.flatnonzero(~np.isin(self.ids, np.asarray(known_ids, dtype=np.int64)))
        if len(unknown):
            at = f"line {self.lines[unknown[0]]}: " if self.lines is not None else ""
            more = (f" (and {len(unknown) - 1} more: IDs {self.ids[unknown[1:6]].tolist()}"
                    f"{', …' if len(unknown) > 6 else ''})") if len(unknown) > 1 else ""
            raise DataError(f"{self.source}: {at}ID {self.ids[unknown[0]]} is not in the data's catalog{more}")
        return self

    def __len__(self) -> int:
        return int(len(self.ids))

    @property
    def classes(self) -> np.ndarray:
        """The majority class of each galaxy (ties go to the earlier class of :data:`MORPH_CLASSES`)."""
        return np.asarray(MORPH_CLASSES)[np.argmax(self.fractions, axis=1)]

    def subset(self, rows: np.ndarray | Sequence[int]) -> "LabelSet":
        """The labels of ``rows`` (indices)."""
        rows = np.asarray(rows)
        return LabelSet(self.ids[rows], self.fractions[rows], self.source,
                        None if self.lines is None else self.lines[rows])


def one_hot(galtypes: Iterable[str]) -> np.ndarray:
    """(N, K) one-hot fractions of catalog types (``star`` counts as ``ps``).

    Raises
    ------
    DataError
        For a type that is not one of :data:`MORPH_CLASSES`.
    """
    index = {c: i for i, c in enumerate(MORPH_CLASSES)}
    index["star"] = index["ps"]
    types = [str(t).strip() for t in galtypes]
    bad = sorted({t for t in types if t not in index})
    if bad:
        raise DataError(f"unknown galaxy type(s) {bad}; expected one of {', '.join(MORPH_CLASSES)}")
    out = np.zeros((len(types), len(MORPH_CLASSES)), np.float64)
    out[np.arange(len(types)), [index[t] for t in types]] = 1.0
    return out


def fractions_from_votes(votes: Iterable[str]) -> np.ndarray:
    """(K,) vote fractions of one galaxy from its labellers' votes (all zero without votes)."""
    votes = list(votes)
    if not votes:
        return np.zeros(len(MORPH_CLASSES))
    return one_hot(votes).mean(axis=0)


def main_class_fractions(fractions: np.ndarray) -> np.ndarray:
    """Map (N, 6) fractions over :data:`MORPH_CLASSES` onto (N, 5) over :data:`MAIN_CLASSES`.

    ``sphd`` (a galaxy both disk and spheroid) gives half its fraction to each.
    """
    return np.asarray(fractions, dtype=np.float64) @ _TO_MAIN


# ------------------------------------------------------------------ files

def _parse_float(text: str, path: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {line}, column {column}: {text!r} is not a number") from None
    if not np.isfinite(value) or value < 0 or value > 1:
        raise DataError(f"{path}: line {line}, column {column}: {text!r} is not a fraction in [0, 1]")
    return value


#: ``p_`` columns of a label file that are not classes (``classify`` writes ``p_pred``).
_OTHER_P_COLUMNS = ("p_pred",)


def _parse_id(text: str, path: str, line: int) -> int:
    """A catalog ID: a whole number within int64 (``12``, ``12.0``), nothing else."""
    t = text.strip()
    try:
        value = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            f = float("nan")
        if not (np.isfinite(f) and f.is_integer()):
            raise DataError(f"{path}: line {line}: ID {text!r} is not a whole number") from None
        value = int(f)
    if not -(2 ** 63) <= value < 2 ** 63:
        raise DataError(f"{path}: line {line}: ID {text!r} is beyond the 64-bit IDs of a catalog")
    return value


def read_labels_csv(path: str | os.PathLike, *, known_ids: Sequence[int] | np.ndarray | None = None
                    ) -> LabelSet:
    """Read and check a label file (``ID`` + one ``p_<class>`` column per class).

    Parameters
    ----------
    path : path
        The CSV file.
    known_ids : sequence of int, optional
        The catalog's IDs: every ID of the file must be among them.

    Raises
    ------
    DataError
        Naming the file, line and column: no ``ID`` column, a class column missing, a value that is not
        a fraction, a row that does not sum to 1, a repeated ID, an ID the data does not have, no rows.
    """
    where = str(path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise DataError(f"{where}: not a regular file (a folder, pipe or device); expected a CSV label file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise DataError(f"{where}: no such label file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: cannot read the label file ({exc})") from None
    if not rows:
        raise DataError(f"{where}: empty label file; expected a header ID,{','.join(PROB_COLUMNS)}")
    header = [h.strip() for h in rows[0]]
    if any("\x00" in h for h in header):
        raise DataError(f"{where}: the header holds NUL bytes: not a text label file (saved as UTF-16, or binary?)")
    named = Counter(h.lower() for h in header if h)
    twice = [h for h in header if h and named[h.lower()] > 1]
    if twice:
        raise DataError(f"{where}: column {twice[0]} appears twice in the header {header}")
    lower = {h.lower(): i for i, h in enumerate(header)}
    if "id" not in lower:
        raise DataError(f"{where}: no ID column; the header is {header}")
    missing = [c for c in PROB_COLUMNS if c.lower() not in lower]
    if missing:
        raise DataError(f"{where}: missing class column(s) {', '.join(missing)}; a label file needs "
                        f"ID,{','.join(PROB_COLUMNS)}")
    unknown = [h for h in header if h.lower().startswith("p_") and h.lower() not in
               {c.lower() for c in (*PROB_COLUMNS, *_OTHER_P_COLUMNS)}]
    if unknown:
        raise DataError(f"{where}: unknown class column(s) {', '.join(unknown)}; the classes are "
                        f"{', '.join(MORPH_CLASSES)} (columns {', '.join(PROB_COLUMNS)})")
    id_col = lower["id"]
    cols = [lower[c.lower()] for c in PROB_COLUMNS]
    ids: list[int] = []
    fracs: list[list[float]] = []
    lines: list[int] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise DataError(f"{where}: line {line} has {len(row)} fields, the header {len(header)}")
        gid = _parse_id(row[id_col], where, line)
        values = [_parse_float(row[c].strip(), where, line, header[c]) for c in cols]
        total = sum(values)
        if abs(total - 1.0) > ROW_SUM_TOLERANCE:
            raise DataError(f"{where}: line {line} (ID {gid}): the class fractions sum to {total:.4g}, not 1")
        ids.append(gid)
        fracs.append(values)
        lines.append(line)
    if not ids:
        raise DataError(f"{where}: no labelled galaxies (only a header)")
    ids_arr = np.asarray(ids, dtype=np.int64)
    uniq, counts = np.unique(ids_arr, return_counts=True)
    if (counts > 1).any():
        first = int(uniq[counts > 1][0])
        on = [lines[i] for i in np.flatnonzero(ids_arr == first)]
        more = f" ({int((counts > 1).sum()) - 1} more IDs too)" if (counts > 1).sum() > 1 else ""
        raise DataError(f"{where}: ID {first} appears more than once, on lines "
                        f"{', '.join(map(str, on))}{more}")
    fr = np.asarray(fracs, dtype=np.float64)
    fr /= fr.sum(axis=1, keepdims=True)
    labels = LabelSet(ids_arr, fr, where, lines)
    return labels if known_ids is None else labels.check_known(known_ids)


def labels_csv_text(ids: Sequence[int] | np.ndarray, fractions: np.ndarray, *,
                    extra: dict[str, Sequence] | None = None) -> str:
    """The text of a label file (``ID``, :data:`PROB_COLUMNS`, then ``extra`` columns)."""
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (len(ids), len(MORPH_CLASSES)):
        raise ValueError(f"fractions must be ({len(ids)}, {len(MORPH_CLASSES)}), got {fractions.shape}")
    extra = extra or {}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ID", *PROB_COLUMNS, *extra])
    for i, gid in enumerate(ids):
        w.writerow([int(gid), *(f"{v:.4f}" for v in fractions[i]), *(extra[k][i] for k in extra)])
    return out.getvalue()


def write_labels_csv(path: str | os.PathLike, ids: Sequence[int] | np.ndarray, fractions: np.ndarray, *,
                     extra: dict[str, Sequence] | None = None) -> Path:
    """Write a label file atomically (temporary name, then rename); returns its path."""
    path = Path(path)
    text = labels_csv_text(ids, fractions, extra=extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
