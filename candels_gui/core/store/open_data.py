"""What the app opens at a path: a blend export or stamp data, told apart cheaply.

This module imports neither h5py nor the export readers, so that opening stamp data (the app's start-up)
does not pay for them; a blend export is read by :mod:`.export_open`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..jobs import CancelToken, Job
from .signatures import HDF5_MAGIC

__all__ = ["is_blend_export", "iter_open_data", "EXPORT_FORMAT_NAME", "PRODUCE_FILE_NAME"]

#: The ``format`` entry of an export manifest (``common.FORMAT_NAME``; a test keeps the two equal).
EXPORT_FORMAT_NAME = "candels-gui-export"
#: The HDF5 file ``produce`` writes in its output folder (``produce.PRODUCE_FILE``; a test keeps them equal).
PRODUCE_FILE_NAME = "blends.h5"


def is_blend_export(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like a blend export rather than stamp data: a folder holding an export's
    ``manifest.json`` or a ``blends.h5``, such a manifest, or an HDF5 file.

    Cheap (reads the head of the manifest, opens no HDF5 file); :func:`~.export_open.read_export_blends` checks the rest
    and says what is wrong.
    """
    p = Path(path)
    if p.is_dir():
        return _is_export_manifest(p / "manifest.json") or (p / PRODUCE_FILE_NAME).is_file()
    if p.name == "manifest.json":
        return _is_export_manifest(p)
    return _head(p, len(HDF5_MAGIC)) == HDF5_MAGIC


def _head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a regular file (``b""`` for anything else)."""
    if not path.is_file():
        return b""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _is_export_manifest(path: Path) -> bool:
    """A manifest written by an exporter of this package (its ``format`` entry comes first)."""
    return EXPORT_FORMAT_NAME.encode() in _head(path, 4096)


def iter_open_data(path: str | os.PathLike, *, limit: int | None = None,
                   cancel: CancelToken | None = None) -> Job:
    """Job: what the app opens at ``path``: a blend export (:func:`is_blend_export`) as
    :class:`~.export_open.ExportBlends` (its first ``limit`` blends), anything else as a :class:`StampSet`
    (:func:`~candels_gui.core.data.load.iter_load_stampset`)."""
    if is_blend_export(path):
        from .export_open import iter_read_export_blends as _read

        return (yield from _read(path, limit=limit, cancel=cancel))
    from ..data.load import iter_load_stampset

    return (yield from iter_load_stampset(path, cancel=cancel))
