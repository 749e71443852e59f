"""Loading the morphology CNN and classifying stamps (batched, on the torch device of :mod:`torch_common`).

Examples
--------
>>> from candels_gui.core import load_stampset
>>> clf = MorphClassifier.load()                                   # doctest: +SKIP
>>> result = run_job(classify_job(load_stampset("sample_data"), clf))  # doctest: +SKIP
>>> result.probabilities.shape                                      # doctest: +SKIP
(150, 6)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.data.morph_labels import MORPH_CLASSES, PROB_COLUMNS
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from .network import ARCHITECTURE, DEFAULT_KWARGS, build_network, fold_batchnorm
from .preprocess import prepare_inputs

__all__ = ["MorphClassifier", "Classification", "classify_job", "classify_in_process_job", "default_weights",
           "load_network", "dihedral"]


def default_weights() -> Path:
    """The shipped weights: ``resources/models/morph-cnn.pt``."""
    from ..torch_common import weights_path

    return weights_path(ARCHITECTURE)


def load_network(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Build the network a morph-cnn weights file describes and load its weights: ``(model, card)``.

    Raises
    ------
    DataError
        The file is missing, unreadable, or holds another model's weights.
    """
    from ..torch_common import read_weights

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such weights file (train one with 'candels-gui train --model morph-cnn')")
    state, card = read_weights(path)
    arch = card.get("architecture")
    if arch != ARCHITECTURE:
        raise DataError(f"{path}: weights of {arch!r}, not of {ARCHITECTURE!r}")
    classes = tuple(card.get("classes", MORPH_CLASSES))
    if classes != MORPH_CLASSES:
        raise DataError(f"{path}: classes {list(classes)}, this program uses {list(MORPH_CLASSES)}")
    kwargs = {**DEFAULT_KWARGS, **card.get("kwargs", {})}
    model = build_network(**kwargs)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{path}: the weights do not fit a {ARCHITECTURE} of options {kwargs} ({first})") from None
    return model, card


def dihedral(x: Any, k: int) -> Any:
    """The ``k``-th (0-7) of the eight turns and flips of a (B, C, H, W) tensor."""
    import torch

    if k >= 4:
        x = torch.flip(x, dims=(3,))
    return torch.rot90(x, k % 4, dims=(2, 3))


@dataclass
class Classification:
    """What :func:`classify_job` returns."""

    ids: np.ndarray
    #: (N, K) class probabilities, columns :data:`MORPH_CLASSES`.
    probabilities: np.ndarray
    #: (N,) stamps that had non-finite pixels (counted as 0).
    nonfinite: np.ndarray
    device: str = "cpu"

    @property
    def predicted(self) -> np.ndarray:
        """(N,) the most probable class of each stamp."""
        return np.asarray(MORPH_CLASSES)[np.argmax(self.probabilities, axis=1)]

    @property
    def confidence(self) -> np.ndarray:
        """(N,) the probability of that class."""
        return self.probabilities.max(axis=1)

    def as_table(self) -> Any:
        """astropy Table ``ID, galtype_pred, p_pred, p_<class>..., flag`` (the ``classify`` CSV)."""
        from astropy.table import Table

        t = Table()
        t["ID"] = self.ids
        t["galtype_pred"] = self.predicted
        t["p_pred"] = np.round(self.confidence, 4)
        for j, col in enumerate(PROB_COLUMNS):
            t[col] = np.round(self.probabilities[:, j], 4)
        t["flag"] = np.where(self.nonfinite, "nonfinite_pixels", "")
        return t


class MorphClassifier:
    """The morphology CNN ready for inference (batch norms folded, evaluation mode)."""

    def __init__(self, model: Any, card: dict[str, Any], *, device: str = "auto",
                 path: Optional[Path] = None) -> None:
        from ..torch_common import device_label, pick_device

        self.device = pick_device(device)
        self.card = card
        self.path = path
        self.model = fold_batchnorm(model).to(self.device).eval()
        if self.device.type == "cpu":
            import torch

            self.model = self.model.to(memory_format=torch.channels_last)
        self.device_name = device_label(self.device)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, device: str = "auto") -> "MorphClassifier":
        """Load ``weights`` (default: the shipped :func:`default_weights`)."""
        path = Path(weights) if weights else default_weights()
        model, card = load_network(path)
        return cls(model, card, device=device, path=path)

    def predict_inputs(self, x: np.ndarray, *, tta: bool = False) -> np.ndarray:
        """(B, K) probabilities of prepared inputs (see :func:`.preprocess.prepare_inputs`)."""
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            if self.device.type == "cpu":
                t = t.contiguous(memory_format=torch.channels_last)
            if tta:
                p = sum(torch.softmax(self.model(dihedral(t, k)), dim=1) for k in range(8)) / 8
            else:
                p = torch.softmax(self.model(t), dim=1)
            return p.float().cpu().numpy().astype(np.float64)

    def predict(self, images: np.ndarray, segmaps: np.ndarray, *, pixel_scale: float | None = None,
                tta: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (N, K), nonfinite (N,))`` of a batch of stamps."""
        x, bad = prepare_inputs(images, segmaps, pixel_scale=pixel_scale)
        return self.predict_inputs(x, tta=tta), bad


def classify_job(stamps: Any, classifier: MorphClassifier, *, batch_size: int = 256, tta: bool = False,
                 cancel: Optional[CancelToken] = None) -> Job:
    """Classify every stamp of a StampSet (a job generator; returns a :class:`Classification`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(stamps)
    probs = np.zeros((n, len(MORPH_CLASSES)))
    bad = np.zeros(n, bool)
    for start in range(0, n, batch_size):
        check_cancel(cancel)
        stop = min(n, start + batch_size)
        probs[start:stop], bad[start:stop] = classifier.predict(
            stamps.images[start:stop], stamps.segmaps[start:stop], pixel_scale=stamps.pixel_scale, tta=tta)
        yield Progress(stop, n, "classifying")
    return Classification(np.asarray(stamps.ids), probs, bad, classifier.device_name)


def _classify_arrays(images: np.ndarray, segmaps: np.ndarray, ids: np.ndarray, pixel_scale: float | None,
                     weights: Optional[str], batch_size: int) -> Classification:
    """In a child process: load the classifier and classify the stamps given as arrays."""
    from ..core.jobs import run_job

    class _Stamps:   # what classify_job reads of a StampSet
        def __init__(self) -> None:
            self.images, self.segmaps, self.ids, self.pixel_scale = images, segmaps, ids, pixel_scale

        def __len__(self) -> int:
            return len(self.images)

    return run_job(classify_job(_Stamps(), MorphClassifier.load(weights), batch_size=batch_size))


def classify_in_process_job(stamps: Any, weights: str | os.PathLike | None = None, *, batch_size: int = 256,
                            cancel: Optional[CancelToken] = None) -> Job:
    """:func:`classify_job` in a spawned child process (a job generator; returns a :class:`Classification`).

    For an app: importing torch takes a second or two of the interpreter lock, which a worker thread would
    take from the UI thread (dragging stutters); the child imports torch on its own. The stamps travel to it
    once (pickled arrays), and it runs at lower CPU priority. Cancelling stops the child.
    """
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    n = len(stamps)
    from ..core.parallel import lower_priority, stop_process_pool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=lower_priority)      # the window's thread gets the cores first
    future = None
    try:
        future = pool.submit(_classify_arrays, np.asarray(stamps.images), np.asarray(stamps.segmaps),
                             np.asarray(stamps.ids), stamps.pixel_scale, None if weights is None else str(weights),
                             int(batch_size))
        yield Progress(0, n, "classifying (child process)")
        while not future.done():
            check_cancel(cancel)
            time.sleep(0.05)
        result = future.result()
        yield Progress(n, n, "classifying")
        return result
    finally:
        if future is None or not future.done():   # cancelled or failed: stop the child
            stop_process_pool(pool)
        else:
            pool.shutdown(wait=False, cancel_futures=True)
