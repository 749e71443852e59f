"""Checks of options and output paths, shared by the core functions and the command line.

Every check raises an :class:`~candels_gui.core.errors.OptionError` or
:class:`~candels_gui.core.errors.OutputError` whose one-line message names the option and says what was
expected, so a script calling the core and a user typing a command get the same answer.

Examples
--------
>>> finite(0.5, "--test_ratio", low=0, high=1, high_open=True)
0.5
>>> finite(float("nan"), "--lr")
Traceback (most recent call last):
...
candels_gui.core.errors.OptionError: --lr must be a finite number, got nan
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from .atomic import TEMP_PREFIX
from .errors import OptionError, OutputError, UnsafePathError

__all__ = ["finite", "integer", "ordered", "check_output", "nearest_existing", "free_bytes",
           "check_fits_on_disk", "available_memory", "format_bytes", "is_inside", "file_in_folder"]


def finite(value: Any, option: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float in [``low``, ``high``] (bounds excluded when ``*_open``)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise OptionError(f"{option} must be a finite number, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise OptionError(f"{option} must be {'>' if low_open else '>='} {low:g}, got {v:g}")
    if high is not None and (v > high or (high_open and v == high)):
        raise OptionError(f"{option} must be {'<' if high_open else '<='} {high:g}, got {v:g}")
    return v


def integer(value: Any, option: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [``low``, ``high``] (a float must be whole)."""
    if isinstance(value, bool):
        raise OptionError(f"{option} must be an integer, got {value!r}")
    try:
        f = float(value)
        v = int(value) if not isinstance(value, float) else int(f)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"{option} must be an integer, got {value!r}") from None
    if not math.isfinite(f) or (isinstance(value, float) and f != v):
        raise OptionError(f"{option} must be an integer, got {value!r}")
    if low is not None and v < low:
        raise OptionError(f"{option} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise OptionError(f"{option} must be <= {high}, got {v}")
    return v


def ordered(low: float | None, high: float | None, low_option: str, high_option: str, *,
            strict: bool = False) -> None:
    """Raise :class:`OptionError` unless ``low <= high`` (``<`` when ``strict``); ``None`` is no bound."""
    if low is None or high is None:
        return
    if low > high or (strict and low == high):
        raise OptionError(f"{low_option} ({low:g}) must be {'<' if strict else '<='} {high_option} ({high:g})")


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or below it (both resolved)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def nearest_existing(path: Path) -> Path:
    """The deepest ancestor of ``path`` (or ``path`` itself) that exists."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> bool:
    probe = folder / f"{TEMP_PREFIX}{os.getpid()}-probe"
    try:
        with open(probe, "wb"):
            pass
    except OSError:
        return False
    try:
        probe.unlink()
    except OSError:
        pass
    return True


def check_output(path: str | os.PathLike, option: str, *, kind: str = "folder",
                 inputs: Iterable[str | os.PathLike] = (), must_not_exist: bool = False) -> Path:
    """Check that ``path`` can receive the output of a command before any work is done.

    Parameters
    ----------
    path : path
        The output: a folder (``kind="folder"``) or a file (``kind="file"``).
    option : str
        The option that named it (``-o``), for the message.
    inputs : paths
        The command's inputs (files and folders): the output may not be one of them.
    must_not_exist : bool
        Refuse an existing path (an output that would otherwise replace it).

    Returns
    -------
    Path
        ``path`` made absolute.

    Raises
    ------
    OutputError
        The output is empty or ``-``, a file where a folder is needed (or the reverse), a device, pipe or socket,
        under a file, not writable, or one of the inputs.
    """
    if path is None or str(path).strip() == "":
        raise OutputError(f"{option}: the output path is empty")
    if os.fspath(path).strip() == "-":
        raise OutputError(f"{option} -: this command writes a {kind}, not to standard output; name the {kind}")
    if kind == "file" and os.fspath(path).endswith(("/", os.sep)):
        raise OutputError(f"{option} {path}: ends with a slash, a file name is needed")
    p = Path(os.path.abspath(os.fspath(path)))
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{option} {path}: {parent} is a file, not a folder")
    if p.exists():
        if kind == "folder" and not p.is_dir():
            raise OutputError(f"{option} {path}: is a file, a folder is needed")
        if kind == "file" and p.is_dir():
            raise OutputError(f"{option} {path}: is a folder, a file name is needed")
        if kind == "file" and not p.is_file():
            # outputs are written under a temporary name and renamed over the path: that would replace the
            # device or pipe itself (run as root, '-o /dev/null' replaced the system's /dev/null)
            raise OutputError(f"{option} {path}: is a device, pipe or socket, not a regular file; give a file path")
        if must_not_exist:
            raise OutputError(f"{option} {path}: exists already; choose another name or remove it")
    try:
        real = p.resolve()
    except (RuntimeError, OSError):
        raise OutputError(f"{option} {path}: a loop of symbolic links") from None
    for inp in inputs:
        if inp is None:
            continue
        try:
            src = Path(inp).resolve()
        except (RuntimeError, OSError):
            continue
        if real == src:
            raise OutputError(f"{option} {path}: is an input of this command ({inp}); write the output "
                              f"elsewhere")
    base = nearest_existing(p if kind == "folder" else p.parent)
    if not base.is_dir() or not _probe_writable(base):
        raise OutputError(f"{option} {path}: cannot write in {base} (not a writable folder)")
    return p


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing ancestor)."""
    return int(shutil.disk_usage(nearest_existing(Path(path))).free)


def format_bytes(n: float) -> str:
    """``1.5 GB`` style."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def available_memory() -> int | None:
    """Physical memory of this machine in bytes (``None`` when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_on_disk(path: str | os.PathLike, need: float, option: str, what: str, *,
                       memory: float = 0.0) -> None:
    """Refuse work whose output (``need`` bytes) cannot fit on the disk of ``path``, or whose bookkeeping
    (``memory`` bytes) cannot fit in this machine's memory."""
    free = free_bytes(path)
    if need > free:
        raise OutputError(f"{option}: {what} needs about {format_bytes(need)} but the disk of {path} has "
                          f"{format_bytes(free)} free; ask for less")
    mem = available_memory()
    if mem is not None and memory > 0.8 * mem:
        raise OptionError(f"{option}: {what} needs about {format_bytes(memory)} of memory but this machine "
                          f"has {format_bytes(mem)}; ask for less")


def file_in_folder(folder: str | os.PathLike, name: Any, what: str, source: str | os.PathLike) -> Path:
    """``folder / name`` for a file name read from the file ``source`` (a manifest, a catalog, a session),
    refused with :class:`UnsafePathError` unless it stays inside ``folder`` once resolved (no absolute
    path, no ``..``, no link out). Paths a user types or picks are not checked here: only paths that come
    from files."""
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise UnsafePathError(f"{source}: {what} must be a file name, got {name!r}")
    p = Path(name)
    try:
        folder = Path(folder).resolve()
        target = (folder / p).resolve()
    except (RuntimeError, OSError):  # a loop of symbolic links
        raise UnsafePathError(f"{source}: {what} {name!r} is a loop of symbolic links") from None
    if p.is_absolute() or ".." in p.parts or (target != folder and folder not in target.parents):
        raise UnsafePathError(f"{source}: {what} {name!r} points outside {folder}; only files in that folder "
                              f"are read")
    return target
