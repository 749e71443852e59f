"""``evaluate`` on a Dask cluster: per-blend tables computed by the workers, the summary by the client.

:func:`evaluate_partitioned` reads only the per-blend tables of the split on the client (fluxes, specs,
catalogue), cuts the blends to evaluate into partitions of whole batches and sends one task per
partition. A worker reads its rows of the export, builds their truth exactly as
:func:`~candels_gui.evaluation.evaluate.truth_from_export` does (the true shapes measured once), runs each
deblender (built once per worker, :class:`~candels_gui.deblend.distributed.DeblenderRecipe`) batch by batch
and measures each batch with :func:`~candels_gui.evaluation.measure.measure_results`; the client stacks the tables in blend order and
summarises them. Every number is computed by the same functions on the same batches as in
:func:`~candels_gui.evaluation.evaluate.evaluate`, so the result is the same, exactly.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
from astropy.table import Table, vstack

from ..core.blending.labels import flux_to_mag
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, run_job
from ..core.measure.binned import Truth
from ..core.parallel import n_workers, partition_ranges, run_partitions
from ..core.store.sources import SplitSource, open_split, split_tables
from ..deblend import Deblender
from ..deblend.base import FLUX_REGION_RADIUS
from ..deblend.distributed import DeblenderRecipe, aligned_partition_size, recipe_of
from .evaluate import add_blend_columns, default_split, manifest_zeropoint, resolve_deblenders
from .measure import ORACLES, REFERENCES, isolated_fluxes, measure_results, oracle_results, summarize_results
from .result import EvaluationResult

__all__ = ["evaluate_partitioned", "evaluate_partition"]


def evaluate_partition(source: SplitSource, rows: np.ndarray, runners: dict[str, DeblenderRecipe | str],
                       truth_rows: dict[str, Any], options: dict[str, Any]) -> dict[str, tuple[Table, str]]:
    """Task: the per-blend tables of deblenders (and oracles, by name) on rows ``rows`` of ``source``.

    The rows are read, and their truth built and their true shapes measured, once for every deblender.
    ``truth_rows`` holds the client's per-blend values of those rows (``positions``, ``fluxes``, ``ids``,
    ``index``); ``options``: ``batch_size``, ``max_separation``, ``reference``, ``zeropoint``,
    ``has_isolated``, ``shapes`` (measure the true shapes). Returns name -> ``(table, device)``.
    """
    sel: Any = rows
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        sel = slice(int(rows[0]), int(rows[-1]) + 1)
    images, isolated, masks = source.rows(sel, isolated=options["has_isolated"])
    n = len(images)
    h, w = images.shape[1:]
    if isolated is None:
        isolated = np.full((n, 2, h, w), np.nan, np.float32)
    fluxes = (isolated_fluxes(isolated, masks) if options["reference"] == "isolated"
              else np.asarray(truth_rows["fluxes"], np.float64))
    truth = Truth(truth_rows["positions"], masks, isolated, fluxes)
    if options["shapes"]:
        truth.galaxy_shapes
    return {name: _measure(runner, images, truth, truth_rows, options) for name, runner in runners.items()}


def _measure(runner: DeblenderRecipe | str, images: np.ndarray, truth: Truth, truth_rows: dict[str, Any],
             options: dict[str, Any]) -> tuple[Table, str]:
    """One deblender's per-blend table on a partition, batch by batch as :func:`~.evaluate.evaluate` does."""
    n = len(images)
    step = int(options["batch_size"])
    index = truth_rows["index"]
    if isinstance(runner, str):
        def run_batch(a: int, b: int) -> list:
            return oracle_results(runner, np.asarray(images[a:b]), truth[a:b], index[a:b])
        device = "truth"
    else:
        deblender = runner.build()
        device = deblender.device

        def run_batch(a: int, b: int) -> list:
            return run_job(deblender.iter_run(np.asarray(images[a:b]), step))
    parts = []
    for a in range(0, n, step):
        b = min(n, a + step)
        part = measure_results(truth[a:b], run_batch(a, b), images=options["has_isolated"],
                               max_separation=options["max_separation"])
        part["blend"] = index[a:b]
        parts.append(part)
    table = vstack(parts, metadata_conflicts="silent")
    add_blend_columns(table, truth_rows["ids"], options["zeropoint"])
    return table, device


def evaluate_partitioned(data: str | os.PathLike, deblenders: str | Sequence[str | Deblender] | None = None, *,
                         client: Any | None = None, split: str | None = None, limit: int | None = None,
                         max_separation: float | None = None, mag_high: float | None = None,
                         reference: str = "catalogue", oracle: bool = False, batch_size: int = 32,
                         partition_size: int | None = None, cancel: CancelToken | None = None) -> Job:
    """Job: :func:`~candels_gui.evaluation.evaluate.evaluate` by partitions, on ``client``'s cluster (or
    here with ``client=None``); the same parameters and the same :class:`EvaluationResult`, exactly.

    Parameters
    ----------
    data : path or URL
        An export (any format :func:`~candels_gui.core.store.export.read_export` reads); on a cluster, at
        the same path on every worker or on shared storage.
    partition_size : int, optional
        Blends per task, rounded up to whole batches (default: about four tasks per worker, 32 to 512
        blends).
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if max_separation is not None and not float(max_separation) >= 0:
        raise ValueError(f"max_separation must be >= 0 pixels, got {max_separation}")
    if mag_high is not None and not math.isfinite(float(mag_high)):
        raise ValueError(f"mag_high must be a finite magnitude, got {mag_high}")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    names: Sequence[Any] | None = ([s.strip() for s in deblenders.split(",") if s.strip()]
                                   if isinstance(deblenders, str) else deblenders)
    built, skipped = resolve_deblenders(names)
    if not built:
        raise ValueError("no deblender can be evaluated: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    source = open_split(data, split if split is not None else default_split(data))
    tables = split_tables(source)
    where = f"{source.path}" + (f" (split {source.split})" if source.split else "")
    zp = manifest_zeropoint(tables["manifest"])
    fluxes = np.asarray(tables["fluxes"], np.float64)
    index = np.arange(source.n)
    notes: list[str] = []
    if mag_high is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mags = flux_to_mag(fluxes, zp)
        index = np.flatnonzero(np.all(np.nan_to_num(mags, nan=np.inf) < float(mag_high), axis=1))
    selected = len(index)
    if limit is not None:
        index = index[:int(limit)]
    n = len(index)
    if not tables["has_masks"]:
        raise DataError(f"{where}: the export holds no galaxy masks (label method {tables['label_method']}); "
                        f"evaluate needs them: use a produce output, an HDF5 or FITS export, or an npy export "
                        f"with mask labels")
    has_images = bool(tables["has_isolated"])
    if not has_images:
        notes.append(f"{where} holds no isolated galaxy images (label method {tables['label_method']}): "
                     f"rmse, psnr and ssim are not measured")
    if reference == "isolated":
        if not has_images:
            raise DataError(f"{where}: no isolated galaxy images to measure the reference fluxes on")
        notes.append("true fluxes measured on the isolated galaxy images (true footprint grown by "
                     f"{FLUX_REGION_RADIUS} px), not the catalogue's")
    if n == 0:
        cut = "" if mag_high is None else f" with both galaxies brighter than {float(mag_high):g} mag"
        raise DataError(f"{source.path}: split {source.split} holds no blends{cut}")
    if mag_high is not None:
        notes.append(f"only the {selected} blends whose two galaxies are brighter than "
                     f"{float(mag_high):g} mag (AB, zeropoint {zp:g})"
                     + (f"; the first {n} of them evaluated (--limit)" if n < selected else ""))
    if oracle and not has_images:
        raise DataError(f"{source.path}: no isolated galaxy images, so no truth to measure as an oracle")
    result = EvaluationResult(str(source.path), source.split, n, skipped=skipped, notes=notes,
                              max_separation=None if max_separation is None else float(max_separation),
                              zeropoint=zp, reference=reference, limit=limit,
                              mag_high=None if mag_high is None else float(mag_high))
    specs = [tables["specs"][i] for i in index]
    ids = np.asarray(tables["catalog"]["id"])[index] if "id" in tables["catalog"].colnames else None
    h, w = _stamp_shape(source)
    positions = np.empty((n, 2, 2))
    positions[:, :, 0], positions[:, :, 1] = w // 2, h // 2
    positions[:, 1, 0] += [s.dx for s in specs]
    positions[:, 1, 1] += [s.dy for s in specs]
    recipes: dict[str, DeblenderRecipe] = {}
    for item in (list(built) if names is None else names):
        if isinstance(item, str):
            recipes.setdefault(item, DeblenderRecipe(item))   # a registry name: each worker builds it
        else:
            recipes.setdefault(item.name or type(item).__name__, recipe_of(item))
    runners: dict[str, DeblenderRecipe | str] = {name: recipes[name] for name in built}
    if oracle:
        runners.update({name: name for name in ORACLES})
    flux_only = {name: bool(deb.flux_only) for name, deb in built.items()}
    options = {"batch_size": int(batch_size), "max_separation": max_separation, "reference": reference,
               "zeropoint": zp, "has_isolated": has_images,
               "shapes": has_images and (oracle or not all(flux_only.values()))}
    size = aligned_partition_size(n, batch_size, n_workers(client), partition_size)
    ranges = partition_ranges(n, size)
    tasks = []
    for a, b in ranges:
        truth_rows = {"positions": positions[a:b], "fluxes": fluxes[index[a:b]], "index": index[a:b],
                      "ids": None if ids is None else ids[a:b]}
        tasks.append((source, index[a:b], runners, truth_rows, options))
    parts: list[dict[str, tuple[Table, str]]] = [{} for _ in tasks]

    def keep(i: int, value: dict[str, tuple[Table, str]]) -> None:
        parts[i] = value

    yield from run_partitions(client, evaluate_partition, tasks, sizes=[(b - a) * len(runners) for a, b in ranges],
                              on_result=keep, message="evaluating", key="evaluate", cancel=cancel)
    for name in runners:
        mine = [p[name] for p in parts]
        table = vstack([p[0] for p in mine], metadata_conflicts="silent")
        deblender = built.get(name)
        device = mine[0][1] if mine else "truth"
        params = deblender.params if deblender is not None else {"oracle": ORACLES[name]}
        table.meta.update({"deblender": name, "device": device, "params": params,
                           **{k: v for k, v in result._meta().items() if k not in ("devices", "skipped")}})
        result.tables[name] = table
        result.summaries[name] = summarize_results(table, flux_only=flux_only.get(name, False))
        result.devices[name] = device
        result.params[name] = params
    return result


def _stamp_shape(source: SplitSource) -> tuple[int, int]:
    images, _, _ = source.rows(slice(0, 1), isolated=False)
    return int(images.shape[1]), int(images.shape[2])
