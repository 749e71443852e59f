"""Training and fine-tuning the morphology CNN on vote-fraction labels (torch imported inside the functions).

Loss: cross-entropy against the vote fractions (soft labels: a galaxy voted 3/4 disk, 1/4 irregular pulls
the prediction there, not to "disk"). AdamW, the learning rate decaying on a cosine from ``lr`` to 5 % of it
over the run. Augmentation (default on): every sample is turned by a random multiple of 90 degrees and
flipped at random (the eight symmetries of the pixel grid; a galaxy's class does not depend on them).
An epoch is one pass over the labelled galaxies, but at least :data:`MIN_EPOCH_SAMPLES` samples (a set of
25 galaxies is repeated, each time with fresh turns and flips), so that fine-tuning on a few galaxies
takes as many steps whatever their number. Early stopping watches the validation loss; the weights kept
are those of the best epoch (the last one when there is no validation set).

Fine-tuning (``init``): starts from a weights file; ``freeze=N`` keeps its first N convolutional blocks
(weights and batch statistics) fixed, as Pérez-Carrasco et al. (2019) kept their convolutional layers.

Figures: ``accuracy`` (the most probable class against the majority vote), ``rmse`` (root mean square of
predicted minus voted fractions over every galaxy and class, the paper's figure).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.data.morph_labels import MORPH_CLASSES, LabelSet, read_labels_csv
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from .classifier import dihedral, load_network
from .network import ARCHITECTURE, DEFAULT_KWARGS, build_network, freeze_blocks
from .preprocess import INPUT_SIZE, TRAIN_PIXEL_SCALE, prepare_inputs

__all__ = ["FitResult", "fit_job", "scores", "confusion_matrix", "train_classifier_job", "prepare_stamps_job",
           "MIN_EPOCH_SAMPLES"]

#: Fewest samples an epoch draws (small labelled sets are repeated).
MIN_EPOCH_SAMPLES = 256


def scores(probs: np.ndarray, fractions: np.ndarray) -> dict[str, float]:
    """``accuracy`` (argmax against the majority vote), ``rmse`` (over galaxies and classes), ``n``."""
    probs, fractions = np.asarray(probs, float), np.asarray(fractions, float)
    if len(probs) == 0:
        return {"accuracy": float("nan"), "rmse": float("nan"), "n": 0}
    acc = float(np.mean(np.argmax(probs, 1) == np.argmax(fractions, 1)))
    rmse = float(np.sqrt(np.mean((probs - fractions) ** 2)))
    return {"accuracy": acc, "rmse": rmse, "n": int(len(probs))}


def confusion_matrix(probs: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """(K, K) counts: row = majority-vote class, column = predicted class."""
    k = len(MORPH_CLASSES)
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (np.argmax(fractions, 1), np.argmax(probs, 1)), 1)
    return m


@dataclass
class FitResult:
    """What :func:`fit_job` returns."""

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    epochs_run: int = 0
    stopped_early: bool = False


def _soft_ce(logits: Any, target: Any) -> Any:
    import torch

    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def _augment(x: Any, rng: np.random.Generator) -> Any:
    import torch

    ks = rng.integers(0, 8, len(x))
    out = torch.empty_like(x)
    for k in np.unique(ks):
        sel = torch.from_numpy(np.flatnonzero(ks == k))
        out[sel] = dihedral(x[sel], int(k))
    return out


def _evaluate(model: Any, x: np.ndarray, y: np.ndarray, device: Any, batch: int = 512) -> tuple[float, np.ndarray]:
    import torch

    model.eval()
    probs, loss = [], 0.0
    with torch.inference_mode():
        for s in range(0, len(x), batch):
            xb = torch.from_numpy(x[s:s + batch]).to(device)
            yb = torch.from_numpy(y[s:s + batch]).float().to(device)
            logits = model(xb)
            loss += float(_soft_ce(logits, yb)) * len(xb)
            probs.append(torch.softmax(logits, 1).cpu().numpy())
    return loss / max(len(x), 1), np.concatenate(probs).astype(np.float64)


def fit_job(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, model: Any = None, freeze: int = 0, epochs: int = 30,
            batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 1e-4, patience: int = 8, seed: int = 0,
            augment: bool = True, device: str = "auto", base: int = 16,
            min_epoch_samples: int = MIN_EPOCH_SAMPLES, cancel: Optional[CancelToken] = None) -> Job:
    """Train ``model`` (default: a fresh one of width ``base``, seeded) on prepared inputs; returns :class:`FitResult`.

    Parameters
    ----------
    x_train, y_train : (N, 3, 64, 64) float32 and (N, K) fractions
        Inputs (:func:`.preprocess.prepare_inputs`) and labels.
    x_val, y_val : optional
        Validation set: early stopping and the epoch kept.
    model : torch.nn.Module, optional
        Start from this network (fine-tuning); ``freeze`` of its blocks stay fixed.
    min_epoch_samples : int
        Fewest samples an epoch draws (a small set is repeated).
    """
    import copy

    import torch

    from ..torch_common import pick_device

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    if len(x_train) == 0:
        raise DataError("no training galaxies")
    dev = pick_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 0x4D43])
    if model is None:
        model = build_network(base=base)
    model = model.to(dev)
    n = len(x_train)
    per_epoch = max(n, int(min_epoch_samples))
    steps = math.ceil(per_epoch / batch_size)
    total = epochs * steps
    params = [p for i, blk in enumerate(model.blocks) if i >= freeze for p in blk.parameters()]
    params += list(model.head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    xt = torch.from_numpy(np.ascontiguousarray(x_train, np.float32))
    yt = torch.from_numpy(np.asarray(y_train, np.float32))
    res = FitResult(model)
    best_state = None
    bad_epochs = 0
    for epoch in range(1, epochs + 1):
        model.train()
        freeze_blocks(model, freeze)
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(per_epoch / n))])[:per_epoch]
        run_loss = 0.0
        for s in range(steps):
            check_cancel(cancel)
            idx = torch.from_numpy(order[s * batch_size:(s + 1) * batch_size])
            if len(idx) == 0:
                continue
            xb, yb = xt[idx], yt[idx]
            if augment:
                xb = _augment(xb, rng)
            xb, yb = xb.to(dev), yb.to(dev)
            loss = _soft_ce(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += float(loss.detach())
            yield Progress((epoch - 1) * steps + s + 1, total, f"epoch {epoch}/{epochs}")
        row = {"epoch": epoch, "loss": run_loss / steps}
        if x_val is not None and len(x_val):
            vloss, vprob = _evaluate(model, x_val, np.asarray(y_val, np.float32), dev)
            row.update(val_loss=vloss, **{f"val_{k}": v for k, v in scores(vprob, y_val).items() if k != "n"})
            if vloss < res.best_val_loss:
                res.best_val_loss, res.best_epoch, bad_epochs = vloss, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
        res.history.append(row)
        res.epochs_run = epoch
        msg = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
        yield Progress(epoch * steps, total, f"epoch {epoch}/{epochs}: {msg}")
        if x_val is not None and len(x_val) and bad_epochs >= patience:
            res.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        res.best_epoch = res.epochs_run
    model.eval()
    return res


def prepare_stamps_job(stamps: Any, rows: np.ndarray, *, chunk: int = 512,
                       cancel: Optional[CancelToken] = None) -> Job:
    """Network inputs of ``stamps`` rows ``rows`` (a job: returns (len(rows), 3, 64, 64) float32)."""
    rows = np.asarray(rows)
    out = np.empty((len(rows), 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    for s in range(0, len(rows), chunk):
        check_cancel(cancel)
        r = rows[s:s + chunk]
        out[s:s + len(r)], _ = prepare_inputs(np.asarray(stamps.images[r]), np.asarray(stamps.segmaps[r]),
                                              pixel_scale=stamps.pixel_scale)
        yield Progress(s + len(r), len(rows), "preparing stamps")
    return out


def _file_sha(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def train_classifier_job(data: Any, labels: str | os.PathLike | LabelSet, out: str | os.PathLike, *,
                         init: str | os.PathLike | None = None, freeze: int = 0, epochs: int = 30,
                         batch_size: int = 64, lr: float | None = None, val_fraction: float = 0.1,
                         patience: int = 8, seed: int = 0, augment: bool = True, device: str = "auto",
                         base: int | None = None, command: str = "",
                         cancel: Optional[CancelToken] = None) -> Job:
    """Train (or, with ``init``, fine-tune) morph-cnn on labelled stamps and write the weights; returns the card.

    Parameters
    ----------
    data : StampSet or path
        The stamps (any format :func:`~candels_gui.core.load_stampset` reads).
    labels : path or LabelSet
        Vote fractions per galaxy ID (label-file format of :mod:`candels_gui.core.data.morph_labels`).
    out : path
        Weights file to write (atomically; a file it replaces is kept as ``NAME.prev.pt``).
    init : path, optional
        Weights to start from (fine-tuning); ``freeze`` blocks of them stay fixed.
    lr : float, optional
        Default 2e-3 from scratch, 5e-4 when fine-tuning.
    val_fraction : float
        Share of the labelled galaxies held out for validation (none below 10 galaxies).
    """
    from ..core.data.load import load_stampset
    from ..torch_common import device_label, keep_replaced, pick_device, save_weights

    stamps = load_stampset(data) if isinstance(data, (str, os.PathLike)) else data
    label_set = labels if isinstance(labels, LabelSet) else read_labels_csv(labels, known_ids=stamps.ids)
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val_fraction must be in [0, 1), got {val_fraction}")
    if freeze and init is None:
        raise ValueError("--freeze keeps blocks of the --init weights fixed: give --init")
    rows = stamps.indices_of(label_set.ids)
    x = yield from prepare_stamps_job(stamps, rows, cancel=cancel)
    y = label_set.fractions.astype(np.float32)
    n = len(rows)
    n_val = int(round(val_fraction * n)) if n >= 10 else 0
    perm = np.random.default_rng([seed, 0x5641]).permutation(n)
    val, train = perm[:n_val], perm[n_val:]
    init_card = None
    model = None
    kwargs = {**DEFAULT_KWARGS, **({"base": base} if base else {})}
    if init is not None:
        model, init_card = load_network(init)
        kwargs = {**DEFAULT_KWARGS, **init_card.get("kwargs", {})}
        if base and base != kwargs["base"]:
            raise ValueError(f"--base {base} differs from the --init weights' {kwargs['base']}")
    lr = lr if lr is not None else (5e-4 if init is not None else 2e-3)
    fit = yield from fit_job(x[train], y[train], x[val] if n_val else None, y[val] if n_val else None,
                             model=model, freeze=freeze, epochs=epochs, batch_size=batch_size, lr=lr,
                             patience=patience, seed=seed, augment=augment, device=device,
                             base=kwargs["base"], cancel=cancel)
    best = fit.history[fit.best_epoch - 1] if fit.history else {}
    card = {
        "architecture": ARCHITECTURE, "kwargs": kwargs, "classes": list(MORPH_CLASSES),
        "input": {"views": ["centre 64 px", "centre 128 px binned 2x2", "central segment"],
                  "stretch": "asinh(image / (3 sigma)) / 3", "pixel_scale": TRAIN_PIXEL_SCALE},
        "training": {"data": str(getattr(stamps, "source", "")), "data_hash": stamps.content_hash(),
                     "labels": str(label_set.source),
                     "labels_sha256": _file_sha(label_set.source) if Path(str(label_set.source)).is_file() else "",
                     "n_train": int(len(train)), "n_val": int(n_val), "epochs": epochs, "batch_size": batch_size,
                     "lr": lr, "freeze": freeze, "seed": seed, "augment": augment,
                     "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run},
        "metrics": {k: v for k, v in best.items() if k.startswith("val_") or k == "loss"},
        "history": fit.history, "command": command, "device": device_label(pick_device(device)),
    }
    if init_card is not None:
        card["init"] = {"path": str(init), "command": init_card.get("command", ""),
                        "created_utc": init_card.get("created_utc", "")}
    out = Path(out)
    check_cancel(cancel)
    keep_replaced(out)
    save_weights(out, fit.model, card)
    return card
