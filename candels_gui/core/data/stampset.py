"""The in-memory (or memory-mapped) set of galaxy stamps every other module works on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from astropy.table import Table

from ..errors import DataError

__all__ = ["StampSet", "STANDARD_COLUMNS", "GALTYPES"]

#: Columns every StampSet catalog has (readers map the file's names onto these).
STANDARD_COLUMNS = ("id", "ra", "dec", "mag", "radius", "z", "galtype", "segval")
#: Galaxy types of candels-blender's catalog (``galtype`` column).
GALTYPES = ("irr", "disk", "sph", "sphd")


@dataclass(eq=False)
class StampSet:
    """Galaxy postage stamps, their segmentation maps and their catalog.

    Parameters
    ----------
    images : ndarray, shape (N, H, W), float32
        Stamps, central galaxy at pixel ``(H // 2, W // 2)``. May be a read-only memory map.
    segmaps : ndarray, shape (N, H, W), int32
        Segmentation maps (0 = background). Never cast to uint8: CANDELS labels exceed 255.
    catalog : astropy.table.Table
        N rows with at least :data:`STANDARD_COLUMNS`, plus whatever else the file had.
    psfs : ndarray or None, shape (N, h, w)
        Optional PSF image per stamp.
    pixel_scale : float or None
        Arcseconds per pixel, when known.
    zeropoint : float
        AB magnitude zeropoint used to turn magnitudes into fluxes.
    source : str
        Where the data came from (path), for provenance.
    meta : dict
        Reader-specific extras (``noise_variance`` per stamp, input file hashes, ...).
    fillmask : ndarray or None, shape (N, H, W), bool (or integers: nonzero)
        Optional: True where a stamp holds no data of its own (noise or zeros pasted in by the survey's
        cut-out tool or by the reader's padding). Shown as an overlay and counted in the blend metrics.
    """

    images: np.ndarray
    segmaps: np.ndarray
    catalog: Table
    psfs: np.ndarray | None = None
    pixel_scale: float | None = None
    zeropoint: float = 25.96
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    fillmask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()
        self._index: dict[int, int] | None = None

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DataError` if arrays and catalog disagree in length, shape or dtype."""
        where = f" ({self.source})" if self.source else ""
        if self.images.ndim != 3:
            raise DataError(f"images must be (N, H, W), got shape {self.images.shape}{where}")
        if self.segmaps.shape != self.images.shape:
            raise DataError(
                f"segmentation maps have shape {self.segmaps.shape} but images have "
                f"{self.images.shape}{where}")
        if self.images.dtype != np.float32:
            raise DataError(f"images must be float32, got {self.images.dtype}{where}")
        if self.segmaps.dtype != np.int32:
            raise DataError(f"segmentation maps must be int32, got {self.segmaps.dtype}{where}")
        if len(self.catalog) != len(self.images):
            raise DataError(
                f"catalog has {len(self.catalog)} rows but there are {len(self.images)} stamps{where}")
        missing = [c for c in STANDARD_COLUMNS if c not in self.catalog.colnames]
        if missing:
            raise DataError(
                f"catalog lacks column(s) {missing}; found {self.catalog.colnames}{where}")
        if self.fillmask is not None:
            if self.fillmask.shape != self.images.shape:
                raise DataError(f"fill mask has shape {self.fillmask.shape} but images have "
                                f"{self.images.shape}{where}")
            if self.fillmask.dtype.kind not in "bui":  # bool or integers stay as they are (a memory map)
                self.fillmask = np.asarray(self.fillmask) != 0
        if self.psfs is not None and len(self.psfs) != len(self.images):
            raise DataError(f"{len(self.psfs)} PSFs for {len(self.images)} stamps{where}")

    # -------------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def stamp_shape(self) -> tuple[int, int]:
        """(H, W) of one stamp."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def center(self) -> tuple[int, int]:
        """Pixel (row, column) of the central galaxy: ``(H // 2, W // 2)``."""
        h, w = self.stamp_shape
        return h // 2, w // 2

    @property
    def ids(self) -> np.ndarray:
        """Catalog IDs, in stamp order."""
        return np.asarray(self.catalog["id"])

    def index_of(self, galaxy_id: int) -> int:
        """Return the stamp index of catalog ID ``galaxy_id``.

        Raises
        ------
        KeyError
            If no galaxy has that ID.
        """
        if self._index is None:
            self._index = {int(g): i for i, g in enumerate(self.ids)}
        try:
            return self._index[int(galaxy_id)]
        except KeyError:
            raise KeyError(f"no galaxy with id {galaxy_id} in {self.source or 'this stamp set'}") from None

    def indices_of(self, galaxy_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectorised :meth:`index_of`."""
        return np.fromiter((self.index_of(g) for g in galaxy_ids), dtype=np.int64,
                           count=len(galaxy_ids))

    def central_labels(self) -> np.ndarray:
        """Segmentation label of the central galaxy of every stamp (N,) int32."""
        cy, cx = self.center
        return np.asarray(self.segmaps[:, cy, cx], dtype=np.int32)

    # ------------------------------------------------------------- operations
    def subset(self, rows: np.ndarray | Sequence[int] | slice) -> "StampSet":
        """Return a new StampSet with only ``rows`` (indices, boolean mask or slice).

        Arrays are indexed (a copy for fancy indices); the catalog rows follow.
        """
        if isinstance(rows, slice):
            idx = np.arange(len(self))[rows]
        else:
            idx = np.asarray(rows)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
        return StampSet(
            images=np.asarray(self.images[idx]),
            segmaps=np.asarray(self.segmaps[idx]),
            catalog=self.catalog[idx],
            psfs=None if self.psfs is None else np.asarray(self.psfs[idx]),
            pixel_scale=self.pixel_scale,
            zeropoint=self.zeropoint,
            source=self.source,
            meta={k: (np.asarray(v)[idx] if isinstance(v, np.ndarray) and len(v) == len(self) else v)
                  for k, v in self.meta.items()},
            fillmask=None if self.fillmask is None else np.asarray(self.fillmask[idx]),
        )

    def fill_of(self, index: int) -> np.ndarray | None:
        """Fill mask (H, W) bool of stamp ``index``, or ``None`` when the data carry none."""
        return None if self.fillmask is None else np.asarray(self.fillmask[index]) != 0

    def pixel_to_sky(self, galaxy_id: int, x: float, y: float) -> tuple[float, float] | None:
        """RA, Dec (degrees) of pixel ``(x, y)`` of galaxy ``galaxy_id``'s stamp when the data carry a WCS
        (``meta["wcs"]``: one for every stamp, or a list of one per stamp); ``None`` otherwise."""
        wcs = self.meta.get("wcs")
        if wcs is None:
            return None
        if isinstance(wcs, (list, tuple)):
            wcs = wcs[self.index_of(galaxy_id)]
        try:
            ra, dec = wcs.pixel_to_world_values(x, y)
        except (AttributeError, ValueError):
            return None
        return float(ra), float(dec)

    def content_hash(self) -> str:
        """SHA-256 (hex, first 16 characters) of pixels, segmentation and catalog IDs.

        Sessions and export manifests record it, so a session reopened on other data is noticed.
        """
        cached = self.meta.get("_content_hash")
        if cached:
            return str(cached)
        h = hashlib.sha256()
        h.update(str(self.images.shape).encode())
        for arr in (self.images, self.segmaps):
            step = max(1, len(arr) // 4096)  # bounded cost on 100,000 stamps: every k-th stamp
            h.update(np.ascontiguousarray(arr[::step]).tobytes())
        h.update(np.ascontiguousarray(self.ids).astype(np.int64).tobytes())
        digest = h.hexdigest()[:16]
        self.meta["_content_hash"] = digest
        return digest

    def fluxes(self) -> np.ndarray:
        """Flux of every galaxy from its magnitude: ``10 ** (-0.4 * (mag - zeropoint))``."""
        return 10.0 ** (-0.4 * (np.asarray(self.catalog["mag"], dtype=np.float64) - self.zeropoint))
