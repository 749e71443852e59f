"""How blended is a blend: separation, magnitude difference, footprint overlap, blendedness.

Blendedness follows Bosch et al. (2018, HSC pipeline) as BlendingToolKit computes it: for galaxy ``i``
with noiseless isolated image ``I_i`` in a scene whose noiseless sum is ``S = sum_j I_j``,

    b_i = 1 - sum(I_i * I_i) / sum(I_i * S)

0 for an isolated galaxy, towards 1 for a galaxy buried under its neighbour. Our isolated images carry
their stamp's noise, so :func:`blendedness` zeroes each one outside its footprint and clips negative
pixels first ("noiseless-ish"); pass ``masks=None`` to use the images as they are.

Examples
--------
>>> import numpy as np
>>> iso = np.zeros((2, 5, 5)); iso[0, 1, 1] = 1.0; iso[1, 3, 3] = 1.0
>>> blendedness(iso, masks=None).tolist()
[0.0, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .engine import Blend, BlendSpec, affine_matrix
from ..data.stampset import StampSet

__all__ = ["separation", "delta_mag", "overlap_fraction", "blendedness", "BlendMetrics",
           "blend_metrics", "blend_fillmask", "fill_fractions"]


def separation(spec: BlendSpec, *, pixel_scale: float | None = None) -> float:
    """Centre-to-centre distance of the two galaxies: pixels, or arcseconds with ``pixel_scale``."""
    d = math.hypot(spec.dx, spec.dy)
    return d * pixel_scale if pixel_scale else d


def delta_mag(mag1: float, mag2: float, flux_scale: float = 1.0) -> float:
    """Magnitude of the (flux-scaled) companion minus the central galaxy's; > 0 = companion fainter.

    Examples
    --------
    >>> round(delta_mag(22.0, 23.0, flux_scale=10.0), 6)
    -1.5
    """
    if not flux_scale > 0:
        raise ValueError(f"flux_scale must be > 0, got {flux_scale}")
    return float(mag2) - 2.5 * math.log10(flux_scale) - float(mag1)


def overlap_fraction(masks: np.ndarray) -> float:
    """Overlap pixels divided by the smaller footprint's pixel count (0 when either is empty).

    Parameters
    ----------
    masks : (2, H, W) bool
    """
    m = np.asarray(masks, dtype=bool)
    if m.ndim != 3 or m.shape[0] != 2:
        raise ValueError(f"masks must have shape (2, H, W), got {m.shape}")
    smaller = min(int(m[0].sum()), int(m[1].sum()))
    if smaller == 0:
        return 0.0
    return int(np.count_nonzero(m[0] & m[1])) / smaller


def blendedness(isolated: np.ndarray, *, masks: np.ndarray | None = None,
                clip_negative: bool = True) -> np.ndarray:
    """Blendedness of every galaxy of a scene (see the module docstring).

    Parameters
    ----------
    isolated : (K, H, W) float
        Isolated image of each galaxy, all on the same pixel grid.
    masks : (K, H, W) bool, optional
        Footprints; each image is zeroed outside its own footprint (suppresses the noise).
    clip_negative : bool
        Set negative pixels to 0 first (noise again).

    Returns
    -------
    ndarray (K,) float64
        ``b_i`` in [0, 1]; 0 for a galaxy with no positive flux.
    """
    iso = np.array(isolated, dtype=np.float64)      # a copy, worked on in place (a preview frame computes it)
    if iso.ndim != 3:
        raise ValueError(f"isolated images must have shape (K, H, W), got {iso.shape}")
    if masks is not None:
        m = np.asarray(masks, dtype=bool)
        if m.shape != iso.shape:
            raise ValueError(f"masks have shape {m.shape} but isolated images have {iso.shape}")
        np.copyto(iso, 0.0, where=~m)
    if clip_negative:
        np.maximum(iso, 0.0, out=iso)
    scene = iso.sum(axis=0)
    flat = iso.reshape(len(iso), -1)
    auto = np.einsum("kp,kp->k", flat, flat)
    cross = flat @ scene.ravel()
    out = np.zeros(len(iso))
    ok = cross > 0
    out[ok] = 1.0 - auto[ok] / cross[ok]
    return np.clip(out, 0.0, 1.0)


def blend_fillmask(stamps: StampSet, spec: BlendSpec) -> np.ndarray:
    """Where each layer of a blend holds no data of its own: (2, H, W) bool.

    Layer 0 is galaxy 1's stamp fill mask (:attr:`StampSet.fillmask`, all False when the data carry
    none). Layer 1 is galaxy 2's, moved with the blend's transform (nearest pixel, as the engine moves
    its footprint), plus the pixels its moved stamp does not cover (the engine fills them with noise).

    Examples
    --------
    >>> fill = blend_fillmask(stamps, spec)          # doctest: +SKIP
    >>> fill.shape                                   # doctest: +SKIP
    (2, 128, 128)
    """
    import cv2

    h, w = stamps.stamp_shape
    out = np.zeros((2, h, w), dtype=bool)
    fill1 = stamps.fill_of(stamps.index_of(spec.id1))
    if fill1 is not None:
        out[0] = fill1
    fill2 = stamps.fill_of(stamps.index_of(spec.id2))
    src = np.zeros((h, w), np.uint8) if fill2 is None else fill2.astype(np.uint8)
    moved = cv2.warpAffine(src, affine_matrix(spec, (h, w)), (w, h),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=1)
    out[1] = moved != 0
    return out


def fill_fractions(masks: np.ndarray, fill: np.ndarray) -> tuple[float, float]:
    """Fraction of each galaxy's footprint (``masks`` (2, H, W)) that lies on its layer's fill (``fill``).

    0 when a footprint is empty. A galaxy cut by its stamp's edge and padded shows a footprint running
    into the fill; a clean stamp gives 0.

    Examples
    --------
    >>> m = np.zeros((2, 4, 4), bool); m[:, :2, :2] = True
    >>> f = np.zeros((2, 4, 4), bool); f[1, 0, :] = True
    >>> fill_fractions(m, f)
    (0.0, 0.5)
    """
    out = []
    for k in range(2):
        n = int(np.count_nonzero(masks[k]))
        out.append(float(np.count_nonzero(masks[k] & fill[k])) / n if n else 0.0)
    return out[0], out[1]


@dataclass(frozen=True)
class BlendMetrics:
    """Numbers that describe one blend (what the editor shows and exports may record).

    Attributes
    ----------
    separation_px : float
    separation_arcsec : float or None
        When the pixel scale is known.
    delta_mag : float
        Companion (after ``flux_scale``) minus central galaxy magnitude.
    overlap_fraction : float
        Overlap pixels / smaller footprint.
    blendedness : (float, float)
        Of galaxy 1 and galaxy 2.
    flux_out_frac : float
        Fraction of galaxy 2's footprint flux pushed out of the stamp.
    fill_fraction : (float, float)
        Fraction of each galaxy's footprint on fill (padding, no data; see :func:`blend_fillmask`).
    """

    separation_px: float
    separation_arcsec: float | None
    delta_mag: float
    overlap_fraction: float
    blendedness: tuple[float, float]
    flux_out_frac: float
    fill_fraction: tuple[float, float] = (0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON types only)."""
        d = asdict(self)
        d["blendedness"] = list(self.blendedness)
        d["fill_fraction"] = list(self.fill_fraction)
        return d


def blend_metrics(blend: Blend, stamps: StampSet) -> BlendMetrics:
    """All :class:`BlendMetrics` of ``blend``, rendered from ``stamps``.

    Examples
    --------
    >>> m = blend_metrics(engine.render(spec), engine.stamps)   # doctest: +SKIP
    >>> m.overlap_fraction                                      # doctest: +SKIP
    0.31
    """
    spec = blend.spec
    mags = stamps.catalog["mag"]
    m1 = float(mags[stamps.index_of(spec.id1)])
    m2 = float(mags[stamps.index_of(spec.id2)])
    b = blendedness(blend.isolated, masks=blend.masks)
    return BlendMetrics(
        separation_px=separation(spec),
        separation_arcsec=separation(spec, pixel_scale=stamps.pixel_scale) if stamps.pixel_scale else None,
        delta_mag=delta_mag(m1, m2, spec.flux_scale),
        overlap_fraction=overlap_fraction(blend.masks),
        blendedness=(float(b[0]), float(b[1])),
        flux_out_frac=float(blend.flux_out_frac),
        fill_fraction=fill_fractions(blend.masks, blend_fillmask(stamps, spec)),
    )
