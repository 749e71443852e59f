"""Catalog filters (magnitude, galaxy type, radius, redshift, IDs) and the train/test split by galaxy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
from astropy.table import Table

from ..errors import DataError, OptionError
from ..validate import finite
from ..rng import split_rng
from .stampset import GALTYPES, StampSet

__all__ = ["CatalogFilter", "split_by_galaxy", "apply_filter", "missing_mask", "present_values",
           "present_range", "MORPH_ONLY_TYPES"]

#: Types the morphology classifier adds to candels-blender's (point sources, unclassifiable).
MORPH_ONLY_TYPES = ("ps", "unc")
#: Columns whose negative values mean "unknown" (photometric-redshift catalogs write z = -1 or -99).
NONNEGATIVE_COLUMNS = ("z", "radius")
#: Magnitudes at or beyond this (99, -99) are "not measured" sentinels.
MAG_SENTINEL = 90.0


def missing_mask(values: np.ndarray | Iterable[float], column: str = "") -> np.ndarray:
    """True where a catalog value is missing: masked, NaN/inf, or a sentinel of that column.

    Sentinels: negative ``z`` and ``radius`` (-1, -99), ``|mag| >= 90`` (99 = not measured), and
    ``<= -99`` in any column.

    Examples
    --------
    >>> missing_mask([0.5, -1.0, float("nan"), 2.0], "z").tolist()
    [False, True, True, False]
    """
    data = np.ma.getdata(values) if np.ma.isMaskedArray(values) else values
    masked = np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else False
    v = np.asarray(data, dtype=float)
    out = ~np.isfinite(v) | (v <= -99.0) | masked
    if column in NONNEGATIVE_COLUMNS:
        out |= v < 0
    elif column == "mag":
        out |= np.abs(v) >= MAG_SENTINEL
    return out


def present_values(catalog: Table, column: str) -> np.ndarray:
    """The values of ``column`` that are not missing (see :func:`missing_mask`), as floats."""
    v = np.asarray(np.ma.getdata(catalog[column]), dtype=float)
    return v[~missing_mask(catalog[column], column)]


def present_range(catalog: Table, column: str) -> tuple[float, float] | None:
    """``(min, max)`` of the values present in ``column``; ``None`` when every value is missing."""
    v = present_values(catalog, column)
    return (float(v.min()), float(v.max())) if v.size else None


def _whole_id(value: Any) -> int:
    """A catalog ID as an int (``3``, ``"3"``, ``3.0``); a ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())              # exact, however many digits
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


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
        Redshift bounds.
    id_search : str
        Keep IDs whose decimal text contains this string ("" keeps all).
    keep_missing : bool
        A row whose value is missing (NaN, z = -1, mag = 99: :func:`missing_mask`) is not judged by that
        column's bounds (default); ``False`` drops it as soon as that column has a bound.
    ids : tuple of int, optional
        Keep only these catalog IDs (``produce --ids``: blends of a chosen set of galaxies, say the real
        galaxies a user curated for fine-tuning). An ID the catalog lacks is an error.

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
    keep_missing: bool = True
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("mag_low", "mag_high", "radius_min", "radius_max", "z_min", "z_max"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, finite(getattr(self, name), name))
        if isinstance(self.excluded_types, (str, bytes)) or not all(isinstance(t, str) for t in self.excluded_types):
            raise OptionError(f"excluded_types must be a list of type names, got {self.excluded_types!r}")
        if not isinstance(self.id_search, str):
            raise OptionError(f"id_search must be text, got {self.id_search!r}")
        types = tuple(sorted(set(self.excluded_types)))
        allowed = (*GALTYPES, *MORPH_ONLY_TYPES)
        unknown = [t for t in types if t not in allowed]
        if unknown:
            raise ValueError(f"unknown galaxy type(s) {unknown}; expected some of {list(allowed)}")
        object.__setattr__(self, "excluded_types", types)
        if self.ids is not None:
            if isinstance(self.ids, (str, bytes)):
                raise OptionError(f"ids must be a list of catalog IDs, got {self.ids!r}")
            try:
                ids = tuple(sorted({_whole_id(v) for v in self.ids}))
            except (TypeError, ValueError):
                raise OptionError(f"ids must be whole numbers (catalog IDs), got {list(self.ids)[:10]!r}") from None
            if not ids:
                raise OptionError("ids is empty: give at least one catalog ID")
            object.__setattr__(self, "ids", ids)
        for lo, hi in (("mag_low", "mag_high"), ("radius_min", "radius_max"), ("z_min", "z_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise OptionError(f"{lo}={a} is above {hi}={b}")

    def mask(self, catalog: Table) -> np.ndarray:
        """Boolean mask of the rows that pass."""
        n = len(catalog)
        keep = np.ones(n, bool)

        def bound(name: str, low: float | None, high: float | None, strict: bool) -> None:
            nonlocal keep
            if low is None and high is None:
                return
            if name not in catalog.colnames:
                raise DataError(f"catalog has no column {name!r}; found {catalog.colnames}")
            values = np.asarray(np.ma.getdata(catalog[name]), dtype=float)
            ok = np.ones(n, bool)
            with np.errstate(invalid="ignore"):
                if low is not None:
                    ok &= values > low if strict else values >= low
                if high is not None:
                    ok &= values < high if strict else values <= high
            missing = missing_mask(catalog[name], name)
            keep &= np.where(missing, self.keep_missing, ok)

        bound("mag", self.mag_low, self.mag_high, True)
        if self.excluded_types:
            types = np.char.lower(np.asarray(catalog["galtype"]).astype(str))
            keep &= ~np.isin(types, self.excluded_types)
        bound("radius", self.radius_min, self.radius_max, False)
        bound("z", self.z_min, self.z_max, False)
        if self.id_search:
            ids = np.asarray(catalog["id"]).astype(str)
            keep &= np.char.find(ids, self.id_search.strip()) >= 0
        if self.ids is not None:
            have = np.asarray(catalog["id"]).astype(np.int64)
            missing = sorted(set(self.ids) - set(have.tolist()))
            if missing:
                raise DataError(f"{len(missing)} of the {len(self.ids)} requested IDs are not in the catalog "
                                f"(first: {missing[:5]})")
            keep &= np.isin(have, np.asarray(self.ids, np.int64))
        return keep

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for manifests and sessions."""
        d = asdict(self)
        d["excluded_types"] = list(self.excluded_types)
        if self.ids is None:
            d.pop("ids")       # manifests and sessions without an ID list read as before
        else:
            d["ids"] = list(self.ids)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CatalogFilter":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise OptionError(f"a catalog filter must be a mapping, got {type(data).__name__}")
        data = dict(data)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise OptionError(f"unknown catalog filter field(s) {unknown}")
        types = data.get("excluded_types", ())
        if isinstance(types, (str, bytes)) or not isinstance(types, (list, tuple)):
            raise OptionError(f"excluded_types must be a list of type names, got {types!r}")
        data["excluded_types"] = tuple(types)
        if data.get("ids") is not None:
            if not isinstance(data["ids"], (list, tuple)):
                raise OptionError(f"ids must be a list of catalog IDs, got {data['ids']!r}")
            data["ids"] = tuple(data["ids"])
        return cls(**data)  # sessions written before keep_missing existed get its default


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

