"""Temporary files that every writer of this program uses, named so that they can be recognised.

A file is written under a temporary name in its destination folder, then renamed over its final name
(:func:`os.replace`, atomic on one file system). The temporary name is
``.candels-gui-tmp-PID-TOKEN-FINALNAME``: hidden, recognisably ours, with the id of the process that
writes it. A process killed with ``kill -9`` cannot remove its temporaries; the next run that writes into
the same folder removes those whose process is gone (:func:`remove_stale_temps`), and ``--force`` removes
them all. Temporaries of older versions of this program (``.NAME.XXXXXXXX.tmp``, ``NAME.part``) are
recognised too.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> tmp = temp_path(folder / "a.txt")
>>> is_temp_name(tmp.name), owner_pid(tmp.name) == os.getpid()
(True, True)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["TEMP_PREFIX", "temp_path", "temp_files", "is_temp_name", "owner_pid", "stale_temps",
           "remove_stale_temps", "user_cache_dir", "interrupts_deferred"]

#: Prefix of every temporary file this program writes.
TEMP_PREFIX = ".candels-gui-tmp-"
_OWN = re.compile(r"^\.candels-gui-tmp-(?P<pid>\d+)-[0-9a-f]+-(?P<final>.+)$")
_LEGACY = (re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$"),  # AtomicFiles before this version
           re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$"),  # atomic_write_text (mkstemp) before this version
           re.compile(r".+\.(npy|json|csv|h5|fits)\.part$"),  # concatenate / convert before this version
           re.compile(r".+\.(pt|ckpt)\.tmp$"))  # weights and checkpoints before this version


def temp_path(final: str | os.PathLike) -> Path:
    """A fresh temporary path, in the folder of ``final``, for the file that will become ``final``."""
    final = Path(final)
    head = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    tail = final.name
    while len((head + tail).encode()) > 255:  # file systems cap a name at 255 bytes: keep the end
        tail = tail[1:]
    return final.with_name(head + tail)


@contextlib.contextmanager
def temp_files(folder: str | os.PathLike, names: Iterable[str]) -> Iterator[dict[str, Path]]:
    """Temporary paths (:func:`temp_path`) for files ``names`` of ``folder``, renamed over their final names when
    the block ends normally and removed when it raises (a cancelled or failed writer leaves nothing)."""
    folder = Path(folder)
    tmp = {name: temp_path(folder / name) for name in names}
    try:
        yield tmp
        for name, path in tmp.items():
            os.replace(path, folder / name)
    except BaseException:
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise


def user_cache_dir(name: str, env: str) -> Path:
    """``$env`` when set, else this program's folder ``name`` in the user's cache folder.

    ``~/.cache/candels-gui/NAME`` on Linux (``$XDG_CACHE_HOME`` respected), ``~/Library/Caches/candels-gui/NAME`` on
    macOS, ``%LOCALAPPDATA%\\candels-gui\\NAME`` on Windows (the folders Qt's ``QStandardPaths.CacheLocation`` names,
    computed without Qt).
    """
    value = os.environ.get(env)
    if value:
        return Path(value)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "candels-gui" / name


def is_temp_name(name: str) -> bool:
    """True for a temporary file name of this program (this version's or an older one's)."""
    return bool(_OWN.match(name)) or any(p.match(name) for p in _LEGACY)


def owner_pid(name: str) -> int | None:
    """The id of the process that writes temporary ``name`` (``None`` for an older version's name)."""
    m = _OWN.match(name)
    return int(m.group("pid")) if m else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, someone else's
    return True


def stale_temps(folder: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Temporary files of this program in ``folder`` (not below) left by processes that are gone.

    With ``force``, every temporary of this program there except this process's own.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        if not is_temp_name(p.name) or not (p.is_file() or p.is_symlink()):
            continue
        pid = owner_pid(p.name)
        if pid == os.getpid():
            continue
        if force or pid is None or not _alive(pid):
            out.append(p)
    return sorted(out)


def remove_stale_temps(folder: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Remove :func:`stale_temps` of ``folder``; returns what was removed."""
    removed = []
    for p in stale_temps(folder, force=force):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done, then deliver them.

    For the renames that commit several files at once (stamps, images and catalogue): an interrupt between
    two of them left a folder of new images beside old segmentation maps. Elsewhere (another thread) it does
    nothing.

    Examples
    --------
    >>> with interrupts_deferred():
    ...     pass
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    signals = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {}
    for sig in signals:
        current = signal.getsignal(sig)
        if current in (signal.SIG_IGN, None):
            continue
        previous[sig] = current
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            os.kill(os.getpid(), held[0])   # the handler that was in place delivers it now
