"""The Deblend dock: pick deblenders, run them on the current blend or a list of blends, see their outputs.

Deblenders run in a background worker (the window's :class:`~.workers.TaskRunner`); results come back
to the UI thread as lists of :class:`~candels_gui.deblend.base.DeblendResult` through a Qt signal,
are cached per ``(deblender name, BlendSpec)`` (:class:`~.deblend_view.ResultCache`) and are shown as
one :class:`~.deblend_view.DeblendRow` per deblender. Re-selecting a blend shows cached outputs at once.

torch is never imported here: torch deblenders are made (and torch imported) inside the worker the
first time one runs; the device they ran on (from their results) is shown in :attr:`DeblendPanel.device_label`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                             QPushButton, QToolButton, QVBoxLayout, QWidget)

from ..core.blending.engine import BlendSpec
from ..core.jobs import CancelToken, Job, Progress
from ..deblend import TORCH_MODELS, available, descriptions, get
from ..deblend.base import TTA_SUFFIX, Deblender
from ..deblend.torch_deblender import weights_path
from .deblend_jobs import deblend_job, queue_specs, train_command
from .deblend_view import DeblendRow, DeblendRows, ResultCache
from .display_model import DisplayModel
from .places import remember_folder, start_folder, window_settings
from .state import AppState
from .workers import Task, TaskRunner

__all__ = ["DeblendPanel", "deblend_job", "train_command", "queue_specs"]

#: Deblender check boxes per row of the strip above the outputs.
CHOICE_COLUMNS = 4

class _Bridge(QObject):
    """Carries results from the worker to the UI thread (queued signal; the worker never touches widgets)."""

    # name, list of specs, (engine rendered on, list of DeblendResult or error text)
    results = pyqtSignal(str, object, object)
    progress = pyqtSignal(object)


class DeblendPanel(QWidget):
    """Deblender choice, Run buttons, progress/Cancel and one output row per deblender.

    Parameters
    ----------
    state : AppState
        The current blend (``state.spec``) and the engine that renders blends.
    display : DisplayModel
        The editor's display settings (the rows share its LUT and levels).
    tasks : TaskRunner
        Runs the work off the UI thread (its status-bar bar shows progress too).
    on_error : callable, optional
        ``on_error(title, exc)`` for errors worth a dialog.
    cache_size : int
        Results kept in the LRU cache.

    Signals
    -------
    resultsReady(str, object, object)
        A deblender finished blends: name, list of specs, list of DeblendResult (UI thread).
    runFinished(object)
        A run ended: ``{name: blends deblended}``, or ``None`` when it was cancelled or failed.
    deviceChanged(str)
        The torch device in use (``"cpu"``, ``"cuda:NVIDIA …"``) became known.
    """

    resultsReady = pyqtSignal(str, object, object)
    runFinished = pyqtSignal(object)
    deviceChanged = pyqtSignal(str)

    def __init__(self, state: AppState, display: DisplayModel, tasks: TaskRunner,
                 on_error: Callable[[str, BaseException], None] | None = None, *, cache_size: int = 256,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.display, self.tasks, self.on_error = state, display, tasks, on_error
        self.cache = ResultCache(cache_size)
        self.weights: dict[str, Path] = {name: weights_path(name) for name in TORCH_MODELS}
        self.instances: dict[str, Deblender] = {}
        self.task: Task | None = None
        self.runs_started = 0
        self.queue_source: Callable[[], Sequence[BlendSpec]] | None = None
        #: Where the Train dialog takes its training data from (the window's last HDF5 export), if set.
        self.training_data: Callable[[], Path | None] | None = None
        self.torch_device: str | None = None
        self._bridge = _Bridge(self)
        self._bridge.results.connect(self._on_results)
        self._bridge.progress.connect(self._on_progress)
        self._blend_key: BlendSpec | None = None
        self._blend_image: np.ndarray | None = None
        self._pending: dict[str, set[BlendSpec]] = {}

        self.device_label = QLabel("torch: not run yet")
        self.device_label.setToolTip("Device the torch models last ran on (CUDA, then MPS, then CPU): the "
                                     "deblenders, and the morphology classifier (in a worker process)")
        self.checks: dict[str, QCheckBox] = {}
        self.weight_buttons: dict[str, QToolButton] = {}
        choose = QGridLayout()  # the deblenders, CHOICE_COLUMNS to a row (a strip above the outputs)
        choose.setContentsMargins(0, 0, 0, 0)
        choose.setVerticalSpacing(2)
        choose.setHorizontalSpacing(4)
        self._choose = choose
        for k, name in enumerate(available()):
            box = QCheckBox(name)
            box.setObjectName(f"deblender_{name}")
            box.setChecked(name in ("photutils", "sep"))
            box.toggled.connect(self._selection_changed)
            self.checks[name] = box
            cell = QHBoxLayout()
            cell.setSpacing(2)
            cell.addWidget(box)
            if name in TORCH_MODELS:
                button = QToolButton()
                button.setText("…")
                button.setToolTip(f"Choose the weights file of {name}")
                button.clicked.connect(lambda _=False, n=name: self._choose_weights(n))
                self.weight_buttons[name] = button
                cell.addWidget(button)
            cell.addStretch(1)
            choose.addLayout(cell, k // CHOICE_COLUMNS, k % CHOICE_COLUMNS)
        self.refresh_availability()
        self.tta_box = QCheckBox("Test-time augmentation (8×)")
        self.tta_box.setObjectName("deblend_tta")
        self.tta_box.setToolTip(
            "Run the torch deblenders as NAME+tta: the network's outputs averaged over the 8 turns and\n"
            "flips of each blend (8 times the inference time). On the README's held-out blends it sharpens\n"
            "unet-seg's footprints and blend2flux's fluxes; it blurs the images of unet-deblend and cgan,\n"
            "so their photometry gets worse (README, quality).")
        self.tta_box.toggled.connect(self._selection_changed)

        self.run_button = QPushButton("Run on current blend")
        self.run_button.setToolTip("Deblend the blend in the editor with the checked deblenders (Ctrl+D)")
        self.run_button.clicked.connect(self.run_current)
        self.queue_button = QPushButton("Run on queue")
        self.queue_button.clicked.connect(self.run_queue)
        self.auto_run = QCheckBox("Run on each new blend")
        self.auto_run.setToolTip("Run the checked deblenders whenever the editor shows another blend")
        self.train_button = QPushButton("Train model…")
        self.train_button.setToolTip("Train a torch deblender on an HDF5 export, with a live loss curve")
        self.train_button.clicked.connect(self.open_train_dialog)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(10)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setObjectName("caption")
        self.status.setWordWrap(True)
        self._set_running(False)
        self.set_queue_source(None)

        buttons = QGridLayout()
        buttons.setHorizontalSpacing(6)
        buttons.setVerticalSpacing(4)
        buttons.addWidget(self.run_button, 0, 0)
        buttons.addWidget(self.queue_button, 0, 1)
        buttons.addWidget(self.train_button, 0, 3)
        buttons.addWidget(self.auto_run, 1, 0)
        buttons.addWidget(self.tta_box, 1, 1, 1, 2)
        buttons.addWidget(self.cancel_button, 1, 3)
        buttons.setColumnStretch(2, 1)
        status = QHBoxLayout()
        status.addWidget(self.status, 2)
        status.addWidget(self.progress_bar, 1)
        controls = QVBoxLayout()
        controls.setSpacing(4)
        controls.addLayout(choose)
        controls.addLayout(buttons)
        controls.addLayout(status)

        self.scroll = DeblendRows(display)  # one row of outputs per chosen deblender, filling the tab
        self.scroll.on_built = self._show_current   # rows made when the tab is first shown show what is cached
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(6)
        layout.addLayout(controls)
        layout.addWidget(self.scroll, 1)

        state.specChanged.connect(self._spec_changed)
        state.stampsChanged.connect(self._stamps_changed)
        self._selection_changed()

    # ------------------------------------------------------------------ choice
    def selected(self) -> list[str]:
        """Names the checked (and enabled) deblenders run under, in registry order: a torch deblender is
        ``NAME+tta`` while the test-time augmentation box is checked."""
        suffix = TTA_SUFFIX if self.tta_box.isChecked() else ""
        return [n + (suffix if n in self.weights else "") for n, box in self.checks.items()
                if box.isChecked() and box.isEnabled()]

    def run_names(self) -> list[str]:
        """Every name a result of this panel can have, in registry order (each torch deblender twice:
        ``NAME`` and ``NAME+tta``)."""
        return [v for n in self.checks for v in ((n, n + TTA_SUFFIX) if n in self.weights else (n,))]

    def set_selected(self, names: Sequence[str]) -> None:
        """Check exactly ``names``; ``NAME+tta`` names of torch deblenders check the test-time augmentation
        box (unknown names, or torch deblenders both with and without ``+tta``, raise ``ValueError``)."""
        known = self.run_names()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown deblender(s) {unknown}; available: {known}")
        tta = {n.endswith(TTA_SUFFIX) for n in names if n.removesuffix(TTA_SUFFIX) in self.weights}
        if len(tta) > 1:
            raise ValueError(f"{list(names)}: the torch deblenders run either all with {TTA_SUFFIX} "
                             f"or all without")
        bases = {n.removesuffix(TTA_SUFFIX) for n in names}
        checked = {box: n in bases for n, box in self.checks.items()}
        if tta:  # no torch deblender named: the box stays as it is
            checked[self.tta_box] = tta == {True}
        for box, on in checked.items():
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        self._selection_changed()

    def refresh_availability(self) -> None:
        """Add checkboxes for deblenders registered since, and enable torch ones that have weights."""
        for name in available():
            if name not in self.checks:  # registered after the panel was built
                box = QCheckBox(name)
                box.toggled.connect(self._selection_changed)
                k = len(self.checks)
                self.checks[name] = box
                self._choose.addWidget(box, k // CHOICE_COLUMNS, k % CHOICE_COLUMNS)
        desc = descriptions()
        for name, box in self.checks.items():
            if name in self.weights:
                path = self.weights[name]
                ok = path.is_file()
                box.setEnabled(ok)
                box.setToolTip(f"{desc.get(name, '')}\nweights: {path}" if ok else
                               f"No weights: {path} does not exist.\nTrain them with\n  "
                               f"{train_command(name, path)}\nor Deblend > Train model…, or choose a "
                               f"weights file with the … button.")
            else:
                box.setToolTip(desc.get(name, ""))

    def check_weights(self, name: str, path: str | Path) -> bool:
        """Check a weights file picked for ``name`` as the command line does; False (and a dialog) if bad."""
        from ..core.errors import DataError, WeightsError
        from ..deblend.torch_deblender import load_weights

        try:
            _, card = load_weights(path)
            if card["architecture"] != name:
                raise WeightsError(f"{path}: holds a {card['architecture']!r} model, not {name!r}")
        except DataError as exc:
            if self.on_error is not None:
                self.on_error(f"Cannot use these weights for {name}", exc)
            return False
        return True

    def set_weights(self, name: str, path: str | Path) -> None:
        """Use the weights file ``path`` for torch deblender ``name`` (forgets its cached results)."""
        if name not in self.weights:
            raise ValueError(f"{name!r} is not a torch deblender; torch deblenders: {list(self.weights)}")
        self.weights[name] = Path(path)
        for run_name in (name, name + TTA_SUFFIX):
            self.instances.pop(run_name, None)
            self.cache.drop(run_name)
        self.refresh_availability()
        if self.checks[name].isEnabled():
            self.checks[name].setChecked(True)
        self._show_current()

    def set_queue_source(self, source: Callable[[], Sequence[BlendSpec]] | None) -> None:
        """Where "Run on queue" takes its blends from (``None``: no queue, the button is disabled)."""
        self.queue_source = source
        self.queue_button.setEnabled(source is not None and not self.busy)
        self.queue_button.setToolTip("Deblend every blend of the curation queue" if source is not None
                                     else "No curation queue in this window yet")

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        """True while a run of this panel is in progress."""
        return self.task is not None and not self.task.done

    def run_current(self) -> Task | None:
        """Deblend the editor's blend with the checked deblenders (cached results are shown, not rerun)."""
        spec = self.state.spec
        if spec is None or self.state.engine is None:
            self.status.setText("No blend: pick two galaxies or a random pair first.")
            return None
        return self.run_specs([spec])

    def run_queue(self) -> Task | None:
        """Deblend every blend of the queue (see :meth:`set_queue_source`)."""
        if self.queue_source is None:
            self.status.setText("No queue to run on.")
            return None
        specs = list(self.queue_source())
        if not specs:
            self.status.setText("The queue is empty: add blends to it first.")
            return None
        return self.run_specs(specs)

    def run_specs(self, specs: Sequence[BlendSpec]) -> Task | None:
        """Deblend ``specs`` with the checked deblenders in a worker; returns the task (``None`` when all
        results are cached or nothing is checked). A run in progress is cancelled first."""
        names = self.selected()
        if not names:
            self.status.setText("Check at least one deblender.")
            return None
        if self.state.engine is None:
            self.status.setText("No data loaded.")
            return None
        todo = {n: [s for s in dict.fromkeys(specs) if (n, s) not in self.cache] for n in names}
        todo = {n: v for n, v in todo.items() if v}
        self._show_current()
        if not todo:
            self.status.setText(f"{len(specs)} blend(s): all results cached.")
            return None
        if self.busy:
            self.cancel()
        engine = self.state.engine
        blend = self._current_blend()
        current = self.state.spec

        def render(part: list[BlendSpec]) -> np.ndarray:
            if len(part) == 1 and part[0] == current and blend is not None:
                return blend[None]
            return engine.render_batch(part).images.copy()

        def emit(name: str, done: list[BlendSpec], results: Any) -> None:
            try:   # with the engine they were computed on: results of data since replaced are dropped
                self._bridge.results.emit(name, done, (engine, results))
            except RuntimeError:  # the panel is gone (window closed while cancelling)
                pass

        self._pending = {n: set(v) for n, v in todo.items()}
        for name in todo:
            if name in self.scroll.built_rows and current in self._pending[name]:
                self.scroll.built_rows[name].set_message("running…")
        n_blends = len({s for v in todo.values() for s in v})
        self.runs_started += 1
        self._set_running(True)
        self.status.setText(f"Deblending {n_blends} blend(s) with {', '.join(todo)} …")
        self.progress_bar.setRange(0, 0)

        def make_job(token: CancelToken) -> Job:
            job = deblend_job(todo, render, self._make, emit, cancel=token)
            try:
                while True:
                    p = next(job)
                    try:
                        self._bridge.progress.emit(p)
                    except RuntimeError:
                        pass
                    yield p
            except StopIteration as stop:
                return stop.value

        run = self.runs_started

        def latest(slot: Callable[..., None]) -> Callable[..., None]:
            # a run replaced by a newer one (its cancel arrives late) no longer speaks for the panel
            return lambda *args: slot(*args) if run == self.runs_started else None

        self.task = self.tasks.run_job(f"Deblending {n_blends} blend(s)", make_job,
                                       on_result=latest(self._finished), on_error=latest(self._failed),
                                       on_cancel=latest(self._cancelled))
        return self.task

    def cancel(self) -> None:
        """Stop this panel's run (results already delivered stay cached)."""
        if self.task is not None and not self.task.done:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            # a deblender stops between blends: scarlet finishes the fit it is in (seconds; JAX's first compile more)
            self.status.setText("Cancelling… (the blend being deblended is finished first)")

    def open_train_dialog(self) -> Any:
        """Open the "Train model" dialog (its training data: the window's last HDF5 export, when there is one);
        its weights are used here when training finishes."""
        from .train_dialog import TrainDialog

        data = self.training_data() if self.training_data is not None else None
        dialog = TrainDialog(self.tasks, on_trained=self.set_weights, data_path=data, parent=self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.train_dialog = dialog
        return dialog

    # ------------------------------------------------------------------ worker side (no widgets)
    def _make(self, name: str) -> Deblender:
        deb = self.instances.get(name)
        if deb is None:
            base = name.removesuffix(TTA_SUFFIX)
            deb = get(name, weights=self.weights[base]) if base in self.weights else get(name)
            self.instances[name] = deb
        return deb

    # ------------------------------------------------------------------ UI-thread slots
    def show_device(self, device: str, what: str) -> None:
        """Say in the status bar where torch models (``what``: deblenders, classifier) last ran."""
        self.device_label.setText(f"torch: {device}")
        self.device_label.setToolTip(f"The {what} last ran on {device} (torch picks CUDA, then MPS, then CPU)")

    def _on_results(self, name: str, specs: list[BlendSpec], computed: tuple[Any, Any]) -> None:
        engine, results = computed
        if engine is not self.state.engine:
            return   # a run on data the window no longer shows (its cancel arrives after this result)
        if isinstance(results, str):
            self.status.setText(f"{name}: {results}")
            self._pending.pop(name, None)
            if name in self.scroll.built_rows:
                self.scroll.built_rows[name].set_message(f"failed: {results}")
            return
        for spec, res in zip(specs, results):
            self.cache.put(name, spec, res)
            self._pending.get(name, set()).discard(spec)
        if name.removesuffix(TTA_SUFFIX) in self.weights and results:
            dev = results[0].device
            if dev != self.torch_device:
                self.torch_device = dev
                self.show_device(dev, "deblenders")
                self.deviceChanged.emit(dev)
        if self.state.spec in specs and name in self.scroll.built_rows:
            res = results[specs.index(self.state.spec)]
            blend = self._current_blend()
            if blend is not None:
                self.scroll.built_rows[name].show_result(blend, res)
        self.resultsReady.emit(name, specs, results)

    def _on_progress(self, p: Progress) -> None:
        if p.total:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.done)

    def _finished(self, counts: dict[str, int]) -> None:
        self._set_running(False)
        n = sum(counts.values())
        self.status.setText(f"Done: {n} deblending(s) ({', '.join(f'{k} {v}' for k, v in counts.items())}).")
        self.runFinished.emit(counts)

    def _failed(self, exc: BaseException) -> None:
        self._set_running(False)
        self.status.setText(f"Failed: {exc}")
        self._show_current()
        if self.on_error is not None:
            self.on_error("Deblending failed", exc)
        self.runFinished.emit(None)

    def _cancelled(self) -> None:
        self._set_running(False)
        self.status.setText("Cancelled (results so far are kept).")
        self._show_current()
        self.runFinished.emit(None)

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.progress_bar.setVisible(running)
        self.queue_button.setEnabled(not running and self.queue_source is not None)
        if not running:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)

    @property
    def rows(self) -> dict[str, DeblendRow]:
        """The output rows by deblender name (made now when the tab has not been shown yet)."""
        return self.scroll.rows

    def _selection_changed(self, *_args: object) -> None:
        self.scroll.show_rows(self.selected(), self.run_names())  # registry order
        self._show_current()

    def _spec_changed(self, spec: BlendSpec | None, final: bool) -> None:
        if not final:
            return
        self._show_current()
        if spec is not None and self.auto_run.isChecked():
            self.run_current()

    def _stamps_changed(self) -> None:
        self.cancel()
        self.cache.drop()
        self._blend_key = self._blend_image = None

    def _current_blend(self) -> np.ndarray | None:
        spec, engine = self.state.spec, self.state.engine
        if spec is None or engine is None:
            return None
        if spec != self._blend_key:
            self._blend_image = engine.render(spec).image.copy()
            self._blend_key = spec
        return self._blend_image

    def _show_current(self) -> None:
        """Show the cached results of the current blend (a message where there are none)."""
        spec = self.state.spec
        blend = None
        for name in self.selected():
            row = self.scroll.built_rows.get(name)
            if row is None:
                continue
            res = self.cache.get(name, spec) if spec is not None else None
            if res is None:
                running = self.busy and spec in self._pending.get(name, ())
                row.set_message("running…" if running else
                                "not run for this blend" if spec is not None else "no blend")
                continue
            if blend is None:
                blend = self._current_blend()
            row.show_result(blend, res, cached=True)

    def _choose_weights(self, name: str) -> None:
        start = start_folder(window_settings(self), self.weights[name])
        path, _ = QFileDialog.getOpenFileName(self, f"Weights of {name}", str(start),
                                              "Torch weights (*.pt);;All files (*)")
        if path and self.check_weights(name, path):
            remember_folder(window_settings(self), path)
            self.set_weights(name, path)
