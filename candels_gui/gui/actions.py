"""One table of the app's actions: it builds the menus, the shortcuts and the cheat sheet (``?``).

Each row names a slot of the main window; adding a row adds a menu entry, a shortcut and a line in the
cheat sheet at once, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QMenu, QMenuBar, QTableWidget,
                             QTableWidgetItem, QToolBar, QVBoxLayout, QWidget)

__all__ = ["ActionSpec", "ACTIONS", "MENUS", "build_actions", "build_menus", "build_toolbar",
           "CheatSheetDialog", "shortcut_text"]


@dataclass(frozen=True)
class ActionSpec:
    """One user action.

    Parameters
    ----------
    name : str
        Key in the dict :func:`build_actions` returns.
    text : str
        Menu text (``&`` marks the mnemonic).
    shortcuts : tuple of str
        Key sequences (portable text, e.g. ``"Ctrl+O"``); the first is the main one.
    slot : str
        Name of the window method called; checkable actions pass their new state.
    menu : str
        Menu title (one of :data:`MENUS`).
    tip : str
        Status tip.
    checkable : bool
        A toggle.
    separator_before : bool
        Draw a separator above it in its menu.
    toolbar : bool
        Also show it on the main toolbar.
    toolbar_text : str
        Shorter text for the toolbar button (the toolbar must fit a 1280 px wide window; its tooltip keeps
        the full name and the keys). Empty: the menu text.
    """

    name: str
    text: str
    shortcuts: tuple[str, ...]
    slot: str
    menu: str
    tip: str = ""
    checkable: bool = False
    separator_before: bool = False
    toolbar: bool = False
    toolbar_text: str = ""

    @property
    def plain_text(self) -> str:
        """Menu text without mnemonics or ellipsis."""
        return self.text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


#: Menu titles, in menu-bar order.
MENUS = ("&File", "&Edit", "&Blend", "&Queue", "&Deblend", "&Morphology", "&View", "&Help")

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "&Open data folder…", ("Ctrl+O",), "open_folder_dialog", "&File",
               "Open a candels-blender folder, a folder of FITS stamps or a GalSim catalog folder",
               toolbar=True, toolbar_text="Open data"),
    ActionSpec("open_file", "Open data &file…", ("Ctrl+Shift+O",), "open_file_dialog", "&File",
               "Open a FITS cube, candels_img.npy or real_galaxy_catalog_*.fits"),
    ActionSpec("open_session", "Open &session…", ("Ctrl+Alt+O",), "session_ctl.open_dialog", "&File",
               "Open a saved curation session (its data is opened too)", separator_before=True),
    ActionSpec("save_session", "&Save session", ("Ctrl+S",), "session_ctl.save", "&File",
               "Save the queue, statuses, notes and settings to the session file"),
    ActionSpec("save_session_as", "Save session &as…", ("Ctrl+Shift+S",), "session_ctl.save_as", "&File",
               "Save the session to a new file"),
    ActionSpec("export", "&Export…", ("Ctrl+E",), "show_export_dialog", "&File",
               "Write the accepted blends as npy (seed layout), HDF5 or FITS, with labels and a manifest",
               separator_before=True, toolbar=True),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "close", "&File", "Close the window",
               separator_before=True),
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), "session_ctl.undo", "&Edit", "Undo the last edit"),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z",), "session_ctl.redo", "&Edit", "Redo the last undone edit"),
    ActionSpec("set_galaxy1", "Set selected as galaxy &1", ("1",), "set_selected_galaxy1", "&Blend",
               "The catalog row under the cursor becomes the central galaxy"),
    ActionSpec("set_galaxy2", "Set selected as galaxy &2", ("2",), "set_selected_galaxy2", "&Blend",
               "The catalog row under the cursor becomes the companion"),
    ActionSpec("random_pair", "&Random pair", ("N",), "random_pair", "&Blend",
               "Draw a pair and an offset with the sampling rules, from the filtered catalog", toolbar=True),
    ActionSpec("swap", "S&wap galaxies", ("X",), "swap_galaxies", "&Blend",
               "Galaxy 2 becomes the central galaxy and galaxy 1 the companion", toolbar=True,
               toolbar_text="Swap"),
    ActionSpec("nudge_left", "Nudge companion left", ("Shift+Left",), "nudge_left", "&Blend",
               "Move galaxy 2 one pixel left", separator_before=True),
    ActionSpec("nudge_right", "Nudge companion right", ("Shift+Right",), "nudge_right", "&Blend",
               "Move galaxy 2 one pixel right"),
    ActionSpec("nudge_up", "Nudge companion up", ("Shift+Up",), "nudge_up", "&Blend",
               "Move galaxy 2 one pixel up"),
    ActionSpec("nudge_down", "Nudge companion down", ("Shift+Down",), "nudge_down", "&Blend",
               "Move galaxy 2 one pixel down"),
    ActionSpec("rotate_ccw", "Rotate companion +15°", ("]",), "rotate_ccw", "&Blend",
               "Rotate galaxy 2 counter-clockwise by 15 degrees"),
    ActionSpec("rotate_cw", "Rotate companion −15°", ("[",), "rotate_cw", "&Blend",
               "Rotate galaxy 2 clockwise by 15 degrees"),
    ActionSpec("flip", "&Flip companion", ("H",), "toggle_flip", "&Blend", "Mirror galaxy 2 left-right"),
    ActionSpec("reset_transform", "Reset &transform", ("0",), "reset_transform", "&Blend",
               "No rotation, no flip, catalog flux for galaxy 2"),
    ActionSpec("run_deblenders", "&Run deblenders", ("Ctrl+D",), "run_deblenders", "&Deblend",
               "Run the deblenders checked in the Deblend panel on the current blend", toolbar=True),
    ActionSpec("train_model", "&Train model…", ("Ctrl+Shift+T",), "show_train_dialog", "&Deblend",
               "Train a torch deblender on an HDF5 export in the background, with a live loss curve"),
    ActionSpec("compare", "&Compare deblenders", ("Ctrl+Shift+D",), "compare.activate", "&Deblend",
               "Deblenders side by side on this blend (linked views, one stretch), its metrics, and a "
               "summary over the queue whose plots open a blend on click", toolbar=True,
               toolbar_text="Compare"),
    ActionSpec("add_to_queue", "&Add blend to queue", ("Return", "Enter"), "session_ctl.add_current",
               "&Queue", "Queue the blend in the editor (pending)", toolbar=True,
               toolbar_text="Queue blend"),
    ActionSpec("accept", "A&ccept", ("A",), "review.accept", "&Queue",
               "Accept the selected queued blends (in review mode: this one, then the next)"),
    ActionSpec("reject", "&Reject", ("R",), "review.reject", "&Queue", "Reject the selected queued blends"),
    ActionSpec("flag", "&Flag", ("F",), "review.flag", "&Queue",
               "Flag the selected queued blends for a second look"),
    ActionSpec("mark_pending", "Mark &pending", ("P",), "review.reset", "&Queue",
               "Set the selected queued blends back to pending"),
    ActionSpec("remove_queued", "Re&move from queue", ("Del",), "review.remove", "&Queue",
               "Remove the selected blends from the queue"),
    ActionSpec("review_mode", "Re&view mode", ("Ctrl+R",), "review.set_active", "&Queue",
               "Go through the queue: arrows move, A / R / F decide and move on", checkable=True,
               separator_before=True, toolbar=True),
    ActionSpec("review_next", "&Next queued blend", ("Down", "Right"), "review.next", "&Queue",
               "Review mode: the next blend of the queue"),
    ActionSpec("review_previous", "Pre&vious queued blend", ("Up", "Left"), "review.previous", "&Queue",
               "Review mode: the previous blend of the queue"),
    ActionSpec("labelling_mode", "&Labelling mode", ("Ctrl+L",), "labelling.set_active", "&Morphology",
               "Label galaxies by eye: one key per class, arrows move, Ctrl+Z undoes (votes saved in the session)",
               checkable=True, toolbar=True),
    ActionSpec("vote_sph", "Vote &spheroid", ("S",), "labelling.vote_sph", "&Morphology",
               "Labelling mode: this galaxy is a spheroid; next galaxy", separator_before=True),
    ActionSpec("vote_sphd", "Vote disk + spheroid (&bulge)", ("B",), "labelling.vote_sphd", "&Morphology",
               "Labelling mode: disk with a bulge (both flags); next galaxy"),
    ActionSpec("vote_disk", "Vote &disk", ("D",), "labelling.vote_disk", "&Morphology",
               "Labelling mode: this galaxy is a disk; next galaxy"),
    ActionSpec("vote_irr", "Vote &irregular", ("I",), "labelling.vote_irr", "&Morphology",
               "Labelling mode: irregular or merger; next galaxy"),
    ActionSpec("vote_ps", "Vote &point source", (".",), "labelling.vote_ps", "&Morphology",
               "Labelling mode: a point source (star, compact); next galaxy"),
    ActionSpec("vote_unc", "Vote &unclassifiable", ("U",), "labelling.vote_unc", "&Morphology",
               "Labelling mode: too faint or an artefact; next galaxy"),
    ActionSpec("export_labels", "E&xport labels…", ("Ctrl+Shift+L",), "labelling.export_dialog", "&Morphology",
               "Write the session's vote fractions as a label file (ID, p_<class>, n_votes, labellers)",
               separator_before=True),
    ActionSpec("fine_tune_morph", "&Fine-tune classifier on labels", ("Ctrl+Shift+F",), "labelling.fine_tune",
               "&Morphology", "Train the morphology classifier further on the session's labels (background)"),
    ActionSpec("classify_weights", "Classify with &weights…", (), "labelling.choose_weights", "&Morphology",
               "Predict the catalog's classes with another morph-cnn weights file"),
    ActionSpec("toggle_masks", "Show &masks", ("M",), "set_masks_visible", "&View",
               "Overlay the footprints on the blend (galaxy 1, galaxy 2, overlap)", checkable=True,
               toolbar=True),
    ActionSpec("mask_outline", "Mask &outlines", ("O",), "set_mask_outline", "&View",
               "Draw footprint outlines instead of filled masks", checkable=True),
    ActionSpec("toggle_fill", "Show &padded pixels", ("G",), "set_fill_visible", "&View",
               "Hatch where the stamps hold no data of their own (fill masks: the survey's or the reader's "
               "padding)", checkable=True),
    ActionSpec("cycle_stretch", "Next s&tretch", ("T",), "cycle_stretch", "&View",
               "linear → sqrt → log → asinh", separator_before=True),
    ActionSpec("cycle_cmap", "Next &colormap", ("C",), "cycle_colormap", "&View", "Cycle the colormaps"),
    ActionSpec("auto_levels", "Auto &levels", ("L",), "auto_levels", "&View",
               "Levels from the interval again (forget levels dragged on the histogram)"),
    ActionSpec("fit", "&Fit views", ("Home",), "fit_views", "&View", "Show the whole stamp",
               separator_before=True, toolbar=True),
    ActionSpec("one_to_one", "&1:1 pixels", ("Ctrl+1",), "one_to_one", "&View",
               "One image pixel per screen pixel", toolbar=True),
    ActionSpec("zoom_in", "Zoom &in", ("+", "="), "zoom_in", "&View", "Zoom in on the views"),
    ActionSpec("zoom_out", "Zoom &out", ("-",), "zoom_out", "&View", "Zoom out of the views"),
    ActionSpec("cheat_sheet", "&Keyboard shortcuts", ("?", "F1"), "show_cheat_sheet", "&Help",
               "This list of actions and their keys", toolbar=True, toolbar_text="Keys"),
    ActionSpec("about", "&About candels-gui", (), "show_about", "&Help", "Version and credits"),
)


def shortcut_text(spec: ActionSpec) -> str:
    """Human-readable shortcuts of ``spec`` (``"?, F1"``)."""
    return ", ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText)
                     for s in spec.shortcuts)


def _slot(window: QWidget, spec: ActionSpec) -> Callable[[bool], None]:
    method: Any = window
    for part in spec.slot.split("."):  # "session_ctl.save": a slot of an object the window holds
        method = getattr(method, part)
    if spec.checkable:
        return lambda checked=False: method(bool(checked))
    return lambda checked=False: method()


def build_actions(window: QWidget, table: Iterable[ActionSpec] = ACTIONS) -> dict[str, QAction]:
    """Create one QAction per row, connected to ``window``'s slot and added to ``window``.

    Actions are added to the window itself, so their shortcuts work with the menu bar hidden.
    """
    actions: dict[str, QAction] = {}
    for spec in table:
        act = QAction(spec.text, window)
        act.setObjectName(f"action_{spec.name}")
        if spec.shortcuts:
            act.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setStatusTip(spec.tip)
        act.setToolTip(f"{spec.plain_text} ({shortcut_text(spec)})" if spec.shortcuts else spec.plain_text)
        act.setCheckable(spec.checkable)
        if spec.toolbar_text:
            act.setIconText(spec.toolbar_text)
        act.triggered.connect(_slot(window, spec))
        window.addAction(act)
        actions[spec.name] = act
    return actions


def build_menus(menubar: QMenuBar, actions: dict[str, QAction],
                table: Iterable[ActionSpec] = ACTIONS) -> dict[str, QMenu]:
    """Fill ``menubar`` with one menu per :data:`MENUS` title, rows in table order."""
    menus = {title: menubar.addMenu(title) for title in MENUS}
    for spec in table:
        menu = menus[spec.menu]
        if spec.separator_before:
            menu.addSeparator()
        menu.addAction(actions[spec.name])
    return menus


def build_toolbar(toolbar: QToolBar, actions: dict[str, QAction],
                  table: Iterable[ActionSpec] = ACTIONS) -> None:
    """Add the rows marked ``toolbar`` to ``toolbar``, a separator between menus."""
    last_menu = None
    for spec in table:
        if not spec.toolbar:
            continue
        if last_menu is not None and spec.menu != last_menu:
            toolbar.addSeparator()
        toolbar.addAction(actions[spec.name])
        last_menu = spec.menu


class CheatSheetDialog(QDialog):
    """Every action of the table with its menu and shortcuts."""

    def __init__(self, parent: QWidget | None = None, table: Iterable[ActionSpec] = ACTIONS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = list(table)
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Shortcut", "Action", "Menu"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        for r, spec in enumerate(rows):
            keys = QTableWidgetItem(shortcut_text(spec) or "—")
            keys.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.table.setItem(r, 0, keys)
            item = QTableWidgetItem(spec.plain_text)
            item.setToolTip(spec.tip)
            self.table.setItem(r, 1, item)
            self.table.setItem(r, 2, QTableWidgetItem(spec.menu.replace("&", "")))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 640)

    def rows(self) -> list[tuple[str, str, str]]:
        """(shortcut, action, menu) text of every row (what the user sees)."""
        return [tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(self.table.rowCount())]
