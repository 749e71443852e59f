"""Measuring for the Compare view, without Qt: deblender results on blends -> core metric tables.

:func:`blend_comparison` measures several deblenders' results on one blend;
:func:`summary_job` (a job generator, run in a worker) measures them over many blends and returns an
:class:`~candels_gui.evaluation.evaluate.EvaluationResult` like ``candels-gui evaluate`` does, so the app
and the command line report the same numbers. Truth comes from the engine (galaxy 1 at the stamp
centre, galaxy 2 moved by the spec's offset, fluxes from the catalog magnitudes); every number from
:func:`~candels_gui.core.measure.binned.per_blend_table` and
:func:`~candels_gui.core.measure.binned.summarize_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from astropy.table import Table, vstack

from ..core.blending.engine import BlendEngine, BlendSpec
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from ..core.blending.labels import blend_fluxes, flux_to_mag
from ..core.measure.binned import Truth
from ..core.data.stampset import StampSet
from ..deblend.base import DeblendResult

if TYPE_CHECKING:   # the evaluation package (h5py, the export readers) loads when a comparison is first made
    from ..evaluation.result import EvaluationResult

__all__ = ["BlendComparison", "blend_comparison", "summary_job"]


@dataclass
class BlendComparison:
    """Several deblenders' results on one blend, measured.

    Attributes
    ----------
    spec : BlendSpec
    image : (H, W) float32
        The blend.
    isolated : (2, H, W) float32
        True galaxy 1 and galaxy 2.
    masks : (2, H, W) bool
        Their footprints.
    results : dict
        Deblender name -> :class:`~candels_gui.deblend.base.DeblendResult`.
    table : astropy.table.Table
        One row per deblender: ``deblender``, the columns of
        :func:`~candels_gui.core.measure.binned.per_blend_table`, and ``psnr``, ``ssim`` and ``shape_err``
        (means over the two galaxies, from :func:`~candels_gui.core.measure.binned.summarize_table`).
    """

    spec: BlendSpec
    image: np.ndarray
    isolated: np.ndarray
    masks: np.ndarray
    results: dict[str, DeblendResult]
    table: Table

    def matched(self, name: str) -> tuple[int, int]:
        """Index of the output matched to truth galaxy 1 and 2 (-1 = none) for deblender ``name``."""
        row = self.table[list(self.table["deblender"]).index(name)]
        return int(row["matched_1"]), int(row["matched_2"])


def _truth(engine: BlendEngine, stamps: StampSet, specs: Sequence[BlendSpec]) -> tuple[Any, Truth]:
    batch = engine.render_batch(list(specs))
    return batch, Truth.from_batch(batch, blend_fluxes(stamps, specs))


def _add_spec_columns(table: Table, specs: Sequence[BlendSpec]) -> None:
    for key in ("id1", "id2", "dx", "dy", "rotation", "flip", "flux_scale", "seed"):
        table[key] = np.array([getattr(s, key) for s in specs])


def blend_comparison(engine: BlendEngine, stamps: StampSet, spec: BlendSpec,
                     results: Mapping[str, DeblendResult], *, max_separation: float | None = None
                     ) -> BlendComparison:
    """Render ``spec`` and measure every deblender's result on it with the core metrics.

    Examples
    --------
    >>> cmp = blend_comparison(engine, stamps, spec, {"sep": sep_result})   # doctest: +SKIP
    >>> cmp.table["iou_1"][0], cmp.matched("sep")                           # doctest: +SKIP
    """
    from ..evaluation.measure import measure_results, summarize_results

    if not results:
        raise ValueError("blend_comparison needs at least one deblender result")
    batch, truth = _truth(engine, stamps, [spec])
    parts = []
    for name, result in results.items():
        part = measure_results(truth, [result], max_separation=max_separation)
        summary = summarize_results(part, flux_only=result.flux_only)
        for key in ("psnr", "ssim", "shape_err"):
            part[key] = [summary[key]]
        part.add_column([name], name="deblender", index=0)
        parts.append(part)
    table = vstack(parts, metadata_conflicts="silent")
    _add_spec_columns(table, [spec] * len(table))
    return BlendComparison(spec, batch.images[0], batch.isolated[0], batch.masks[0], dict(results), table)


def summary_job(engine: BlendEngine, stamps: StampSet, specs: Sequence[BlendSpec],
                results: Mapping[str, Mapping[BlendSpec, DeblendResult]], *,
                rows: Sequence[int] | None = None, max_separation: float | None = None, chunk: int = 32,
                source: str = "queue", cancel: CancelToken | None = None) -> Job:
    """Job generator: per-blend tables and summaries of deblenders over ``specs``.

    Parameters
    ----------
    specs : sequence of BlendSpec
        The blends (position ``i`` is the ``blend`` column of the tables).
    results : mapping
        Deblender name -> {spec -> DeblendResult}; a blend without a result is left out of that
        deblender's table (and named in ``notes``).
    rows : sequence of int, optional
        Queue row of every spec (the ``queue_row`` column; default: the positions).
    chunk : int
        Blends rendered and measured per step.

    Returns
    -------
    EvaluationResult
        ``tables`` (per-blend, plus ``queue_row``, the spec fields and AB magnitudes) and ``summaries``
        (:data:`~candels_gui.core.measure.binned.SUMMARY_KEYS`) per deblender.
    """
    from ..evaluation.measure import measure_results, summarize_results
    from ..evaluation.result import EvaluationResult

    specs = list(specs)
    rows = list(range(len(specs))) if rows is None else [int(r) for r in rows]
    if len(rows) != len(specs):
        raise ValueError(f"{len(rows)} queue rows for {len(specs)} blends")
    out = EvaluationResult(source, None, len(specs), zeropoint=float(stamps.zeropoint),
                           max_separation=max_separation)
    parts: dict[str, list[Table]] = {name: [] for name in results}
    flux_only: dict[str, bool] = {}
    step = max(1, int(chunk))
    # the true shapes serve every deblender that gives images: measured once per chunk, only if one does
    any_images = any(not r.flux_only for by_spec in results.values() for r in by_spec.values())
    yield Progress(0, len(specs), f"measuring {len(specs)} blend(s)")
    for a in range(0, len(specs), step):
        check_cancel(cancel)
        part_specs = specs[a:a + step]
        _batch, truth = _truth(engine, stamps, part_specs)
        if any_images:
            truth.galaxy_shapes
        for name, by_spec in results.items():
            sel = [i for i, s in enumerate(part_specs) if s in by_spec]
            if not sel:
                continue
            table = measure_results(truth[sel], [by_spec[part_specs[i]] for i in sel],
                                    max_separation=max_separation)
            table["blend"] = np.array([a + i for i in sel], np.int64)
            table.add_column(np.array([rows[a + i] for i in sel], np.int64), name="queue_row", index=1)
            _add_spec_columns(table, [part_specs[i] for i in sel])
            parts[name].append(table)
            if name not in out.devices:
                first = by_spec[part_specs[sel[0]]]
                out.devices[name], out.params[name] = first.device, dict(first.params)
                flux_only[name] = first.flux_only
        done = min(len(specs), a + step)
        yield Progress(done, len(specs), f"measured {done} blend(s)")
    for name, tables in parts.items():
        if not tables:
            out.skipped[name] = "no results"
            continue
        table = vstack(tables, metadata_conflicts="silent")
        for g in (1, 2):
            table[f"mag_true_{g}"] = flux_to_mag(np.asarray(table[f"flux_true_{g}"], float), out.zeropoint)
            table[f"mag_pred_{g}"] = flux_to_mag(np.asarray(table[f"flux_pred_{g}"], float), out.zeropoint)
        if len(table) < len(specs):
            out.notes.append(f"{name}: {len(specs) - len(table)} of {len(specs)} blend(s) without results")
        out.tables[name] = table
        out.summaries[name] = summarize_results(table, flux_only=flux_only.get(name, False))
    return out
