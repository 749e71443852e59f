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

import h5py
import numpy as np
from numpy.lib.format import open_memmap

from ..atomic import remove_stale_temps, temp_path
from ..errors import DataError, NonFiniteError, OutputError
from ..validate import finite
from .checks import open_h5
from .hdf5 import check_hdf5_header
from .stamp_library import SplitArrays, library_engine, storage_of
from ..jobs import CancelToken, Progress, check_cancel
from ..blending.labels import LABEL_METHODS, label_dtype, label_shape, make_labels, mag_to_flux, read_catalog_csv
from .produce import PRODUCE_FILE

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


def concatenate(image_dir: str | os.PathLike, method: str, *, delete: bool = False, batch_size: int = 512,
                cancel: CancelToken | None = None) -> Generator[Progress, None, list[Path]]:
    """Job: write the npy layout for label ``method`` from ``image_dir/blends.h5``.

    Parameters
    ----------
    image_dir : path
        Output folder of ``produce``.
    method : {"gg_masks", "ogg_masks", "bogg_masks", "single_images"}
        Label method.
    delete : bool
        Remove ``blends.h5`` once the arrays are written (candels-blender's ``--delete``).
    batch_size : int
        Blends converted per chunk (bounds memory).

    Returns
    -------
    list of Path
        The files written.
    """
    if method not in LABEL_METHODS:
        raise ValueError(f"unknown label method {method!r}; choose one of {LABEL_METHODS}")
    folder = Path(image_dir)
    src = folder / PRODUCE_FILE
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (the output folder of 'candels-gui produce')")
    if not src.is_file():
        raise DataError(f"{src} not found: run 'candels-gui produce -o {folder}' first")
    for split in ("train", "test", ""):
        for name in ("images.npy", "labels.npy"):
            final = folder / f"{_prefix(split)}{name}"
            if final.is_dir():
                raise OutputError(f"{final} is a folder; concatenate writes a file of that name")
    remove_stale_temps(folder)
    written: list[Path] = []
    temps: list[Path] = []
    try:
        with open_h5(src, "produce output") as h5:
            check_hdf5_header(h5, src)
            groups = split_groups(h5)
            engine = library_engine(h5) if storage_of(h5) == "compact" else None
            sources = {split: SplitArrays(group, engine) for split, group in groups.items()}
            total = sum(len(a) for a in sources.values())
            done = 0
            for split, arrays in sources.items():
                n, (h, w) = len(arrays), arrays.shape
                final_img = folder / f"{_prefix(split)}images.npy"
                final_lab = folder / f"{_prefix(split)}labels.npy"
                tmp_img, tmp_lab = temp_path(final_img), temp_path(final_lab)
                temps += [tmp_img, tmp_lab]
                out_img = open_memmap(tmp_img, mode="w+", dtype=np.float32, shape=(n, h, w))
                out_lab = open_memmap(tmp_lab, mode="w+", dtype=label_dtype(method),
                                      shape=label_shape(method, n, h, w))
                for start in range(0, n, batch_size):
                    check_cancel(cancel)
                    stop = min(n, start + batch_size)
                    images, isolated, masks = arrays.read(slice(start, stop),
                                                          isolated=method == "single_images")
                    out_img[start:stop] = images
                    make_labels(method, masks=masks, isolated=isolated, out=out_lab[start:stop])
                    done += stop - start
                    yield Progress(done, total, f"concatenating {split or 'blends'}")
                out_img.flush()
                out_lab.flush()
                del out_img, out_lab
                for tmp, final in ((tmp_img, final_img), (tmp_lab, final_lab)):
                    os.replace(tmp, final)
                    written.append(final)
        _record(folder, method, written)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    if delete:
        src.unlink()
    return written


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
    tmp = temp_path(manifest)
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, manifest)


def convert(image_dir: str | os.PathLike, *, zeropoint: float = 25.96) -> list[Path]:
    """Write ``{split}_flux.npy`` (N, 2) float64 from ``{split}_catalogue.csv`` magnitudes.

    Galaxy 2's magnitude in the catalogue already includes its flux scale. Every flux is computed (and
    checked finite and positive) before any file is written.
    """
    zeropoint = finite(zeropoint, "zeropoint", low=-100, high=100)
    folder = Path(image_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (the output folder of 'candels-gui produce')")
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
