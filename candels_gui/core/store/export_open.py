"""Opening a blend export as data: its stamps, the specs of one split's blends, and what it is.

A folder written by ``candels-gui produce`` (``blends.h5`` + ``manifest.json``), or by an HDF5 export
(the Export dialog, :func:`~candels_gui.core.store.export.export` with ``fmt="hdf5"``), holds every blend as
a :class:`~candels_gui.core.blending.engine.BlendSpec`. :func:`read_export_blends` returns those specs
with the stamps and the engine that render them bit-identically to the export's arrays:

* ``"compact"`` storage: the stamp library inside the file
  (:func:`~candels_gui.core.store.stamp_library.library_engine`);
* ``"arrays"`` storage: the input the manifest records (``manifest["input"]["source"]``), read again and
  checked against the content hash the export recorded, so its blends are the export's blends.

The app opens such a folder with File > Open data folder (or ``candels-gui OUT``): the stamps become its
data and the blends fill the curation queue, where the Compare view measures deblenders on them
(:func:`~.open_data.iter_open_data` decides between an export and stamp data).

Examples
--------
>>> stamps, specs, info = read_export_blends("out")               # doctest: +SKIP
>>> info.split, len(specs), info.engine.render(specs[0]).image.shape   # doctest: +SKIP
('test', 20, (128, 128))
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import h5py

from ..blending.engine import BlendEngine, BlendSpec
from ..data.stampset import StampSet
from ..errors import DataError, ExportError, OptionError, one_line
from ..jobs import CancelToken, Job, Progress, check_cancel, run_job
from .checks import child_path, open_h5, parse_specs, read_json_object
from .common import FORMAT_NAME, check_specs, find_manifest, pick_split
from .export import check_not_unfinished, detect_export, export_splits
from .hdf5 import check_hdf5_header
from .produce import PRODUCE_FILE, produce_file
from .stamp_library import library_engine, storage_of

__all__ = ["ExportInfo", "ExportBlends", "read_export_blends", "iter_read_export_blends",
           "default_split"]



@dataclass(frozen=True, eq=False)
class ExportInfo:
    """What :func:`read_export_blends` opened.

    Attributes
    ----------
    path : Path
        The HDF5 file of the export.
    split : str or None
        The split read (``None``: an unsplit export).
    splits : tuple
        Every split of the export.
    n_split : int
        Blends of that split in the export.
    n_read : int
        Blends returned (``n_split``, or fewer with ``limit``).
    storage : {"compact", "arrays"}
        How the export stores its blends.
    stamps_from : str
        Where the stamps came from: ``"stamp library"``, or the input path read again.
    engine : BlendEngine
        Renders the specs exactly as the export did (noise model, dilation and the noise seeds of the
        original stamp set).
    manifest : dict
        The manifest embedded in the file (no spec list).
    """

    path: Path
    split: str | None
    splits: tuple[str | None, ...]
    n_split: int
    n_read: int
    storage: str
    stamps_from: str
    engine: BlendEngine = field(repr=False)
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def folder(self) -> Path:
        """The export's folder (where ``blends.h5`` sits)."""
        return self.path.parent

    def describe(self, where: str | os.PathLike | None = None) -> str:
        """One line for a status bar: ``"Loaded 200 blends (test split) of 143 stamps from OUT"``."""
        n = f"{self.n_read:,}" if self.n_read == self.n_split else f"the first {self.n_read:,} of {self.n_split:,}"
        split = f" ({self.split} split)" if self.split else ""
        stamps = len(self.engine.stamps)
        origin = "" if self.stamps_from == "stamp library" else f", stamps read from {self.stamps_from}"
        return (f"Loaded {n} blend{'s' if self.n_split != 1 else ''}{split} of {stamps:,} stamps from "
                f"{where if where is not None else self.folder}{origin}")


class ExportBlends(NamedTuple):
    """``(stamps, specs, info)``: what :func:`read_export_blends` returns."""

    stamps: StampSet
    specs: list[BlendSpec]
    info: ExportInfo


def default_split(path: str | os.PathLike) -> str | None:
    """The split read from an export when none is named: ``test`` when present, else the first."""
    return _default_of(export_splits(path))


def _default_of(splits: list[str | None]) -> str | None:
    return "test" if "test" in splits else splits[0]


def _export_file(path: Path) -> Path:
    """The HDF5 file of the export at ``path`` (folder, manifest or the file itself)."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    manifest = path / "manifest.json" if path.is_dir() else path if path.name == "manifest.json" else None
    if manifest is None:
        fmt, where = detect_export(path)  # a file: HDF5 or FITS by its first bytes, else DataError
        if fmt != "hdf5":
            raise ExportError(f"{path} is a {fmt} export: its blends can be opened from HDF5 exports only "
                              f"(`candels-gui produce`, or an export written as HDF5)")
        return Path(where)
    if not manifest.is_file():
        found = produce_file(path)   # a produce folder without its manifest
        if found != path:
            return found
        check_not_unfinished(path)
        raise ExportError(f"{path}: not a blend export (no manifest.json and no {PRODUCE_FILE}; a folder written "
                          f"by `candels-gui produce` or an HDF5 export holds them)")
    m = read_json_object(manifest, "manifest")
    if m.get("format") != FORMAT_NAME:
        raise ExportError(f"{manifest}: not the manifest of a candels-gui export (format {m.get('format')!r}, "
                          f"expected {FORMAT_NAME!r})")
    kind = m.get("kind")
    if kind != "hdf5" or not m.get("data_file"):
        raise ExportError(f"{manifest.parent} is a {kind} export: its blends can be opened from HDF5 exports only "
                          f"(`candels-gui produce`, or an export written as HDF5)")
    return child_path(manifest.parent, m["data_file"], "data_file", manifest)


def iter_read_export_blends(path: str | os.PathLike, split: str | None = None, limit: int | None = None, *,
                            data: str | os.PathLike | None = None, cancel: CancelToken | None = None) -> Job:
    """Job form of :func:`read_export_blends` (for GUI workers): yields progress, returns :class:`ExportBlends`."""
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise OptionError(f"limit must be a whole number >= 1 (or None for every blend), got {limit!r}")
    file = _export_file(Path(path))
    yield Progress(0, 3, f"reading {file.name}")
    with open_h5(file) as f:
        splits = check_hdf5_header(f, file)
        try:
            split = pick_split(splits, _default_of(splits) if split is None else split, file)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
        g = f if split is None else f[split]
        where = f"{file}:{g.name}"
        ds = g.get("specs")
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or h5py.check_string_dtype(ds.dtype) is None:
            raise ExportError(f"{where} has no specs dataset of JSON texts: not a blend export")
        n_split = int(ds.shape[0])
        specs = parse_specs(ds[:n_split if limit is None else int(limit)], f"{where}/specs")
        storage = storage_of(f)
        check_cancel(cancel)
        yield Progress(1, 3, "reading the stamp library" if storage == "compact" else "reading the manifest")
        if storage == "compact":
            engine, stamps_from = library_engine(f), "stamp library"
            manifest = _embedded_manifest(f, file, required=False)
        else:
            manifest = _embedded_manifest(f, file, required=True)
    if storage != "compact":
        stamps, stamps_from = yield from _input_stamps(manifest, file, data, cancel)
        settings = manifest.get("engine") or {}
        try:
            engine = BlendEngine(stamps, n_dilate=int(settings.get("n_dilate", 5)),
                                 noise_model=settings.get("noise_model", "clipped"))
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{file}: the manifest's engine settings {settings!r} are not usable "
                              f"({one_line(exc, 120)})") from None
    check_cancel(cancel)
    try:
        check_specs(engine, [(split, specs)])
    except DataError as exc:
        raise ExportError(f"{file}: {exc}") from None
    yield Progress(3, 3, f"{len(specs):,} blends read")
    info = ExportInfo(path=file, split=split, splits=tuple(splits), n_split=n_split, n_read=len(specs),
                      storage=storage, stamps_from=stamps_from, engine=engine, manifest=manifest)
    return ExportBlends(engine.stamps, specs, info)


def read_export_blends(path: str | os.PathLike, split: str | None = None, limit: int | None = None, *,
                       data: str | os.PathLike | None = None, cancel: CancelToken | None = None
                       ) -> ExportBlends:
    """The stamps and the blend specs of one split of an HDF5 export.

    Parameters
    ----------
    path : path
        An export folder (``candels-gui produce -o OUT``: ``OUT``), its ``manifest.json``, or its HDF5 file
        (``OUT/blends.h5``).
    split : str, optional
        Split to read; ``"test"`` when the export has one, else its first (or only) split.
    limit : int, optional
        Read the first ``limit`` blends of the split only.
    data : path, optional
        ``"arrays"`` storage only: read the stamps from here instead of the input path the manifest
        records (its content hash must still be the export's).
    cancel : CancelToken, optional
        Stops the work between steps.

    Returns
    -------
    ExportBlends
        ``(stamps, specs, info)``: the :class:`StampSet` the specs name their galaxies in (the stamp library
        of a compact export: only the galaxies the export uses), the split's specs in export order, and an
        :class:`ExportInfo` whose ``engine`` renders the specs bit-identically to the export's arrays.

    Raises
    ------
    ExportError
        ``path`` is not an export (no manifest, no ``blends.h5``, not a candels-gui HDF5 file), is not HDF5,
        has no split ``split``, or is damaged (specs, stamp library, manifest); or, for ``"arrays"`` storage,
        its input data is missing or holds other stamps than the export was made from.
    FileFormatError
        The HDF5 file cannot be read (truncated, corrupt).
    OptionError
        ``limit`` below 1.

    Examples
    --------
    >>> from candels_gui.core.jobs import run_job
    >>> from candels_gui.core.store.produce import ProduceOptions, produce
    >>> run_job(produce(stamps, "out", ProduceOptions(n_blends=50)))          # doctest: +SKIP
    >>> stamps, specs, info = read_export_blends("out")                        # doctest: +SKIP
    >>> info.describe()                                                        # doctest: +SKIP
    'Loaded 10 blends (test split) of 48 stamps from out'
    """
    return run_job(iter_read_export_blends(path, split, limit, data=data, cancel=cancel))


# ------------------------------------------------------------------------------------------ private
def _embedded_manifest(f: h5py.File, file: Path, *, required: bool) -> dict[str, Any]:
    """The manifest copy inside the file, else the one beside it (``{}`` when neither and not required)."""
    try:
        manifest = json.loads(f.attrs["manifest"])
        if isinstance(manifest, dict):
            return manifest
    except (KeyError, TypeError, ValueError, RecursionError):
        pass
    beside = find_manifest(file)
    if beside is None and required:
        raise ExportError(f"{file}: no manifest (neither inside the file nor beside it): the input its stamps "
                          f"came from is unknown")
    return beside or {}


def _input_stamps(manifest: dict[str, Any], file: Path, data: str | os.PathLike | None,
                  cancel: CancelToken | None) -> Job:
    """Job: the input stamps of an ``"arrays"`` export, checked against its content hash;
    returns ``(stamps, where they were read)``."""
    from ..data.load import iter_load_stampset

    recorded = manifest.get("input") if isinstance(manifest.get("input"), dict) else {}
    source, wanted = recorded.get("source"), recorded.get("content_hash")
    if data is not None:
        candidates = [Path(data)]
    elif isinstance(source, str) and source:
        candidates = [Path(source)] if Path(source).is_absolute() else [Path(source), file.parent / source]
    else:
        candidates = []
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        looked = " or ".join(str(p) for p in candidates) or "(no input path recorded)"
        raise ExportError(f"{file} stores its blends as arrays, without a stamp library: its stamps must be read "
                          f"from its input data, not found at {looked}; give that data (data=), or write the export "
                          f"with compact storage (`candels-gui produce --storage compact`)")
    stamps = yield from iter_load_stampset(found, cancel=cancel)
    stamps.source = str(found)
    if wanted and stamps.content_hash() != wanted:
        raise ExportError(f"{found} holds other stamps (content hash {stamps.content_hash()}) than {file} was made "
                          f"from ({wanted}): its blends would not be the export's")
    return stamps, str(found)
