"""Morphology in the app: predicted classes and statmorph diagnostics of the open data, in the background.

When data opens, :class:`MorphologyController` classifies every stamp with the morphology CNN and measures
the statmorph diagnostics (cached per data set by the core), each in a worker of the window's task runner,
and hands the results to the catalog table as columns (``galtype_pred``, ``p_pred``, ``gini``, ``m20``,
``C``, ``A``, ``S``, ``sersic_n``, ``rhalf``, ``morph_flag``). When the catalog has no galaxy types (a
GalSim/COSMOS catalog says ``unknown``), the predicted class fills ``galtype`` (the file's column stays as
``galtype_catalog``), so the type filter and random pairs work on predicted types.

It also owns the labelling mode's controller and the scatter panel's data, and fine-tunes the classifier
on the session's eyeball labels (weights written in the user's cache folder, then used at once).
``$CANDELS_GUI_MORPH_AUTO=0`` turns the automatic work off (the tests do).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from ..core.data.stampset import GALTYPES
from .services import WindowServices
from .state import AppState

__all__ = ["MorphologyController", "AUTO_ENV", "DIAGNOSTIC_COLUMNS"]

#: Environment variable: "0" turns off classifying and measuring when data opens.
AUTO_ENV = "CANDELS_GUI_MORPH_AUTO"
#: Delay (ms) between data opening and the automatic classification and measurement.
AUTO_DELAY_MS = 1500
#: Seconds between the statmorph tables shown while it measures (the galaxies done so far fill in).
PARTIAL_EVERY_S = 2.0
#: Labels of the two background tasks (the status bar shows them; the automatic start looks for them).
CLASSIFY_LABEL, MEASURE_LABEL = "Classifying morphology", "statmorph diagnostics"
#: Catalog column -> statmorph table column.
DIAGNOSTIC_COLUMNS = {"gini": "gini", "m20": "m20", "C": "concentration", "A": "asymmetry", "S": "smoothness",
                      "sersic_n": "sersic_n", "rhalf": "rhalf", "morph_flag": "flag"}
#: Epochs of the app's fine-tuning (each at least 256 turned and flipped samples: 1,280 in all, about a minute
#: on two CPU cores; the transfer table of docs/morphology.md measured 3 such epochs).
FINE_TUNE_EPOCHS = 5


class MorphologyController(QObject):
    """Predictions and diagnostics of the open data (see the module docstring).

    Parameters
    ----------
    state : AppState
        The data.
    services : WindowServices
        Task runner, errors, status bar.
    set_columns : callable
        ``set_columns(dict name -> array)``: show computed columns in the catalog.

    Signals
    -------
    predictionsChanged()
        :attr:`probabilities` changed (new data or new weights).
    diagnosticsChanged()
        :attr:`diagnostics` changed.
    """

    predictionsChanged = pyqtSignal()
    diagnosticsChanged = pyqtSignal()

    def __init__(self, state: AppState, services: WindowServices,
                 set_columns: Callable[[dict[str, np.ndarray]], None]) -> None:
        super().__init__(services.parent)
        self.state, self.services, self.set_columns = state, services, set_columns
        self.weights: Path | None = None          # None: the shipped weights
        self.probabilities: np.ndarray | None = None
        self.predicted: np.ndarray | None = None
        self.device: str | None = None            # where the last classification ran (a worker process's torch)
        self.diagnostics: Any = None              # astropy Table of core.measure.morphology
        self._tasks: list[Any] = []
        # a child timer, not QTimer.singleShot with a closure: it dies with the window, so a window closed
        # within AUTO_DELAY_MS of its data opening starts nothing on a task runner already destroyed
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.setInterval(AUTO_DELAY_MS)
        self._auto_timer.timeout.connect(self._auto_start)
        self._auto_stamps: Any = None
        state.stampsChanged.connect(self._stamps_changed)

    @property
    def auto(self) -> bool:
        """Classify and measure when data opens."""
        return os.environ.get(AUTO_ENV, "1") != "0"

    # ------------------------------------------------------------------ work
    def _stamps_changed(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        self.probabilities = self.predicted = self.diagnostics = None
        self.predictionsChanged.emit()
        self.diagnosticsChanged.emit()
        if self.auto and self.state.stamps is not None:
            # after the window has painted its first blend: importing torch in a worker thread holds the GIL
            # for seconds, which would delay that first paint
            self._auto_stamps = self.state.stamps
            self._auto_timer.start()
        else:
            self.stop_automatic()

    def stop_automatic(self) -> None:
        """Start no automatic classification or measurement (the window is closing, or there is no data)."""
        self._auto_timer.stop()
        self._auto_stamps = None

    def _auto_start(self) -> None:
        if self.state.stamps is not self._auto_stamps:
            return
        if self.services.tasks.busy:
            # the user's own work (an export, a deblender run, a classification with their weights) first:
            # spawning the children and sending them the stamps holds the interpreter lock for tens of
            # milliseconds; try again once it is done
            self._auto_timer.start()
            return
        # what the user has not already had done for this data (weights picked, a fine-tune, in the first seconds)
        if self.probabilities is None and not self._running(CLASSIFY_LABEL):
            self.classify()
        if self.diagnostics is None and not self._running(MEASURE_LABEL):
            self.measure()

    def _running(self, label: str) -> bool:
        """A task of this data running under ``label``."""
        return any(not t.done and t.label == label for t in self._tasks)

    def classify(self, weights: str | os.PathLike | None = None) -> None:
        """Classify every stamp in the background (``weights``: another weights file, kept for later)."""
        stamps = self.state.stamps
        if stamps is None:
            return
        previous = self.weights
        if weights is not None:
            self.weights = Path(weights)
        path = self.weights

        def job(token: Any):   # in a child process: its torch import does not stall the UI thread
            from ..morphology.classifier import classify_in_process_job

            return (yield from classify_in_process_job(stamps, path, cancel=token))

        def done(result: Any) -> None:
            if stamps is not self.state.stamps:
                return
            self.probabilities = result.probabilities
            self.predicted = result.predicted
            self.device = str(result.device)
            self._publish_predictions()
            name = path.name if path else "the shipped classifier"
            self.services.status(f"Morphology: {len(result.ids):,} stamps classified by {name} "
                                 f"({result.device})", 5000)

        def failed(exc: BaseException) -> None:
            if weights is not None and self.weights == path:   # weights just picked that do not load: not kept
                self.weights = previous
                kept = previous.name if previous is not None else "the shipped classifier"
                self.services.status(f"Morphology classifier not available: {exc}; {kept} stays in use", 10000)
                return
            self.services.status(f"Morphology classifier not available: {exc}", 10000)

        self._tasks.append(self.services.tasks.run_job(CLASSIFY_LABEL, job, on_result=done, on_error=failed))

    def measure(self) -> None:
        """Measure the statmorph diagnostics in the background (instant when cached)."""
        stamps = self.state.stamps
        if stamps is None:
            return

        def job(token: Any):
            from ..core.measure.morphology import morphology_job

            # one core is left to the window (statmorph on every core made dragging stutter)
            return (yield from morphology_job(stamps, workers=max(1, (os.cpu_count() or 2) - 1), background=True,
                                              partial_every=PARTIAL_EVERY_S, cancel=token))

        def show(table: Any) -> None:
            if stamps is not self.state.stamps:
                return
            self.diagnostics = table
            self.set_columns({name: np.asarray(table[col]) for name, col in DIAGNOSTIC_COLUMNS.items()})
            self.diagnosticsChanged.emit()

        def done(table: Any) -> None:
            show(table)
            if stamps is self.state.stamps:
                bad = int((np.asarray(table["flag"]) >= 2).sum())
                self.services.status(f"statmorph: {len(table):,} galaxies measured ({bad} flagged)", 5000)

        self._tasks.append(self.services.tasks.run_job(
            MEASURE_LABEL, job, on_result=done,
            on_progress=lambda p: show(p.partial) if p.partial is not None else None,
            on_error=lambda exc: self.services.show_error("statmorph", exc)))

    def _publish_predictions(self) -> None:
        stamps = self.state.stamps
        if stamps is None or self.probabilities is None:
            return
        cat = stamps.catalog
        cols: dict[str, np.ndarray] = {"galtype_pred": self.predicted.astype("U4"),
                                       "p_pred": self.probabilities.max(axis=1)}
        types = np.char.lower(np.asarray(cat["galtype"]).astype(str))
        own = np.asarray(cat["galtype_catalog"]).astype(str) if "galtype_catalog" in cat.colnames else types
        if not np.isin(np.char.lower(own), GALTYPES).any():      # no types of its own: use the predictions
            if "galtype_catalog" not in cat.colnames:
                cat["galtype_catalog"] = cat["galtype"]
            cat["galtype"] = self.predicted.astype("U8")
            cols["galtype"] = self.predicted.astype("U8")
        self.set_columns(cols)
        self.predictionsChanged.emit()

    # ------------------------------------------------------------------ fine-tuning
    def fine_tune(self, votes: Any, *, on_done: Callable[[Path], None] | None = None) -> None:
        """Fine-tune the classifier in use on the session's votes, then classify with the new weights."""
        from ..core.data.morph_labels import LabelSet
        from ..core.measure.morphology import default_cache_dir

        stamps = self.state.stamps
        if stamps is None:
            return
        ids, fractions, _ = votes.fractions()
        known = np.isin(ids, np.asarray(stamps.ids))
        if known.sum() < 2:
            self.services.show_error("Fine-tune", ValueError(
                "label at least two galaxies of this data first (Morphology > Labelling mode)"))
            return
        labels = LabelSet(ids[known], fractions[known], "the session's labels")
        init = self.weights
        out = default_cache_dir() / f"morph-cnn-{stamps.content_hash()}-finetuned.pt"

        def job(token: Any):
            from ..morphology.classifier import default_weights
            from ..morphology.training import train_classifier_job

            return (yield from train_classifier_job(stamps, labels, out, init=init or default_weights(),
                                                    epochs=FINE_TUNE_EPOCHS, cancel=token,
                                                    command="candels-gui (app): fine-tune on the session's labels"))

        def done(_card: Any) -> None:
            self.services.status(f"Fine-tuned on {len(labels)} labelled galaxies: {out}", 8000)
            self.classify(out)
            if on_done:
                on_done(out)

        self._tasks.append(self.services.tasks.run_job(
            f"Fine-tuning on {len(labels)} galaxies", job, on_result=done,
            on_error=lambda exc: self.services.show_error("Fine-tune", exc)))
