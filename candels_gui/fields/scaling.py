"""The intensity scaling of a field for the SGAN, and its exact inverse (numpy only).

As in Smith & Geach (2019) the only preprocessing is a clip per band: values above the 99.99th percentile
(and below the 0.01th, for the rare negative artefacts) are clipped. The clipped range is then mapped onto
[-1, 1], the range of the generator's ``tanh`` output, either linearly (``"linear"``, the paper's choice) or
through ``arcsinh(x / a)`` (``"asinh"``, the default) with ``a`` = 3 x the sky noise (1.4826 x MAD of the
band): the noise keeps a resolvable share of the range instead of 1 % of it, and bright cores are
compressed. Both maps are strictly increasing, so :meth:`FieldScaling.inverse` brings generated values
back to the input's units exactly (within the clip range).

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(0, 1, (1, 64, 64)).astype(np.float32)
>>> s = FieldScaling.fit(x)
>>> y = s.forward(x)
>>> bool(y.min() >= -1 and y.max() <= 1)
True
>>> bool(np.allclose(s.inverse(y), np.clip(x, s.lo[0], s.hi[0]), atol=1e-5))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import DataError

__all__ = ["FieldScaling", "SCALINGS", "CLIP_PERCENTILES"]

SCALINGS = ("asinh", "linear")
#: Lower and upper clip percentiles.
CLIP_PERCENTILES = (0.01, 99.99)
_SAMPLE = 4_000_000   # pixels per band the percentiles are measured on (a regular sub-grid beyond that)


def _sample(band: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil(np.sqrt(band.size / _SAMPLE))))
    return np.asarray(band[::step, ::step], np.float64).ravel()


@dataclass(frozen=True)
class FieldScaling:
    """Per-band clip range and map onto [-1, 1].

    Attributes
    ----------
    kind : {'asinh', 'linear'}
    lo, hi : tuple of float
        Clip range of each band (the 0.01th and 99.99th percentiles).
    softening : tuple of float
        ``a`` of the asinh map per band (unused by ``linear``).
    """

    kind: str
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    softening: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in SCALINGS:
            raise DataError(f"unknown scaling {self.kind!r}; expected one of {SCALINGS}")
        if not (len(self.lo) == len(self.hi) and len(self.lo) >= 1):
            raise DataError("scaling needs one clip range per band")
        for lo, hi in zip(self.lo, self.hi):
            if not hi > lo:
                raise DataError(f"a band has no dynamic range (99.99th percentile {hi} <= 0.01th {lo}): "
                                "is the image constant?")

    @property
    def bands(self) -> int:
        return len(self.lo)

    @classmethod
    def fit(cls, image: np.ndarray, kind: str = "asinh") -> "FieldScaling":
        """Measure the clip range (and the asinh softening) of each band of ``image`` ((C, H, W) or (H, W))."""
        img = image[None] if image.ndim == 2 else image
        los, his, soft = [], [], []
        for band in img:
            s = _sample(band)
            if not np.all(np.isfinite(s)):
                raise DataError("the image holds NaN or infinite values; crop or fill them before training")
            lo, hi = np.percentile(s, CLIP_PERCENTILES)
            med = np.median(s)
            mad = 1.4826 * np.median(np.abs(s - med))
            los.append(float(lo))
            his.append(float(hi))
            soft.append(float(3.0 * mad) if mad > 0 else float((hi - lo) / 100.0))
        return cls(kind, tuple(los), tuple(his), tuple(soft))

    def _bounds(self, b: int) -> tuple[float, float]:
        if self.kind == "linear":
            return self.lo[b], self.hi[b]
        a = self.softening[b]
        return float(np.arcsinh(self.lo[b] / a)), float(np.arcsinh(self.hi[b] / a))

    def forward(self, image: np.ndarray) -> np.ndarray:
        """Clip and map ``image`` ((C, H, W) or (H, W)) onto [-1, 1], float32."""
        img = image[None] if image.ndim == 2 else image
        if img.shape[0] != self.bands:
            raise DataError(f"the image has {img.shape[0]} band(s); this scaling has {self.bands}")
        out = np.empty(img.shape, np.float32)
        for b in range(self.bands):
            x = np.clip(np.asarray(img[b], np.float64), self.lo[b], self.hi[b])
            if self.kind == "asinh":
                x = np.arcsinh(x / self.softening[b])
            t0, t1 = self._bounds(b)
            out[b] = 2.0 * (x - t0) / (t1 - t0) - 1.0
        return out[0] if image.ndim == 2 else out

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Map values in [-1, 1] back to the input's units (float32); outside values are clipped first."""
        arr = scaled[None] if scaled.ndim == 2 else scaled
        out = np.empty(arr.shape, np.float32)
        for b in range(self.bands):
            t0, t1 = self._bounds(b)
            x = t0 + (np.clip(np.asarray(arr[b], np.float64), -1.0, 1.0) + 1.0) * 0.5 * (t1 - t0)
            if self.kind == "asinh":
                x = self.softening[b] * np.sinh(x)
            out[b] = x
        return out[0] if scaled.ndim == 2 else out

    def to_card(self) -> dict[str, Any]:
        """Plain values for a model card."""
        return {"kind": self.kind, "lo": list(self.lo), "hi": list(self.hi), "softening": list(self.softening),
                "clip_percentiles": list(CLIP_PERCENTILES)}

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "FieldScaling":
        """The scaling written by :meth:`to_card`."""
        try:
            return cls(str(card["kind"]), tuple(float(v) for v in card["lo"]),
                       tuple(float(v) for v in card["hi"]),
                       tuple(float(v) for v in card.get("softening", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"model card has no valid field scaling ({exc})") from exc


def as_bands(image: np.ndarray) -> np.ndarray:
    """``image`` as (C, H, W)."""
    return image[None] if image.ndim == 2 else image

