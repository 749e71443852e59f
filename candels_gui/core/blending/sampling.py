"""Random pairs and offsets: candels-blender's rules and defaults, plus options it lacked.

candels-blender's rules (the defaults here):

* galaxy 1 is drawn uniformly from the pool; galaxy 2 uniformly among the pool galaxies whose magnitude
  differs from galaxy 1's by less than ``mag_diff`` (2);
* the separation lies between ``max(r1, r2)`` and ``min(min(r1, r2) * rad_diff, max_separation)``
  (``rad_diff`` 4, ``max_separation`` half the stamp, 64 px); when the lower bound is not below the upper
  one it becomes 0.8 times the upper one;
* the offset is drawn as integer pixels uniform in the square ``[-rmax, rmax)``, keeping the first of
  ``tries`` (25) draws inside the annulus; if none is, a new pair is drawn.

Added: a galaxy is never blended with itself (unless ``allow_self``), separation uniform in area
(``uniform_area``), sub-pixel offsets, random rotation and flip of galaxy 2, and a flux-ratio range.
Each spec ``i`` draws from :func:`~candels_gui.core.rng.blend_rng` ``(seed, i)`` only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Generator, Hashable, Iterable, Sequence

import numpy as np

from .engine import BlendSpec
from ..errors import DataError, DataWarning, OptionError
from ..validate import finite, integer, ordered
from ..jobs import CancelToken, Progress, check_cancel
from ..rng import blend_rng
from ..data.stampset import StampSet

__all__ = ["SamplingRules", "sample_spec", "sample_specs", "iter_sample_specs", "offset_bounds", "spec_key",
           "duplicate_specs", "DrawnSpecs"]

_MAX_PAIR_TRIES = 1000
#: Range accepted for ``flux_ratio`` (beyond it blends underflow to a missing companion or overflow float32).
FLUX_RATIO_RANGE = (1e-6, 1e6)
#: Draws allowed per wanted spec (plus a constant) before a unique draw gives up.
_UNIQUE_DRAWS_PER_SPEC = 20
#: Repeats in a row after which a unique draw gives up (the rules allow no more distinct blends).
_MAX_REPEATS_IN_A_ROW = 1000


def spec_key(spec: BlendSpec) -> Hashable:
    """What makes two blends the same blend: the pair and the geometry, not the noise seed.

    Offsets, rotation (mod 360) and flux scale are rounded (1e-4 px, 1e-4 degree, 1e-6), so specs that
    differ only in float noise are the same.

    Examples
    --------
    >>> spec_key(BlendSpec(1, 2, dx=3.0, seed=1)) == spec_key(BlendSpec(1, 2, dx=3.00000001, seed=2))
    True
    """
    return (spec.id1, spec.id2, round(spec.dx, 4), round(spec.dy, 4), round(spec.rotation % 360.0, 4) % 360.0,
            spec.flip, round(spec.flux_scale, 6))


def duplicate_specs(specs: Sequence[BlendSpec], *, among: Iterable[BlendSpec] = ()) -> dict[int, int]:
    """Repeats in ``specs``: index -> index of its first occurrence (``-1`` when it repeats one of ``among``).

    Examples
    --------
    >>> a, b = BlendSpec(1, 2, dx=3.0), BlendSpec(2, 1, dx=3.0)
    >>> duplicate_specs([a, b, a])
    {2: 0}
    """
    seen: dict[Hashable, int] = {spec_key(s): -1 for s in among}
    out: dict[int, int] = {}
    for i, spec in enumerate(specs):
        key = spec_key(spec)
        if key in seen:
            out[i] = seen[key]
        else:
            seen[key] = i
    return out


class DrawnSpecs(list):
    """The specs a draw returned (a list), with ``draws``: how many stream indices it used.

    A draw that skips repeats uses more indices than it returns specs; the next draw continues the
    stream at ``start_index + draws``.
    """

    draws: int = 0


@dataclass(frozen=True)
class SamplingRules:
    """Rules for drawing random blends.

    Parameters
    ----------
    mag_diff : float
        Maximum magnitude difference between the two galaxies (strict).
    rad_diff : float
        Maximum separation as a multiple of the smaller radius.
    max_separation : float, optional
        Hard cap of the separation in pixels (default: half the stamp size).
    tries : int
        Offset draws per pair before a new pair is drawn.
    allow_self : bool
        Allow a galaxy to be blended with itself.
    uniform_area : bool
        Draw the separation uniformly in area (``r = sqrt(U(rmin**2, rmax**2))``, angle uniform)
        instead of candels-blender's integer square draws.
    subpixel : bool
        Keep fractional offsets (only with ``uniform_area``; the square draw is integer).
    random_rotation : bool
        Rotate galaxy 2 by a uniform angle in [0, 360).
    random_flip : bool
        Mirror galaxy 2 with probability 1/2.
    flux_ratio : (float, float), optional
        Range of ``flux_scale`` of galaxy 2, drawn log-uniformly; ``None`` keeps the catalog flux.
    """

    mag_diff: float = 2.0
    rad_diff: float = 4.0
    max_separation: float | None = None
    tries: int = 25
    allow_self: bool = False
    uniform_area: bool = False
    subpixel: bool = False
    random_rotation: bool = False
    random_flip: bool = False
    flux_ratio: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("mag_diff", "rad_diff"):
            object.__setattr__(self, name, finite(getattr(self, name), name, low=0, low_open=True))
        if self.max_separation is not None:
            object.__setattr__(self, "max_separation",
                               finite(self.max_separation, "max_separation", low=0, low_open=True))
        object.__setattr__(self, "tries", integer(self.tries, "tries", low=1, high=10_000))
        for name in ("allow_self", "uniform_area", "subpixel", "random_rotation", "random_flip"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise OptionError(f"{name} must be true or false, got {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.subpixel and not self.uniform_area:
            raise OptionError("subpixel offsets need uniform_area=True (candels-blender's draw is integer)")
        if self.flux_ratio is not None:
            if isinstance(self.flux_ratio, (str, bytes)) or len(self.flux_ratio) != 2:
                raise OptionError(f"flux_ratio must be two numbers (low, high), got {self.flux_ratio!r}")
            lo, hi = (finite(v, "flux_ratio", low=FLUX_RATIO_RANGE[0], high=FLUX_RATIO_RANGE[1])
                      for v in self.flux_ratio)
            ordered(lo, hi, "flux_ratio low", "flux_ratio high")
            object.__setattr__(self, "flux_ratio", (lo, hi))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for manifests and sessions."""
        d = asdict(self)
        d["flux_ratio"] = list(self.flux_ratio) if self.flux_ratio else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SamplingRules":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise OptionError(f"sampling rules must be a mapping, got {type(data).__name__}")
        data = dict(data)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise OptionError(f"unknown sampling rule(s) {unknown}")
        if data.get("flux_ratio") is not None:
            if not isinstance(data["flux_ratio"], (list, tuple)):
                raise OptionError(f"flux_ratio must be two numbers, got {data['flux_ratio']!r}")
            data["flux_ratio"] = tuple(data["flux_ratio"])
        return cls(**data)


def offset_bounds(r1: float, r2: float, rules: SamplingRules, stamp_size: int) -> tuple[float, float]:
    """Allowed separation range ``(rmin, rmax)`` in pixels for radii ``r1``, ``r2``."""
    cap = rules.max_separation if rules.max_separation is not None else stamp_size // 2
    rmax = min(min(r1, r2) * rules.rad_diff, cap)
    rmin = max(r1, r2)
    if rmin >= rmax:
        rmin = 0.8 * rmax
    return float(rmin), float(rmax)


def _draw_offset(rng: np.random.Generator, rmin: float, rmax: float, rules: SamplingRules
                 ) -> tuple[float, float] | None:
    if rules.uniform_area:
        r = math.sqrt(rng.uniform(rmin * rmin, rmax * rmax))
        theta = rng.uniform(0.0, 2.0 * math.pi)
        dx, dy = r * math.cos(theta), r * math.sin(theta)
        if not rules.subpixel:
            dx, dy = float(round(dx)), float(round(dy))
        return dx, dy
    hi = int(rmax)  # numpy randint(-rmax, rmax) truncates the float bound as candels-blender's did
    if hi <= 0:
        return None
    draws = rng.integers(-hi, hi, size=(rules.tries, 2))
    dist = np.hypot(draws[:, 0], draws[:, 1])
    ok = np.flatnonzero((dist >= rmin) & (dist <= rmax))
    if ok.size == 0:
        return None
    dy, dx = draws[ok[0]]  # candels-blender's coords are (dy, dx)
    return float(dx), float(dy)


def sample_spec(stamps: StampSet, rules: SamplingRules, rng: np.random.Generator, *,
                pool: np.ndarray, seed: int, mags: np.ndarray | None = None,
                radii: np.ndarray | None = None, ids: np.ndarray | None = None,
                partners: dict[int, np.ndarray] | None = None) -> BlendSpec:
    """Draw one blend spec from galaxies ``pool`` (stamp indices) with ``rng``.

    ``partners``, when given, caches each central galaxy's allowed companions between calls with the
    same pool and rules (the draws are the same with or without it).

    Raises
    ------
    DataError
        If no valid pair can be found (pool too small or magnitude cut too tight).
    """
    if len(pool) == 0 or (len(pool) < 2 and not rules.allow_self):
        raise DataError(f"cannot draw blends from a pool of {len(pool)} galaxies")
    mags = np.asarray(stamps.catalog["mag"], float) if mags is None else mags
    radii = np.asarray(stamps.catalog["radius"], float) if radii is None else radii
    ids = stamps.ids if ids is None else ids
    size = min(stamps.stamp_shape)
    for _ in range(_MAX_PAIR_TRIES):
        i1 = int(pool[rng.integers(len(pool))])
        candidates = None if partners is None else partners.get(i1)
        if candidates is None:
            ok = np.abs(mags[pool] - mags[i1]) < rules.mag_diff
            if not rules.allow_self:
                ok &= pool != i1
            candidates = pool[ok]
            if partners is not None:
                partners[i1] = candidates
        if candidates.size == 0:
            continue
        i2 = int(candidates[rng.integers(candidates.size)])
        rmin, rmax = offset_bounds(radii[i1], radii[i2], rules, size)
        offset = _draw_offset(rng, rmin, rmax, rules)
        if offset is None:
            continue
        dx, dy = offset
        rotation = float(rng.uniform(0.0, 360.0)) if rules.random_rotation else 0.0
        flip = bool(rng.integers(2)) if rules.random_flip else False
        flux_scale = 1.0
        if rules.flux_ratio is not None:
            lo, hi = rules.flux_ratio
            flux_scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return BlendSpec(id1=int(ids[i1]), id2=int(ids[i2]), dx=dx, dy=dy, rotation=rotation,
                         flip=flip, flux_scale=flux_scale, seed=seed)
    raise DataError(
        f"no valid pair found in {_MAX_PAIR_TRIES} tries from {len(pool)} galaxies "
        f"(mag_diff={rules.mag_diff}, rad_diff={rules.rad_diff}); loosen the cuts")


def iter_sample_specs(stamps: StampSet, n: int, rules: SamplingRules, *, seed: int,
                      pool: Sequence[int] | np.ndarray | None = None, start_index: int = 0,
                      unique: bool = False, exclude: Iterable[BlendSpec] = (),
                      cancel: CancelToken | None = None) -> Generator[Progress, None, DrawnSpecs]:
    """Job: draw ``n`` specs; draw ``k`` uses ``blend_rng(seed, start_index + k)``. Returns the list.

    With ``unique`` (or an ``exclude`` list), a draw that repeats an earlier one or a spec of ``exclude``
    (same :func:`spec_key`) is skipped and the stream continues, so the result holds ``n`` distinct new
    specs; its ``draws`` attribute says how many indices were used. Without them, draw ``k`` is spec ``k``.

    Raises
    ------
    DataError
        If ``n`` distinct specs cannot be found in ``20 n + 1000`` draws, or 1000 draws in a row repeat
        (a pool or rules too narrow for ``n`` distinct blends).
    """
    pool_arr = np.arange(len(stamps)) if pool is None else np.asarray(pool, dtype=np.int64)
    mags = np.asarray(stamps.catalog["mag"], float)
    radii = np.asarray(stamps.catalog["radius"], float)
    usable = np.isfinite(mags[pool_arr]) & np.isfinite(radii[pool_arr]) & (radii[pool_arr] > 0)
    if not usable.all():  # the pair rules need both: such galaxies never enter a pair
        warnings.warn(DataWarning(f"{int((~usable).sum())} of {len(pool_arr)} galaxies have no finite magnitude "
                                  f"or radius > 0 and are left out of the pairs"), stacklevel=2)
        pool_arr = pool_arr[usable]
        if len(pool_arr) < (1 if rules.allow_self else 2):
            raise DataError(f"only {len(pool_arr)} galaxies with a finite magnitude and radius remain; "
                            f"a pair needs 2")
    ids = stamps.ids
    seen = {spec_key(s) for s in exclude}
    unique = unique or bool(seen)
    specs = DrawnSpecs()
    partners: dict[int, np.ndarray] = {}
    step = max(1, n // 100)
    limit = n * _UNIQUE_DRAWS_PER_SPEC + 1000 if unique else n
    k = misses = 0
    while len(specs) < n:
        if k >= limit or misses >= _MAX_REPEATS_IN_A_ROW:
            raise DataError(f"only {len(specs)} distinct new blends found in {k:,} draws from {len(pool_arr)} "
                            f"galaxies ({n} asked); loosen the sampling rules or the catalog filter, or allow "
                            "sub-pixel offsets or rotation")
        if k % step == 0:
            check_cancel(cancel)
            yield Progress(len(specs), n, "drawing pairs")
        spec = sample_spec(stamps, rules, blend_rng(seed, start_index + k), pool=pool_arr,
                           seed=seed, mags=mags, radii=radii, ids=ids, partners=partners)
        k += 1
        if unique:
            key = spec_key(spec)
            if key in seen:
                misses += 1
                continue
            seen.add(key)
            misses = 0
        specs.append(spec)
    specs.draws = k
    yield Progress(n, n, "drawing pairs")
    return specs


def sample_specs(stamps: StampSet, n: int, rules: SamplingRules | None = None, *, seed: int = 42,
                 pool: Sequence[int] | np.ndarray | None = None, start_index: int = 0,
                 unique: bool = False, exclude: Iterable[BlendSpec] = ()) -> list[BlendSpec]:
    """Draw ``n`` blend specs (see :func:`iter_sample_specs`).

    Examples
    --------
    >>> specs = sample_specs(stamps, 10, SamplingRules(), seed=42)   # doctest: +SKIP
    """
    from ..jobs import run_job

    return run_job(iter_sample_specs(stamps, n, rules or SamplingRules(), seed=seed, pool=pool,
                                     start_index=start_index, unique=unique, exclude=exclude))
