"""Deblender results in a Zarr store, written partition by partition by the workers of a Dask cluster.

The HDF5 file of :mod:`.results_io` holds every blend's sources concatenated along one axis, which
needs every earlier blend's source count before a blend can be written: one writer. Here each partition
(consecutive blends) is a group of its own, ``partitions/NNNNNN``, that the worker which deblended it
writes whole, with the arrays of :mod:`.results_io` for its blends:

=====================  ===========================  ===============================================
array                  shape, dtype                 content
=====================  ===========================  ===============================================
``n_sources``          (B,) i4                      sources of each blend of the partition
``segmentation``       (S, H, W) bool               every source's footprint, blend after blend
``images``             (S, H, W) f4                 every source's image
``catalog/blend``      (S,) i8                      the blend (index in the split) of each source
``catalog/x, y, flux`` (S,) f8                      position (column, row) and flux
``params``             (B,) string                  each blend's parameters as JSON
=====================  ===========================  ===============================================

The group's attribute ``done`` is set after its arrays. The root attributes are those of the HDF5 file
(``deblender``, ``params`` (JSON, those every blend shares), ``device``, ``data_path``, ``split``, ``n_blends``,
``flux_only``) plus ``format`` (``"candels-gui-deblend-results"``), ``partition_size``, ``complete`` and
``run_digest``. The store is written as ``.NAME.partial`` and renamed when complete; ``--resume``
continues a partial store of the same run. :func:`~.results_io.read_results` reads either file.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from ..core.parallel import n_workers, partition_ranges, run_partitions
from ..core.store.sources import SplitSource
from ..core.store.zarr_store import is_local, local_path, open_zarr, partial_url, remove_store, resumable_store
from .base import Deblender
from .distributed import DeblenderRecipe, aligned_partition_size, deblend_partition, recipe_of
from .results_params import params_key as _key, split_params

__all__ = ["RESULTS_FORMAT", "deblend_to_zarr", "read_results_zarr", "is_results_zarr"]

#: Root attribute ``format`` of a results store.
RESULTS_FORMAT = "candels-gui-deblend-results"
_CATALOG = (("blend", np.int64), ("x", np.float64), ("y", np.float64), ("flux", np.float64))


def is_results_zarr(path: str | os.PathLike) -> bool:
    """True for a Zarr store of deblender results."""
    p = local_path(path) if is_local(path) else None
    if p is not None and not (p / "zarr.json").is_file():
        return False
    try:
        return open_zarr(path).attrs.get("format") == RESULTS_FORMAT
    except (DataError, OSError):
        return False


def write_results_partition(source: SplitSource, rows: tuple[int, int], recipe: DeblenderRecipe, batch_size: int,
                            url: str, index: int) -> dict[str, Any]:
    """Task: deblend rows ``rows`` and write them as partition ``index`` of the store at ``url``."""
    results = deblend_partition(source, rows, recipe, batch_size)
    counts = np.array([r.segmentation.shape[0] for r in results], np.int32)
    h, w = results[0].segmentation.shape[1:] if results else (0, 0)
    total = int(counts.sum())
    g = open_zarr(url, mode="r+")["partitions"].create_group(f"{index:06d}", overwrite=True)
    g.create_array("n_sources", shape=counts.shape, dtype=np.int32)[...] = counts
    for key, dtype in (("segmentation", bool), ("images", np.float32)):
        arr = g.create_array(key, shape=(total, h, w), chunks=(max(1, total), h, w), dtype=dtype)
        if total:
            arr[...] = np.concatenate([getattr(r, key) for r in results]).astype(dtype, copy=False)
    cat = g.create_group("catalog")
    blend = np.repeat(np.arange(rows[0], rows[0] + len(results), dtype=np.int64), counts)
    columns = {"blend": blend, **{c: np.concatenate([np.asarray(r.catalog[c], np.float64) for r in results])
                                  if results else np.zeros(0) for c in ("x", "y", "flux")}}
    for name, dtype in _CATALOG:
        cat.create_array(name, shape=(total,), chunks=(max(1, total),), dtype=dtype)[...] = columns[name]
    params = np.array([json.dumps(r.params, default=str) for r in results], dtype=object)
    g.create_array("params", shape=params.shape, dtype=str)[...] = params
    first = results[0] if results else None
    g.attrs.update({"done": True, "deblender": first.name if first else recipe.name,
                    "device": first.device if first else "", "flux_only": bool(first.flux_only) if first else False})
    return {"n": len(results)}


def _digest(source: SplitSource, recipe: DeblenderRecipe, size: int, batch_size: int) -> str:
    h = hashlib.sha256()
    h.update(_key([source.path, source.split, source.n, recipe.name, recipe.weights, recipe.from_file,
                   list(recipe.options), size, batch_size]).encode())
    return h.hexdigest()


def deblend_to_zarr(source: SplitSource, deblender: str | Deblender | DeblenderRecipe, output: str | os.PathLike, *,
                    client: Any | None = None, batch_size: int = 32, partition_size: int | None = None,
                    resume: bool = False, data_path: str = "", split: str | None = None,
                    cancel: CancelToken | None = None) -> Job:
    """Job: deblend every blend of ``source`` by partitions into the Zarr store ``output`` (on ``client``'s
    cluster or here); returns the store's path or URL. ``resume`` continues a partial store of the same run."""
    recipe = recipe_of(deblender)
    size = aligned_partition_size(source.n, batch_size, n_workers(client), partition_size)
    final = str(local_path(output).resolve()) if is_local(output) else os.fspath(output)
    url = partial_url(final)
    digest = _digest(source, recipe, size, int(batch_size))
    ranges = partition_ranges(source.n, size)
    kept = resumable_store(url, digest, "the same deblend command", final=final) if resume else False
    if not kept:
        remove_store(url)
        root = open_zarr(url, mode="w")
        root.attrs.update({"format": RESULTS_FORMAT, "complete": False, "run_digest": digest,
                           "partition_size": size, "n_blends": source.n, "n_partitions": len(ranges)})
        root.create_group("partitions")
    parts = open_zarr(url)["partitions"]
    done_groups = {name for name, g in parts.groups() if g.attrs.get("done")}
    todo = [(i, r) for i, r in enumerate(ranges) if f"{i:06d}" not in done_groups]
    done = sum(b - a for i, (a, b) in enumerate(ranges) if f"{i:06d}" in done_groups)
    yield from run_partitions(client, write_results_partition,
                              [(source, r, recipe, int(batch_size), url, i) for i, r in todo],
                              sizes=[b - a for _, (a, b) in todo], done=done, total=source.n,
                              message=f"{recipe.name} on {source.split or 'blends'}" + (" (resumed)" if kept else ""),
                              key=f"deblend-{recipe.name}", cancel=cancel)
    check_cancel(cancel)
    yield Progress(source.n, source.n, "writing the results' attributes")
    _finish(url, final, len(ranges), data_path, split if split is not None else source.split)
    return final


def _finish(url: str, final: str, n_partitions: int, data_path: str, split: str | None) -> None:
    root = open_zarr(url, mode="r+")
    parts = root["partitions"]
    params: list[dict[str, Any]] = []
    first = None
    for i in range(n_partitions):
        g = parts[f"{i:06d}"]
        first = first or (g if g["n_sources"].shape[0] else None)
        params += [json.loads(p) for p in g["params"][...].tolist()]
    common, _ = split_params(params)
    attrs = first.attrs if first is not None else {}
    root.attrs.update({"deblender": attrs.get("deblender", ""), "params": json.dumps(common, default=str),
                       "device": attrs.get("device", ""), "data_path": str(data_path), "split": split or "",
                       "n_blends": len(params),
                       "flux_only": bool(attrs.get("flux_only", False)), "complete": True})
    if url != final:
        if local_path(final).exists():
            remove_store(final)
        os.replace(local_path(url), local_path(final))


def read_results_zarr(path: str | os.PathLike) -> tuple[dict, list[dict[str, Any]]]:
    """Read a results store: the same ``(attributes, per blend {segmentation, images, catalog, params})`` as
    :func:`~.results_io.read_results` of an HDF5 results file."""
    root = open_zarr(path)
    attrs = dict(root.attrs)
    if attrs.get("format") != RESULTS_FORMAT:
        raise DataError(f"{path}: not a candels-gui deblender results store")
    if not attrs.get("complete", False):
        raise DataError(f"{path}: an unfinished results store; finish it with the same command and --resume")
    parts = root["partitions"]
    per_blend = []
    rec = np.dtype(list(_CATALOG))
    for i in range(int(attrs["n_partitions"])):
        g = parts[f"{i:06d}"]
        counts = np.asarray(g["n_sources"][...])
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        seg, img = np.asarray(g["segmentation"][...]), np.asarray(g["images"][...])
        cat = np.zeros(int(offsets[-1]), rec)
        for name, _ in _CATALOG:
            cat[name] = g["catalog"][name][...]
        for k, p in enumerate(g["params"][...].tolist()):
            a, b = offsets[k], offsets[k + 1]
            per_blend.append({"segmentation": seg[a:b], "images": img[a:b], "catalog": cat[a:b],
                              "params": json.loads(p)})
    return attrs, per_blend

