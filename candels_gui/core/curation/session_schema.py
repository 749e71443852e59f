"""The schema of session files, checked before any field is used.

A session file comes from disk, where anything can happen to it (a crash mid-write of another program, an
edit by hand, a file that is not a session at all). :func:`check_session_fields` checks the type and
range of every field first and raises a :class:`~candels_gui.core.errors.SessionError` that names the
field and says what was expected; only then are the settings and the queue built.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import SessionError

__all__ = ["check_session_fields", "SESSION_FIELDS"]

_INT = "a whole number"
#: Top-level fields: name -> (allowed types, may be null, description of what is expected).
SESSION_FIELDS: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "format": ((str,), False, "text"),
    "version": ((int,), False, _INT),
    "tool_version": ((str,), True, "text"),
    "saved": ((str,), True, "text"),
    "data": ((dict,), True, "an object {path, hash}"),
    "seed": ((int,), True, _INT),
    "random_index": ((int,), True, _INT),
    "rules": ((dict,), True, "an object of sampling rules"),
    "filter": ((dict,), True, "an object of catalog cuts"),
    "display": ((dict,), True, "an object of display settings"),
    "current": ((dict,), True, "a blend spec object"),
    "current_item": ((int,), True, _INT),
    "queue": ((list,), True, "a list of queued blends"),
    "autosave": ((dict,), True, "an object"),
}


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # JSON true/false is not a number here
        return bool in types
    if float in types and isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_session_fields(data: Any, source: str, *, newest_version: int) -> None:
    """Raise :class:`SessionError` unless ``data`` (a parsed session file) has the types and ranges of a
    session: every known field of the right type, seeds and indices non-negative, queue items objects
    with a ``spec`` object and text ``status``/``note``/``added``."""
    if not isinstance(data, dict):
        raise SessionError(f"{source}: not a session file (holds a JSON {type(data).__name__}, expected an object)")
    for name, (types, nullable, what) in SESSION_FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if value is None and nullable:
            continue
        if not _type_ok(value, types):
            raise SessionError(f"{source}: field {name!r} is {_describe(value)}, expected {what}")
    version = data.get("version")
    if version is None or not 1 <= version <= newest_version:
        raise SessionError(f"{source}: session format version {version!r} is not supported (this version "
                           f"reads 1 to {newest_version}); update candels-gui")
    for name in ("seed", "random_index", "current_item"):
        v = data.get(name)
        if v is not None and not 0 <= v < 2 ** 63:
            raise SessionError(f"{source}: field {name!r} is {v}, expected a whole number from 0 to 2**63-1")
    info = data.get("data") or {}
    for key in ("path", "hash"):
        v = info.get(key)
        if v is not None and not isinstance(v, str):
            raise SessionError(f"{source}: field 'data.{key}' is {_describe(v)}, expected text")
    if isinstance(info.get("path"), str) and "\0" in info["path"]:
        raise SessionError(f"{source}: field 'data.path' holds a NUL character")
    for k, item in enumerate(data.get("queue") or []):
        if not isinstance(item, dict):
            raise SessionError(f"{source}: queue item {k} is {_describe(item)}, expected an object")
        if not isinstance(item.get("spec"), dict):
            raise SessionError(f"{source}: queue item {k} has no 'spec' object")
        for key in ("status", "note", "added"):
            if key in item and not isinstance(item[key], str):
                raise SessionError(f"{source}: queue item {k}: field {key!r} is {_describe(item[key])}, "
                                   f"expected text")
