"""Machinery shared by the export writers: splits, streaming, atomic files, manifests, results.

See :mod:`candels_gui.core.store.export` for the formats and the public entry points.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Mapping, Sequence

import numpy as np
from astropy.table import Table

from ... import __version__
from ..blending.engine import BlendBatch, BlendEngine, BlendSpec
from ..blending.catalogue import CATALOG_COLUMNS, append_catalog_csv
from ..atomic import interrupts_deferred, remove_stale_temps, temp_path
from ..errors import DataError, NonFiniteError, OutputError
from ..jobs import CancelToken, Progress, check_cancel

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ExportData", "ExportResult", "Splits", "normalize_splits",
           "check_specs", "stream_batches", "stream_spec_batches", "AtomicFiles", "CatalogueCsv",
           "sha256_file",
           "manifest_path_for", "find_manifest", "utc_now", "build_manifest", "embedded_manifest",
           "array_entry", "file_entry", "write_json", "specs_from_manifest", "pick_split",
           "verify_files", "split_prefix"]

#: Value of the ``format`` entry of every manifest.
FORMAT_NAME = "candels-gui-export"
#: Bumped when the layout of an export changes incompatibly (2: HDF5 ``storage``, compact exports).
FORMAT_VERSION = 2
_SPLIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")

Splits = list[tuple["str | None", list[BlendSpec]]]


@dataclass
class ExportResult:
    """What a writer returns: where the output is and what it holds."""

    path: Path
    fmt: str
    manifest_path: Path
    counts: dict[str | None, int]
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_blends(self) -> int:
        """Blends over all splits."""
        return sum(self.counts.values())


@dataclass(eq=False)
class ExportData:
    """One split of an export, read back by :func:`~candels_gui.core.store.export.read_export`.

    Attributes
    ----------
    path : Path
    fmt : {"npy", "hdf5", "fits", "zarr"}
    split : str or None
        Split name (``"train"``, ``"test"``) or ``None`` for an unsplit export.
    images : (N, H, W) float32
    fluxes : (N, 2) float64
    catalog : astropy.table.Table
        The blend catalogue (the npy layout's CSV holds floats to 6 decimals).
    specs : list of BlendSpec
    manifest : dict
    isolated : (N, 2, H, W) float32 or None
        ``None`` in the npy layout unless its labels are ``single_images``.
    masks : (N, 2, H, W) bool or None
        Recovered from mask labels in the npy layout; ``None`` with ``single_images`` there.
    labels : ndarray or None
        In the label method's shape and dtype, when the export has labels.
    label_method : str or None
    flux_out_frac : (N,) float32 or None
        ``None`` in the npy layout (its catalogue has the value to 6 decimals).
    """

    path: Path
    fmt: str
    split: str | None
    images: np.ndarray
    fluxes: np.ndarray
    catalog: Table
    specs: list[BlendSpec]
    manifest: dict[str, Any]
    isolated: np.ndarray | None = None
    masks: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_method: str | None = None
    flux_out_frac: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ----------------------------------------------------------------------------------- splits, specs
def split_prefix(split: str | None) -> str:
    """File prefix of a split: ``"train_"``, or ``""`` when unsplit."""
    return f"{split}_" if split else ""


def normalize_splits(specs: Sequence[BlendSpec] | Mapping[str, Sequence[BlendSpec]],
                     split_name: str | None = None) -> Splits:
    """``[(split name or None, specs), ...]`` from a spec sequence or a mapping split -> specs."""
    if isinstance(specs, Mapping):
        if split_name:
            raise ValueError("give either a mapping of splits or split_name, not both")
        pairs = [(str(k), v) for k, v in specs.items()]
        if not pairs:
            raise ValueError("the mapping of splits is empty")
    else:
        pairs = [(split_name or None, specs)]
    out: Splits = []
    for name, seq in pairs:
        if name is not None and not _SPLIT_NAME.match(name):
            raise ValueError(f"split name must be letters and digits, starting with a letter: {name!r}")
        out.append((name, [s if isinstance(s, BlendSpec) else BlendSpec.from_dict(dict(s))
                           for s in seq]))
    return out


def check_specs(engine: BlendEngine, splits: Splits) -> None:
    """Raise :class:`DataError` if a spec names a galaxy the engine's stamps do not hold, shifts galaxy 2
    off the stamp, or scales its flux beyond what float32 blends hold (see ``FLUX_RATIO_RANGE``)."""
    from ..blending.sampling import FLUX_RATIO_RANGE

    h, w = engine.shape
    lo, hi = FLUX_RATIO_RANGE
    for name, specs in splits:
        for i, s in enumerate(specs):
            where = f"split {name!r}, " if name else ""
            if abs(s.dx) >= w or abs(s.dy) >= h:
                raise DataError(f"{where}spec {i}: galaxy 2 shifted by ({s.dx:g}, {s.dy:g}) px is off the "
                                f"{h}x{w} stamp")
            if not lo <= s.flux_scale <= hi:
                raise DataError(f"{where}spec {i}: flux_scale {s.flux_scale:g} is outside {lo:g} to {hi:g}")
            for gid in (s.id1, s.id2):
                try:
                    engine.stamps.index_of(gid)
                except KeyError:
                    where = f"split {name!r}, " if name else ""
                    raise DataError(f"{where}spec {i}: no galaxy with id {gid} in "
                                    f"{engine.stamps.source or 'the stamp set'}") from None


def stream_batches(engine: BlendEngine, splits: Splits, *, batch_size: int,
                   cancel: CancelToken | None,
                   write: Callable[[int, BlendBatch], None]) -> Generator[Progress, None, int]:
    """Render every split batch by batch, call ``write(split_index, batch)``, yield progress.

    One batch buffer is reused (``reuse_buffers``): at most ``batch_size`` blends exist at a time.
    ``batch.indices`` are positions within the split. Returns the number of blends written.
    """
    total = sum(len(s) for _, s in splits)
    done = 0
    for k, (name, specs) in enumerate(splits):
        message = f"writing {name} blends" if name else "writing blends"
        for item in engine.iter_batches(specs, batch_size=int(batch_size), reuse_buffers=True,
                                        cancel=cancel):
            if isinstance(item, BlendBatch):
                for what, arr in (("blend images", item.images), ("isolated images", item.isolated)):
                    if not np.isfinite(arr).all():  # never written: an export holds finite pixels only
                        raise NonFiniteError(f"{name or 'blends'}: non-finite {what} rendered in the batch "
                                             f"starting at blend {int(item.indices[0])}; nothing was written")
                write(k, item)
                done += len(item)
                yield Progress(done, total, message)
    check_cancel(cancel)
    return done


def stream_spec_batches(engine: BlendEngine, splits: Splits, *, batch_size: int,
                        cancel: CancelToken | None,
                        write: Callable[[int, int, list[BlendSpec], np.ndarray], None]
                        ) -> Generator[Progress, None, int]:
    """Like :func:`stream_batches` without rendering the images (compact storage): calls
    ``write(split_index, start, specs, flux_out_frac)`` per batch. Returns the number of blends."""
    total = sum(len(s) for _, s in splits)
    done = 0
    for k, (name, specs) in enumerate(splits):
        message = f"writing {name} blends" if name else "writing blends"
        for start in range(0, len(specs), int(batch_size)):
            check_cancel(cancel)
            chunk = list(specs[start:start + int(batch_size)])
            write(k, start, chunk, engine.flux_out_fractions(chunk))
            done += len(chunk)
            yield Progress(done, total, message)
    check_cancel(cancel)
    return done


# ------------------------------------------------------------------------------------------- files
class AtomicFiles:
    """Temporary files in one folder, renamed over their final names by :meth:`commit`.

    The folder (and missing parents) is created; :meth:`discard` removes the temporaries and the
    folders it created, when empty.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "new"
    >>> atomic = AtomicFiles(folder)
    >>> _ = atomic.temp("a.txt").write_text("hello")
    >>> atomic.commit(); (folder / "a.txt").read_text()
    'hello'
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        missing, p = [], self.folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for parent in self.folder.parents:
            if parent.exists() and not parent.is_dir():
                raise OutputError(f"cannot write in {self.folder}: {parent} is a file, not a folder")
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"cannot write in {self.folder}: it is a file, not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first
        self.removed_stale = remove_stale_temps(self.folder)  # left by a run that was killed
        self.pairs: list[tuple[Path, Path]] = []

    def temp(self, final_name: str) -> Path:
        """Temporary path (``.candels-gui-tmp-PID-TOKEN-NAME``, see :mod:`candels_gui.core.atomic`) for the
        file that will be ``final_name``."""
        final = self.folder / final_name
        if final.is_dir():
            raise OutputError(f"cannot write {final}: a folder of that name is in the way")
        tmp = temp_path(final)
        self.pairs.append((tmp, final))
        return tmp

    def commit(self) -> None:
        """Rename every temporary over its final name, in the order they were asked for (an interrupt waits
        until all are renamed: never half the files of a run beside half of another's)."""
        with interrupts_deferred():
            for tmp, final in self.pairs:
                os.replace(tmp, final)
        self.pairs, self._created = [], []

    def discard(self) -> None:
        """Remove the temporaries, and the folders this object created when they are empty."""
        for tmp, _ in self.pairs:
            tmp.unlink(missing_ok=True)
        self.pairs = []
        for d in self._created:
            try:
                d.rmdir()
            except OSError:
                break


class CatalogueCsv:
    """Streams the blend catalogue of every split into ``{split_}catalogue.csv`` temporaries."""

    def __init__(self, atomic: AtomicFiles, splits: Splits) -> None:
        self.entries: list[dict[str, Any]] = []
        self._handles = []
        for name, specs in splits:
            final = f"{split_prefix(name)}catalogue.csv"
            tmp = atomic.temp(final)
            fh = open(tmp, "w", newline="", encoding="utf-8")
            self._handles.append(fh)
            fh.write(",".join(CATALOG_COLUMNS) + "\n")
            self.entries.append({"tmp": tmp, "name": final, "split": name, "rows": len(specs),
                                 "columns": list(CATALOG_COLUMNS)})

    def append(self, k: int, table: Table) -> None:
        """Append rows to the file of split ``k``."""
        append_catalog_csv(self._handles[k], table)

    def close(self) -> None:
        """Close every file (idempotent)."""
        for fh in self._handles:
            fh.close()

    def file_entries(self) -> list[dict[str, Any]]:
        """Manifest entries (with SHA-256) of the closed files."""
        return [file_entry(e["tmp"], e["name"], **{k: v for k, v in e.items()
                                                   if k not in ("tmp", "name")})
                for e in self.entries]


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def manifest_path_for(path: str | os.PathLike) -> Path:
    """Default manifest of an export: ``DIR/manifest.json`` or ``FILE.manifest.json``."""
    p = Path(path)
    return p / "manifest.json" if p.is_dir() else p.with_name(p.name + ".manifest.json")


def find_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of an HDF5/FITS file: ``FILE.manifest.json`` or a ``manifest.json`` beside it
    that lists the file; ``None`` when neither exists."""
    from .checks import read_json_object

    for cand in (manifest_path_for(path), path.parent / "manifest.json"):
        if cand.is_file():
            m = read_json_object(cand, "manifest")
            if m.get("format") == FORMAT_NAME and m.get("data_file") == path.name:
                _check_recorded_size(m, path, cand)
                return m
    return None


def _check_recorded_size(manifest: Mapping[str, Any], path: Path, where: Path) -> None:
    """Refuse a manifest that records another size for ``path`` than the file has (a manifest copied beside
    another run's file: its splits and specs would describe other blends). A stat, not a hash."""
    for entry in manifest.get("files", []) if isinstance(manifest.get("files"), list) else []:
        if (isinstance(entry, Mapping) and entry.get("name") == path.name and isinstance(entry.get("bytes"), int)
                and path.is_file()):
            size = path.stat().st_size
            if size != entry["bytes"]:
                raise DataError(f"{where}: records {entry['bytes']:,} bytes for {path.name}, which has "
                                f"{size:,}: the manifest is another export's (or the file changed)")


# ---------------------------------------------------------------------------------------- manifest
def utc_now() -> str:
    """Current UTC time, ISO 8601 with a ``Z``; ``SOURCE_DATE_EPOCH`` (seconds, the reproducible-builds
    convention) fixes it, so that even ``manifest.json`` comes out the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    now = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch.isdigit()
           else _dt.datetime.now(_dt.timezone.utc))
    return now.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_manifest(fmt: str, engine: BlendEngine, splits: Splits, *, method: str | None,
                   seed: int | None, options: Mapping[str, Any],
                   split_info: Mapping[str | None, dict], data_file: str | None = None
                   ) -> dict[str, Any]:
    """The manifest of an export (``files`` and ``arrays`` are filled in by the writer)."""
    stamps = engine.stamps
    spec_seeds = sorted({s.seed for _, specs in splits for s in specs})
    if seed is None and len(spec_seeds) == 1:
        seed = spec_seeds[0]
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": fmt, "data_file": data_file,
        "tool": "candels-gui", "tool_version": __version__, "created_utc": utc_now(),
        "seed": None if seed is None else int(seed), "spec_seeds": spec_seeds,
        "label_method": method,
        "options": _jsonable(dict(options)),
        "engine": {"n_dilate": engine.cache.n_dilate, "noise_model": engine.cache.noise_model},
        "stamp_shape": list(engine.shape),
        "input": {"source": str(stamps.source), "n_stamps": len(stamps),
                  "content_hash": stamps.content_hash(), "zeropoint": stamps.zeropoint,
                  "input_hashes": _jsonable(stamps.meta.get("input_hashes"))},
        "splits": [{"name": name, "n": len(specs), **split_info.get(name, {})}
                   for name, specs in splits],
        "files": [], "arrays": [],
        "specs": {("" if name is None else name): [s.to_dict() for s in specs]
                  for name, specs in splits},
    }


def embedded_manifest(manifest: Mapping[str, Any], *, max_seeds: int = 100) -> dict[str, Any]:
    """The manifest without its spec list, file hashes and creation time (stored inside an HDF5/FITS file
    or a Zarr store, which thus come out the same bytes for the same inputs and seed; ``manifest.json``
    beside them keeps the time)."""
    m = {k: v for k, v in manifest.items() if k not in ("specs", "files", "created_utc")}
    if len(m.get("spec_seeds", [])) > max_seeds:
        m["spec_seeds_truncated"] = len(m["spec_seeds"])
        m["spec_seeds"] = m["spec_seeds"][:max_seeds]
    return m


def array_entry(split: str | None, name: str, shape: Sequence[int], dtype: Any) -> dict[str, Any]:
    """Manifest entry of one stored array."""
    dt = np.dtype(dtype)
    return {"split": split, "name": name, "shape": [int(n) for n in shape],
            "dtype": "compound" if dt.names else ("str" if dt.kind == "O" else dt.str)}


def file_entry(path: Path, final_name: str, **extra: Any) -> dict[str, Any]:
    """Manifest entry of one written file (hash and size of its temporary)."""
    return {"name": final_name, "sha256": sha256_file(path), "bytes": path.stat().st_size, **extra}


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON text (UTF-8, indented; a manifest's spec lists one compact spec per line).

    The spec lists of 100,000s of blends go through the C encoder (indented JSON takes the slow
    pure-Python one), ten times faster.
    """
    specs = data.get("specs")
    head = {k: v for k, v in data.items() if k != "specs"} if isinstance(specs, Mapping) else data
    text = json.dumps(head, indent=1)
    if isinstance(specs, Mapping):
        encode = json.JSONEncoder(separators=(",", ":")).encode
        parts = [f"  {json.dumps(split)}: [" + ("\n   " + ",\n   ".join(map(encode, items)) + "\n  ]"
                                                if items else "]")
                 for split, items in specs.items()]
        body = ' "specs": {' + ("\n" + ",\n".join(parts) + "\n }" if parts else "}")
        text = (text[:-2] + ",\n" + body + "\n}") if head else "{\n" + body + "\n}"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.write("\n")


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


# ----------------------------------------------------------------------------------------- reading
def specs_from_manifest(manifest: Mapping[str, Any], split: str | None) -> list[BlendSpec]:
    """The specs of ``split`` recorded in a manifest."""
    table = manifest.get("specs", {})
    key = "" if split is None else split
    if not isinstance(table, dict) or key not in table or not isinstance(table[key], list):
        raise DataError(f"manifest has no specs for split {split!r}")
    out = []
    for k, d in enumerate(table[key]):
        try:
            out.append(BlendSpec.from_dict(d))
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(f"manifest: spec {k} of split {split!r} is not a valid blend spec ({exc})") from None
    return out


class SplitError(DataError, ValueError):
    """A split asked for that the export does not hold (a user's option, not a damaged file)."""


def pick_split(available: Sequence[str | None], split: str | None, where: Any) -> str | None:
    """Check ``split`` against the splits of an export (``None`` is fine when there is one)."""
    if split is None:
        if len(available) == 1:
            return available[0]
        raise ValueError(f"{where} holds splits {list(available)}; pass split=")
    if split not in available:
        if list(available) == [None]:
            raise SplitError(f"{where} holds one set of blends, not split into train and test: leave out the split "
                             f"(--split)")
        raise SplitError(f"{where} has no split {split!r}; it holds {list(available)}")
    return split


def verify_files(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Raise :class:`DataError` if a file listed in the manifest is missing or its SHA-256 differs."""
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        if not path.exists():
            raise DataError(f"{path}: listed in the manifest but missing")
        if sha256_file(path) != entry["sha256"]:
            raise DataError(f"{path}: SHA-256 differs from the manifest (file changed or corrupt)")


class WritebackPacer:
    """Start the kernel's write-back of a file being written, batch by batch (Linux; no-op elsewhere).

    Without it a large export piles up dirty pages until the kernel throttles the writer; h5py holds
    the GIL during its writes, so such a pause also freezes every other thread of the process (the app's
    UI thread). ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` starts write-back without waiting for it and
    without dropping the pages from the cache, and ctypes releases the GIL around the call.
    """

    _SYNC_FILE_RANGE_WRITE = 2

    def __init__(self, path: str | os.PathLike) -> None:
        self._fd: int | None = None
        self._call = None
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            call = libc.sync_file_range
            call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
            self._fd = os.open(path, os.O_RDONLY)
            self._call = call
        except (OSError, AttributeError, ImportError):
            self.close()

    def kick(self) -> None:
        """Start write-back of everything written so far."""
        if self._call is not None and self._fd is not None:
            self._call(self._fd, 0, 0, self._SYNC_FILE_RANGE_WRITE)

    def close(self) -> None:
        """Release the file descriptor."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._call = None, None

    def __enter__(self) -> "WritebackPacer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
