"""Galaxies cut from a field: a stamp centred on each detected object, in the candels-blender layout.

:func:`field_stamps_job` detects the objects of a field tile by tile (:mod:`.field_detect`) and cuts a
``size`` x ``size`` stamp (background subtracted) and its segmentation map around each, centred on the pixel
that holds its centroid (the stamp's centre pixel ``(size // 2, size // 2)``, as candels-blender's stamps).
Objects whose stamp would cross the field's edge are skipped. The folder it writes is what
:func:`~.readers_npy.read_candels_blender` reads: ``candels_img.npy`` (N, S, S) float32,
``candels_seg.npy`` (N, S, S) int32 and ``candels_cat.csv`` with the columns ``ID, RA, DEC, FIELD, mag,
mag_err, radius, z, galtype, segval`` (``radius`` = SEP's half-light radius in px, ``z`` NaN, ``galtype``
``unknown``: no classifier has looked at them) followed by the provenance of every stamp: its position in
the field (``x``, ``y``), SEP's shape (``a``, ``b``, ``theta``), flux, the field file and its SHA-256, and
for a generated field the generator's hash (``model_sha256``) and ``seed`` from its header.

In a stamp's segmentation map the central object is labelled with its catalog ``ID`` (= ``segval``); the
other objects of the field with their IDs, and objects of the tile's context that another tile lists with
``2**30 + k``. Stamps are streamed to disk as they are cut (memory holds one tile), under temporary names
renamed at the end.

Examples
--------
>>> import tempfile, numpy as np
>>> from candels_gui.core.data.fieldsim import simulate_field, write_mock_field
>>> from candels_gui.core.jobs import run_job
>>> tmp = tempfile.mkdtemp()
>>> _ = write_mock_field(simulate_field(300, seed=5), tmp + "/f.fits")
>>> res = run_job(field_stamps_job(tmp + "/f.fits", tmp + "/stamps", size=64))
>>> from candels_gui.core.data.load import load_stampset
>>> len(load_stampset(tmp + "/stamps")) == res["n_stamps"]
True
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
from astropy.table import Table

from ..atomic import interrupts_deferred, remove_stale_temps, temp_path
from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel
from .field_detect import DetectionSettings, FieldTile, detect_tile, iter_tiles
from .field_fits import FieldImage, file_sha256, read_field
from .readers_npy import CANDELS_FILLMASK as FILLMASK

__all__ = ["field_stamps_job", "cut_stamp", "cuttable", "stamps_at", "STAMP_COLUMNS", "CONTEXT_LABEL"]

#: Labels of objects that another tile lists start here.
CONTEXT_LABEL = 2 ** 30
#: Columns of ``candels_cat.csv`` written by :func:`field_stamps_job`.
STAMP_COLUMNS = ("ID", "RA", "DEC", "FIELD", "mag", "mag_err", "radius", "z", "galtype", "segval", "x", "y",
                 "a", "b", "theta", "flux", "source_file", "source_sha256", "model_sha256", "seed")


class _NpyStream:
    """An .npy file of unknown length written frame by frame; the header is filled in at the end."""

    HEADER = 128

    def __init__(self, path: Path, dtype: str, frame: tuple[int, int]) -> None:
        self.path, self.dtype, self.frame = path, np.dtype(dtype), frame
        self.fh = open(path, "wb")
        self.fh.write(b"\0" * self.HEADER)
        self.n = 0

    def append(self, arr: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
        self.n += 1

    def close(self) -> None:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": (self.n, *self.frame)}
        text = repr(d).encode("latin1")
        pad = self.HEADER - 10 - len(text) - 1
        if pad < 0:  # pragma: no cover - shapes this long do not occur
            raise DataError(f"{self.path}: npy header too long")
        self.fh.seek(0)
        self.fh.write(b"\x93NUMPY\x01\x00" + np.uint16(self.HEADER - 10).tobytes() + text + b" " * pad + b"\n")
        self.fh.close()

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.path.unlink(missing_ok=True)


def _stamp_corner(x: Any, y: Any, size: int) -> tuple[Any, Any]:
    """Field row and column of the first pixel of the ``size`` px stamp centred on the pixel holding ``(x, y)``
    (scalars or arrays)."""
    row = np.floor(np.asarray(y, float) + 0.5).astype(np.int64) - size // 2
    col = np.floor(np.asarray(x, float) + 0.5).astype(np.int64) - size // 2
    return row, col


def cut_stamp(t: FieldTile, seg: np.ndarray, x: float, y: float, size: int
              ) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ``size`` x ``size`` stamp, segmentation and fill mask (the field's NaN pixels, 0 in the stamp) cut from
    tile ``t`` around field position ``(x, y)`` (the pixel holding it at the centre), or None when it does not
    fit in the tile."""
    row, col = _stamp_corner(x, y, size)
    r0, c0 = int(row) - t.row0, int(col) - t.col0
    if r0 < 0 or c0 < 0 or r0 + size > t.data.shape[0] or c0 + size > t.data.shape[1]:
        return None
    window = (slice(r0, r0 + size), slice(c0, c0 + size))
    return t.data[window], seg[window], t.mask[window]


def _provenance(f: FieldImage) -> dict[str, Any]:
    hdr = f.header
    return {"source_file": f.path.name, "source_sha256": file_sha256(f.path),
            "model_sha256": str(hdr.get("SGANHASH", "")), "seed": int(hdr.get("SGANSEED", -1))}


def _wcs(f: FieldImage) -> Any:
    from astropy.wcs import WCS

    try:
        w = WCS(f.header).celestial
        return w if w.has_celestial else None
    except Exception:  # noqa: BLE001 - a broken WCS only costs the RA/Dec columns
        return None


def field_stamps_job(path: str | os.PathLike, out: str | os.PathLike, *, size: int = 128, hdu: Optional[int] = None,
                     band: Optional[int] = None, mag_max: Optional[float] = None, max_stamps: Optional[int] = None,
                     settings: Optional[DetectionSettings] = None, zeropoint: Optional[float] = None,
                     overwrite: bool = False, tile: int = 2048, cancel: Optional[CancelToken] = None) -> Job:
    """Cut a stamp around every detected object of the field in ``path`` into the folder ``out``.

    Parameters
    ----------
    path : path
        A FITS field (2-D, or ``band`` of a cube).
    out : path
        Folder to write (``candels_img.npy``, ``candels_seg.npy``, ``candels_cat.csv``).
    size : int
        Stamp side (even; 128 as candels-blender's).
    mag_max : float, optional
        Keep objects brighter than this (AB).
    max_stamps : int, optional
        Stop after this many stamps.
    settings : DetectionSettings, optional
        SEP's settings (default: :class:`~.field_detect.DetectionSettings`).
    zeropoint : float, optional
        AB zeropoint (default: the header's ``MAGZERO``, else 25.96).

    Returns
    -------
    dict
        ``out``, ``n_stamps``, ``stopped_at_max`` (``max_stamps`` reached: the counts are of the part of the
        field looked at), ``n_detected``, ``n_edge`` (skipped at the edge), ``n_faint`` (skipped by
        ``mag_max``).
    """
    if int(size) < 16 or int(size) % 2:
        raise DataError(f"--size must be an even number of pixels >= 16, got {size}")
    f = read_field(path, hdu=hdu, band=band, min_size=int(size))
    zp = zeropoint if zeropoint is not None else (f.zeropoint if f.zeropoint is not None else 25.96)
    st = settings or DetectionSettings(zeropoint=zp)
    if settings is not None and zeropoint is not None:
        st = DetectionSettings(**{**settings.__dict__, "zeropoint": zp})
    out = Path(out)
    names = ("candels_img.npy", "candels_seg.npy", "candels_cat.csv")
    if out.exists() and any((out / n).exists() for n in names) and not overwrite:
        raise DataError(f"{out} already holds stamps; pass --force to replace them")
    created = [q for q in (out, *out.parents) if not q.exists()]   # removed again if nothing is written
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, force=overwrite)     # what a killed run left
    tmp = [temp_path(out / n) for n in names]
    imgs = _NpyStream(tmp[0], "<f4", (size, size))
    segs = _NpyStream(tmp[1], "<i4", (size, size))
    fill_tmp = temp_path(out / FILLMASK)
    fills = _NpyStream(fill_tmp, "|b1", (size, size))   # NaN pixels of the field, set to 0 in the stamps
    prov, wcs = _provenance(f), _wcs(f)
    field_name = f.path.name.split(".")[0]
    counts = {"n_detected": 0, "n_edge": 0, "n_faint": 0, "n_filled": 0}
    h, w = f.data.shape
    n_tiles = -(-h // tile) * -(-w // tile)
    next_id = 1
    try:
        with open(tmp[2], "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(STAMP_COLUMNS)
            yield Progress(0, n_tiles, "cutting stamps")
            overlap = max(size, 64)
            for k, t in enumerate(iter_tiles(f.data, tile=tile, overlap=overlap, background_box=st.background_box)):
                check_cancel(cancel)
                cat, seg = detect_tile(t, st)
                owned = np.flatnonzero(np.asarray(cat["owned"], bool))
                ids = np.zeros(len(cat) + 1, np.int64)
                ids[owned + 1] = np.arange(next_id, next_id + len(owned))
                others = np.flatnonzero(~np.asarray(cat["owned"], bool))
                ids[others + 1] = CONTEXT_LABEL + np.arange(1, len(others) + 1)
                next_id += len(owned)
                counts["n_detected"] += len(owned)
                relabelled = ids[seg].astype(np.int32)
                for i in owned:
                    if max_stamps is not None and imgs.n >= max_stamps:
                        break
                    row = cat[i]
                    if mag_max is not None and not (np.isfinite(row["mag"]) and row["mag"] <= mag_max):
                        counts["n_faint"] += 1
                        continue
                    cut = cut_stamp(t, relabelled, float(row["x"]), float(row["y"]), size)
                    if cut is None:
                        counts["n_edge"] += 1
                        continue
                    img, sm, filled = cut
                    counts["n_filled"] += bool(filled.any())
                    gid = int(ids[i + 1])
                    if sm[size // 2, size // 2] != gid:   # centre pixel outside the object's own segment
                        sm = sm.copy()
                        sm[size // 2, size // 2] = gid
                    imgs.append(img)
                    segs.append(sm)
                    fills.append(filled)
                    ra, dec = (wcs.pixel_to_world_values(float(row["x"]), float(row["y"])) if wcs is not None
                               else (np.nan, np.nan))
                    writer.writerow([gid, f"{float(ra):.7f}", f"{float(dec):.7f}", field_name,
                                     f"{row['mag']:.5f}", f"{row['mag_err']:.4f}", f"{row['flux_radius']:.3f}",
                                     "nan", "unknown", gid, f"{row['x']:.3f}", f"{row['y']:.3f}", f"{row['a']:.3f}",
                                     f"{row['b']:.3f}", f"{row['theta']:.4f}", f"{row['flux']:.6g}",
                                     prov["source_file"], prov["source_sha256"], prov["model_sha256"], prov["seed"]])
                yield Progress(k + 1, n_tiles, f"cutting stamps ({imgs.n:,} so far)")
                if max_stamps is not None and imgs.n >= max_stamps:
                    break
        imgs.close()
        segs.close()
        fills.close()
        if imgs.n == 0:
            raise DataError(f"{f.path}: no object could be cut (detected {counts['n_detected']}, "
                            f"{counts['n_edge']} at the edge, {counts['n_faint']} fainter than --mag_max)")
        check_cancel(cancel)
        with interrupts_deferred():     # the three files (and the mask) of one run, never half of two
            for src, name in zip(tmp, names):
                os.replace(src, out / name)
            if counts["n_filled"]:      # the readers' fill mask: the zeros are not sky
                os.replace(fill_tmp, out / FILLMASK)
            else:                       # nothing filled; another run's mask (of other stamps) must not stay
                fill_tmp.unlink(missing_ok=True)
                (out / FILLMASK).unlink(missing_ok=True)
    except BaseException:
        imgs.discard()
        segs.discard()
        fills.discard()
        for p in tmp:
            p.unlink(missing_ok=True)
        for q in created:             # the folders this run made, innermost first, when still empty
            try:
                q.rmdir()
            except OSError:
                break
        raise
    return {"out": str(out), "n_stamps": imgs.n, "stopped_at_max": bool(max_stamps is not None and imgs.n >= max_stamps),
            **counts}


def cuttable(shape: tuple[int, int], x: Any, y: Any, *, size: int = 128) -> np.ndarray:
    """Whether a ``size`` px stamp centred on the pixel of each field position ``(x, y)`` (arrays) lies inside
    a field of ``shape``: what :func:`cut_stamp` and :func:`stamps_at` need."""
    h, w = shape
    r0, c0 = _stamp_corner(x, y, size)
    return (r0 >= 0) & (c0 >= 0) & (r0 + size <= h) & (c0 + size <= w)


def stamps_at(image: np.ndarray, positions: list[tuple[float, float]], *, size: int = 128,
              settings: DetectionSettings = DetectionSettings(), source: str = "",
              pixel_scale: Optional[float] = None) -> Any:
    """A :class:`~.stampset.StampSet` of the objects nearest field positions ``(x, y)``: each is detected in
    the ``2 size`` square around its position and its stamp cut as :func:`field_stamps_job` does (for the
    app's Field tab: galaxies picked on a field go to the blend editor).

    Raises
    ------
    DataError
        No object near a position, or a stamp that would cross the field's edge.
    """
    from .stampset import StampSet

    h, w = image.shape
    imgs, segs, rows = [], [], []
    for k, (x, y) in enumerate(positions):
        if not cuttable((h, w), x, y, size=size):
            raise DataError(f"the object at ({x:.0f}, {y:.0f}) is too near the field's edge for a {size} px stamp")
        # detected in the 2 size square around it, cut where the field ends
        r0, c0 = max(0, int(round(y)) - size), max(0, int(round(x)) - size)
        sub = np.array(image[r0:min(h, int(round(y)) + size), c0:min(w, int(round(x)) + size)], dtype=np.float32)
        t = next(iter_tiles(sub, tile=2 * size, overlap=0, background_box=settings.background_box))
        cat, seg = detect_tile(t, settings)
        if len(cat) == 0:
            raise DataError(f"no object detected near ({x:.0f}, {y:.0f})")
        d = np.hypot(np.asarray(cat["x"]) - (x - c0), np.asarray(cat["y"]) - (y - r0))
        i = int(np.argmin(d))
        gid = k + 1
        labels = np.arange(len(cat) + 1, dtype=np.int64) + CONTEXT_LABEL
        labels[0], labels[i + 1] = 0, gid
        cut = cut_stamp(t, labels[seg].astype(np.int32), float(cat["x"][i]), float(cat["y"][i]), size)
        if cut is None:
            raise DataError(f"the object at ({x:.0f}, {y:.0f}) is too near the field's edge for a {size} px stamp")
        img, sm, _ = cut
        sm = sm.copy()
        sm[size // 2, size // 2] = gid
        imgs.append(img.copy())
        segs.append(sm)
        rows.append((gid, np.nan, np.nan, float(cat["mag"][i]), float(cat["flux_radius"][i]), np.nan, "unknown",
                     gid, float(cat["x"][i]) + c0, float(cat["y"][i]) + r0))
    catalog = Table(rows=rows, names=("id", "ra", "dec", "mag", "radius", "z", "galtype", "segval", "x", "y"))
    return StampSet(np.stack(imgs).astype(np.float32), np.stack(segs).astype(np.int32), catalog,
                    pixel_scale=pixel_scale, zeropoint=settings.zeropoint, source=source)
