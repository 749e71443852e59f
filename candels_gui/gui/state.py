"""What the editor shows: the stamp set, the catalog filter and the current blend spec (a Qt model).

Widgets read from and write to one :class:`AppState`; it only holds core objects and calls core
functions (:class:`~candels_gui.core.blending.engine.BlendEngine`,
:func:`~candels_gui.core.blending.sampling.sample_spec`), and tells the widgets by signals.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from ..core.blending.engine import BlendEngine, BlendSpec
from ..core.data.catalog import CatalogFilter
from ..core.errors import DataError
from ..core.rng import blend_rng
from ..core.blending.sampling import SamplingRules, offset_bounds, sample_spec
from ..core.data.stampset import StampSet

__all__ = ["AppState"]


class AppState(QObject):
    """The data and the blend being edited.

    Signals
    -------
    stampsChanged()
        A new stamp set was loaded (``stamps`` and ``engine`` replaced).
    filterChanged()
        The catalog filter changed.
    specChanged(object, bool)
        The blend spec changed (``None`` when there is no pair yet); the bool is True for a final
        change and False for a live one during a drag (render it throttled).
    galaxyPicked(int, int)
        Galaxy 1 or 2 (first argument) became catalog ID (second argument).
    """

    stampsChanged = pyqtSignal()
    filterChanged = pyqtSignal()
    specChanged = pyqtSignal(object, bool)
    galaxyPicked = pyqtSignal(int, int)

    def __init__(self, *, seed: int = 42, rules: SamplingRules | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.seed = int(seed)
        self.rules = rules or SamplingRules()
        self.stamps: StampSet | None = None
        self.engine: BlendEngine | None = None
        self.filter = CatalogFilter()
        self.spec: BlendSpec | None = None
        self.picked: list[int | None] = [None, None]
        self.random_index = 0
        self._pass: np.ndarray | None = None

    # ------------------------------------------------------------------ data
    def set_stamps(self, stamps: StampSet, engine: BlendEngine | None = None) -> None:
        """Use ``stamps`` (forgets the pair and the filter); ``engine``: the one that renders them (an opened
        export's, with its noise seeds and settings), a default engine when left out."""
        if engine is not None and engine.stamps is not stamps:
            raise ValueError("the engine given renders other stamps than those given")
        self.stamps = stamps
        self.engine = engine if engine is not None else BlendEngine(stamps)
        self.filter = CatalogFilter()
        self._pass = None
        self.spec = None
        self.picked = [None, None]
        self.random_index = 0
        self.stampsChanged.emit()
        self.specChanged.emit(None, True)

    def set_filter(self, flt: CatalogFilter) -> None:
        """Set the catalog filter (raises the core's ``DataError`` for a catalog that lacks a column)."""
        if flt == self.filter:
            return
        if self.stamps is not None:
            self._pass = flt.mask(self.stamps.catalog)
        self.filter = flt
        self.filterChanged.emit()

    def filter_mask(self) -> np.ndarray:
        """Boolean mask of the catalog rows that pass the filter."""
        if self.stamps is None:
            return np.zeros(0, bool)
        if self._pass is None:
            self._pass = self.filter.mask(self.stamps.catalog)
        return self._pass

    def pool(self) -> np.ndarray:
        """Stamp indices that pass the filter (the random-pair pool)."""
        return np.flatnonzero(self.filter_mask())

    # ------------------------------------------------------------------ pair
    def pick_galaxy(self, which: int, galaxy_id: int) -> None:
        """Make catalog ID ``galaxy_id`` galaxy ``which`` (1 = central, 2 = companion).

        With a spec already, only the ID changes (offset, rotation, ... kept); the first complete pair
        gets an offset in the middle of the sampling rules' separation range.
        """
        if which not in (1, 2):
            raise ValueError(f"galaxy must be 1 or 2, got {which}")
        self._require_data().index_of(galaxy_id)  # KeyError with a clear message if unknown
        self.picked[which - 1] = int(galaxy_id)
        self.galaxyPicked.emit(which, int(galaxy_id))
        if self.spec is not None:
            key = "id1" if which == 1 else "id2"
            self.set_spec(self.spec.replace(**{key: int(galaxy_id)}))
        elif None not in self.picked:
            self.set_spec(self.default_spec(int(self.picked[0]), int(self.picked[1])))

    def default_spec(self, id1: int, id2: int) -> BlendSpec:
        """A spec for a new pair: companion at the middle of the allowed separation, 30° up-right."""
        stamps = self._require_data()
        radii = np.asarray(stamps.catalog["radius"], float)
        r1, r2 = radii[stamps.index_of(id1)], radii[stamps.index_of(id2)]
        rmin, rmax = offset_bounds(r1, r2, self.rules, min(stamps.stamp_shape))
        sep = 0.5 * (rmin + rmax)
        angle = math.radians(30.0)
        return BlendSpec(id1, id2, dx=round(sep * math.cos(angle), 2), dy=round(sep * math.sin(angle), 2),
                         seed=self.seed)

    def random_pair(self) -> BlendSpec:
        """Draw a pair and an offset from the filtered catalog with the sampling rules.

        Draw ``k`` uses :func:`~candels_gui.core.rng.blend_rng` ``(seed, k)``, so a session's sequence of
        random pairs is reproducible.
        """
        stamps = self._require_data()
        pool = self.pool()
        spec = sample_spec(stamps, self.rules, blend_rng(self.seed, self.random_index), pool=pool,
                           seed=self.seed)
        self.random_index += 1
        self.picked = [spec.id1, spec.id2]
        self.galaxyPicked.emit(1, spec.id1)
        self.galaxyPicked.emit(2, spec.id2)
        self.set_spec(spec)
        return spec

    def swap(self) -> None:
        """Exchange galaxy 1 and galaxy 2 (the offset is kept)."""
        if self.spec is not None:
            self.picked = [self.spec.id2, self.spec.id1]
            self.set_spec(self.spec.replace(id1=self.spec.id2, id2=self.spec.id1))

    # ------------------------------------------------------------------ spec
    def set_spec(self, spec: BlendSpec | None, *, final: bool = True) -> None:
        """Replace the spec; live (``final=False``) changes are for previews during a drag."""
        if spec == self.spec and final:
            self.specChanged.emit(spec, True)  # a drag that ends where it was still needs an exact frame
            return
        self.spec = spec
        if spec is not None:
            self.picked = [spec.id1, spec.id2]
        self.specChanged.emit(spec, final)

    def update_spec(self, *, final: bool = True, **changes: object) -> None:
        """Change some fields of the current spec (no-op without a pair)."""
        if self.spec is None:
            return
        self.set_spec(self.spec.replace(**changes), final=final)

    def _require_data(self) -> StampSet:
        if self.stamps is None:
            raise DataError("no data loaded: open a data folder first (File > Open)")
        return self.stamps
