"""Checks of what is read back from exports: files that open, JSON that is a manifest, names that stay in
their folder, specs that parse and fit the stamps, arrays that are finite.

Every reader of this package (:mod:`.hdf5`, :mod:`.npy`, :mod:`.fits`, :mod:`.stamp_library`,
:mod:`.concatenate`) and the training reader go through these, so a truncated, corrupt, foreign or
tampered export fails with one :class:`~candels_gui.core.errors.DataError` naming the file and what is
wrong, before anything is written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..blending.engine import BlendSpec
from ..errors import ExportError, FileFormatError, NonFiniteError, one_line
from ..validate import file_in_folder

__all__ = ["open_h5", "read_json_object", "child_path", "check_split_names", "parse_specs",
           "check_spec_offsets", "check_finite_array", "format_version"]

_SPLIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def open_h5(path: str | os.PathLike, what: str = "HDF5 export", mode: str = "r") -> Any:
    """``h5py.File(path, mode)``; a missing, truncated, corrupt or non-HDF5 file raises FileFormatError."""
    import h5py

    path = Path(path)
    if path.is_dir():
        raise FileFormatError(f"{what} {path} is a folder, not an HDF5 file")
    if not path.is_file():
        raise FileFormatError(f"{what} {path} does not exist")
    try:
        return h5py.File(path, mode)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read {what} {path}: not an HDF5 file, or truncated or corrupt "
                              f"({one_line(exc, 160)})") from None


def read_json_object(path: str | os.PathLike, what: str = "manifest") -> dict[str, Any]:
    """A JSON file that must hold one object (a dict); anything else raises FileFormatError."""
    path = Path(path)
    if path.exists() and not path.is_dir() and not path.is_file():
        raise FileFormatError(f"{what} {path} is not a regular file (a pipe or a device)")
    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise FileFormatError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise FileFormatError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise FileFormatError(f"{what} {path}: not UTF-8 text (a binary or corrupt file)") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{what} {path}: not valid JSON ({one_line(exc, 120)})") from None
    if not isinstance(data, dict):
        raise FileFormatError(f"{what} {path}: holds a JSON {type(data).__name__}, expected an object")
    return data


def child_path(folder: str | os.PathLike, name: Any, what: str, source: str | os.PathLike) -> Path:
    """``folder / name`` for a file name read from ``source``, refused unless it stays in ``folder``
    (:func:`~candels_gui.core.validate.file_in_folder`)."""
    return file_in_folder(folder, name, what, source)


def check_split_names(names: Any, source: str | os.PathLike) -> list[str | None]:
    """A list of split names (letters and digits) or ``[None]``; anything else raises ExportError."""
    if not isinstance(names, list) or not names:
        raise ExportError(f"{source}: the list of splits is {names!r}, expected a list of names")
    for n in names:
        if n is not None and not (isinstance(n, str) and _SPLIT_NAME.match(n)):
            raise ExportError(f"{source}: split name {n!r} is not letters and digits")
    if None in names and len(names) > 1:
        raise ExportError(f"{source}: splits {names!r} mix an unsplit export with named splits")
    return names


def format_version(value: Any, source: str | os.PathLike, newest: int) -> int:
    """The ``format_version`` of an export as an int no newer than ``newest``."""
    try:
        v = int(value)
        if isinstance(value, float) and v != value:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ExportError(f"{source}: format version {value!r} is not a whole number") from None
    if v > newest:
        raise ExportError(f"{source}: format version {v} is newer than this program reads ({newest}); "
                          f"update candels-gui")
    return v


def parse_specs(values: Sequence[Any], source: str, *, start: int = 0) -> list[BlendSpec]:
    """BlendSpecs from their JSON texts; text that is not a valid spec raises ExportError naming it."""
    out = []
    for k, v in enumerate(values):
        try:
            if isinstance(v, bytes):
                v = v.decode("utf-8")
            if not isinstance(v, str):
                raise TypeError(f"a {type(v).__name__}, not JSON text")
            out.append(BlendSpec.from_json(v))
        except (ValueError, TypeError, KeyError, RecursionError, UnicodeDecodeError) as exc:
            raise ExportError(f"{source}: spec {start + k} is not a valid blend spec "
                              f"({one_line(exc, 160)})") from None
    return out


def check_spec_offsets(specs: Sequence[BlendSpec], shape: tuple[int, int], source: str, *,
                       start: int = 0) -> None:
    """Refuse specs whose offset puts galaxy 2 wholly off the stamp (no blend at all)."""
    h, w = shape
    for k, s in enumerate(specs):
        if abs(s.dx) >= w or abs(s.dy) >= h:
            raise ExportError(f"{source}: spec {start + k} shifts galaxy 2 by ({s.dx:g}, {s.dy:g}) px, off "
                              f"the {h}x{w} stamp: not a blend")


def check_finite_array(a: np.ndarray, source: str, what: str, *, start: int = 0) -> None:
    """Refuse NaN/inf in ``a`` (first axis = blends), naming the first blend that holds one."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return
    finite = np.isfinite(a)
    if not finite.all():
        bad = ~finite
        first = int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0, 0]) if a.ndim else 0
        raise NonFiniteError(f"{source}: {what} of blend {start + first} hold NaN or infinite values "
                             f"({int(bad.sum())} in this batch); the export is corrupt")
