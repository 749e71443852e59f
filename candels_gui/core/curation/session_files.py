"""Files of curation sessions: where autosaves go, how they are found, atomic writes (no Qt)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..atomic import remove_stale_temps, temp_path, user_cache_dir
from ..errors import SessionError

__all__ = ["AUTOSAVE_ENV", "default_autosave_dir", "autosave_path_for", "find_autosave", "atomic_write_text",
           "MAX_SESSION_BYTES", "resolve_session_path", "read_session_text", "peek_data_path", "AutosaveInfo",
           "list_recoverable", "work_in_words"]

#: Environment variable that overrides the autosave folder.
AUTOSAVE_ENV = "CANDELS_GUI_AUTOSAVE_DIR"


def default_autosave_dir() -> Path:
    """Where autosave files go: ``$CANDELS_GUI_AUTOSAVE_DIR``, else the user's cache folder.

    ``~/.cache/candels-gui/autosave`` on Linux (``$XDG_CACHE_HOME`` respected),
    ``~/Library/Caches/candels-gui/autosave`` on macOS, ``%LOCALAPPDATA%\\candels-gui\\autosave`` on
    Windows (the folders Qt's ``QStandardPaths.CacheLocation`` names, computed without Qt).
    """
    return user_cache_dir("autosave", AUTOSAVE_ENV)


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
@dataclass(frozen=True)
class AutosaveInfo:
    """One autosave left by a session that did not close cleanly (see :func:`list_recoverable`).

    Attributes
    ----------
    path : Path
        The autosave file.
    mtime : float
        When it was written (seconds since the epoch).
    session_path : Path or None
        The session file it belongs to (``None``: a session never saved).
    data_path : Path or None
        The data it was made on (absolute).
    data_hash : str or None
        That data's content hash.
    n_queued : int
        Queued blends it holds.
    n_labelled : int
        Galaxies with eyeball morphology votes it holds.
    """

    path: Path
    mtime: float
    session_path: Path | None
    data_path: Path | None
    data_hash: str | None
    n_queued: int
    n_labelled: int = 0

    def describe(self) -> str:
        """What it holds, in words: ``"3 queued blends and 20 labelled galaxies"``."""
        return work_in_words(self.n_queued, self.n_labelled)


def work_in_words(n_queued: int, n_labelled: int) -> str:
    """A session's work in words: its queued blends, and its labelled galaxies when it has any."""
    text = f"{n_queued:,} queued blend{'s' if n_queued != 1 else ''}"
    if n_labelled:
        text += f" and {n_labelled:,} labelled galax{'ies' if n_labelled != 1 else 'y'}"
    return text


def list_recoverable(directory: str | os.PathLike | None = None) -> list[AutosaveInfo]:
    """Every autosave worth offering at start-up, newest first.

    An autosave counts when its queue differed from the saved one and it is newer than its session file
    (or the session was never saved, or its file is gone). Unreadable files are skipped, and so are those
    of another app still running (the process that wrote them is alive).
    """
    folder = Path(directory) if directory is not None else default_autosave_dir()
    if not folder.is_dir():
        return []
    found: list[AutosaveInfo] = []
    for path in folder.glob("*.json"):
        try:
            mtime = path.stat().st_mtime
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            meta = doc.get("autosave") or {}
            data = doc.get("data") or {}
            queue = doc.get("queue") or []
            votes = doc.get("morph_votes") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(meta, dict) or not meta.get("modified", True) or _running_elsewhere(meta.get("pid")):
            continue
        session = Path(meta["session_path"]) if meta.get("session_path") else None
        if session is not None and session.is_file() and mtime < session.stat().st_mtime:
            continue
        data_path = (path.parent / data["path"]).resolve() if isinstance(data, dict) and data.get("path") else None
        found.append(AutosaveInfo(path=path, mtime=mtime, session_path=session, data_path=data_path,
                                  data_hash=data.get("hash") if isinstance(data, dict) else None,
                                  n_queued=len(queue) if isinstance(queue, list) else 0,
                                  n_labelled=len(votes) if isinstance(votes, dict) else 0))
    return sorted(found, key=lambda a: a.mtime, reverse=True)


def _running_elsewhere(pid: object) -> bool:
    """True when ``pid`` is another process that is still alive (its autosave is live work, not a crash's)."""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid() or sys.platform == "win32":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


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
