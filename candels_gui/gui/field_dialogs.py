"""*Generate field…*: run a trained SGAN in the background (progress and Cancel in the status bar), then open
the new field in the Field tab."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from PyQt6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                             QPushButton, QSpinBox, QWidget)

__all__ = ["GenerateFieldDialog", "default_model_path"]


def default_model_path() -> Path:
    """The shipped SGAN trained on the mock field (``resources/models/sgan-sim.pt``)."""
    from ..torch_common import weights_path

    return weights_path("sgan-sim")


def _browse_row(edit: QLineEdit, pick: Callable[[], str]) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(lambda: (lambda p: edit.setText(p) if p else None)(pick()))
    lay.addWidget(button)
    return row


class GenerateFieldDialog(QDialog):
    """Model, size, seed and output file of a generated field; OK runs the generation as a background task.

    Parameters
    ----------
    tasks : TaskRunner
    on_done : callable
        ``on_done(path)`` with the written FITS file.
    on_error : callable
        ``on_error(title, exc)``.
    """

    def __init__(self, tasks: Any, *, on_done: Callable[[Path], None], on_error: Callable[..., None],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generate a field")
        self.tasks, self.on_done, self.on_error = tasks, on_done, on_error
        self.task: Any = None
        self.model_edit = QLineEdit(str(default_model_path()))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(64, 65536)
        self.size_spin.setSingleStep(1024)
        self.size_spin.setValue(4096)
        self.size_spin.setSuffix(" px")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.out_edit = QLineEdit(str(Path(tempfile.gettempdir()) / "generated_field.fits"))
        form = QFormLayout(self)
        form.addRow("SGAN weights", _browse_row(self.model_edit, lambda: QFileDialog.getOpenFileName(
            self, "SGAN weights", str(Path(self.model_edit.text()).parent), "Weights (*.pt)")[0]))
        form.addRow("Side", self.size_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Write to", _browse_row(self.out_edit, lambda: QFileDialog.getSaveFileName(
            self, "Write the field to", self.out_edit.text(), "FITS (*.fits)")[0]))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Generate")
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def start(self) -> Any:
        """Start the generation in the background (progress and Cancel in the status bar) and close."""
        from ..fields.generate import generate_field_job

        model, out = Path(self.model_edit.text()), Path(self.out_edit.text())
        size, seed = int(self.size_spin.value()), int(self.seed_spin.value())
        on_done, on_error = self.on_done, self.on_error
        self.task = self.tasks.run_job(
            f"Generating a {size}×{size} field",
            lambda token: generate_field_job(model, out, size, seed=seed, overwrite=True, cancel=token),
            on_result=lambda res: on_done(Path(res["path"])),
            on_error=lambda exc: on_error("Cannot generate the field", exc), independent=True)
        self.accept()
        return self.task
