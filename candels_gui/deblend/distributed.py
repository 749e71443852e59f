"""Deblenders on the workers of a Dask cluster: built once per worker, run partition by partition.

A task carries a :class:`DeblenderRecipe` (a registry name, or a weights file and the row name it is
evaluated under), not the deblender: each worker process builds the deblender the first time a task
needs it and keeps it (:func:`~candels_gui.core.parallel.worker_cached`), so a torch model's weights are
read once per worker, on the device that worker picks (CUDA when it has one). A deblender that is not in
the registry travels as the object itself.

:func:`deblend_partitioned` is ``candels-gui deblend --scheduler``: each worker reads its rows of the
export (:class:`~candels_gui.core.store.sources.SplitSource`) and runs them ``batch_size`` at a time;
partitions are whole numbers of batches, so every batch holds the blends it holds in one process and the
results are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.jobs import CancelToken, Job, run_job
from ..core.parallel import aligned_partition_size, n_workers, partition_ranges, run_partitions, worker_cached
from ..core.store.sources import SplitSource
from .base import TTA_SUFFIX, DeblendResult, Deblender, get

__all__ = ["DeblenderRecipe", "recipe_of", "deblend_partition", "deblend_partitioned", "aligned_partition_size"]

#: Constructor options of a torch deblender that a recipe keeps (the others come from the weights).
_TORCH_OPTIONS = ("batch_size", "footprint_nsigma", "footprint_fwhm", "split_blend", "smooth_sigma")


@dataclass(frozen=True)
class DeblenderRecipe:
    """How a worker makes a deblender.

    Attributes
    ----------
    name : str
        Registry name (``"sep"``, ``"unet-seg+tta"``) or the row name of a weights file.
    weights : str, optional
        A torch model's weights file (the same path on every worker).
    from_file : bool
        Build a torch model from ``weights`` alone (``evaluate --weights``) and name it ``name``.
    options : tuple of (key, value)
        Further constructor options.
    obj : Deblender, optional
        A deblender outside the registry, sent as it is.
    """

    name: str
    weights: str | None = None
    from_file: bool = False
    options: tuple[tuple[str, Any], ...] = ()
    obj: Deblender | None = field(default=None, compare=False, hash=False)

    def build(self) -> Deblender:
        """The deblender, made once per process."""
        if self.obj is not None:
            return self.obj
        return worker_cached(("deblender", self), self._make)

    def _make(self) -> Deblender:
        kw = dict(self.options)
        if self.from_file:
            from .torch_deblender import TorchDeblender

            tta = self.name.endswith(TTA_SUFFIX)
            deb = TorchDeblender.from_file(self.weights, tta=tta, **kw)
            deb.name = self.name
            return deb
        if self.weights is not None:
            kw["weights"] = self.weights
        return get(self.name, **kw)


def recipe_of(deblender: str | Deblender | DeblenderRecipe) -> DeblenderRecipe:
    """The recipe of a registry name or a built deblender (a torch model: its weights file and options;
    anything else: itself)."""
    if isinstance(deblender, DeblenderRecipe):
        return deblender
    if isinstance(deblender, str):
        return DeblenderRecipe(deblender)
    params = deblender.params
    if getattr(deblender, "card", None) is not None and params.get("weights"):
        opts = tuple(sorted((k, params[k]) for k in _TORCH_OPTIONS if k in params))
        return DeblenderRecipe(deblender.name, weights=str(Path(params["weights"]).resolve()), from_file=True,
                               options=opts)
    return DeblenderRecipe(deblender.name or type(deblender).__name__, obj=deblender)


def deblend_partition(source: SplitSource, rows: tuple[int, int], recipe: DeblenderRecipe, batch_size: int
                      ) -> list[DeblendResult]:
    """Task: deblend rows ``rows`` of ``source`` on this worker, ``batch_size`` at a time."""
    images, _, _ = source.rows(slice(*rows), isolated=False)
    deblender = recipe.build()
    return run_job(deblender.iter_run(images, batch_size))


def deblend_partitioned(source: SplitSource, deblender: str | Deblender | DeblenderRecipe, *, client: Any | None = None,
                        batch_size: int = 32, partition_size: int | None = None,
                        cancel: CancelToken | None = None) -> Job:
    """Job: run a deblender on every blend of ``source`` by partitions (on ``client``'s cluster or here);
    returns the :class:`DeblendResult` s in blend order, the same as ``iter_run`` on the whole split."""
    recipe = recipe_of(deblender)
    size = aligned_partition_size(source.n, batch_size, n_workers(client), partition_size)
    ranges = partition_ranges(source.n, size)
    out: list[list[DeblendResult]] = [[] for _ in ranges]

    def keep(i: int, results: list[DeblendResult]) -> None:
        out[i] = results

    yield from run_partitions(client, deblend_partition, [(source, r, recipe, int(batch_size)) for r in ranges],
                              sizes=[b - a for a, b in ranges], on_result=keep, key=f"deblend-{recipe.name}",
                              message=f"{recipe.name} on {source.split or 'blends'}", cancel=cancel)
    return [r for part in out for r in part]
