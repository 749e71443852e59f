"""A multiresolution pyramid of a large image, for showing a field of any size without loading it (numpy only).

Level 0 is the image itself (typically a read-only memory map of a FITS file); level ``k`` is the image
binned ``2**k`` x ``2**k`` (block mean), down to a level that fits in ``top`` pixels a side. Levels are
built strip by strip (:func:`build_pyramid_job`: a job generator with progress and cancel) into raw
float32 files in a cache folder and memory-mapped read-only, so memory does not grow with the image; the
pages read from level 0 while building are handed back to the system as the strips are done. A viewer asks
:meth:`FieldPyramid.view` for the pixels of a rectangle at the resolution of the screen: at most about the
screen's pixel count is ever read, whatever the zoom, as napari does with multiscale images.

Examples
--------
>>> import numpy as np
>>> from candels_gui.core.jobs import run_job
>>> img = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
>>> pyr = run_job(build_pyramid_job(img, top=16))
>>> [lvl.shape for lvl in pyr.levels]
[(64, 64), (32, 32), (16, 16)]
>>> block, (r0, c0), k = pyr.view(0, 64, 0, 64, screen=(16, 16))
>>> block.shape, k
((16, 16), 2)
>>> pyr.tiles_for(1, 0, 64, 0, 64, tile=16)
[(1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
>>> pyr.tile(1, 1, 0, tile=16)[1]
(32, 0, 32, 32)
>>> pyr.close()
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from math import floor, log2
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["FieldPyramid", "build_pyramid_job", "level_for", "TILE"]

_STRIP_ROWS = 256
#: Side of the display tiles of every level (level pixels).
TILE = 256


def level_for(pixels_per_screen_pixel: float, n_levels: int) -> int:
    """The coarsest level whose pixels are no larger than a screen pixel (0 when zoomed in)."""
    if not pixels_per_screen_pixel > 1:
        return 0
    return int(min(n_levels - 1, max(0, floor(log2(pixels_per_screen_pixel)))))


def _release(arr: Any) -> None:
    """Hand the resident pages of a memory-mapped array back to the system (no-op for other arrays)."""
    base = arr
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if not isinstance(base, mmap.mmap) else base
        if isinstance(base, (bytes, bytearray)):
            return
    if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        try:
            base.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


class FieldPyramid:
    """The levels of an image's pyramid (see the module docstring).

    Attributes
    ----------
    levels : list of ndarray
        ``levels[0]`` the image, ``levels[k]`` binned ``2**k`` times (read-only memory maps).
    folder : Path or None
        The cache folder of the built levels; :meth:`close` removes it.
    """

    def __init__(self, levels: list[np.ndarray], folder: Optional[Path] = None) -> None:
        self.levels = levels
        self.folder = folder

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.levels[0].shape)  # type: ignore[return-value]

    @property
    def top(self) -> np.ndarray:
        """The coarsest level (small enough to hold: levels and histograms come from it)."""
        return np.asarray(self.levels[-1])

    def view(self, r0: float, r1: float, c0: float, c1: float, *, screen: tuple[int, int],
             pad: float = 0.25) -> tuple[np.ndarray, tuple[int, int], int]:
        """The pixels that show level-0 rows ``r0:r1`` and columns ``c0:c1`` on ``screen`` = (rows, cols) pixels.

        Returns
        -------
        block : (h, w) float32
            From the coarsest level that is at least as fine as the screen, ``pad`` of the rectangle wider on
            every side (so a small pan needs no new read), clipped to the image.
        origin : (int, int)
            Level-0 row and column of ``block[0, 0]``.
        level : int
            The level: ``block`` pixels are ``2**level`` level-0 pixels a side.
        """
        h, w = self.shape
        ppsp = max((r1 - r0) / max(screen[0], 1), (c1 - c0) / max(screen[1], 1))
        k = level_for(ppsp, len(self.levels))
        s = 2 ** k
        dr, dc = (r1 - r0) * pad, (c1 - c0) * pad
        a0 = int(max(0, floor((r0 - dr) / s)))
        b0 = int(max(0, floor((c0 - dc) / s)))
        lvl = self.levels[k]
        a1 = int(min(lvl.shape[0], np.ceil((r1 + dr) / s)))
        b1 = int(min(lvl.shape[1], np.ceil((c1 + dc) / s)))
        if a1 <= a0 or b1 <= b0:
            return np.zeros((0, 0), np.float32), (a0 * s, b0 * s), k
        block = np.array(lvl[a0:a1, b0:b1], dtype=np.float32)
        return block, (a0 * s, b0 * s), k

    def level_for_view(self, r0: float, r1: float, c0: float, c1: float, screen: tuple[int, int]) -> int:
        """The level to show level-0 rows ``r0:r1``, columns ``c0:c1`` on ``screen`` = (rows, cols) pixels."""
        ppsp = max((r1 - r0) / max(screen[0], 1), (c1 - c0) / max(screen[1], 1))
        return level_for(ppsp, len(self.levels))

    def tiles_for(self, level: int, r0: float, r1: float, c0: float, c1: float, *, tile: int = TILE
                  ) -> list[tuple[int, int, int]]:
        """The display tiles ``(level, i, j)`` that cover level-0 rows ``r0:r1`` and columns ``c0:c1``, the one
        nearest the rectangle's centre first."""
        s = 2 ** level * tile
        h, w = self.levels[level].shape
        ni, nj = -(-h // tile), -(-w // tile)
        i0, i1 = max(0, int(floor(r0 / s))), min(ni - 1, int(floor(r1 / s)))
        j0, j1 = max(0, int(floor(c0 / s))), min(nj - 1, int(floor(c1 / s)))
        ci, cj = (r0 + r1) / 2 / s - 0.5, (c0 + c1) / 2 / s - 0.5
        keys = [(level, i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
        return sorted(keys, key=lambda k: (k[1] - ci) ** 2 + (k[2] - cj) ** 2)

    def tile(self, level: int, i: int, j: int, *, tile: int = TILE) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Pixels of display tile ``(level, i, j)`` (float32) and the level-0 rectangle it covers
        ``(row, col, height, width)``."""
        lvl = self.levels[level]
        block = np.array(lvl[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile], dtype=np.float32)
        s = 2 ** level
        return block, (i * tile * s, j * tile * s, block.shape[0] * s, block.shape[1] * s)

    def close(self) -> None:
        """Drop the levels and remove the cache folder."""
        self.levels = self.levels[:1]
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def _bin_strip(src: np.ndarray, r: int, rows: int, width: int) -> np.ndarray:
    block = np.array(src[2 * r:2 * (r + rows), :2 * width], dtype=np.float32)
    block = block.reshape(rows, 2, width, 2)
    with np.errstate(invalid="ignore"):
        return np.nanmean(block, axis=(1, 3)) if np.isnan(block).any() else block.mean(axis=(1, 3))


def build_pyramid_job(image: np.ndarray, *, top: int = 1024, cache_dir: Optional[str | os.PathLike] = None,
                      cancel: Optional[CancelToken] = None) -> Job:
    """Build the pyramid of a 2-D ``image`` (yields Progress per strip, returns a :class:`FieldPyramid`).

    Parameters
    ----------
    image : (H, W) array
        Any array that slices (a memory map of a FITS file: only strips are read).
    top : int
        Levels are added until the coarsest fits in ``top`` x ``top``.
    cache_dir : path, optional
        Where the level files go (default: a new temporary folder, removed by :meth:`FieldPyramid.close`).
    """
    if image.ndim != 2:
        raise ValueError(f"a pyramid needs a 2-D image, got shape {image.shape}")
    folder = Path(tempfile.mkdtemp(prefix="candels-pyramid-", dir=cache_dir))
    levels: list[np.ndarray] = [image]
    shapes = []
    h, w = image.shape
    while max(h, w) > top and min(h, w) >= 2:
        h, w = h // 2, w // 2
        shapes.append((h, w))
    total = sum(-(-s[0] // _STRIP_ROWS) for s in shapes)
    done = 0
    try:
        yield Progress(0, max(total, 1), "building the pyramid")
        for k, (hh, ww) in enumerate(shapes, start=1):
            path = folder / f"level{k}.f32"
            src = levels[-1]
            with open(path, "wb") as fh:
                for r in range(0, hh, _STRIP_ROWS):
                    check_cancel(cancel)
                    rows = min(_STRIP_ROWS, hh - r)
                    fh.write(np.ascontiguousarray(_bin_strip(src, r, rows, ww), dtype=np.float32).tobytes())
                    _release(src)
                    done += 1
                    yield Progress(done, max(total, 1), f"building the pyramid (level {k} of {len(shapes)})")
            levels.append(np.memmap(path, dtype=np.float32, mode="r", shape=(hh, ww)))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FieldPyramid(levels, folder)
