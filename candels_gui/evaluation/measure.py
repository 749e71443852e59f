"""Measure deblender results against the truth: one path for ``candels-gui evaluate`` and the app's Compare view.

:func:`measure_results` turns deblender results into the per-blend table of
:func:`~candels_gui.core.metrics_binned.per_blend_table` (flux-only results matched by order),
:func:`summarize_results` into the summary, and :func:`select_brighter` keeps the blends of two galaxies
brighter than a magnitude.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
from astropy.table import Table

from ..core.export import ExportData
from ..core.labels import DEFAULT_ZEROPOINT, flux_to_mag
from ..core.metrics_binned import Prediction, Truth, per_blend_table, summarize_table
from ..deblend import DeblendResult
from ..deblend.base import catalog_table, region_fluxes, split_by_footprints

__all__ = ["FLUX_ONLY_UNMEASURED", "ORACLES", "REFERENCES", "isolated_fluxes", "measure_results", "oracle_results",
           "summarize_results", "to_prediction", "select_brighter"]

#: Summary keys a flux-only deblender (``Deblender.flux_only``) does not measure: reported as NaN.
FLUX_ONLY_UNMEASURED = ("precision", "recall", "f1", "iou_mean", "rmse", "psnr", "ssim")


#: What the true fluxes of an evaluation are: the catalogue's, or measured on the isolated images.
REFERENCES = ("catalogue", "isolated")


def isolated_fluxes(isolated: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, 2) float64 fluxes of true isolated galaxy images (N, 2, H, W), each summed over its true
    footprint (N, 2, H, W) grown by :data:`~candels_gui.deblend.base.FLUX_REGION_RADIUS` pixels (the whole
    image when the footprint is empty): the aperture the image models measure with
    (:func:`~candels_gui.deblend.base.region_fluxes`)."""
    return region_fluxes(isolated, masks)


#: Measurements of the truth itself (``evaluate --oracle``): what each way of measuring fluxes gives when the
#: deblending is perfect, the floor under every deblender that measures that way.
ORACLES = {
    "truth-footprints": "the blend split over the true footprints as unet-seg splits over its own "
                        "(split_by_footprints: grown by 4 px, in proportion to each galaxy's own light)",
    "truth-isolated": "the true isolated images, fluxes summed over the true footprints grown by 4 px "
                      "(the image models' aperture; with --reference isolated, zero error by construction)",
}


def oracle_results(name: str, blends: np.ndarray, truth: Truth) -> list[DeblendResult]:
    """The results of the oracle ``name`` (:data:`ORACLES`) on blends (B, H, W) whose truth is ``truth``:
    true positions and footprints, and the images and fluxes of that way of measuring."""
    if name not in ORACLES:
        raise ValueError(f"unknown oracle {name!r}; oracles: {', '.join(ORACLES)}")
    out = []
    for blend, pos, seg, isolated in zip(blends, truth.positions, truth.masks, truth.isolated):
        if name == "truth-footprints":
            img = split_by_footprints(blend, seg)
            flux = img.astype(np.float64).sum(axis=(1, 2))
        else:
            img = np.asarray(isolated, np.float32)
            flux = region_fluxes(img, seg)
        out.append(DeblendResult(catalog_table(pos[:, 0], pos[:, 1], flux), seg, img, name=name,
                                 params={"oracle": ORACLES[name]}, device="truth"))
    return out

def measure_results(truth: Truth, results: Sequence[DeblendResult], *, images: bool = True,
                    max_separation: float | None = None) -> Table:
    """:func:`~candels_gui.core.metrics_binned.per_blend_table` of deblender results.

    A flux-only result (``result.flux_only``: fluxes in galaxy order, no positions or footprints) is
    matched to the galaxies by order; its IoU is NaN and its detection counts zero (it detects nothing).
    """
    preds = [to_prediction(r, images=images) for r in results]
    flux_only = [bool(r.flux_only) for r in results]
    preds = [Prediction(truth.positions[i], p.segmentation, None, p.fluxes) if fo else p
             for i, (p, fo) in enumerate(zip(preds, flux_only))]
    table = per_blend_table(truth, preds, max_separation=max_separation)
    rows = np.flatnonzero(flux_only)
    if rows.size:
        for col in ("iou_1", "iou_2"):
            table[col][rows] = np.nan
        for col in ("n_det", "tp", "fp", "fn"):
            table[col][rows] = 0
    return table


def summarize_results(table: Table, *, flux_only: bool = False) -> dict[str, float | int]:
    """:func:`~candels_gui.core.metrics_binned.summarize_table`, with the figures a flux-only deblender
    does not measure (:data:`FLUX_ONLY_UNMEASURED`) as NaN."""
    summary = summarize_table(table)
    if flux_only:
        summary.update({k: math.nan for k in FLUX_ONLY_UNMEASURED})
    return summary


def to_prediction(result: DeblendResult, *, images: bool = True) -> Prediction:
    """A :class:`~candels_gui.core.metrics_binned.Prediction` from a :class:`DeblendResult`.

    ``images=False`` leaves the source images out (no reconstruction metrics).
    """
    cat = result.catalog
    pos = np.column_stack([np.asarray(cat["x"], np.float64), np.asarray(cat["y"], np.float64)])
    if not np.isfinite(pos).all():
        raise ValueError(f"{result.name}: a detection has a non-finite position {pos.tolist()}")
    return Prediction(pos, result.segmentation, result.images if images else None,
                      np.asarray(cat["flux"], np.float64))


def select_brighter(export: ExportData, mag_high: float, zeropoint: float = DEFAULT_ZEROPOINT
                    ) -> tuple[ExportData, np.ndarray]:
    """The blends of ``export`` whose two galaxies have true magnitudes ``< mag_high``.

    Returns
    -------
    (ExportData, ndarray)
        The selected blends (every per-blend array indexed alike) and their indices in ``export``.

    Examples
    --------
    >>> bright, index = select_brighter(export, 23.5)   # doctest: +SKIP
    """
    flux = np.asarray(export.fluxes, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mags = flux_to_mag(flux, zeropoint)
    index = np.flatnonzero(np.all(np.nan_to_num(mags, nan=np.inf) < float(mag_high), axis=1))

    def pick(a: Any) -> Any:
        return None if a is None else np.asarray(a)[index]
    return replace(export, images=pick(export.images), fluxes=pick(export.fluxes),
                   catalog=export.catalog[index], specs=[export.specs[i] for i in index],
                   isolated=pick(export.isolated), masks=pick(export.masks), labels=pick(export.labels),
                   flux_out_frac=pick(export.flux_out_frac)), index
