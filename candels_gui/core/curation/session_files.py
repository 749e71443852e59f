"""Files of curation sessions: where autosaves go, how they are found, atomic writes (no Qt)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from ..atomic import remove_stale_temps, temp_path
from ..errors import SessionError

__all__ = ["AUTOSAVE_ENV", "default_autosave_dir", "autosave_path_for", "find_autosave", "atomic_write_text",
           "MAX_SESSION_BYTES", "resolve_session_path", "read_session_text", "peek_data_path"]

#: Environment variable that overrides the autosave folder.
AUTOSAVE_ENV = "CANDELS_GUI_AUTOSAVE_DIR"


def default_autosave_dir() -> Path:
    """Where autosave files go: ``$CANDELS_GUI_AUTOSAVE_DIR``, else the user's cache folder.

    ``~/.cache/candels-gui/autosave`` on Linux (``$XDG_CACHE_HOME`` respected),
    ``~/Library/Caches/candels-gui/autosave`` on macOS, ``%LOCALAPPDATA%\\candels-gui\\autosave`` on
    Windows (the folders Qt's ``QStandardPaths.CacheLocation`` names, computed without Qt).
    """
    env = os.environ.get(AUTOSAVE_ENV)
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "candels-gui" / "autosave"


def autosave_path_for(*, session_path: str | os.PathLike | None = None, data_hash: str | None = None,
                      directory: str | os.PathLike | None = None) -> Path | None:
    """The autosave file of a session: keyed by its file when it has one, else by its data hash.

    Returns ``None`` when neither is known (nothing to key the file on).
    """
    folder = Path(directory) if directory is not None else default_autosave_dir()
    if session_path is not None:
        key = hashlib.sha256(str(Path(session_path).resolve()).encode()).hexdigest()[:16]
        return folder / f"session-{key}.json"
    if data_hash:
        return folder / f"data-{data_hash}.json"
    return None


def find_autosave(*, session_path: str | os.PathLike | None = None, data_hash: str | None = None,
                  directory: str | os.PathLike | None = None, unsaved_only: bool = True) -> Path | None:
    """An autosave left by a session that did not close cleanly, or ``None``.

    With a session file, the autosave counts only when it is newer than that file. With
    ``unsaved_only``, only an autosave whose queue differed from the saved one counts (one that only
    holds a changed editor blend is not worth a recovery prompt).
    """
    path = autosave_path_for(session_path=session_path, data_hash=data_hash, directory=directory)
    if path is None or not path.is_file():
        return None
    if session_path is not None and Path(session_path).is_file() \
            and path.stat().st_mtime < Path(session_path).stat().st_mtime:
        return None
    if unsaved_only:
        try:
            with open(path, encoding="utf-8") as fh:
                meta = json.load(fh).get("autosave") or {}
        except (OSError, ValueError, AttributeError):
            return None  # unreadable: nothing that can be recovered
        if not meta.get("modified", True):
            return None
    return path


#: Largest session file read (a queue of a million blends is ~150 MB).
MAX_SESSION_BYTES = 1 << 30


def resolve_session_path(path: str | os.PathLike) -> Path:
    """``Path(path).resolve()``; a loop of symbolic links raises SessionError."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        raise SessionError(f"{path}: a loop of symbolic links, not a session file") from None


def read_session_text(path: Path) -> str:
    """The text of a session file; a missing, unreadable or non-UTF-8 file raises SessionError."""
    if path.exists() and not path.is_dir() and not path.is_file():
        raise SessionError(f"{path}: not a regular file (a pipe or a device)")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"{path}: no such session file") from None
    except IsADirectoryError:
        raise SessionError(f"{path}: is a folder, not a session file") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot read the session file ({exc.strerror or exc})") from None
    if len(raw) > MAX_SESSION_BYTES:
        raise SessionError(f"{path}: {len(raw):,} bytes is too large for a session file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SessionError(f"{path}: not a session file (not UTF-8 text)") from None


def peek_data_path(path: str | os.PathLike) -> Path | None:
    """The data path recorded in a session file that may be damaged (``None`` when none can be read).

    Used to offer opening the data alone when the session itself cannot be opened: only the ``data.path``
    text is read, resolved against the session's folder, and it must stay inside that folder (a path
    read from a file).
    """
    path = Path(path)
    try:
        data = json.loads(read_session_text(resolve_session_path(path)))
        rel = data["data"]["path"]
    except (SessionError, ValueError, KeyError, TypeError, RecursionError, OSError):
        return None
    if not isinstance(rel, str) or not rel or "\0" in rel:
        return None
    try:
        folder = path.resolve().parent
        target = (folder / rel).resolve()
    except (RuntimeError, OSError):
        return None
    return target if target == folder or folder in target.parents else None


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename).

    ``fsync=False`` skips flushing to the disk: the file still survives the process being killed
    (the kernel holds the data), only not a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fsync:  # a save the user asked for: clear what a killed run left in that folder
        remove_stale_temps(path.parent)
    tmp = temp_path(path)
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
