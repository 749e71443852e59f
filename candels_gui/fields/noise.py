"""The SGAN's spatial noise, drawn block by block from a seed, so that any window of it is the same whatever
the tiles it is asked for in (numpy only).

The generator reads noise at several resolutions ("levels"): level 0 is its input, ``channels[0]`` values
per cell of the coarse grid; level ``l`` > 0 is a map ``2**l`` times finer that is added inside the network
(``channels[l]`` values per pixel of that level). Each level is cut into fixed blocks of :data:`BLOCK` x
:data:`BLOCK` positions; block ``(by, bx)`` of level ``l`` is drawn from
``numpy.random.default_rng([seed, STREAM, l, by, bx])``. :func:`noise_window` assembles any window from the
blocks it overlaps: the noise at a position depends only on the seed and the position.

Examples
--------
>>> a = noise_window(7, 0, 2, 0, 100, 0, 100)
>>> b = noise_window(7, 0, 2, 60, 70, 30, 95)
>>> bool(np.array_equal(a[:, 60:70, 30:95], b))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["noise_window", "BLOCK", "STREAM"]

#: Side of a noise block, in positions of its level.
BLOCK = 128
STREAM = 0x5_6A_4E


def _block(seed: int, level: int, channels: int, by: int, bx: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, STREAM, int(level), int(by), int(bx)])
    return rng.standard_normal((channels, BLOCK, BLOCK), dtype=np.float32)


def noise_window(seed: int, level: int, channels: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Noise of ``level`` on rows ``r0:r1`` and columns ``c0:c1`` of its grid (non-negative), (channels, h, w).

    Parameters
    ----------
    seed : int
        The field's seed.
    level : int
        0 for the generator's input, ``l`` for the map ``2**l`` times finer.
    channels : int
        Values per position.
    r0, r1, c0, c1 : int
        The window, ``0 <= r0 < r1``, ``0 <= c0 < c1``.
    """
    if r0 < 0 or c0 < 0 or r1 <= r0 or c1 <= c0:
        raise ValueError(f"bad noise window rows {r0}:{r1}, columns {c0}:{c1}")
    out = np.empty((channels, r1 - r0, c1 - c0), np.float32)
    for by in range(r0 // BLOCK, (r1 - 1) // BLOCK + 1):
        for bx in range(c0 // BLOCK, (c1 - 1) // BLOCK + 1):
            blk = _block(seed, level, channels, by, bx)
            a0, a1 = max(r0, by * BLOCK), min(r1, (by + 1) * BLOCK)
            b0, b1 = max(c0, bx * BLOCK), min(c1, (bx + 1) * BLOCK)
            out[:, a0 - r0:a1 - r0, b0 - c0:b1 - c0] = blk[:, a0 - by * BLOCK:a1 - by * BLOCK,
                                                          b0 - bx * BLOCK:b1 - bx * BLOCK]
    return out
