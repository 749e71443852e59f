"""The "Train model…" dialog: train a torch deblender on an HDF5 export in the background.

Training is :func:`candels_gui.deblend.training.train_model` (a core-style job) run by the window's
:class:`~.workers.TaskRunner`; its per-epoch progress messages feed a live loss curve (train and
validation loss per epoch). Cancel stops between batches and keeps the checkpoint (``OUT.pt.ckpt``);
"Resume" continues from it. When training finishes, ``on_trained(name, path)`` hands the new weights to
the Deblend panel.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
from PyQt6.QtCore import QObject, QStandardPaths, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                             QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core.jobs import CancelToken, Job, Progress
from ..deblend.training import DEFAULT_KWARGS, train_model
from .places import remember_folder, start_folder, window_settings
from .style import COLORS, configure_pyqtgraph
from .workers import Task, TaskRunner

__all__ = ["TrainDialog", "parse_epoch_message", "default_output_path"]

_EPOCH = re.compile(r"epoch (\d+)/(\d+):\s*(.+)$")
_ITEM = re.compile(r"^\s*([A-Za-z_][\w]*)\s+([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|inf))\s*$")


def parse_epoch_message(message: str) -> tuple[int, dict[str, float]] | None:
    """Epoch number and metrics of an end-of-epoch progress message of :func:`train_model`.

    Returns ``None`` for the per-batch messages (no metrics).

    Examples
    --------
    >>> parse_epoch_message("unet-seg epoch 3/30: train_loss 0.41, val_loss 0.5, val_iou 0.8")
    (3, {'train_loss': 0.41, 'val_loss': 0.5, 'val_iou': 0.8})
    >>> parse_epoch_message("unet-seg epoch 3/30") is None
    True
    """
    m = _EPOCH.search(message)
    if m is None:
        return None
    metrics: dict[str, float] = {}
    for part in m.group(3).split(","):
        item = _ITEM.match(part)
        if item is not None:
            metrics[item.group(1)] = float(item.group(2))
    return (int(m.group(1)), metrics) if metrics else None


def default_output_path(name: str) -> Path:
    """Where the dialog proposes to write weights: the user's app-data folder, ``models/NAME.pt``
    (never the shipped weights in ``resources/models``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".candels-gui") / "models" / f"{name}.pt"


class _Bridge(QObject):
    progress = pyqtSignal(object)


class TrainDialog(QDialog):
    """Model, data, epochs, batch size, output; Start/Cancel; progress and a live loss curve.

    Parameters
    ----------
    tasks : TaskRunner
        Runs training off the UI thread.
    on_trained : callable, optional
        ``on_trained(model_name, weights_path)`` after a finished training.
    data_path : path, optional
        The training data to start with (the window's last HDF5 export).

    Signals
    -------
    epochDone(int, object)
        Epoch number and its metrics dict (``train_loss``, ``val_loss``, ...).
    trained(object)
        The :class:`~candels_gui.deblend.training.TrainResult`.
    """

    epochDone = pyqtSignal(int, object)
    trained = pyqtSignal(object)

    def __init__(self, tasks: TaskRunner, *, on_trained: Callable[[str, Path], None] | None = None,
                 data_path: str | Path | None = None, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.setWindowTitle("Train model")
        self.tasks, self.on_trained = tasks, on_trained
        self.task: Task | None = None
        self.history: list[tuple[int, dict[str, float]]] = []
        self.result: Any = None
        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._progress)

        self.model = QComboBox()
        self.model.addItems(list(DEFAULT_KWARGS))
        self.data = QLineEdit()
        self.data.setPlaceholderText("HDF5 export (File > Export as HDF5) or the blends.h5 of candels-gui produce")
        if data_path is not None:
            self.data.setText(str(data_path))
        self.output = QLineEdit(str(default_output_path(self.model.currentText())))
        self._output_edited = False
        self.output.textEdited.connect(lambda _t: setattr(self, "_output_edited", True))
        self.model.currentTextChanged.connect(self._model_changed)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(30)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.batch_size.setValue(32)
        self.resume = QCheckBox("Resume from the checkpoint (OUTPUT.ckpt) when there is one")

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Training data", self._with_browse(self.data, self._browse_data))
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Weights file", self._with_browse(self.output, self._browse_output))
        form.addRow("", self.resume)

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(-10, 10))
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen(COLORS["accent"], width=2), symbol="o",
                                          symbolSize=5, name="train loss")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen((230, 110, 20), width=2), symbol="s",
                                        symbolSize=5, name="validation loss")
        self.plot.setMinimumHeight(220)

        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.status = QLabel("Pick an HDF5 export and press Start.")
        self.status.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; the last finished epoch stays in the "
                                      "checkpoint")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._set_running(False)
        self.resize(620, 560)

    # ------------------------------------------------------------------ public
    @property
    def busy(self) -> bool:
        """True while training runs."""
        return self.task is not None and not self.task.done

    def start(self) -> Task | None:
        """Start training with the dialog's settings (a message instead when they are incomplete)."""
        if self.busy:
            return self.task
        name = self.model.currentText()
        data = Path(self.data.text().strip()).expanduser()
        out = Path(self.output.text().strip()).expanduser()
        zarr_store = data.is_dir() and ((data / "zarr.json").is_file() or (data / "blends.zarr").is_dir())
        if not self.data.text().strip() or not (data.is_file() or zarr_store):
            self.status.setText(f"Training data {str(data)!r} is not a file: choose an HDF5 export "
                                f"(or the zarr.json of a Zarr store).")
            return None
        if not self.output.text().strip() or out.suffix != ".pt":
            self.status.setText(f"Weights file {str(out)!r} must end in .pt")
            return None
        epochs, batch = self.epochs.value(), self.batch_size.value()
        resume = self.resume.isChecked()
        command = (f"candels-gui train --model {name} --data {data} -o {out} --epochs {epochs} "
                   f"--batch_size {batch}" + (" --resume" if resume else ""))
        self.history.clear()
        self.result = None
        self._redraw()
        bridge = self._bridge

        def make_job(token: CancelToken) -> Job:
            job = train_model(name, data, out, epochs=epochs, batch_size=batch, resume=resume,
                              cancel=token, command=command)
            try:
                while True:
                    p = next(job)
                    try:
                        bridge.progress.emit(p)
                    except RuntimeError:  # dialog gone
                        pass
                    yield p
            except StopIteration as stop:
                return stop.value

        self._set_running(True)
        self.bar.setRange(0, 0)
        self.status.setText(f"Training {name} on {data.name} …")
        self.task = self.tasks.run_job(f"Training {name}", make_job,
                                       on_result=lambda res: self._finished(name, res),
                                       on_error=self._failed, on_cancel=lambda: self._cancelled(out),
                                       independent=True)
        return self.task

    def cancel(self) -> None:
        """Stop training after the current batch (the checkpoint is kept)."""
        if self.busy and self.task is not None:
            self.task.cancel()

    # ------------------------------------------------------------------ slots
    def _progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        parsed = parse_epoch_message(p.message)
        if parsed is None:
            if p.message:
                self.status.setText(p.message)
            return
        epoch, metrics = parsed
        self.history = [h for h in self.history if h[0] < epoch] + [(epoch, metrics)]
        self._redraw()
        self.status.setText(p.message)
        self.epochDone.emit(epoch, metrics)

    def _redraw(self) -> None:
        for curve, key in ((self.train_curve, "train_loss"), (self.val_curve, "val_loss")):
            pts = [(e, m[key]) for e, m in self.history if key in m and math.isfinite(m[key])]
            curve.setData([e for e, _ in pts], [v for _, v in pts])

    def _gone(self) -> bool:
        """The dialog was closed (it deletes itself on close) while its training ran: no widget to update."""
        from PyQt6 import sip

        return sip.isdeleted(self)

    def _finished(self, name: str, result: Any) -> None:
        if self._gone():   # closed while training: the weights still go to the Deblend panel
            if self.on_trained is not None:
                self.on_trained(name, Path(result.path))
            return
        self._set_running(False)
        self.result = result
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        device = result.card.get("device", "?") if getattr(result, "card", None) else "?"
        early = " (stopped early)" if result.stopped_early else ""
        self.status.setText(f"Weights written to {result.path}: best epoch {result.best_epoch} of "
                            f"{result.epochs_run}{early}, validation loss {result.best_val_loss:.4g}, "
                            f"device {device}. The Deblend panel uses them now."
                            + (f" The weights they replace are kept as {result.replaced.name}."
                               if result.replaced is not None else ""))
        if self.on_trained is not None:
            self.on_trained(name, Path(result.path))
        self.trained.emit(result)

    def _failed(self, exc: BaseException) -> None:
        if self._gone():
            return
        self._set_running(False)
        self.status.setText(f"Training failed: {exc}")

    def _cancelled(self, out: Path) -> None:
        if self._gone():
            return
        self._set_running(False)
        ckpt = out.with_name(out.name + ".ckpt")
        kept = f"checkpoint kept at {ckpt}; tick Resume to continue" if ckpt.is_file() else \
            "no epoch had finished, so there is no checkpoint"
        self.status.setText(f"Cancelled: {kept}.")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.model, self.data, self.output, self.epochs, self.batch_size, self.resume):
            w.setEnabled(not running)

    def _model_changed(self, name: str) -> None:
        if not self._output_edited:
            self.output.setText(str(default_output_path(name)))

    def _with_browse(self, edit: QLineEdit, slot: Callable[[], None]) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(slot)
        row.addWidget(button)
        return box

    def _browse_data(self) -> None:
        start = start_folder(window_settings(self), self.data.text().strip() or None)
        path, _ = QFileDialog.getOpenFileName(self, "Training data", str(start),
                                              "HDF5 export (*.h5 *.hdf5);;Zarr store (zarr.json);;All files (*)")
        if path:   # a Zarr store is a folder: its zarr.json stands for it
            remember_folder(window_settings(self), path)
            self.data.setText(str(Path(path).parent) if Path(path).name == "zarr.json" else path)

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Weights file", self.output.text(),
                                              "Torch weights (*.pt)")
        if path:
            self.output.setText(path if path.endswith(".pt") else path + ".pt")
            self._output_edited = True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self.cancel()
        super().closeEvent(event)
