"""Source detection on a field of any size with SEP, tile by tile (memory bounded by the tile).

The field is read in tiles of ``tile`` x ``tile`` pixels plus ``overlap`` pixels of context on each side. In
each tile SEP subtracts its background (64 px mesh), detects at ``thresh`` x the background rms with
``minarea`` pixels at least (matched filter, 32-level deblending at contrast 0.005, SExtractor's defaults),
and measures each object: centroid, second moments (``a, b, theta``), Kron flux in 2.5 Kron radii with its
error, half-light radius (``flux_radius``), peak and isophotal area. An object belongs to the tile whose core
holds its centroid, so every object is listed once; objects are numbered 1, 2, ... in tile order.

NaN pixels are masked (not detected, not measured); their count is in the result's ``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
from astropy.table import Table, vstack

from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["DetectionSettings", "FieldTile", "iter_tiles", "detect_tile", "detect_field_job", "CATALOG_NAMES"]

CATALOG_NAMES = ("id", "x", "y", "a", "b", "theta", "flux", "flux_err", "mag", "mag_err", "flux_radius",
                 "kron_radius", "npix", "peak", "flag")


@dataclass(frozen=True)
class DetectionSettings:
    """SEP's detection settings (the same for every field that is compared)."""

    thresh: float = 1.5
    minarea: int = 10
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    background_box: int = 64
    zeropoint: float = 25.96


@dataclass
class FieldTile:
    """One tile of a field: its background-subtracted pixels with context, and where its core lies."""

    data: np.ndarray          # (h, w) float32, background subtracted, context included (NaN -> 0)
    mask: np.ndarray          # (h, w) bool, True where the field had NaN
    row0: int                 # field row of data[0, 0]
    col0: int
    core: tuple[int, int, int, int]   # field rows r0:r1, cols c0:c1 this tile owns
    rms: float                # background rms


def iter_tiles(image: np.ndarray, *, tile: int = 2048, overlap: int = 128,
               background_box: int = 64) -> Iterator[FieldTile]:
    """The tiles of a 2-D field (a memory map is read one tile at a time), background subtracted by SEP."""
    import sep

    if image.ndim != 2:
        raise DataError(f"a field to detect on must be 2-D, got shape {image.shape}")
    h, w = image.shape
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            a0, a1 = max(0, r - overlap), min(h, r + tile + overlap)
            b0, b1 = max(0, c - overlap), min(w, c + tile + overlap)
            data = np.array(image[a0:a1, b0:b1], dtype=np.float32)   # native byte order, a copy
            mask = ~np.isfinite(data)
            if mask.any():
                data[mask] = 0.0
            box = max(8, min(background_box, (a1 - a0) // 2, (b1 - b0) // 2))
            bkg = sep.Background(data, mask=mask if mask.any() else None, bw=box, bh=box)
            data -= bkg.back()
            data[mask] = 0.0
            rms = float(bkg.globalrms)
            if not np.isfinite(rms) or rms <= 0:
                rms = float(np.std(data[~mask])) if (~mask).any() else 1.0
                rms = rms or 1.0
            yield FieldTile(data, mask, a0, b0, (r, min(r + tile, h), c, min(c + tile, w)), rms)


def detect_tile(t: FieldTile, settings: DetectionSettings = DetectionSettings()) -> tuple[Table, np.ndarray]:
    """Detect and measure the objects of one tile.

    Returns
    -------
    catalog : Table
        Every object found in the tile (context included), field coordinates, ``owned`` True for those whose
        centroid lies in the tile's core; ``label`` is the object's value in ``segmap``.
    segmap : (h, w) int32
        SEP's segmentation of the tile (object ``i`` of the table is ``i + 1``).
    """
    import sep

    sep.set_extract_pixstack(max(300_000, t.data.size))
    sep.set_sub_object_limit(4096)
    objs, seg = sep.extract(t.data, settings.thresh, err=t.rms, mask=t.mask if t.mask.any() else None,
                            minarea=int(settings.minarea), deblend_nthresh=int(settings.deblend_nthresh),
                            deblend_cont=float(settings.deblend_cont), segmentation_map=True)
    n = len(objs)
    cols: dict[str, np.ndarray] = {}
    if n:
        x, y = objs["x"], objs["y"]
        a, b = np.maximum(objs["a"], 1e-3), np.maximum(objs["b"], 1e-3)
        theta = np.clip(objs["theta"], -np.pi / 2, np.pi / 2)
        kron, kflag = sep.kron_radius(t.data, x, y, a, b, theta, 6.0)
        kron = np.where(np.isfinite(kron) & (kron > 0), kron, 1.0)
        r_ap = np.maximum(2.5 * kron, 3.5 / np.sqrt(a * b))
        flux, flux_err, fflag = sep.sum_ellipse(t.data, x, y, a, b, theta, r_ap, err=t.rms, subpix=1)
        iso = np.asarray(objs["flux"], float)
        flux = np.where(flux > 0, flux, iso)
        rmax = np.maximum(6.0 * a, 3.0)
        fr, rflag = sep.flux_radius(t.data, x, y, rmax, 0.5, normflux=np.where(flux > 0, flux, 1.0), subpix=5)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.where(flux > 0, settings.zeropoint - 2.5 * np.log10(np.maximum(flux, 1e-30)), np.nan)
            mag_err = np.where(flux > 0, 1.0857 * flux_err / flux, np.nan)
        cols = {"x": x + t.col0, "y": y + t.row0, "a": a, "b": b, "theta": theta, "flux": flux,
                "flux_err": flux_err, "mag": mag, "mag_err": mag_err, "flux_radius": fr, "kron_radius": kron,
                "npix": objs["npix"].astype(np.int64), "peak": objs["peak"],
                "flag": (objs["flag"] | kflag | fflag | rflag).astype(np.int64)}
    else:
        cols = {k: np.zeros(0) for k in CATALOG_NAMES if k != "id"}
    table = Table(cols)
    r0, r1, c0, c1 = t.core
    xs, ys = np.asarray(table["x"], float), np.asarray(table["y"], float)
    table["owned"] = (ys >= r0 - 0.5) & (ys < r1 - 0.5) & (xs >= c0 - 0.5) & (xs < c1 - 0.5)
    table["label"] = np.arange(1, n + 1, dtype=np.int64)
    return table, np.asarray(seg, np.int32)


def detect_field_job(image: np.ndarray, settings: DetectionSettings = DetectionSettings(), *, tile: int = 2048,
                     overlap: int = 128, cancel: Optional[CancelToken] = None) -> Job:
    """Detect every object of a 2-D field, tile by tile; returns the catalog (columns :data:`CATALOG_NAMES`).

    ``meta`` of the table holds ``rms`` (median background rms of the tiles), ``nan_pixels``, ``area_pix``
    (finite pixels) and the settings.
    """
    h, w = image.shape
    n_tiles = -(-h // tile) * -(-w // tile)
    parts, rms, nan_pixels = [], [], 0
    yield Progress(0, n_tiles, "detecting")
    for k, t in enumerate(iter_tiles(image, tile=tile, overlap=overlap, background_box=settings.background_box)):
        check_cancel(cancel)
        table, _ = detect_tile(t, settings)
        parts.append(table[table["owned"]])
        rms.append(t.rms)
        r0, r1, c0, c1 = t.core
        nan_pixels += int(t.mask[r0 - t.row0:r1 - t.row0, c0 - t.col0:c1 - t.col0].sum())
        yield Progress(k + 1, n_tiles, "detecting")
    cat = vstack(parts, metadata_conflicts="silent") if parts else Table()
    if len(cat) == 0:
        cat = Table({k: np.zeros(0) for k in CATALOG_NAMES})
    cat["id"] = np.arange(1, len(cat) + 1, dtype=np.int64)
    cat.remove_columns([c for c in ("owned", "label") if c in cat.colnames])
    cat = cat[list(CATALOG_NAMES)]
    cat.meta.update({"rms": float(np.median(rms)) if rms else float("nan"), "nan_pixels": nan_pixels,
                     "area_pix": int(h * w - nan_pixels), "shape": [int(h), int(w)],
                     "thresh": settings.thresh, "minarea": settings.minarea, "zeropoint": settings.zeropoint})
    return cat
