"""Blend specifications and the blend engine: BlendSpec -> Blend, one at a time or in batches.

Conventions
-----------
* Galaxy 1 is the central galaxy of its stamp and stays there; galaxy 2 is flipped left-right (``flip``),
  rotated counter-clockwise by ``rotation`` degrees about its centre (as displayed with row 0 at the
  bottom, the astronomical convention), scaled in flux by ``flux_scale`` and moved by ``dx`` columns and
  ``dy`` rows. Sub-pixel shifts and rotations use bilinear interpolation (OpenCV, 1/32-pixel
  coordinate precision); masks follow the same transform with nearest-neighbour sampling.
* Pixels of the output that galaxy 2's stamp does not cover are filled from that galaxy's background
  noise field (:mod:`candels_gui.core.blending.cleaning`), never with zeros. The whole stamp of galaxy 2,
  noise and fill included, is scaled by ``flux_scale``.
* ``Blend.image`` is exactly ``isolated[0] + isolated[1]`` (float32 addition).
* Everything random (cleaning noise, fill fields) is drawn from generators seeded by ``(spec.seed,
  galaxy index)``, so a blend is a pure function of its spec and the data.
"""

from __future__ import annotations

import json
import math
import operator
import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Generator, Sequence

import cv2
import numpy as np

from .cleaning import CleanedCache, CleanedGalaxy, NoiseModel
from ..jobs import CancelToken, Progress, check_cancel
from ..data.stampset import StampSet

__all__ = ["BlendSpec", "Blend", "BlendBatch", "BlendEngine", "affine_matrix", "default_render_threads"]

_COMPACT_JSON = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: json.dumps makes one per call
cv2.setNumThreads(1)  # we parallelise over blends, not inside one 128x128 warp


@dataclass(frozen=True)
class BlendSpec:
    """Everything that defines one blend, given the data. Frozen, hashable, JSON-serialisable.

    Parameters
    ----------
    id1, id2 : int
        Catalog IDs of the central galaxy and of the companion.
    dx, dy : float
        Offset of the companion in pixels (columns, rows).
    rotation : float
        Rotation of the companion in degrees, counter-clockwise.
    flip : bool
        Mirror the companion left-right before rotating it.
    flux_scale : float
        Multiplier of the companion's flux (> 0).
    seed : int
        Seed of the per-galaxy noise (cleaning and fill) used to render this blend.
    """

    id1: int
    id2: int
    dx: float = 0.0
    dy: float = 0.0
    rotation: float = 0.0
    flip: bool = False
    flux_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("id1", "id2", "seed"):
            raw = getattr(self, name)
            try:
                value = operator.index(raw)  # ints (numpy's too), never str, float or None
            except TypeError:
                if not (isinstance(raw, float) and raw.is_integer()):
                    raise ValueError(f"BlendSpec.{name} must be an integer, got {raw!r}") from None
                value = int(raw)
            if isinstance(raw, bool):
                raise ValueError(f"BlendSpec.{name} must be an integer, got {raw!r}")
            if name == "seed" and not 0 <= value < 2 ** 63:
                raise ValueError(f"BlendSpec.seed must be in 0..2**63-1, got {value}")
            object.__setattr__(self, name, int(value))
        for name in ("dx", "dy", "rotation", "flux_scale"):
            raw = getattr(self, name)
            if isinstance(raw, (str, bytes, bool)) or raw is None:
                raise ValueError(f"BlendSpec.{name} must be a number, got {raw!r}")
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(f"BlendSpec.{name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if self.flip not in (True, False, 0, 1):
            raise ValueError(f"BlendSpec.flip must be true or false, got {self.flip!r}")
        object.__setattr__(self, "flip", bool(self.flip))
        if self.flux_scale <= 0:
            raise ValueError(f"BlendSpec.flux_scale must be > 0, got {self.flux_scale}")

    @property
    def separation(self) -> float:
        """Distance between the two galaxy centres, in pixels."""
        return math.hypot(self.dx, self.dy)

    @property
    def delta_mag_scale(self) -> float:
        """Magnitude change of the companion caused by ``flux_scale`` (negative = brighter)."""
        return -2.5 * math.log10(self.flux_scale)

    @property
    def is_integer_shift(self) -> bool:
        """True when the blend is a pure whole-pixel shift (the fast path of the engine)."""
        return (self.dx.is_integer() and self.dy.is_integer() and not self.flip
                and self.rotation % 360.0 == 0.0)

    def replace(self, **changes: Any) -> "BlendSpec":
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON types only)."""
        return {"id1": self.id1, "id2": self.id2, "dx": self.dx, "dy": self.dy, "rotation": self.rotation,
                "flip": self.flip, "flux_scale": self.flux_scale, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BlendSpec":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"a blend spec must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown BlendSpec field(s): {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        """Compact JSON text."""
        return _COMPACT_JSON(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "BlendSpec":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


@dataclass(eq=False)
class Blend:
    """One rendered blend (channel-first).

    Attributes
    ----------
    spec : BlendSpec
    image : (H, W) float32
        The blend: ``isolated[0] + isolated[1]``.
    isolated : (2, H, W) float32
        Cleaned galaxy 1 and transformed galaxy 2, each with its own noise.
    masks : (2, H, W) bool
        Segmentation footprints of galaxy 1 and of transformed galaxy 2.
    flux_out_frac : float
        Fraction of galaxy 2's footprint flux pushed out of the stamp by the transform.
    """

    spec: BlendSpec
    image: np.ndarray
    isolated: np.ndarray
    masks: np.ndarray
    flux_out_frac: float = 0.0

    @property
    def overlap(self) -> np.ndarray:
        """Pixels inside both footprints."""
        return self.masks[0] & self.masks[1]


@dataclass(eq=False)
class BlendBatch:
    """B rendered blends stacked on a first axis; ``batch[i]`` is a :class:`Blend` (views)."""

    specs: list[BlendSpec]
    images: np.ndarray
    isolated: np.ndarray
    masks: np.ndarray
    flux_out_frac: np.ndarray
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def empty(cls, n: int, shape: tuple[int, int]) -> "BlendBatch":
        """Allocate outputs for ``n`` blends of stamp shape ``shape``."""
        h, w = shape
        return cls(specs=[], images=np.empty((n, h, w), np.float32),
                   isolated=np.empty((n, 2, h, w), np.float32), masks=np.zeros((n, 2, h, w), bool),
                   flux_out_frac=np.zeros(n, np.float32), indices=np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, i: int) -> Blend:
        return Blend(self.specs[i], self.images[i], self.isolated[i], self.masks[i],
                     float(self.flux_out_frac[i]))

    def truncated(self, n: int) -> "BlendBatch":
        """The first ``n`` blends (views)."""
        return BlendBatch(self.specs[:n], self.images[:n], self.isolated[:n], self.masks[:n],
                          self.flux_out_frac[:n], self.indices[:n])


def affine_matrix(spec: BlendSpec, shape: tuple[int, int]) -> np.ndarray:
    """Inverse-map 2x3 matrix (output pixel (x, y) -> source pixel) of galaxy 2's transform.

    The forward transform maps a source pixel ``q`` to ``c + d + R(rotation) F (q - c)`` where ``c`` is
    the stamp centre ``(W // 2, H // 2)``, ``d = (dx, dy)`` and ``F`` mirrors x when ``flip``. The inverse's
    linear part is ``A = F R(-rotation)`` and its offset ``c - A (c + d)``.
    """
    h, w = shape
    c0, c1 = float(w // 2), float(h // 2)
    t = math.radians(spec.rotation)
    cs, sn = math.cos(t), math.sin(t)
    fx = -1.0 if spec.flip else 1.0
    m = np.empty((2, 3))
    # F @ R^-1 written out term by term as the 2x2 product sums them (the same bits, signed zeros included:
    # compact exports made by earlier versions render to the same bytes)
    m[:, :2] = ((fx * cs + 0.0 * -sn, fx * sn + 0.0 * cs), (0.0 * cs + 1.0 * -sn, 0.0 * sn + 1.0 * cs))
    m[:, 2] = (c0, c1) - m[:, :2] @ np.array((c0 + float(spec.dx), c1 + float(spec.dy)))
    return m


def _abs_det(m: np.ndarray) -> float:
    """``abs(numpy.linalg.det(m[:, :2]))`` to the bit, without its ~3 µs of call overhead: LAPACK's LU with
    partial pivoting (the multiplier from the pivot's reciprocal), then ``exp`` of the summed logs of the
    diagonal, as numpy's ``det`` forms it. The linear part is a rotation (and a mirror): neither the pivot
    nor the second diagonal term is 0."""
    (p, q, _), (r, t, _) = m.tolist()
    if abs(r) > abs(p):
        p, q, r, t = r, t, p, q
    u = t - r * (1.0 / p) * q
    return math.exp(math.log(abs(p)) + math.log(abs(u)))


class BlendEngine:
    """Renders blends of a :class:`StampSet` from :class:`BlendSpec` s.

    Parameters
    ----------
    stamps : StampSet
    n_dilate : int
        Dilation steps of neighbour cleaning (candels-blender: 5).
    noise_model : {"clipped", "candels-blender"}
        How cleaning measures and adds noise (see :mod:`candels_gui.core.blending.cleaning`).
    cache_bytes : int
        Memory cap of the cleaned-stamp cache.
    rng_indices : (N,) int array, optional
        Index seeding each stamp's noise, when ``stamps`` is a subset of the set the blends were first
        made from (see :class:`~candels_gui.core.blending.cleaning.CleanedCache`).
    threads : int, optional
        Threads rendering a batch's warped blends (default :func:`default_render_threads`: the cores, at
        most 4, or ``CANDELS_GUI_RENDER_THREADS``); the bytes are the same whatever the count.

    Examples
    --------
    >>> from candels_gui.core.data.load import load_stampset   # doctest: +SKIP
    >>> engine = BlendEngine(load_stampset("sample_data"))      # doctest: +SKIP
    >>> blend = engine.render(BlendSpec(id1=1, id2=2, dx=10.5, dy=-3, rotation=30))  # doctest: +SKIP
    """

    def __init__(self, stamps: StampSet, *, n_dilate: int = 5, noise_model: NoiseModel = "clipped",
                 cache_bytes: int = 2 << 30, rng_indices: np.ndarray | None = None,
                 threads: int | None = None) -> None:
        self.stamps = stamps
        #: Threads that render a batch's blends (default: :func:`default_render_threads`); the bytes are
        #: the same whatever the count (each blend is rendered alone into its own rows).
        self.threads = default_render_threads() if threads is None else max(1, int(threads))
        self.cache = CleanedCache(stamps, n_dilate=n_dilate, noise_model=noise_model,
                                  max_bytes=cache_bytes, rng_indices=rng_indices)
        self.shape = stamps.stamp_shape

    # ------------------------------------------------------------------ public
    def fresh(self) -> "BlendEngine":
        """A new engine on the same stamps with the same settings (dilation, noise model, noise seeds,
        threads) and a cache of its own: it renders the same bytes, e.g. in a worker while this one serves
        the UI thread."""
        c = self.cache
        return BlendEngine(self.stamps, n_dilate=c.n_dilate, noise_model=c.noise_model, cache_bytes=c.max_bytes,
                           rng_indices=c.rng_indices, threads=self.threads)

    def cleaned(self, galaxy_id: int, seed: int = 0) -> CleanedGalaxy:
        """Cleaned stamp of catalog ID ``galaxy_id`` (cached)."""
        return self.cache.get(self.stamps.index_of(galaxy_id), seed)

    def render(self, spec: BlendSpec) -> Blend:
        """Render one blend."""
        return self.render_batch([spec])[0]

    def render_batch(self, specs: Sequence[BlendSpec], out: BlendBatch | None = None) -> BlendBatch:
        """Render ``specs`` into a batch (into ``out`` when given, which must hold enough blends).

        Whole-pixel shifts are array slices; other transforms are one bilinear warp each.
        Results are bit-identical to rendering each spec alone.
        """
        n = len(specs)
        if out is None:
            out = BlendBatch.empty(n, self.shape)
        elif len(out.images) < n or out.images.shape[1:] != self.shape:
            raise ValueError(f"output batch holds {len(out.images)} blends of {out.images.shape[1:]}, "
                             f"need {n} of {self.shape}")
        out = BlendBatch(list(specs), out.images[:n], out.isolated[:n], out.masks[:n],
                         out.flux_out_frac[:n], out.indices[:n])
        # threads pay for their GIL hand-offs only where a blend is one long OpenCV warp (which releases
        # the GIL); whole-pixel blends are a few short copies, faster on one thread
        warps = sum(not spec.is_integer_shift for spec in specs) if self.threads > 1 else 0
        parts = min(self.threads, warps // MIN_BLENDS_PER_THREAD)
        if parts < 2:
            self._render_rows(out, 0, n)
            return out
        bounds = np.linspace(0, n, parts + 1).astype(int)
        pool = _render_pool(parts)
        futures = [pool.submit(self._render_rows, out, int(a), int(b)) for a, b in zip(bounds[1:-1], bounds[2:])]
        try:
            self._render_rows(out, 0, int(bounds[1]))     # the first rows here, the others alongside
        finally:
            for fut in futures:
                fut.result()
        return out

    def _render_rows(self, out: BlendBatch, start: int, stop: int) -> None:
        """Render ``out.specs[start:stop]`` into their rows of ``out`` (numpy's copies release the GIL,
        so threads rendering other rows run alongside)."""
        specs = out.specs
        for b in range(start, stop):
            spec = specs[b]
            g1 = self.cleaned(spec.id1, spec.seed)
            g2 = self.cleaned(spec.id2, spec.seed)
            iso = out.isolated[b]
            iso[0] = g1.image
            out.masks[b, 0] = g1.footprint
            if spec.is_integer_shift:
                out.flux_out_frac[b] = self._shift_integer(g2, spec, iso[1], out.masks[b, 1])
            else:
                out.flux_out_frac[b] = self._warp(g2, spec, iso[1], out.masks[b, 1])
            np.add(g1.image, iso[1], out=out.images[b])   # g1.image is still in cache; iso[0] may not be

    def flux_out_fractions(self, specs: Sequence[BlendSpec]) -> np.ndarray:
        """``flux_out_frac`` of each spec (as :meth:`render_batch` reports it) without rendering the
        blends: whole-pixel shifts read the footprint's summed-area table (no cleaning needed with the
        ``"clipped"`` noise model); other transforms warp galaxy 2 alone."""
        out = np.zeros(len(specs), np.float32)
        h, w = self.shape
        scratch, mask = np.empty((h, w), np.float32), np.empty((h, w), bool)
        for b, spec in enumerate(specs):
            if not spec.is_integer_shift:
                out[b] = self._warp(self.cleaned(spec.id2, spec.seed), spec, scratch, mask)
                continue
            integral = self.cache.footprint_integral(self.stamps.index_of(spec.id2), spec.seed)
            out[b] = _out_fraction(_inside_integer(integral, int(spec.dx), int(spec.dy)),
                                   float(integral[-1, -1]))
        return out

    def stream_batch_size(self) -> int:
        """Blends per batch whose outputs (blend, isolated images, masks: 14 bytes a pixel) fill about
        :data:`STREAM_BATCH_BYTES`, 1 to 256: 18 for 128 px stamps."""
        h, w = self.shape
        return max(1, min(256, STREAM_BATCH_BYTES // (14 * h * w)))

    def iter_batches(self, specs: Sequence[BlendSpec], *, batch_size: int | None = None,
                     reuse_buffers: bool = False, cancel: CancelToken | None = None
                     ) -> Generator[Progress | BlendBatch, None, int]:
        """Render ``specs`` batch by batch, yielding each :class:`BlendBatch` then a :class:`Progress`.

        With ``reuse_buffers`` the same arrays are filled again for every batch: a consumer that keeps
        data must copy it before asking for the next batch. Memory stays bounded by ``batch_size``
        (default :meth:`stream_batch_size`: a batch that stays in the CPU's caches while it is used).
        Returns the number of blends rendered.
        """
        batch_size = self.stream_batch_size() if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        total = len(specs)
        buffer = BlendBatch.empty(min(batch_size, max(total, 1)), self.shape) if reuse_buffers else None
        done = 0
        for start in range(0, total, batch_size):
            check_cancel(cancel)
            chunk = specs[start:start + batch_size]
            batch = self.render_batch(chunk, out=buffer)
            batch.indices = np.arange(start, start + len(chunk), dtype=np.int64)
            yield batch
            done += len(chunk)
            yield Progress(done, total, "rendering blends")
        return done

    # ---------------------------------------------------------------- private
    def _shift_integer(self, g: CleanedGalaxy, spec: BlendSpec, dest: np.ndarray,
                       mask_dest: np.ndarray) -> float:
        h, w = self.shape
        dx, dy = int(spec.dx), int(spec.dy)
        # destination rectangle covered by the shifted stamp
        y0, y1 = max(0, dy), min(h, h + dy)
        x0, x1 = max(0, dx), min(w, w + dx)
        mask_dest[...] = False
        if y0 >= y1 or x0 >= x1:  # shifted entirely out of the stamp
            np.copyto(dest, g.fill)
            inside = 0.0
        else:
            # fill the uncovered bands (rows above/below, then columns left/right)
            if y0 > 0:
                dest[:y0] = g.fill[:y0]
            if y1 < h:
                dest[y1:] = g.fill[y1:]
            if x0 > 0:
                dest[y0:y1, :x0] = g.fill[y0:y1, :x0]
            if x1 < w:
                dest[y0:y1, x1:] = g.fill[y0:y1, x1:]
            sy0, sy1, sx0, sx1 = y0 - dy, y1 - dy, x0 - dx, x1 - dx
            dest[y0:y1, x0:x1] = g.image[sy0:sy1, sx0:sx1]
            mask_dest[y0:y1, x0:x1] = g.footprint[sy0:sy1, sx0:sx1]
            inside = _inside_integer(g.integral, dx, dy)
        if spec.flux_scale != 1.0:
            dest *= np.float32(spec.flux_scale)
        return _out_fraction(inside, g.flux)

    def _warp(self, g: CleanedGalaxy, spec: BlendSpec, dest: np.ndarray, mask_dest: np.ndarray) -> float:
        h, w = self.shape
        m = affine_matrix(spec, self.shape)
        flags = cv2.WARP_INVERSE_MAP
        # start from the galaxy's noise field; the warp overwrites the pixels its stamp covers
        # (BORDER_TRANSPARENT keeps the field where the source falls outside, blending at the edge)
        np.copyto(dest, g.fill)
        cv2.warpAffine(g.image, m, (w, h), dst=dest, flags=cv2.INTER_LINEAR | flags,
                       borderMode=cv2.BORDER_TRANSPARENT)
        # nearest sampling of a 0/1 footprint writes 0/1 bytes: straight into the boolean mask
        cv2.warpAffine(g.footprint.view(np.uint8), m, (w, h), dst=mask_dest.view(np.uint8),
                       flags=cv2.INTER_NEAREST | flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        inside = float(dest[mask_dest].sum(dtype=np.float64)) / _abs_det(m)
        if spec.flux_scale != 1.0:
            dest *= np.float32(spec.flux_scale)
        return _out_fraction(inside, g.flux)


#: Output bytes of a streamed batch by default (:meth:`BlendEngine.stream_batch_size`). Rendered into a buffer
#: this small and reused, the blends stay in the CPU's caches until the consumer has used them; 256 blends of
#: 128 px (57 MB) go out to memory and back, which costs more than the rendering (whole-pixel blends, one core of
#: the 2-core bench machine: ~45,000 blends/s at 12-32 blends a batch, ~27,000 at 256).
STREAM_BATCH_BYTES = 4 << 20
#: Fewer warped blends than this per thread are rendered by one thread (a hand-off costs ~50 µs, 8 warps ~1 ms).
MIN_BLENDS_PER_THREAD = 8
_POOL: Any = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def default_render_threads() -> int:
    """Threads a :class:`BlendEngine` renders with by default: ``CANDELS_GUI_RENDER_THREADS`` when set,
    else this machine's cores, at most 4 (beyond that memory bandwidth, not cores, bounds the copies)."""
    value = os.environ.get("CANDELS_GUI_RENDER_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"CANDELS_GUI_RENDER_THREADS must be a whole number, got {value!r}") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _render_pool(threads: int) -> Any:
    """The process's rendering threads (grown to ``threads`` when a batch asks for more)."""
    global _POOL, _POOL_SIZE
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL_SIZE < threads:
            _POOL, _POOL_SIZE = ThreadPoolExecutor(threads, thread_name_prefix="blend-render"), threads
        return _POOL


def _inside_integer(s: np.ndarray, dx: int, dy: int) -> float:
    """Footprint flux still inside the stamp after a whole-pixel shift, from its summed-area table."""
    h, w = s.shape[0] - 1, s.shape[1] - 1
    y0, y1, x0, x1 = max(0, dy), min(h, h + dy), max(0, dx), min(w, w + dx)
    if y0 >= y1 or x0 >= x1:
        return 0.0
    sy0, sy1, sx0, sx1 = y0 - dy, y1 - dy, x0 - dx, x1 - dx
    return float(s[sy1, sx1] - s[sy0, sx1] - s[sy1, sx0] + s[sy0, sx0])


def _out_fraction(inside: float, total: float) -> float:
    if total <= 0:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - inside / total)))

