"""Measure deblender results against the truth: one path for ``candels-gui evaluate`` and the app's Compare view.

:func:`measure_results` turns deblender results into the per-blend table of
:func:`~candels_gui.core.measure.binned.per_blend_table` (flux-only results matched by order),
:func:`summarize_results` into the summary, and :func:`select_brighter` keeps the blends of two galaxies
brighter than a magnitude.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
from astropy.table import Table

from ..core.store.export import ExportData
from ..core.blending.labels import DEFAULT_ZEROPOINT, flux_to_mag
from ..core.measure.binned import Prediction, Truth, per_blend_table, summarize_table
from ..core.data.sample_labels import detect_label, sky_noise
from ..deblend import DeblendResult
from ..deblend.base import catalog_table, noise_per_image, region_fluxes, split_by_footprints

__all__ = ["FLUX_ONLY_UNMEASURED", "ORACLES", "REFERENCES", "isolated_fluxes", "measure_results", "oracle_results",
           "relabelled_footprints", "summarize_results", "to_prediction", "select_brighter"]

#: Summary keys a flux-only deblender (``Deblender.flux_only``) does not measure: reported as NaN.
FLUX_ONLY_UNMEASURED = ("precision", "recall", "f1", "iou_mean", "rmse", "psnr", "ssim", "shape_err", "shape_fail")


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
    "truth-relabelled": "the sample data's labeller (1.5 sigma on the smoothed image, 10 px) re-run on each true "
                        "isolated image with sky noise of the companion's level added, seeded per blend; the blend "
                        "split over those footprints: how far the labels themselves move under the blend's extra "
                        "noise (a reference for IoU, not a bound)",
}
#: Seed of the ``truth-relabelled`` oracle's noise: blend ``row`` draws from ``default_rng([RELABEL_SEED, row])``.
RELABEL_SEED = 0x7E1A


def relabelled_footprints(isolated: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The footprints the sample data's labeller gives each galaxy of a blend when the blend's extra noise
    is added to its image.

    Each true isolated image (2, H, W) gets sky noise (:func:`~candels_gui.core.data.sample_labels.sky_noise`) at
    the other galaxy's noise level (:func:`~candels_gui.deblend.base.noise_per_image`), as the blend holds
    both stamps' noise, and is detected as the labeller detects
    (:func:`~candels_gui.core.data.sample_labels.detect_label`, at its own noise level); the galaxy's footprint is
    the detection that overlaps its true footprint (2, H, W) most (empty when none does).

    Returns
    -------
    ndarray (2, H, W) bool
    """
    images = np.asarray(isolated, np.float32)
    sigma = noise_per_image(images)
    out = np.zeros(images.shape, bool)
    for g in range(len(images)):
        noisy = images[g] + sky_noise(rng, images.shape[1:], float(sigma[1 - g]))
        segm = detect_label(noisy, float(sigma[g]))[1]
        if segm is None:
            continue
        labels = np.asarray(segm.data)
        overlap = np.bincount(labels[np.asarray(masks[g], bool)], minlength=int(labels.max()) + 1)
        overlap[0] = 0
        if overlap.max() > 0:
            out[g] = labels == int(overlap.argmax())
    return out


def oracle_results(name: str, blends: np.ndarray, truth: Truth,
                   rows: Sequence[int] | None = None) -> list[DeblendResult]:
    """The results of the oracle ``name`` (:data:`ORACLES`) on blends (B, H, W) whose truth is ``truth``:
    true positions and footprints (``truth-relabelled``: :func:`relabelled_footprints`, the noise of blend
    ``rows[i]`` drawn from ``default_rng([RELABEL_SEED, rows[i]])``; default rows 0..B-1), and the images
    and fluxes of that way of measuring."""
    if name not in ORACLES:
        raise ValueError(f"unknown oracle {name!r}; oracles: {', '.join(ORACLES)}")
    rows = range(len(blends)) if rows is None else rows
    out = []
    for blend, pos, seg, isolated, row in zip(blends, truth.positions, truth.masks, truth.isolated, rows):
        if name == "truth-relabelled":
            seg = relabelled_footprints(isolated, seg, np.random.default_rng([RELABEL_SEED, int(row)]))
        if name != "truth-isolated":
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
    """:func:`~candels_gui.core.measure.binned.per_blend_table` of deblender results.

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
    """:func:`~candels_gui.core.measure.binned.summarize_table`, with the figures a flux-only deblender
    does not measure (:data:`FLUX_ONLY_UNMEASURED`) as NaN."""
    summary = summarize_table(table)
    if flux_only:
        summary.update({k: math.nan for k in FLUX_ONLY_UNMEASURED})
    return summary


def to_prediction(result: DeblendResult, *, images: bool = True) -> Prediction:
    """A :class:`~candels_gui.core.measure.binned.Prediction` from a :class:`DeblendResult`.

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
