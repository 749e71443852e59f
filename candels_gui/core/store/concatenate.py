"""``concatenate`` and ``convert``: a ``produce`` output folder -> candels-blender's npy arrays.

``concatenate`` reads ``blends.h5`` chunk by chunk and writes, per split, ``{split}_images.npy``
(N, H, W) float32 and ``{split}_labels.npy`` in the label method's shape (see
:mod:`candels_gui.core.blending.labels`); ``convert`` writes ``{split}_flux.npy`` (N, 2) from the magnitudes of
``{split}_catalogue.csv``. Files appear only when complete (temporary name, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Generator

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np
from numpy.lib import format as npformat

from ..atomic import remove_stale_temps, temp_path
from ..blending.engine import BlendBatch
from ..validate import finite
from .checks import open_h5
from .hdf5 import check_hdf5_header
from ..blending.labels import LABEL_METHODS, label_dtype, label_shape, make_labels, mag_to_flux, read_catalog_csv
from ..errors import DataError, NonFiniteError, OutputError
from ..jobs import CancelToken, Progress, check_cancel
from .common import AtomicFiles, find_manifest, write_json
from .produce import PRODUCE_FILE
from .stamp_library import SplitArrays, library_engine, storage_of

__all__ = ["concatenate", "convert", "split_groups"]


def split_groups(h5: h5py.File) -> dict[str, h5py.Group]:
    """The splits of a produce/export HDF5 file: ``{"train": group, "test": group}`` or ``{"": root}``."""
    groups = {name: h5[name] for name in ("train", "test") if name in h5}
    if not groups and ("blend_images" in h5 or "specs" in h5):
        groups = {"": h5}
    if not groups:
        raise DataError(f"{h5.filename} holds neither train/test groups nor blends in its root group")
    return groups


def _prefix(split: str) -> str:
    return f"{split}_" if split else ""


def concatenate(image_dir: str | os.PathLike, method: str, *, delete: bool = False, batch_size: int = 128,
                cancel: CancelToken | None = None) -> Generator[Progress, None, list[Path]]:
    """Job: write the npy layout for label ``method`` from ``image_dir/blends.h5``.

    The arrays are streamed: each chunk of ``batch_size`` blends is rendered (or read), labelled into a
    reused buffer and written behind the previous one by a writer thread while the next chunk renders, so
    memory holds two chunks whatever the number of blends, and both cores work. The files are written
    under temporary names and renamed when complete.

    Parameters
    ----------
    image_dir : path
        Output folder of ``produce``.
    method : {"gg_masks", "ogg_masks", "bogg_masks", "single_images"}
        Label method.
    delete : bool
        Remove ``blends.h5`` once the arrays are written (candels-blender's ``--delete``).
    batch_size : int
        Blends per chunk (bounds memory: about 2 x 110 kB x ``batch_size`` for 128 px stamps and mask labels).

    Returns
    -------
    list of Path
        The files written.
    """
    if method not in LABEL_METHODS:
        raise ValueError(f"unknown label method {method!r}; choose one of {LABEL_METHODS}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    folder = Path(image_dir)
    src = folder / PRODUCE_FILE
    if not folder.is_dir():
        raise DataError(f"{folder}: {'is a file, not a' if folder.exists() else 'no such'} folder (the output "
                        f"folder of 'candels-gui produce')")
    if not src.is_file():
        from .export import check_not_unfinished

        check_not_unfinished(folder)
        raise DataError(f"{src} not found: run 'candels-gui produce -o {folder}' first")
    find_manifest(src)       # a manifest beside it that is another run's is refused before any work
    for split in ("train", "test", ""):
        for name in ("images.npy", "labels.npy"):
            final = folder / f"{_prefix(split)}{name}"
            if final.is_dir():
                raise OutputError(f"{final} is a folder; concatenate writes a file of that name")
    atomic = AtomicFiles(folder)   # clears the temporaries a killed run left there
    written: list[Path] = []
    try:
        with open_h5(src, "produce output") as h5, ThreadPoolExecutor(1, thread_name_prefix="npy-writer") as writer:
            check_hdf5_header(h5, src)
            groups = split_groups(h5)
            engine = library_engine(h5) if storage_of(h5) == "compact" else None
            sources = {split: SplitArrays(group, engine) for split, group in groups.items()}
            total = sum(len(a) for a in sources.values())
            done = 0
            for split, arrays in sources.items():
                n, (h, w) = len(arrays), arrays.shape
                names = (f"{_prefix(split)}images.npy", f"{_prefix(split)}labels.npy")
                with _NpyStream(atomic.temp(names[0]), np.float32, (n, h, w)) as out_img, \
                        _NpyStream(atomic.temp(names[1]), label_dtype(method),
                                   label_shape(method, n, h, w)) as out_lab:
                    chunk = min(batch_size, max(n, 1))
                    small = (BlendBatch.empty(min(chunk, engine.stream_batch_size()), (h, w))
                             if engine is not None else None)   # a compact export: rendered here
                    buffers = [_Chunk(chunk, (h, w), method, small) for _ in range(2)]
                    for k, start in enumerate(range(0, n, batch_size)):
                        check_cancel(cancel)
                        stop = min(n, start + batch_size)
                        buf = buffers[k % 2]
                        buf.wait()                       # its previous chunk is on disk
                        images, labels = buf.fill(arrays, slice(start, stop))
                        buf.pending = writer.submit(_write_both, out_img, images, out_lab, labels)
                        done += stop - start
                        yield Progress(done, total, f"concatenating {split or 'blends'}")
                    for buf in buffers:
                        buf.wait()
                written += [folder / name for name in names]
        atomic.commit()
        _record(folder, method, written)
    except BaseException:
        atomic.discard()
        raise
    if delete:
        src.unlink()
    return written


class _NpyStream:
    """An ``.npy`` file written front to back: its header, then the array's rows chunk by chunk.

    Plain ``write`` calls, not a memory map: the pages go to the page cache without being mapped into
    the process, so its memory does not grow with the file.
    """

    def __init__(self, path: Path, dtype: Any, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = path, np.dtype(dtype), tuple(shape)
        self.fh = open(path, "wb")
        header = {"descr": npformat.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        npformat.write_array_header_1_0(self.fh, header)
        self.expected = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.written = 0

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (C-contiguous, of the file's dtype)."""
        data = memoryview(np.ascontiguousarray(rows, dtype=self.dtype)).cast("B")
        self.fh.write(data)
        self.written += data.nbytes

    def __enter__(self) -> "_NpyStream":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.fh.close()
        if exc_type is None and self.written != self.expected:
            raise DataError(f"{self.path}: wrote {self.written} bytes of {self.expected}")


class _Chunk:
    """Reused buffers of one chunk: its blend images and their labels, and the write in flight.

    A compact export's blends are rendered a few at a time into ``render_buffer`` (one for both chunks: one
    fills at a time), small enough to stay in the CPU's caches: only the images and labels are copied out, and the
    isolated images and masks never go out to memory.
    """

    def __init__(self, n: int, shape: tuple[int, int], method: str, render_buffer: BlendBatch | None) -> None:
        self.images = np.empty((n, *shape), np.float32) if render_buffer is not None else None
        self.labels = np.empty(label_shape(method, n, *shape), label_dtype(method))
        self.method = method
        self.render_buffer = render_buffer
        self.pending: Future | None = None

    def wait(self) -> None:
        """Block until this chunk's write has finished (re-raising its error)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def fill(self, arrays: SplitArrays, sel: slice) -> tuple[np.ndarray, np.ndarray]:
        """Render or read blends ``sel`` and label them; returns ``(images, labels)`` (views of the buffers
        when rendered)."""
        m = sel.stop - sel.start
        if self.render_buffer is None:   # stored arrays: one read of the chunk
            images, isolated, masks = arrays.read(sel, isolated=self.method == "single_images")
            return images, make_labels(self.method, masks=masks, isolated=isolated, out=self.labels[:m])
        specs, step = arrays.specs(sel), len(self.render_buffer.images)
        for a in range(0, m, step):
            part = specs[a:a + step]
            b = a + len(part)
            batch = arrays.render(part, start=sel.start + a, out=self.render_buffer)
            self.images[a:b] = batch.images
            make_labels(self.method, masks=batch.masks, isolated=batch.isolated, out=self.labels[a:b])
        return self.images[:m], self.labels[:m]


def _write_both(out_img: _NpyStream, images: np.ndarray, out_lab: _NpyStream, labels: np.ndarray) -> None:
    out_img.write(images)
    out_lab.write(labels)


def _record(folder: Path, method: str, written: list[Path]) -> None:
    """Note the label method of the npy arrays in the manifest (what labels.npy holds)."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return  # a damaged manifest is not ours to rewrite
    if not isinstance(data, dict):
        return
    data["npy_layout"] = {"label_method": method, "files": [p.name for p in written]}
    atomic = AtomicFiles(folder)
    write_json(atomic.temp("manifest.json"), data)
    atomic.commit()


def convert(image_dir: str | os.PathLike, *, zeropoint: float = 25.96) -> list[Path]:
    """Write ``{split}_flux.npy`` (N, 2) float64 from ``{split}_catalogue.csv`` magnitudes.

    Galaxy 2's magnitude in the catalogue already includes its flux scale. Every flux is computed (and
    checked finite and positive) before any file is written.
    """
    zeropoint = finite(zeropoint, "zeropoint", low=-100, high=100)
    folder = Path(image_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: {'is a file, not a' if folder.exists() else 'no such'} folder (the output "
                        f"folder of 'candels-gui produce')")
    pending: list[tuple[Path, np.ndarray]] = []
    for split in ("train", "test", ""):
        cat = folder / f"{_prefix(split)}catalogue.csv"
        if not cat.is_file():
            cat = folder / f"{_prefix(split)}blend_cat.csv"  # candels-blender's older name
            if not cat.is_file():
                continue
        table = read_catalog_csv(cat)
        for col in ("g1_mag", "g2_mag"):
            if col not in table.colnames:
                raise DataError(f"{cat} lacks column {col!r}; found {table.colnames}")
        columns = []
        for col in ("g1_mag", "g2_mag"):
            try:
                mag = np.ma.filled(np.ma.asarray(table[col]).astype(np.float64), np.nan)
            except (TypeError, ValueError) as exc:
                raise DataError(f"{cat}: column {col!r} holds values that are not numbers ({exc})") from None
            with np.errstate(over="ignore", invalid="ignore"):
                flux = mag_to_flux(mag, zeropoint)
            bad = np.flatnonzero(~(np.isfinite(flux) & (flux > 0)))
            if len(bad):
                raise NonFiniteError(f"{cat}: column {col!r} row {int(bad[0])} (magnitude {mag[bad[0]]:g}) gives "
                                     f"flux {flux[bad[0]]:g} at zeropoint {zeropoint:g}; expected a finite "
                                     f"magnitude ({len(bad)} such row(s))")
            columns.append(flux)
        pending.append((folder / f"{_prefix(split)}flux.npy", np.stack(columns, axis=-1)))
    if not pending:
        raise DataError(f"no train_catalogue.csv / test_catalogue.csv in {folder}")
    remove_stale_temps(folder)
    written: list[Path] = []
    temps = [(temp_path(out), out, flux) for out, flux in pending]
    try:
        for tmp, _, flux in temps:
            with open(tmp, "wb") as fh:
                np.save(fh, flux)
        for tmp, out, _ in temps:
            os.replace(tmp, out)
            written.append(out)
    finally:
        for tmp, _, _ in temps:
            tmp.unlink(missing_ok=True)
    return written
