"""The transfer-learning experiment of Pérez-Carrasco et al. (2019), on any labelled stamps.

Cross-validated by galaxy: the labelled galaxies are split into ``folds`` (a seeded permutation); each fold
in turn is the test set, and from the other galaxies the first ``n`` of another seeded permutation are
the labelled training galaxies, for each ``n`` of ``sizes``. Three models are scored on the test fold:

- ``shipped``: the ``init`` weights as they are (no fine-tuning; the same for every ``n``);
- ``fine-tuned``: the ``init`` weights trained on the ``n`` galaxies (``freeze`` blocks fixed, ``lr_finetune``);
- ``scratch``: a fresh network (same architecture and seed) trained on the same ``n`` galaxies (``lr_scratch``).

Every test galaxy is predicted once per ``n`` (by the model of its fold); accuracy and RMSE are over all
of them (the spread over folds is reported beside). Runs the same number of steps for every ``n``
(see :data:`~.training.MIN_EPOCH_SAMPLES`), no validation set (there is none to spare), last epoch kept.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from ..core.data.morph_labels import LabelSet
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from .classifier import load_network
from .network import fold_batchnorm
from .training import MIN_EPOCH_SAMPLES, fit_job, prepare_stamps_job, scores

__all__ = ["transfer_job", "METHODS"]

#: The models compared, in table order.
METHODS = ("shipped", "fine-tuned", "scratch")


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    m = fold_batchnorm(model)
    with torch.inference_mode():
        return torch.softmax(m(torch.from_numpy(x)), 1).numpy().astype(np.float64)


def transfer_job(stamps: Any, labels: LabelSet, *, init: str | os.PathLike,
                 sizes: Sequence[int] = (10, 25, 50, 75), folds: int = 5, epochs: int = 20, freeze: int = 0,
                 batch_size: int = 32, lr_finetune: float = 5e-4, lr_scratch: float = 2e-3, seed: int = 0,
                 device: str = "cpu", min_epoch_samples: int = MIN_EPOCH_SAMPLES,
                 cancel: Optional[CancelToken] = None) -> Job:
    """Run the experiment (a job); returns a dict: ``rows`` (one per method and size) and the settings."""
    n_lab = len(labels)
    if folds < 2 or folds > n_lab:
        raise ValueError(f"--folds must be 2 to the number of labelled galaxies ({n_lab}), got {folds}")
    pool_size = n_lab - int(np.ceil(n_lab / folds))
    sizes = sorted({int(s) for s in sizes})
    too_big = [s for s in sizes if s < 1 or s > pool_size]
    if too_big:
        raise ValueError(f"sizes {too_big} do not fit: with {n_lab} labelled galaxies and {folds} folds, "
                         f"at most {pool_size} can train")
    rows = stamps.indices_of(labels.ids)
    x = yield from prepare_stamps_job(stamps, rows, cancel=cancel)
    y = labels.fractions.astype(np.float32)
    perm = np.random.default_rng([seed, 0x5846]).permutation(n_lab)
    fold_of = np.empty(n_lab, int)
    fold_of[perm] = np.arange(n_lab) % folds
    preds = {(m, s): np.zeros_like(labels.fractions) for m in METHODS for s in sizes}
    per_fold: dict[tuple[str, int], list[dict[str, float]]] = {k: [] for k in preds}
    total = folds * len(sizes) * 2
    done = 0
    for f in range(folds):
        test = np.flatnonzero(fold_of == f)
        pool = np.flatnonzero(fold_of != f)
        pool = pool[np.random.default_rng([seed, 0x5846, f]).permutation(len(pool))]
        shipped, _ = load_network(init)
        p_ship = _predict(shipped, x[test])
        for s in sizes:
            check_cancel(cancel)
            train = pool[:s]
            preds[("shipped", s)][test] = p_ship
            per_fold[("shipped", s)].append(scores(p_ship, y[test]))
            for method in ("fine-tuned", "scratch"):
                model = load_network(init)[0] if method == "fine-tuned" else None
                fit = yield from _quiet(fit_job(
                    x[train], y[train], model=model, freeze=freeze if method == "fine-tuned" else 0,
                    epochs=epochs, batch_size=batch_size,
                    lr=lr_finetune if method == "fine-tuned" else lr_scratch, seed=seed + f, device=device,
                    patience=epochs, min_epoch_samples=min_epoch_samples, cancel=cancel))
                p = _predict(fit.model.cpu(), x[test])
                preds[(method, s)][test] = p
                per_fold[(method, s)].append(scores(p, y[test]))
                done += 1
                yield Progress(done, total, f"fold {f + 1}/{folds}, {s} galaxies, {method}")
    out_rows = []
    for (method, s), p in preds.items():
        sc = scores(p, labels.fractions)
        accs = [r["accuracy"] for r in per_fold[(method, s)]]
        rmses = [r["rmse"] for r in per_fold[(method, s)]]
        out_rows.append({"method": method, "n_labelled": s, "accuracy": sc["accuracy"], "rmse": sc["rmse"],
                         "accuracy_fold_std": float(np.std(accs)), "rmse_fold_std": float(np.std(rmses)),
                         "n_test": sc["n"]})
    out_rows.sort(key=lambda r: (METHODS.index(r["method"]), r["n_labelled"]))
    return {"rows": out_rows, "folds": folds, "sizes": sizes, "epochs": epochs, "freeze": freeze,
            "seed": seed, "init": str(init), "n_labelled_galaxies": n_lab, "labels": labels.source,
            "data_hash": stamps.content_hash()}


def _quiet(job: Job) -> Job:
    """Run a sub-job without passing its progress on (the caller reports per fit); return its result."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value
        yield from ()
