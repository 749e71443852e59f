"""What an evaluation gives: :class:`EvaluationResult`, its summary table and JSON, and a readable text form.

:func:`~candels_gui.evaluation.evaluate.evaluate` makes one; :func:`~candels_gui.evaluation.report.write_report`
writes its files. This module depends on neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from astropy.table import Table

from ..core.blending.labels import DEFAULT_ZEROPOINT
from ..core.measure.binned import SUMMARY_KEYS
from ..core.measure.json_out import json_ready

__all__ = ["EvaluationResult", "SUMMARY_UNITS", "summary_json", "format_summary"]

#: Unit of every summary key ("" = dimensionless; rmse/psnr are in the images' flux units / dB).
SUMMARY_UNITS = {"precision": "", "recall": "", "f1": "", "iou_mean": "", "flux_mape": "%",
                 "dmag_mean": "mag", "dmag_sigma": "mag", "outlier_frac": "", "rmse": "",
                 "psnr": "dB", "ssim": "", "shape_err": "", "shape_fail": "", "n_blends": ""}

_DESCRIPTIONS = {
    "precision": "TP / (TP + FP), detections pooled over blends",
    "recall": "TP / (TP + FN), detections pooled over blends",
    "f1": "harmonic mean of precision and recall",
    "iou_mean": "mean IoU of each true galaxy with its matched footprint (0 when missed)",
    "flux_mape": "mean absolute percentage error of the fluxes (missed galaxy: 100 %)",
    "dmag_mean": "mean of m_pred - m_true over galaxies with |dmag| <= 0.75",
    "dmag_sigma": "standard deviation of m_pred - m_true over galaxies with |dmag| <= 0.75",
    "outlier_frac": "fraction of galaxies with |dmag| > 0.75 or no positive flux",
    "rmse": "root-mean-square error of the deblended images (image flux units)",
    "psnr": "peak signal-to-noise ratio of the deblended images",
    "ssim": "structural similarity of the deblended images",
    "shape_err": "mean |g_pred - g_true| of the ellipticities (GalSim HSM adaptive moments)",
    "shape_fail": "fraction of the galaxies with a true shape whose deblended image has none",
    "n_blends": "number of blends evaluated",
}


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns.

    Attributes
    ----------
    data_path : str
        The export that was read.
    split : str or None
        Its split (``None`` for an unsplit export).
    n_blends : int
        Blends evaluated (after ``limit``).
    summaries : dict
        Deblender name -> summary (keys :data:`~candels_gui.core.measure.binned.SUMMARY_KEYS`).
    tables : dict
        Deblender name -> per-blend :class:`~astropy.table.Table` (the columns of
        :func:`~candels_gui.core.measure.binned.per_blend_table` plus ``blend_id``, ``mag_true_1/2`` and
        ``mag_pred_1/2`` in AB mag).
    devices, params : dict
        Deblender name -> device it ran on, and its parameters.
    skipped : dict
        Deblender name -> why it was not evaluated (a torch model without weights, say).
    notes : list of str
        Caveats about the data (no isolated images, hence no image metrics...).
    max_separation : float or None
        Matching radius used, pixels.
    zeropoint : float
        AB zeropoint of the magnitudes.
    reference : {"catalogue", "isolated"}
        What the true fluxes are (see :func:`evaluate`).
    limit, mag_high : int or None, float or None
        The blends evaluated: the first ``limit`` of those whose two galaxies are brighter than ``mag_high``.
    provenance : dict
        What else reproduces the figures (the command writes its command line, this program's version and
        the SHA-256 of each weights file here).
    """

    data_path: str
    split: str | None
    n_blends: int
    summaries: dict[str, dict[str, float | int]] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    max_separation: float | None = None
    zeropoint: float = DEFAULT_ZEROPOINT
    reference: str = "catalogue"
    limit: int | None = None
    mag_high: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def deblenders(self) -> list[str]:
        """Names of the evaluated deblenders, in order."""
        return list(self.summaries)

    def summary_table(self) -> Table:
        """One row per deblender: ``deblender`` and the summary keys, with units and descriptions."""
        t = Table()
        t["deblender"] = np.array(self.deblenders, dtype=str)
        for key in SUMMARY_KEYS:
            vals = [self.summaries[n][key] for n in self.deblenders]
            t[key] = np.array(vals, dtype=np.int64 if key == "n_blends" else np.float64)
            if SUMMARY_UNITS[key]:
                t[key].unit = SUMMARY_UNITS[key]
            t[key].description = _DESCRIPTIONS[key]
        t.meta.update(self._meta())
        return t

    def to_json(self) -> dict[str, dict[str, float | int | None]]:
        """Deblender name -> summary, JSON-ready (NaN and infinities as ``None``)."""
        return summary_json(self.summaries)

    def _meta(self) -> dict[str, Any]:
        return {"data": self.data_path, "split": self.split, "n_blends": self.n_blends,
                "max_separation": self.max_separation, "zeropoint": self.zeropoint,
                "reference": self.reference, "limit": self.limit, "mag_high": self.mag_high,
                "devices": dict(self.devices), "skipped": dict(self.skipped), "notes": list(self.notes),
                **self.provenance}


def summary_json(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Summaries with plain Python numbers and ``None`` for NaN / infinity (valid strict JSON).

    Examples
    --------
    >>> summary_json({"sep": {"recall": float("nan"), "n_blends": np.int64(3)}})
    {'sep': {'recall': None, 'n_blends': 3}}
    """
    return json_ready({name: dict(s) for name, s in summaries.items()})


# ------------------------------------------------------------------------------------------ output
def _fmt(key: str, v: Any) -> str:
    if key == "n_blends":
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if key == "flux_mape":
        return f"{v:.1f}"
    if key in ("psnr",):
        return f"{v:.2f}"
    if key == "rmse":
        return f"{v:.3g}"
    return f"{v:.3f}"


def format_summary(result: EvaluationResult) -> str:
    """A readable table: one row per deblender, one column per summary key (units in brackets).

    Examples
    --------
    >>> print(format_summary(result))   # doctest: +SKIP
    """
    heads = ["deblender"] + [f"{k}[{SUMMARY_UNITS[k]}]" if SUMMARY_UNITS[k] else k for k in SUMMARY_KEYS]
    rows = [[name] + [_fmt(k, result.summaries[name][k]) for k in SUMMARY_KEYS]
            for name in result.deblenders]
    widths = [max(len(r[i]) for r in [heads] + rows) for i in range(len(heads))]
    line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])  # noqa: E731
                               for i, c in enumerate(r))
    where = f"{result.split} split of {result.data_path}" if result.split else result.data_path
    sep = "none" if result.max_separation is None else f"{result.max_separation:g} px"
    out = [f"{result.n_blends} blends ({where}); matching radius: {sep}", line(heads),
           line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)
