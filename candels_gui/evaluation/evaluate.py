"""Evaluate deblenders on an export: truth from the export, predictions from the deblenders, metrics.

:func:`evaluate` is a job generator (yields :class:`~candels_gui.core.jobs.Progress`, checks a
:class:`~candels_gui.core.jobs.CancelToken`) that reads one split of an export (any output of ``produce``
or of an export: folder, HDF5 or FITS file), builds the :class:`~candels_gui.core.measure.binned.Truth`
(galaxy 1 at the stamp centre ``(W//2, H//2)``, galaxy 2 moved by the spec's ``(dx, dy)``), runs every
deblender batch by batch and measures its output with
:func:`~candels_gui.core.measure.binned.per_blend_table`. The result holds one summary per deblender
(exactly :data:`~candels_gui.core.measure.binned.SUMMARY_KEYS`) and its per-blend table.
:func:`write_report` writes them (``metrics.ecsv``, ``metrics.json``, ``per_blend_<name>.ecsv``);
:mod:`candels_gui.evaluation.plots` draws the figures.

Blends are deblended and measured ``batch_size`` at a time, so memory holds only the export and the
per-blend tables, not every deblended image.

Examples
--------
>>> from candels_gui.core.jobs import run_job
>>> result = run_job(evaluate("output-s_42-n_1500", ["photutils", "sep"], split="test"))  # doctest: +SKIP
>>> result.summaries["sep"]["recall"]                                                    # doctest: +SKIP
>>> write_report(result, "evaluation")                                                   # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
from astropy.table import Table, vstack

from ..core.errors import DataError
from ..core.store.export import ExportData, read_export
from ..core.store.export_open import default_split  # the split evaluate reads when none is named
from ..core.jobs import CancelToken, Job, Progress, check_cancel, run_job
from ..core.blending.labels import DEFAULT_ZEROPOINT, flux_to_mag
from ..core.measure.binned import Truth
from ..deblend import Deblender, available, get
from ..deblend.base import FLUX_REGION_RADIUS
from .measure import (FLUX_ONLY_UNMEASURED, ORACLES, REFERENCES, isolated_fluxes, measure_results, oracle_results,
                      select_brighter, summarize_results, to_prediction)
from .report import write_report
from .result import SUMMARY_UNITS, EvaluationResult, format_summary, summary_json

__all__ = ["EvaluationResult", "evaluate", "resolve_deblenders", "truth_from_export", "to_prediction",
           "write_report", "format_summary", "summary_json", "SUMMARY_UNITS", "default_split",
           "select_brighter", "measure_results", "summarize_results", "FLUX_ONLY_UNMEASURED",
           "manifest_zeropoint", "add_blend_columns"]
# (some re-exported from .measure and .result)

# ------------------------------------------------------------------------------------- deblenders
def resolve_deblenders(deblenders: str | Sequence[str | Deblender] | None = None
                       ) -> tuple[dict[str, Deblender], dict[str, str]]:
    """Build the deblenders to evaluate.

    Parameters
    ----------
    deblenders : str, sequence of str or Deblender, or None
        Registry names (a comma-separated string works too) or ready :class:`Deblender` instances.
        ``None``: every registered deblender that can be built; those whose weights (or torch) are
        missing are skipped.

    Returns
    -------
    (built, skipped) : (dict name -> Deblender, dict name -> reason)

    Raises
    ------
    ValueError
        For an unknown name, an empty list, or a named deblender that cannot be built.
    FileNotFoundError
        For a named torch model without weights.
    """
    explicit = deblenders is not None
    if isinstance(deblenders, str):
        deblenders = [s.strip() for s in deblenders.split(",") if s.strip()]
    items: Sequence[str | Deblender] = available() if deblenders is None else deblenders
    if explicit and not items:
        raise ValueError(f"no deblender named; available: {', '.join(available())}")
    built: dict[str, Deblender] = {}
    skipped: dict[str, str] = {}
    for item in items:
        if isinstance(item, Deblender):
            name = item.name or type(item).__name__
            built.setdefault(name, item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"deblenders must be names or Deblender instances, got {item!r}")
        if item in built:
            continue
        try:
            built[item] = get(item)
        except (FileNotFoundError, ImportError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if explicit:
                if isinstance(exc, FileNotFoundError):
                    raise
                raise ValueError(f"deblender {item!r} cannot be built: {reason}") from exc
            skipped[item] = reason
    return built, skipped


# ------------------------------------------------------------------------------------------ truth
def truth_from_export(data: ExportData, *, limit: int | None = None, reference: str = "catalogue"
                      ) -> tuple[Truth, list[str]]:
    """The :class:`~candels_gui.core.measure.binned.Truth` of the first ``limit`` blends of an export.

    Galaxy 1 sits at pixel ``(W//2, H//2)`` and galaxy 2 at that plus the spec's ``(dx, dy)``; masks,
    isolated images and fluxes come from the export. An export without isolated images (the npy layout
    with mask labels) gets NaN images: image metrics and blendedness are then NaN, and a note says so.
    ``reference="isolated"`` takes the true fluxes from the isolated images instead of the catalogue
    (:func:`~candels_gui.evaluation.measure.isolated_fluxes`).

    Returns
    -------
    (truth, notes)

    Raises
    ------
    DataError
        When the export has no masks (npy ``single_images`` layout) or its arrays disagree in length.
    """
    where = f"{data.path}" + (f" (split {data.split})" if data.split else "")
    n = len(data.images) if limit is None else min(int(limit), len(data.images))
    if data.images.ndim != 3:
        raise DataError(f"{where}: blend images must be (N, H, W), got {data.images.shape}")
    h, w = data.images.shape[1:]
    if data.masks is None:
        raise DataError(f"{where}: the export holds no galaxy masks (label method "
                        f"{data.label_method}); evaluate needs them: use a produce output, an HDF5 or "
                        f"FITS export, or an npy export with mask labels")
    if len(data.specs) < n or len(data.fluxes) < n or len(data.masks) < n:
        raise DataError(f"{where}: {len(data.images)} images but {len(data.specs)} specs, "
                        f"{len(data.fluxes)} flux rows and {len(data.masks)} masks")
    if np.shape(data.masks)[1:] != (2, h, w):
        raise DataError(f"{where}: masks must be (N, 2, {h}, {w}), got {np.shape(data.masks)}")
    notes: list[str] = []
    if data.isolated is None:
        isolated = np.full((n, 2, h, w), np.nan, np.float32)
        notes.append(f"{where} holds no isolated galaxy images (label method {data.label_method}): "
                     f"rmse, psnr and ssim are not measured")
    else:
        isolated = np.asarray(data.isolated[:n])
    pos = np.empty((n, 2, 2))
    pos[:, :, 0], pos[:, :, 1] = w // 2, h // 2
    pos[:, 1, 0] += [s.dx for s in data.specs[:n]]
    pos[:, 1, 1] += [s.dy for s in data.specs[:n]]
    masks = np.asarray(data.masks[:n])
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if reference == "isolated":
        if data.isolated is None:
            raise DataError(f"{where}: no isolated galaxy images to measure the reference fluxes on")
        fluxes = isolated_fluxes(isolated, masks)
        notes.append("true fluxes measured on the isolated galaxy images (true footprint grown by "
                     f"{FLUX_REGION_RADIUS} px), not the catalogue's")
    else:
        fluxes = np.asarray(data.fluxes[:n], np.float64)
    return Truth(pos, masks, isolated, fluxes), notes


def _zeropoint(data: ExportData) -> float:
    return manifest_zeropoint(data.manifest)


def manifest_zeropoint(manifest: dict[str, Any] | None) -> float:
    """The AB zeropoint an export's manifest records (its options', else its input's; else the default)."""
    man = manifest or {}
    for section in ("options", "input"):
        zp = (man.get(section) or {}).get("zeropoint")
        if zp is not None:
            return float(zp)
    return DEFAULT_ZEROPOINT


# -------------------------------------------------------------------------------------- evaluation
def evaluate(data: str | os.PathLike | ExportData, deblenders: str | Sequence[str | Deblender] | None = None,
             *, split: str | None = None, limit: int | None = None, max_separation: float | None = None,
             mag_high: float | None = None, reference: str = "catalogue", oracle: bool = False,
             batch_size: int = 32, cancel: CancelToken | None = None) -> Job:
    """Job generator: evaluate deblenders on one split of an export; returns an :class:`EvaluationResult`.

    Parameters
    ----------
    data : path or ExportData
        A produce output folder, an export folder, HDF5 or FITS file (or one read already).
    deblenders : str, sequence of str or Deblender, optional
        Names (``"photutils,sep"`` or ``["photutils", "sep"]``) or instances. Default: every registered
        deblender that can be built (torch models without weights are skipped, see ``result.skipped``).
    split : str, optional
        Split to read; default ``test`` when present, else the only one.
    limit : int, optional
        Evaluate the first ``limit`` blends only (of those ``mag_high`` keeps).
    mag_high : float, optional
        Evaluate only the blends whose two galaxies are both brighter than this true AB magnitude (from
        the export's fluxes): photometry of faint galaxies is noise-limited, this isolates the rest. The
        per-blend tables' ``blend`` column keeps the blends' indices in the whole split.
    max_separation : float, optional
        Detections farther than this (pixels) from a true galaxy are never matched to it.
    reference : {"catalogue", "isolated"}
        True fluxes: the catalogue's (whole galaxies; faint ones are noise-limited in any stamp), or the
        fluxes measured on the true isolated images over their footprints grown by 4 px, the aperture of
        the image models (the error of deblending alone, as Boucaud et al. compare with photometry of the
        isolated galaxies).
    oracle : bool
        Also measure the truth itself as the deblenders' outputs are measured (:data:`~.measure.ORACLES`:
        ``truth-footprints``, ``truth-isolated``): the floor of each way of measuring fluxes; and
        ``truth-relabelled``, the labeller re-run through the blend's extra noise (a reference for IoU).
    batch_size : int
        Blends per deblender call (and per progress step).
    cancel : CancelToken, optional
        Checked between batches (raises :class:`~candels_gui.core.errors.Cancelled`).

    Yields
    ------
    Progress
        ``done`` / ``total`` = blends deblended and measured over all deblenders.

    Examples
    --------
    >>> from candels_gui.core.jobs import run_with_progress
    >>> res = run_with_progress(evaluate("out", "photutils,sep", limit=100))   # doctest: +SKIP
    >>> res.summaries["photutils"]["f1"]                                       # doctest: +SKIP
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if max_separation is not None and not float(max_separation) >= 0:
        raise ValueError(f"max_separation must be >= 0 pixels, got {max_separation}")
    if mag_high is not None and not math.isfinite(float(mag_high)):
        raise ValueError(f"mag_high must be a finite magnitude, got {mag_high}")
    built, skipped = resolve_deblenders(deblenders)
    if not built:
        raise ValueError("no deblender can be evaluated: "
                         + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    if isinstance(data, ExportData):
        export = data
    else:
        # memory-mapped npy, Zarr read as indexed: only the blends evaluated are read (--limit on a big store)
        export = read_export(data, split=split if split is not None else default_split(data), mmap=True)
    zp = _zeropoint(export)
    index = np.arange(len(export.images))
    if mag_high is not None:
        export, index = select_brighter(export, float(mag_high), zp)
    truth, notes = truth_from_export(export, limit=limit, reference=reference)
    if split is None and export.split == "train":
        # no test split (produce -t 0): the blends evaluated are those a network may have been trained on
        notes.append("the export has no test split: its train split is evaluated (blends a network trained on this "
                     "export has seen)")
    n = len(truth)
    if n == 0:
        cut = "" if mag_high is None else f" with both galaxies brighter than {float(mag_high):g} mag"
        raise DataError(f"{export.path}: split {export.split} holds no blends{cut}")
    if mag_high is not None:
        notes.append(f"only the {len(index)} blends whose two galaxies are brighter than "
                     f"{float(mag_high):g} mag (AB, zeropoint {zp:g})"
                     + (f"; the first {n} of them evaluated (--limit)" if n < len(index) else ""))
    has_images = export.isolated is not None
    result = EvaluationResult(str(export.path), export.split, n, skipped=skipped, notes=notes,
                              max_separation=None if max_separation is None else float(max_separation),
                              zeropoint=zp, reference=reference, limit=limit,
                              mag_high=None if mag_high is None else float(mag_high))
    if oracle and not has_images:
        raise DataError(f"{export.path}: no isolated galaxy images, so no truth to measure as an oracle")
    images = export.images
    step = int(batch_size)
    runners: dict[str, Any] = {
        name: (lambda a, b, d=deblender: run_job(d.iter_run(np.asarray(images[a:b]), step, cancel)))
        for name, deblender in built.items()}
    if oracle:
        runners.update({name: (lambda a, b, o=name: oracle_results(o, np.asarray(images[a:b]),
                                                                    truth[a:b], index[a:b]))
                        for name in ORACLES})
    total = n * len(runners)
    yield Progress(0, total, "evaluating")
    if has_images and (oracle or not all(d.flux_only for d in built.values())):
        truth.galaxy_shapes        # the true galaxies' shapes, measured once for every deblender with images
    for k, (name, run_batch) in enumerate(runners.items()):
        parts = []
        for a in range(0, n, step):
            check_cancel(cancel)
            b = min(n, a + step)
            results = run_batch(a, b)
            part = measure_results(truth[a:b], results, images=has_images,
                                   max_separation=max_separation)
            part["blend"] = index[a:b]
            parts.append(part)
            yield Progress(k * n + b, total, f"{name}: {b}/{n} blends")
        table = vstack(parts, metadata_conflicts="silent")
        _add_columns(table, export, zp)
        deblender = built.get(name)
        device = deblender.device if deblender is not None else "truth"
        params = deblender.params if deblender is not None else {"oracle": ORACLES[name]}
        table.meta.update({"deblender": name, "device": device, "params": params,
                           **{k_: v for k_, v in result._meta().items() if k_ not in ("devices", "skipped")}})
        result.tables[name] = table
        result.summaries[name] = summarize_results(table, flux_only=bool(deblender and deblender.flux_only))
        result.devices[name] = device
        result.params[name] = params
    return result


def _add_columns(table: Table, export: ExportData, zp: float) -> None:
    n = len(table)
    add_blend_columns(table, export.catalog["id"][:n] if "id" in export.catalog.colnames else None, zp)


def add_blend_columns(table: Table, ids: Any, zp: float) -> None:
    """Add ``blend_id`` (the catalogue's ``id`` of each row, when given) and the true and predicted
    magnitudes (zeropoint ``zp``) to a per-blend table; units on ``separation`` and ``delta_mag``."""
    if ids is not None:
        table.add_column(np.asarray(ids), name="blend_id", index=1)
    for g in (1, 2):
        table[f"mag_true_{g}"] = flux_to_mag(np.asarray(table[f"flux_true_{g}"], float), zp)
        table[f"mag_pred_{g}"] = flux_to_mag(np.asarray(table[f"flux_pred_{g}"], float), zp)
        table[f"mag_true_{g}"].unit = table[f"mag_pred_{g}"].unit = "mag"
    table["separation"].unit = "pix"
    table["delta_mag"].unit = "mag"
