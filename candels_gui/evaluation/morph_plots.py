"""Figures of the morphology classifier: confusion matrices and the transfer-learning curves (matplotlib, Agg).

Examples
--------
>>> plot_confusion({"held out": cm}, "confusion.png")       # doctest: +SKIP
>>> plot_transfer(result, "transfer.png")                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.data.morph_labels import MORPH_CLASSES
from .plots import _COLOURS, _MARKERS, _figure, _save, _style

__all__ = ["plot_confusion", "plot_transfer"]


def plot_confusion(matrices: Mapping[str, np.ndarray], path: str | os.PathLike,
                   classes: tuple[str, ...] = MORPH_CLASSES) -> Path:
    """One panel per confusion matrix (rows: truth, columns: predicted), each row as fractions of its class."""
    with _style():
        n = len(matrices)
        fig = _figure(figsize=(4.6 * n, 4.4))
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (title, cm) in zip(axes, matrices.items()):
            cm = np.asarray(cm, dtype=float)
            rows = cm.sum(axis=1, keepdims=True)
            frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
            ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
            ax.grid(False)
            for i in range(len(classes)):
                for j in range(len(classes)):
                    if cm[i, j]:
                        ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=9,
                                color="white" if frac[i, j] > 0.55 else "black")
            ax.set_xticks(range(len(classes)), classes)
            ax.set_yticks(range(len(classes)), classes)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            acc = np.trace(cm) / max(cm.sum(), 1)
            ax.set_title(f"{title}: accuracy {acc:.3f}")
        return _save(fig, path)


def plot_transfer(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Accuracy and RMSE against the number of labelled galaxies, one line per method (fold spread as bars)."""
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    with _style():
        fig = _figure(figsize=(9.5, 3.8))
        ax_acc, ax_rmse = fig.subplots(1, 2)
        for k, method in enumerate(methods):
            rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["n_labelled"])
            n = [r["n_labelled"] for r in rs]
            look = dict(color=_COLOURS[k], marker=_MARKERS[k], label=method,
                        linestyle="--" if method == "shipped" else "-")
            ax_acc.errorbar(n, [r["accuracy"] for r in rs], yerr=[r["accuracy_fold_std"] for r in rs], **look)
            ax_rmse.errorbar(n, [r["rmse"] for r in rs], yerr=[r["rmse_fold_std"] for r in rs], **look)
        ax_acc.set_ylabel("accuracy")
        ax_rmse.set_ylabel("RMSE of the class fractions")
        for ax in (ax_acc, ax_rmse):
            ax.set_xlabel("labelled galaxies")
        ax_acc.legend()
        fig.suptitle(f"{result.get('n_labelled_galaxies', '?')} labelled galaxies, {result.get('folds', '?')}-fold "
                     "cross-validation by galaxy", fontsize=11)
        return _save(fig, path)
