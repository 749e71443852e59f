"""Catalog filters (magnitude, galaxy type, radius, redshift, IDs) and the train/test split by galaxy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
from astropy.table import Table

from ..errors import DataError
from ..rng import split_rng
from .stampset import GALTYPES, StampSet

__all__ = ["CatalogFilter", "split_by_galaxy", "apply_filter", "MORPH_ONLY_TYPES"]

#: Types the morphology classifier adds to candels-blender's (point sources, unclassifiable).
MORPH_ONLY_TYPES = ("ps", "unc")


@dataclass(frozen=True)
class CatalogFilter:
    """Which galaxies of a catalog may enter blends.

    Magnitude bounds are strict, as in candels-blender (``mag_low < mag < mag_high``); the other bounds
    are inclusive. ``None`` means no bound.

    Parameters
    ----------
    mag_low, mag_high : float, optional
        Keep ``mag_low < mag < mag_high``.
    excluded_types : tuple of str
        Galaxy types to drop (``irr``, ``disk``, ``sph``, ``sphd``; ``ps``, ``unc`` with predicted types).
    radius_min, radius_max : float, optional
        Half-light radius bounds in pixels.
    z_min, z_max : float, optional
        Redshift bounds (rows with unknown redshift are dropped when a bound is set).
    id_search : str
        Keep IDs whose decimal text contains this string ("" keeps all).

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = Table({"mag": [20.0, 23.5, 25.0], "galtype": ["disk", "irr", "sph"],
    ...            "radius": [5.0, 3.0, 2.0], "z": [1.0, 0.5, 2.0], "id": [1, 2, 3]})
    >>> CatalogFilter(mag_high=23.5, excluded_types=("irr",)).mask(t).tolist()
    [True, False, False]
    """

    mag_low: float | None = None
    mag_high: float | None = None
    excluded_types: tuple[str, ...] = ()
    radius_min: float | None = None
    radius_max: float | None = None
    z_min: float | None = None
    z_max: float | None = None
    id_search: str = ""

    def __post_init__(self) -> None:
        types = tuple(sorted(set(self.excluded_types)))
        allowed = (*GALTYPES, *MORPH_ONLY_TYPES)
        unknown = [t for t in types if t not in allowed]
        if unknown:
            raise ValueError(f"unknown galaxy type(s) {unknown}; expected some of {list(allowed)}")
        object.__setattr__(self, "excluded_types", types)
        for lo, hi in (("mag_low", "mag_high"), ("radius_min", "radius_max"), ("z_min", "z_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo}={a} is above {hi}={b}")

    def mask(self, catalog: Table) -> np.ndarray:
        """Boolean mask of the rows that pass."""
        n = len(catalog)
        keep = np.ones(n, bool)

        def col(name: str) -> np.ndarray:
            if name not in catalog.colnames:
                raise DataError(f"catalog has no column {name!r}; found {catalog.colnames}")
            return np.asarray(catalog[name], dtype=float)

        if self.mag_low is not None:
            keep &= col("mag") > self.mag_low
        if self.mag_high is not None:
            keep &= col("mag") < self.mag_high
        if self.excluded_types:
            types = np.char.lower(np.asarray(catalog["galtype"]).astype(str))
            keep &= ~np.isin(types, self.excluded_types)
        if self.radius_min is not None:
            keep &= col("radius") >= self.radius_min
        if self.radius_max is not None:
            keep &= col("radius") <= self.radius_max
        if self.z_min is not None:
            keep &= col("z") >= self.z_min
        if self.z_max is not None:
            keep &= col("z") <= self.z_max
        if self.id_search:
            ids = np.asarray(catalog["id"]).astype(str)
            keep &= np.char.find(ids, self.id_search.strip()) >= 0
        return keep

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for manifests and sessions."""
        d = asdict(self)
        d["excluded_types"] = list(self.excluded_types)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CatalogFilter":
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["excluded_types"] = tuple(data.get("excluded_types", ()))
        return cls(**data)


def apply_filter(stamps: StampSet, flt: CatalogFilter) -> np.ndarray:
    """Stamp indices of ``stamps`` that pass ``flt``."""
    return np.flatnonzero(flt.mask(stamps.catalog))


def split_by_galaxy(indices: Iterable[int] | np.ndarray, test_ratio: float, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Split galaxy indices into train and test pools; no galaxy is in both.

    As candels-blender: a seeded permutation, the first ``int(n * test_ratio)`` galaxies go to test.

    Parameters
    ----------
    indices : array of int
        Galaxy (stamp) indices to split.
    test_ratio : float
        Fraction of galaxies reserved for the test set, in [0, 1].
    seed : int
        Data-set seed.

    Returns
    -------
    train, test : ndarray of int
        Sorted index arrays.
    """
    if not 0.0 <= test_ratio <= 1.0:
        raise ValueError(f"test_ratio must be in [0, 1], got {test_ratio}")
    idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64)
    perm = split_rng(seed).permutation(idx)
    n_test = int(len(idx) * test_ratio)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])

