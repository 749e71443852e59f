"""File > Export…: write the session's blends with the core writers, in a worker with progress and Cancel.

The dialog only collects choices (format, label method, statuses, train/test split, destination); the
work is :func:`candels_gui.core.curation.session_export.export_session`, i.e. the core writers on the chosen
specs, so the files equal what ``candels_gui.core.store.export.export`` writes for the same specs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                             QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton,
                             QVBoxLayout, QWidget)

from ..core.errors import DataError, OutputError
from ..core.store.export import EXPORT_FORMATS
from ..core.blending.labels import LABEL_METHODS, label_dtype, label_shape
from ..core.blending.sampling import duplicate_specs
from ..core.curation.session import STATUSES, Session
from ..core.curation.session_export import export_session, session_export_specs
from ..core.validate import check_output
from .places import remember_folder, start_folder
from .services import WindowServices
from .session_ctl import SessionController

__all__ = ["ExportDialog", "FORMAT_TEXT", "NO_LABELS", "LABEL_TEXT", "label_tooltip"]

#: Format choices as shown.
FORMAT_TEXT = {"npy": "npy folder (candels-blender seed layout)", "hdf5": "HDF5 file", "fits": "FITS file"}
#: Label-method entry for "no labels array" (HDF5 / FITS only).
NO_LABELS = "(none: masks only)"
_SUFFIX = {"hdf5": ".h5", "fits": ".fits"}
#: What each label method holds (candels-blender's label methods, shapes as it writes them).
LABEL_TEXT = {
    "gg_masks": "one binary footprint per galaxy, channels first: [central, companion]",
    "ogg_masks": "binary layers [overlap, central, companion] (the U-Net target of Boucaud et al. 2020)",
    "bogg_masks": "one-hot classes [background, overlap, central only, companion only]",
    "single_images": "the two isolated (cleaned) galaxy images [central, companion], not masks",
}


def label_tooltip(method: str, n: int, h: int, w: int) -> str:
    """Tooltip of a label method: what it holds and its array shape and dtype for ``n`` blends of h×w."""
    if method not in LABEL_TEXT:
        return "no labels array: the masks (N, 2, H, W) bool and isolated images are written"
    shape = " × ".join(str(d) for d in label_shape(method, n, h, w))
    return f"{method}: {LABEL_TEXT[method]}. Array ({shape}) {label_dtype(method)}."


class ExportDialog(QDialog):
    """Choose what and where to export; :meth:`start` runs the export in the window's task runner.

    Parameters
    ----------
    ctl : SessionController
        The session whose queue is exported (and the app state with the open data).
    services : WindowServices
        Task runner, messages, the open data's path.
    on_exported : callable
        Called with ``None`` when an export starts and with its ``ExportResult`` when it has finished.
    """

    def __init__(self, ctl: SessionController, services: WindowServices, on_exported: Callable[[Any], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent or services.parent)
        self.ctl, self.services, self.on_exported = ctl, services, on_exported
        self.setWindowTitle("Export blends")
        self.fmt = QComboBox(self)
        for key in EXPORT_FORMATS:
            self.fmt.addItem(FORMAT_TEXT.get(key, key), key)
        self.method = QComboBox(self)
        self.statuses = {s: QCheckBox(s, self) for s in STATUSES}
        self.statuses["accepted"].setChecked(True)
        self.split = QComboBox(self)
        self.split.addItem("No split", None)
        self.split.addItem("Train / test, split by galaxy", "galaxy")
        self.test_ratio = QDoubleSpinBox(self)
        self.test_ratio.setRange(0.01, 0.99)
        self.test_ratio.setSingleStep(0.05)
        self.test_ratio.setValue(0.2)
        self.test_ratio.setToolTip("fraction of the galaxies reserved for the test split "
                                   "(no galaxy is in both splits)")
        self.duplicates = QComboBox(self)
        self.duplicates.addItem("Leave out repeated blends", "drop")
        self.duplicates.addItem("Keep repeated blends", "keep")
        self.duplicates.setToolTip("a queued blend that repeats an earlier one (same pair, offset, rotation, "
                                   "flip and flux) adds nothing to a training set")
        self.dest = QLineEdit(self)
        self.dest.setPlaceholderText("folder (npy) or file (HDF5, FITS)")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.browse)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)

        statuses = QHBoxLayout()
        for box in self.statuses.values():
            statuses.addWidget(box)
            box.toggled.connect(self._update_summary)
        split = QHBoxLayout()
        split.addWidget(self.split, 1)
        split.addWidget(QLabel("test fraction"))
        split.addWidget(self.test_ratio)
        dest = QHBoxLayout()
        dest.addWidget(self.dest, 1)
        dest.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.fmt)
        form.addRow("Labels", self.method)
        form.addRow("Blends", statuses)
        form.addRow("Split", split)
        form.addRow("Repeats", self.duplicates)
        form.addRow("Destination", dest)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)

        self.fmt.currentIndexChanged.connect(self._format_changed)
        self.method.currentTextChanged.connect(self._method_changed)
        self.split.currentIndexChanged.connect(self._update_summary)
        self.test_ratio.valueChanged.connect(self._update_summary)
        self.duplicates.currentIndexChanged.connect(self._update_summary)
        ctl.state.stampsChanged.connect(self._format_changed)   # opened while data loads: ready once it has
        self._format_changed()
        self._restore()
        self.resize(640, 320)
        # the keyboard starts where the next keys go: Export (Enter) when the remembered choices can export,
        # else the destination (typed at once)
        ready = bool(self.dest.text().strip()) and self.export_button.isEnabled()
        (self.export_button if ready else self.dest).setFocus()

    # ------------------------------------------------------------------ remembered settings
    def _key(self) -> str | None:
        stamps = self.ctl.state.stamps
        return f"export/{stamps.content_hash()}" if stamps is not None else None

    def _restore(self) -> None:
        """The choices last used on this data set (format, labels, statuses, split, repeats, destination)."""
        settings, key = self.services.settings, self._key()
        if settings is None or key is None or not settings.contains(f"{key}/fmt"):
            return
        get = lambda name, default="": settings.value(f"{key}/{name}", default)  # noqa: E731
        index = self.fmt.findData(get("fmt"))
        if index >= 0:
            self.fmt.setCurrentIndex(index)
        self.method.setCurrentText(str(get("method", self.method.currentText())))
        chosen = set(str(get("statuses", "accepted")).split(","))
        for status, box in self.statuses.items():
            box.setChecked(status in chosen)
        self.split.setCurrentIndex(max(0, self.split.findData(get("split") or None)))
        try:
            self.test_ratio.setValue(float(get("test_ratio", 0.2)))
        except (TypeError, ValueError):
            pass
        self.duplicates.setCurrentIndex(max(0, self.duplicates.findData(get("duplicates", "drop"))))
        self.dest.setText(str(get("dest", "")))
        self._update_summary()

    def _remember(self) -> None:
        settings, key = self.services.settings, self._key()
        if settings is None or key is None:
            return
        c = self.choices()
        for name, value in (("fmt", c["fmt"]), ("method", self.method.currentText()),
                            ("statuses", ",".join(c["statuses"])), ("split", self.split.currentData() or ""),
                            ("test_ratio", float(self.test_ratio.value())), ("duplicates", c["duplicates"]),
                            ("dest", c["dest"])):
            settings.setValue(f"{key}/{name}", value)

    # ------------------------------------------------------------------ choices
    def choices(self) -> dict:
        """The dialog's choices as keyword arguments of :func:`export_session` (plus ``dest``)."""
        fmt = self.fmt.currentData()
        method = self.method.currentText()
        split = self.split.currentData()
        return {"dest": self.dest.text().strip(), "fmt": fmt, "method": None if method == NO_LABELS else method,
                "statuses": tuple(s for s, box in self.statuses.items() if box.isChecked()),
                "test_ratio": float(self.test_ratio.value()) if split == "galaxy" else None,
                "duplicates": self.duplicates.currentData()}

    def browse(self) -> None:
        """Choose the destination (a folder for npy, a file for HDF5 / FITS)."""
        fmt = self.fmt.currentData()
        folder = start_folder(self.services.settings, self.dest.text().strip() or None)
        if fmt == "npy":
            path = QFileDialog.getExistingDirectory(self, "Export folder", str(folder))
        else:
            name = Path(self.dest.text().strip()).name or f"blends{_SUFFIX[fmt]}"
            path, _ = QFileDialog.getSaveFileName(self, "Export file", str(folder / name),
                                                  f"{fmt.upper()} (*{_SUFFIX[fmt]});;All files (*)")
        if path:
            remember_folder(self.services.settings, Path(path).parent if fmt == "npy" else path)
            self.dest.setText(path)

    def _format_changed(self) -> None:
        fmt = self.fmt.currentData()
        current = self.method.currentText()
        self.method.blockSignals(True)
        self.method.clear()
        if fmt != "npy":
            self.method.addItem(NO_LABELS)
        self.method.addItems(LABEL_METHODS)
        self.method.setCurrentText(current if current in LABEL_METHODS or (current == NO_LABELS and fmt != "npy")
                                   else ("ogg_masks" if fmt == "npy" else NO_LABELS))
        stamps = self.ctl.state.stamps
        h, w = stamps.stamp_shape if stamps is not None else (128, 128)
        n = max(1, len(self.ctl.session.queue))
        for i in range(self.method.count()):
            self.method.setItemData(i, label_tooltip(self.method.itemText(i), n, h, w),
                                    Qt.ItemDataRole.ToolTipRole)
        self.method.setToolTip(label_tooltip(self.method.currentText(), n, h, w))
        self.method.blockSignals(False)
        dest = self.dest.text().strip()
        if dest and fmt in _SUFFIX and not dest.endswith(_SUFFIX[fmt]):
            self.dest.setText(str(Path(dest).with_suffix(_SUFFIX[fmt])))
        self._update_summary()

    def _method_changed(self, text: str) -> None:
        self.method.setToolTip(self.method.itemData(self.method.currentIndex(), Qt.ItemDataRole.ToolTipRole)
                               or label_tooltip(text, 1, 128, 128))

    def _update_summary(self) -> None:
        c = self.choices()
        stamps = self.ctl.state.stamps
        if stamps is None:
            self.summary.setText("Open data first.")
            self.export_button.setEnabled(False)
            return
        try:
            specs, dropped = session_export_specs(self.ctl.session, stamps, statuses=c["statuses"],
                                                  test_ratio=c["test_ratio"], duplicates=c["duplicates"])
        except (DataError, ValueError) as exc:
            self.summary.setText(str(exc))
            self.export_button.setEnabled(False)
            return
        if isinstance(specs, dict):
            text = f"{len(specs['train']):,} train and {len(specs['test']):,} test blends"
            if dropped:
                text += f"; {len(dropped):,} blends dropped (their two galaxies fall in different splits)"
        else:
            text = f"{len(specs):,} blends"
        repeats = len(duplicate_specs(self.ctl.session.specs(c["statuses"]))) if c["statuses"] else 0
        note = ""
        if repeats:
            note = (f" <span style='color:#f0b43c'>{repeats:,} queued blend{'s' if repeats > 1 else ''} repeat"
                    f"{'' if repeats > 1 else 's'} an earlier one: "
                    f"{'left out' if c['duplicates'] == 'drop' else 'written again'}.</span>")
        self.summary.setText(f"Will export {text}.{note}")
        self.export_button.setEnabled(True)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Close the dialog and run the export in a worker (progress and Cancel in the status bar)."""
        c = self.choices()
        if not c["dest"]:
            self.services.show_error("Export", ValueError("choose a destination (folder for npy, file for "
                                                          "HDF5 / FITS)"))
            return
        dest = Path(c["dest"]).expanduser()
        if not dest.is_absolute():   # a bare name: in the folder the dialogs use, not the app's working folder
            dest = start_folder(self.services.settings) / dest
            self.dest.setText(str(dest))
        c["dest"] = str(dest)
        self._remember()
        self.accept()
        run_export(self.ctl, self.services, on_exported=self.on_exported, **c)


def run_export(ctl: SessionController, services: WindowServices, *, on_exported: Callable[[Any], None],
               dest: str, fmt: str, method: str | None, statuses: tuple[str, ...],
               test_ratio: float | None, duplicates: str = "refuse") -> None:
    """Export ``ctl``'s session in a worker; a message with the path when done.

    ``on_exported`` is called with ``None`` at once and with the ``ExportResult`` when the files are written.
    """
    stamps = ctl.state.stamps
    if stamps is None:
        services.show_error("Export", DataError("no data loaded: open a data folder first"))
        return
    try:   # a read-only or missing place is said now, naming it, not by the writer's temporary file
        check_output(dest, "destination", kind="folder" if fmt == "npy" else "file")
    except OutputError as exc:
        services.show_error("Export failed", exc)
        return
    ctl._sync_settings()
    live = ctl.session
    session = Session(data_path=live.data_path, data_hash=live.data_hash, seed=live.seed)
    session.queue, session.path = list(live.queue), live.path  # a snapshot: edits go on meanwhile
    # the editor's engine stays on the UI thread; this one renders the same bytes (an opened export's noise seeds)
    engine = ctl.state.engine.fresh()
    on_exported(None)

    def done(result) -> None:
        on_exported(result)
        services.status(f"Exported {result.n_blends:,} blends to {result.path}", 8000)
        QMessageBox.information(services.parent, "Export finished",
                                f"{result.n_blends:,} blends written to\n{result.path}\n\n"
                                f"Manifest: {result.manifest_path}")

    services.tasks.run_job(
        f"Exporting to {Path(dest).name}",
        lambda token: export_session(dest, session, stamps, fmt=fmt, method=method, statuses=statuses,
                                     test_ratio=test_ratio, duplicates=duplicates, engine=engine,
                                     cancel=token),
        on_result=done, on_error=lambda exc: services.show_error("Export failed", exc),
        on_cancel=lambda: services.status("Export cancelled: nothing was written", 6000), independent=True)
