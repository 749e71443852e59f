"""Labelling mode: eyeball morphology labels, one key per class, several labellers per session.

A tab of the central area shows the galaxy under the catalog cursor large, with the display's stretch and
colormap (levels from the display's interval on that stamp), its predicted class and diagnostics, and
the votes it has; it is zoomed on the galaxy (its segment and the sky around it; *Zoom to the galaxy* off shows the
whole stamp). One key per class records the labeller's vote and moves to the next galaxy of the
catalog (in the catalog's order and filter): **S** spheroid, **B** disk + spheroid, **D** disk,
**I** irregular, **.** point source, **U** unclassifiable; **←/→** move, **Ctrl+Z** undoes a vote. Votes are
edits of the session (saved with it, autosaved, undoable); *Export labels…* writes the vote fractions
as a label file, *Fine-tune classifier* trains the classifier on them in the background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QKeyEvent
from PyQt6.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QInputDialog, QLabel,
                             QLineEdit, QPushButton, QTabWidget, QVBoxLayout, QWidget)

from ..core.curation.morph_votes import SetVote
from ..core.data.morph_labels import CLASS_NAMES, MORPH_CLASSES
from ..core.display.stretch import apply_display, display_levels
from ..core.display.zoom import galaxy_window
from .display_model import DisplayModel
from .image_view import StampView
from .places import remember_folder, start_folder, window_settings
from .services import WindowServices

__all__ = ["LabellingView", "CLASS_KEYS", "VOTE_ACTIONS"]

#: The key of each class (also in the action table).
CLASS_KEYS = {"sph": "S", "sphd": "B", "disk": "D", "irr": "I", "ps": ".", "unc": "U"}
#: Actions enabled only in labelling mode.
VOTE_ACTIONS = tuple(f"vote_{c}" for c in MORPH_CLASSES)


#: Width of the vote panel beside the stamp (two columns of buttons), and on a narrow tab (one column).
WIDE_PANEL, NARROW_PANEL = 330, 215

class LabellingView(QWidget):
    """The labelling tab (slots of the action table: ``labelling.*``).

    Parameters
    ----------
    state, display : AppState, DisplayModel
        The data and the stretch.
    catalog : CatalogPanel
        Whose rows (order and filter) labelling walks, and whose cursor follows it.
    session_ctl : SessionController
        The session the votes are edits of.
    morph : MorphologyController
        Predictions and diagnostics shown beside the stamp; fine-tuning.
    services : WindowServices
    settings : QSettings
        Remembers the labeller's name.
    """

    def __init__(self, state: Any, display: DisplayModel, catalog: Any, session_ctl: Any, morph: Any,
                 services: WindowServices, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.display, self.catalog = state, display, catalog
        self.session_ctl, self.morph, self.services, self.settings = session_ctl, morph, services, settings
        self.active = False
        self.review: Any = None       # the window's review mode: the two modes switch each other off
        self._actions: dict[str, QAction] = {}
        self.view = StampView("label", "", None, self)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.labeller = QLineEdit(str(settings.value("labelling/name", "") or ""))
        self.labeller.setPlaceholderText("your name (stored with each vote)")
        self.labeller.editingFinished.connect(
            lambda: self.settings.setValue("labelling/name", self.labeller.text().strip()))
        self.zoom = QCheckBox("Zoom to the galaxy")
        self.zoom.setToolTip("Show the central galaxy's segment and the sky around it, not the whole stamp")
        self.zoom.setChecked(str(settings.value("labelling/zoom", "true")).lower() != "false")
        self.zoom.toggled.connect(self._zoom_toggled)
        self.info = QLabel("")
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.votes_label = QLabel("")
        self.votes_label.setWordWrap(True)
        self.progress = QLabel("")
        self.progress.setObjectName("caption")
        self.progress.setWordWrap(True)
        grid = self._grid = QGridLayout()
        grid.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}
        for cls in MORPH_CLASSES:
            b = QPushButton(f"{CLASS_NAMES[cls]}  ({CLASS_KEYS[cls]})")
            b.setToolTip(f"Vote {CLASS_NAMES[cls]} and go to the next galaxy (key {CLASS_KEYS[cls]})")
            b.clicked.connect(lambda _=False, c=cls: self.vote(c))
            self.buttons[cls] = b
        self._columns = 0
        self._place_buttons(2)
        prev_b, next_b = QPushButton("◀ Previous"), QPushButton("Next ▶")
        prev_b.clicked.connect(lambda: self.move(-1))
        next_b.clicked.connect(lambda: self.move(+1))
        self.export_button = QPushButton("Export labels…")
        self.export_button.clicked.connect(self.export_dialog)
        self.tune_button = QPushButton("Fine-tune classifier")
        self.tune_button.setToolTip("Train the classifier further on this session's labels, in the background; "
                                    "the catalog's predictions then come from the new weights")
        self.tune_button.clicked.connect(self.fine_tune)
        form = QFormLayout()
        form.addRow("Labeller", self.labeller)
        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(self.zoom)
        side.addWidget(self.info)
        side.addLayout(grid)
        nav = QHBoxLayout()
        nav.addWidget(prev_b)
        nav.addWidget(next_b)
        side.addLayout(nav)
        side.addWidget(self.votes_label)
        side.addStretch(1)
        side.addWidget(self.progress)
        side.addWidget(self.export_button)
        side.addWidget(self.tune_button)
        panel = self._panel = QWidget(self)
        panel.setLayout(side)
        panel.setFixedWidth(WIDE_PANEL)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(panel)
        self.view.installEventFilter(self)
        catalog.table.selectionModel().currentRowChanged.connect(lambda *_: self.refresh())
        display.lutChanged.connect(self.refresh)
        display.settingsChanged.connect(self.refresh)
        session_ctl.changed.connect(lambda *_: self.refresh())
        session_ctl.placeChanged.connect(self._after_undo)
        morph.predictionsChanged.connect(self.refresh)
        morph.diagnosticsChanged.connect(self.refresh)

    # ------------------------------------------------------------------ mode
    def bind_actions(self, actions: dict[str, QAction]) -> None:
        """The window's actions: the vote keys work only in labelling mode."""
        self._actions = actions
        self._sync_actions()

    def set_active(self, on: bool) -> None:
        """Switch labelling mode on or off (the checkable action's slot)."""
        if on and self.review is not None and self.review.active:
            self.review.set_active(False)
        self.active = bool(on)
        self._sync_actions()
        tabs = self.parentWidget()
        while tabs is not None and not isinstance(tabs, QTabWidget):
            tabs = tabs.parentWidget()
        if self.active:
            if tabs is not None:
                tabs.setCurrentWidget(self)
            if self.catalog.current_stamp() is None and self.catalog.model.rowCount():
                self.catalog.table.selectRow(0)
            self.view.setFocus()
            self.refresh()
            self.services.status("Labelling: S spheroid, B disk+spheroid, D disk, I irregular, . point source, "
                                 "U unclassifiable; ←/→ move; Ctrl+Z undoes", 8000)
        elif tabs is not None and tabs.currentWidget() is self:
            tabs.setCurrentIndex(0)     # out of labelling mode: back to the blend, not a tab whose keys do nothing

    def _sync_actions(self) -> None:
        for name in VOTE_ACTIONS:
            if name in self._actions:
                self._actions[name].setEnabled(self.active)
        act = self._actions.get("labelling_mode")
        if act is not None and act.isChecked() != self.active:
            act.blockSignals(True)
            act.setChecked(self.active)
            act.blockSignals(False)

    # ------------------------------------------------------------------ voting
    def current_stamp(self) -> int | None:
        """Stamp index being labelled (the catalog's cursor)."""
        return self.catalog.current_stamp()

    def name(self) -> str:
        """The labeller's name ("" when not typed yet)."""
        return self.labeller.text().strip()

    def vote(self, cls: str | None) -> bool:
        """Record the labeller's vote for the current galaxy and move on; False when nothing was recorded."""
        stamp, stamps = self.current_stamp(), self.state.stamps
        if stamp is None or stamps is None:
            return False
        who = self.name() or self._ask_name()
        if not who:
            self.services.status("No vote recorded: each vote carries its labeller's name (the Labeller field)",
                                 6000)
            return False
        self.settings.setValue("labelling/name", who)
        self.session_ctl.session.set_vote(int(stamps.ids[stamp]), who, cls)
        self.move(+1)
        return True

    def _after_undo(self, _rows: Any) -> None:
        """An undone or redone vote: back to its galaxy, as the queue goes back to an undone blend."""
        moved = self.session_ctl.session.stack.last_moved
        stamps = self.state.stamps
        if not self.active or moved is None or not isinstance(moved[0], SetVote) or stamps is None:
            return
        try:
            line = self.catalog.model.line_of(stamps.index_of(moved[0].galaxy_id))
        except KeyError:
            return
        if line is not None:            # (None: filtered out of the table)
            self.catalog.table.selectRow(line)
            self.refresh()

    def _ask_name(self) -> str:
        """Ask for the labeller's name once (the vote key that asked is then recorded); "" when cancelled. The
        keyboard stays on the stamp, so the next vote keys are votes, not letters of the name."""
        text, ok = QInputDialog.getText(self, "Who is labelling?",
                                        "Your name, stored with each vote (several labellers can share a session):")
        who = text.strip() if ok else ""
        if who:
            self.labeller.setText(who)
        self.view.setFocus()
        return who

    def vote_sph(self) -> None:
        self.vote("sph")

    def vote_sphd(self) -> None:
        self.vote("sphd")

    def vote_disk(self) -> None:
        self.vote("disk")

    def vote_irr(self) -> None:
        self.vote("irr")

    def vote_ps(self) -> None:
        self.vote("ps")

    def vote_unc(self) -> None:
        self.vote("unc")

    def move(self, step: int) -> None:
        """The next (``+1``) or previous (``-1``) galaxy of the catalog table."""
        model, n = self.catalog.model, self.catalog.model.rowCount()
        if not n:
            return
        stamp = self.current_stamp()
        line = model.line_of(stamp) if stamp is not None else None
        target = 0 if line is None else min(max(line + step, 0), n - 1)
        self.catalog.table.selectRow(target)
        self.refresh()

    def _place_buttons(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for k, cls in enumerate(MORPH_CLASSES):
            self._grid.removeWidget(self.buttons[cls])
            self._grid.addWidget(self.buttons[cls], k // columns, k % columns)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        """On a narrow tab (a laptop screen beside the docks) the vote buttons go in one column and the panel
        narrows, so that the stamp keeps the width (it was a strip a quarter as wide as tall at 1366 x 768)."""
        super().resizeEvent(event)
        narrow = self.width() - WIDE_PANEL < 0.8 * self.height()
        self._panel.setFixedWidth(NARROW_PANEL if narrow else WIDE_PANEL)
        self._place_buttons(1 if narrow else 2)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802
        if obj is self.view and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Right, Qt.Key.Key_Down):
                self.move(+1)
                return True
            if event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Up):
                self.move(-1)
                return True
        return super().eventFilter(obj, event)

    # ------------------------------------------------------------------ files and training
    def export_dialog(self) -> None:
        """Ask where, then write the session's vote fractions as a label file."""
        votes = self.session_ctl.session.morph_votes
        if not len(votes):
            self.services.status("No votes yet: label some galaxies first", 5000)
            return
        # beside the saved session, else where the last dialog was (as exports do): not inside the data's folder,
        # often a shared or read-only area
        folder = start_folder(window_settings(self), self.session_ctl.session.path)
        path, _ = QFileDialog.getSaveFileName(self, "Export morphology labels", str(folder / "labels.csv"),
                                              "Label files (*.csv)")
        if path:
            remember_folder(window_settings(self), path)
            self.export(path)

    def export(self, path: str | Path) -> Path | None:
        """Write the label file (``ID``, ``p_<class>``, ``n_votes``, ``labellers``) to ``path``."""
        try:
            out = self.session_ctl.session.morph_votes.write_csv(path)
        except (OSError, ValueError) as exc:
            self.services.show_error("Export labels", exc)
            return None
        self.services.status(f"{len(self.session_ctl.session.morph_votes)} labelled galaxies written to {out}", 6000)
        return out

    def fine_tune(self) -> None:
        """Fine-tune the classifier on the session's votes (background; the catalog follows)."""
        self.morph.fine_tune(self.session_ctl.session.morph_votes)

    def choose_weights(self) -> None:
        """Classify the data with a weights file of the user's choice."""
        path, _ = QFileDialog.getOpenFileName(self, "Classifier weights", str(start_folder(window_settings(self))),
                                              "Weights (*.pt)")
        if path:
            remember_folder(window_settings(self), path)
            self.morph.classify(path)

    # ------------------------------------------------------------------ drawing
    def _zoom_toggled(self, on: bool) -> None:
        self.settings.setValue("labelling/zoom", "true" if on else "false")
        self.refresh()

    def refresh(self) -> None:
        """Show the current galaxy, its prediction, diagnostics and votes."""
        stamps, stamp = self.state.stamps, self.current_stamp()
        if stamps is None or stamp is None:
            self.view.set_rgba(None)
            self.info.setText("No galaxy selected.")
            return
        if not self.isVisible() and not self.active:
            return          # drawn when shown
        image = np.asarray(stamps.images[stamp], dtype=np.float32)
        try:
            levels = display_levels(image, self.display.settings.interval_obj())
            self.view.set_rgba(apply_display(image, levels, self.display.lut()))
        except ValueError:     # a constant stamp: nothing to stretch
            self.view.set_rgba(None)
        self.view.fit(galaxy_window(np.asarray(stamps.segmaps[stamp])) if self.zoom.isChecked() else None)
        gid = int(stamps.ids[stamp])
        row = stamps.catalog[stamp]
        lines = [f"<b>ID {gid}</b> · mag {float(row['mag']):.2f} · r {float(row['radius']):.1f} px"]
        if self.morph.probabilities is not None:
            p = self.morph.probabilities[stamp]
            order = [k for k in np.argsort(p)[::-1][:3] if p[k] >= 0.005]     # the likely classes only
            lines.append("classifier: " + ", ".join(f"{CLASS_NAMES[MORPH_CLASSES[k]]} {p[k]:.2f}" for k in order))
        if self.morph.diagnostics is not None:
            d = self.morph.diagnostics[stamp]
            lines.append(f"G {d['gini']:.2f} · M20 {d['m20']:.2f} · C {d['concentration']:.2f} · "
                         f"A {d['asymmetry']:.2f} · n {d['sersic_n']:.2f} · flag {int(d['flag'])}")
        self.info.setText("<br>".join(lines))
        votes = self.session_ctl.session.morph_votes
        mine = votes.get(gid, self.name()) if self.name() else None
        summary = votes.summary(gid)
        self.votes_label.setText((f"Your vote: {CLASS_NAMES[mine]}" if mine else "Your vote: none")
                                 + (f"\nAll votes: {summary}" if summary else ""))
        for cls, b in self.buttons.items():
            b.setProperty("chosen", cls == mine)
            b.setStyleSheet("font-weight: bold;" if cls == mine else "")
        line = self.catalog.model.line_of(stamp)
        n_lines = self.catalog.model.rowCount()
        self.progress.setText(f"galaxy {0 if line is None else line + 1} of {n_lines} · "
                              f"{len(votes)} labelled ({', '.join(votes.labellers()) or 'nobody yet'})")
        self.view.set_title(f"{gid}")
