"""Where to zoom a stamp: the window around its central galaxy that the labelling view shows."""

from __future__ import annotations

import numpy as np

__all__ = ["galaxy_window"]


def galaxy_window(segmap: np.ndarray, *, grow: float = 1.6, min_size: int = 24) -> tuple[int, int, int, int]:
    """The square window, centred on the stamp's centre, that holds the central galaxy's segment with room around it.

    Parameters
    ----------
    segmap : ndarray, shape (H, W)
        The stamp's segmentation map; the central galaxy's label is the one at ``(H // 2, W // 2)``.
    grow : float
        The window's half-size over the segment's largest distance from the centre (1.6: the galaxy's outskirts
        and some sky show).
    min_size : int
        Smallest window side in pixels (a point source is not blown up to a few pixels).

    Returns
    -------
    (x0, y0, width, height) : tuple of int
        In pixels of the stamp, inside it. The whole stamp when the centre is on no segment.

    Examples
    --------
    >>> seg = np.zeros((128, 128), np.int32); seg[60:69, 58:71] = 3
    >>> galaxy_window(seg)
    (52, 52, 24, 24)
    """
    seg = np.asarray(segmap)
    h, w = seg.shape
    cy, cx = h // 2, w // 2
    label = seg[cy, cx]
    if label == 0:
        return 0, 0, w, h
    ys, xs = np.nonzero(seg == label)
    reach = max(int(np.abs(ys - cy).max()), int(np.abs(xs - cx).max())) + 1
    half = max(int(np.ceil(reach * grow)), min_size // 2)
    x0, y0 = max(cx - half, 0), max(cy - half, 0)
    return x0, y0, min(cx + half, w) - x0, min(cy + half, h) - y0
