"""The morphology classifier on the workers of a Dask cluster (``candels-gui classify --scheduler``).

Each task carries the stamps' :class:`~candels_gui.core.store.sources.StampSource` (the input path and its
content hash, or the stamps themselves when they have no file) and a row range; the worker reads the stamps
and loads the weights once (:func:`~candels_gui.core.parallel.worker_cached`), on the device it picks, and
classifies its rows ``batch_size`` at a time. Partitions are whole numbers of batches, so every batch holds
the stamps it holds in one process and the probabilities are the same numbers as a one-process run on as many
torch threads as a worker uses (one; more threads sum a convolution in another order, ~1e-7 apart).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.jobs import CancelToken, Job
from ..core.parallel import aligned_partition_size, n_workers, partition_ranges, run_partitions, worker_cached
from ..core.store.distributed import stamp_source
from ..core.store.sources import StampSource
from .classifier import Classification, MorphClassifier

__all__ = ["classify_partition", "classify_partitioned"]


def _classifier(weights: str, device: str) -> MorphClassifier:
    return worker_cached(("morph-cnn", weights, device), lambda: MorphClassifier.load(weights, device=device))


def classify_partition(source: StampSource, carried: Any, weights: str, device: str, start: int, stop: int,
                       batch_size: int, tta: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """On a worker: ``(probabilities, failed, device name)`` of stamps ``start .. stop``."""
    stamps = source.load(carried)
    clf = _classifier(weights, device)
    parts, bad = [], []
    for a in range(start, stop, batch_size):
        b = min(stop, a + batch_size)
        p, f = clf.predict(stamps.images[a:b], stamps.segmaps[a:b], pixel_scale=stamps.pixel_scale, tta=tta)
        parts.append(p)
        bad.append(f)
    return np.concatenate(parts), np.concatenate(bad), clf.device_name


def classify_partitioned(stamps: Any, weights: str | os.PathLike, *, client: Any | None = None,
                         data_path: str | os.PathLike | None = None, device: str = "auto", batch_size: int = 256,
                         partition_size: int | None = None, tta: bool = False,
                         cancel: CancelToken | None = None) -> Job:
    """Job: :func:`~.classifier.classify_job` by partitions, on ``client``'s cluster (or here with ``None``).

    Parameters
    ----------
    stamps : StampSet
        The stamps as this process read them (their ids, and their content hash that workers check).
    weights : path
        The classifier's weights file (the same path on every worker).
    client : distributed.Client, optional
    data_path : path, optional
        Where workers read the stamps; without it the stamps travel to each worker once.
    device, batch_size, tta
        As for :meth:`MorphClassifier.load` and :meth:`MorphClassifier.predict`.
    partition_size : int, optional
        Stamps per task, rounded up to whole batches.

    Returns
    -------
    Classification
        The same numbers as ``classify_job`` with the same weights, batch size, device and torch threads.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    weights = str(Path(weights).resolve())
    MorphClassifier.load(weights, device="cpu")      # a bad weights file fails here, once, not on every worker
    n = len(stamps)
    size = aligned_partition_size(n, batch_size, n_workers(client), partition_size, least=256, most=4096)
    source, carried = stamp_source(stamps, data_path, client)
    ranges = partition_ranges(n, size)
    tasks = [(source, carried, weights, device, a, b, batch_size, tta) for a, b in ranges]
    results = yield from run_partitions(client, classify_partition, tasks, sizes=[b - a for a, b in ranges],
                                        message="classifying", key="classify", cancel=cancel)
    probs = np.concatenate([r[0] for r in results]) if results else np.zeros((0, 0))
    bad = np.concatenate([r[1] for r in results]) if results else np.zeros(0, bool)
    devices = sorted({r[2] for r in results})
    return Classification(np.asarray(stamps.ids), probs, bad, ", ".join(devices) or "none")
