"""The main window: catalog, blend editor, display, queue, deblend and compare panels around one app state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import (QDockWidget, QFileDialog, QFrame, QLabel, QMainWindow, QMenu,
                             QMessageBox, QScrollArea, QToolBar, QWidget)

from .. import __version__
from ..core.data.stampset import StampSet
from .actions import ACTIONS, CheatSheetDialog, build_actions, build_menus, build_toolbar
from .blend_editor import BlendEditor
from .catalog_panel import CatalogPanel
from .display_model import DisplayModel
from .display_panel import DisplayPanel
from .deblend_panel import DeblendPanel, queue_specs
from .queue_panel import QueuePanel
from .compare_view import install_compare_view
from .field_view import install_field_view
from .review import ReviewMode
from .rules_panel import RulesPanel
from .session_ctl import SessionController
from .services import WindowServices
from .state import AppState
from .style import monospace_font
from .workers import TaskBar, TaskRunner

__all__ = ["MainWindow", "app_settings", "error_text"]

MAX_RECENT = 10


def app_settings() -> QSettings:
    """The app's persistent settings (an INI file in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "candels-gui", "candels-gui")


def error_text(exc: BaseException) -> str:
    """What an error dialog says: the core's message, never a traceback."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, (ValueError, OSError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


class MainWindow(QMainWindow):
    """Catalog panel, blend editor and display panel around one :class:`AppState`.

    Parameters
    ----------
    source : path or StampSet, optional
        Data to open: a path is read in a background worker; a StampSet is used at once.
    settings : QSettings, optional
        Where recent files and the window geometry are kept (default: :func:`app_settings`).
    seed : int
        Seed of the random pairs and of the cleaning noise of new specs.
    """

    def __init__(self, source: str | os.PathLike | StampSet | None = None, *,
                 settings: QSettings | None = None, seed: int = 42) -> None:
        super().__init__()
        self.settings = settings if settings is not None else app_settings()
        self.state = AppState(seed=seed, parent=self)
        self.display = DisplayModel(parent=self)
        self.tasks = TaskRunner(self)
        self.source_path: Path | None = None
        self.setWindowTitle("candels-gui")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)

        self.editor = BlendEditor(self.state, self.display, self.show_error, self)
        self.setCentralWidget(self.editor)
        self.catalog = CatalogPanel(self.state, self.display, self.show_error)
        self.display_panel = DisplayPanel(self.display)
        self.catalog_dock = self._dock("Catalog", self.catalog, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.display_dock = self._dock("Display", self.display_panel, Qt.DockWidgetArea.RightDockWidgetArea,
                                       scroll=True)
        self.rules_panel = RulesPanel(self.state, self.show_error)
        self.rules_dock = self._dock("Random pairs", self.rules_panel, Qt.DockWidgetArea.RightDockWidgetArea,
                                     scroll=True)
        self.deblend_panel = DeblendPanel(self.state, self.display, self.tasks, self.show_error)
        self.deblend_dock = self._dock("Deblend", self.deblend_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.services = WindowServices(parent=self, tasks=self.tasks, show_error=self.show_error,
                                       status=self.show_status, source_path=lambda: self.source_path,
                                       open_path=self.open_path)
        # curation: queue, undo stack, session files, autosave
        self.session_ctl = SessionController(self.state, self.display, self.services)
        self.session_ctl.settingsApplied.connect(self.rules_panel.show_rules)
        self.queue_panel = QueuePanel(self.session_ctl)
        self.queue_dock = self._dock("Queue", self.queue_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        # catalog and queue share the left column as tabs, so the catalog table keeps its height
        self.tabifyDockWidget(self.catalog_dock, self.queue_dock)
        self.catalog_dock.raise_()
        self.deblend_panel.set_queue_source(lambda: queue_specs(self.session_ctl.session))
        self.export_result: Any = None  # the last export's ExportResult (set by the Export dialog)
        self.deblend_panel.training_data = self.last_hdf5_export
        self.review = ReviewMode(self.queue_panel, self.session_ctl, catalog_dock=self.catalog_dock,
                                 queue_dock=self.queue_dock, services=self.services)
        self.compare = install_compare_view(self)  # central area: Editor | Compare tabs
        self.field_view = install_field_view(self)  # ... | Field tab

        self.readout = QLabel("")
        self.readout.setFont(monospace_font())
        self.readout.setMinimumWidth(460)
        self.data_label = QLabel("no data")
        self.task_bar = TaskBar(self.tasks)
        bar = self.statusBar()
        bar.addWidget(self.readout, 1)
        bar.addPermanentWidget(self.task_bar)
        bar.addPermanentWidget(self.deblend_panel.device_label)
        bar.addPermanentWidget(self.data_label)

        self.actions_by_name = build_actions(self)
        self.menus = build_menus(self.menuBar(), self.actions_by_name)
        self.toolbar = QToolBar("Main toolbar", self)
        self.toolbar.setObjectName("toolbar_main")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        build_toolbar(self.toolbar, self.actions_by_name)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.menus["&File"].insertMenu(self.actions_by_name["quit"], self.recent_menu)
        self.menus["&File"].insertSeparator(self.actions_by_name["quit"])
        view_menu = self.menus["&View"]
        view_menu.addSeparator()
        view_menu.addAction(self.catalog_dock.toggleViewAction())
        view_menu.addAction(self.display_dock.toggleViewAction())
        view_menu.addAction(self.rules_dock.toggleViewAction())
        view_menu.addAction(self.deblend_dock.toggleViewAction())
        view_menu.addAction(self.queue_dock.toggleViewAction())
        self.session_ctl.bind_actions(self.actions_by_name)
        self.review.bind_actions(self.actions_by_name)
        self.review.set_active(False)
        self._sync_overlay_actions()

        for view in self.editor.views:
            view.hovered.connect(self._hovered)
            view.left.connect(lambda: self.readout.setText(""))
        self.display.overlayChanged.connect(self._sync_overlay_actions)
        self.state.stampsChanged.connect(self._stamps_changed)

        self.resize(1600, 1000)
        self.resizeDocks([self.catalog_dock, self.display_dock], [440, 300], Qt.Orientation.Horizontal)
        self.resizeDocks([self.display_dock, self.rules_dock], [620, 280], Qt.Orientation.Vertical)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        dock_state = self.settings.value("window/state")
        if dock_state is not None:
            self.restoreState(dock_state)

        if isinstance(source, StampSet):
            self.set_stamps(source)
        elif source is not None:
            self.open_path(source)

    # ------------------------------------------------------------------ data
    def open_path(self, path: str | os.PathLike) -> None:
        """Read ``path`` in a worker; the window stays responsive and shows progress."""
        from ..core.data.load import iter_load_stampset

        path = Path(path)
        ctl = getattr(self, "session_ctl", None)  # absent while the window is being built
        if ctl is not None and not ctl.confirm_discard(f"Open {path.name}"):
            return  # unsaved queue and the user chose Cancel (or a failed save)
        self.tasks.cancel_all()
        self.statusBar().showMessage(f"Loading {path} …")
        self.tasks.run_job(f"Loading {path.name}", lambda token: iter_load_stampset(path, cancel=token),
                           on_result=lambda stamps: self._loaded(path, stamps),
                           on_error=lambda exc: self.show_error(f"Cannot open {path.name}", exc),
                           on_cancel=lambda: self.statusBar().showMessage("Loading cancelled", 4000))

    def set_stamps(self, stamps: StampSet, *, random_pair: bool = True) -> None:
        """Use ``stamps`` now (and show a random pair so the editor is not empty)."""
        self.state.set_stamps(stamps)
        if random_pair and len(stamps) >= 2:
            try:
                self.state.random_pair()
            except (ValueError, KeyError) as exc:
                self.statusBar().showMessage(f"No random pair: {error_text(exc)}", 8000)

    def _loaded(self, path: Path, stamps: StampSet) -> None:
        self.source_path = path
        self.add_recent(path)
        self.set_stamps(stamps)
        self.statusBar().showMessage(f"Loaded {len(stamps):,} stamps from {path}", 6000)

    def _stamps_changed(self) -> None:
        stamps = self.state.stamps
        if stamps is None:
            return
        h, w = stamps.stamp_shape
        name = self.source_path.name if self.source_path else (Path(stamps.source).name or "data")
        self.setWindowTitle(f"candels-gui — {name}")
        scale = f" · {stamps.pixel_scale:g}″/px" if stamps.pixel_scale else ""
        self.data_label.setText(f"{name} · {len(stamps):,} stamps · {h}×{w} px{scale}")

    # ------------------------------------------------------------------ recent files
    def recent_paths(self) -> list[str]:
        """Recently opened data paths, newest first."""
        value = self.settings.value("recent/paths", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | os.PathLike) -> None:
        """Put ``path`` first in the recent list (at most :data:`MAX_RECENT`)."""
        p = str(Path(path).resolve())
        paths = [p] + [q for q in self.recent_paths() if q != p]
        self.settings.setValue("recent/paths", paths[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent_paths()
        for p in paths:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: self.settings.setValue("recent/paths", []))
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # ------------------------------------------------------------------ messages
    def show_status(self, text: str, msecs: int = 0) -> None:
        """A status-bar message for ``msecs`` milliseconds (0: until the next one)."""
        self.statusBar().showMessage(text, msecs)

    def show_error(self, title: str | BaseException, exc: BaseException | None = None) -> None:
        """An error dialog with the core's message (never a traceback)."""
        if exc is None:
            exc, title = title, "Error"  # type: ignore[assignment]
        QMessageBox.critical(self, str(title), error_text(exc))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ action slots
    def open_folder_dialog(self) -> None:
        start = str(self.source_path.parent) if self.source_path else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open data folder", start)
        if folder:
            self.open_path(folder)

    def open_file_dialog(self) -> None:
        start = str(self.source_path.parent) if self.source_path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data file", start,
            "Stamp data (*.npy *.fits *.fit *.fits.gz *.fz);;All files (*)")
        if path:
            self.open_path(path)

    def set_selected_galaxy1(self) -> None:
        self.catalog.pick_current(1)

    def set_selected_galaxy2(self) -> None:
        self.catalog.pick_current(2)

    def random_pair(self) -> None:
        self.catalog.random_pair()

    def swap_galaxies(self) -> None:
        self.state.swap()

    def _nudge(self, dx: float, dy: float) -> None:
        spec = self.state.spec
        if spec is not None:
            self.state.update_spec(dx=round(spec.dx + dx, 2), dy=round(spec.dy + dy, 2))

    def nudge_left(self) -> None:
        self._nudge(-1.0, 0.0)

    def nudge_right(self) -> None:
        self._nudge(1.0, 0.0)

    def nudge_up(self) -> None:
        self._nudge(0.0, 1.0)

    def nudge_down(self) -> None:
        self._nudge(0.0, -1.0)

    def rotate_ccw(self) -> None:
        if self.state.spec is not None:
            self.state.update_spec(rotation=(self.state.spec.rotation + 15.0) % 360.0)

    def rotate_cw(self) -> None:
        if self.state.spec is not None:
            self.state.update_spec(rotation=(self.state.spec.rotation - 15.0) % 360.0)

    def toggle_flip(self) -> None:
        if self.state.spec is not None:
            self.state.update_spec(flip=not self.state.spec.flip)

    def reset_transform(self) -> None:
        self.editor.controls.reset()

    def set_masks_visible(self, visible: bool) -> None:
        self.display.set_overlay(visible=visible)

    def set_mask_outline(self, outline: bool) -> None:
        self.display.set_overlay(outline=outline)

    def cycle_stretch(self) -> None:
        self.display.cycle("stretch")
        self.statusBar().showMessage(f"Stretch: {self.display.settings.stretch}", 2000)

    def cycle_colormap(self) -> None:
        self.display.cycle("cmap")
        self.statusBar().showMessage(f"Colormap: {self.display.settings.cmap}", 2000)

    def auto_levels(self) -> None:
        self.display.auto_levels()

    def fit_views(self) -> None:
        self.editor.fit()

    def one_to_one(self) -> None:
        self.editor.one_to_one()

    def zoom_in(self) -> None:
        self.editor.zoom(1.25)

    def zoom_out(self) -> None:
        self.editor.zoom(0.8)

    def show_cheat_sheet(self) -> CheatSheetDialog:
        dialog = CheatSheetDialog(self, ACTIONS)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self._cheat_sheet = dialog
        return dialog

    def run_deblenders(self) -> None:
        self.deblend_dock.show()
        self.deblend_panel.run_current()

    def last_hdf5_export(self) -> Path | None:
        """The HDF5 file of this window's last export, if it was one (the Train dialog starts from it)."""
        result = self.export_result
        return Path(result.path) if result is not None and result.fmt == "hdf5" else None

    def show_train_dialog(self) -> None:
        self.deblend_panel.open_train_dialog()

    def show_export_dialog(self) -> QWidget:
        from .export_dialog import ExportDialog

        dialog = ExportDialog(self.session_ctl, self.services, self._set_export_result)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._export_dialog = dialog
        return dialog

    def _set_export_result(self, result: Any) -> None:
        self.export_result = result

    def show_about(self) -> None:
        QMessageBox.about(self, "About candels-gui",
                          f"<b>candels-gui {__version__}</b><br>Blended-galaxy training sets from real "
                          "telescope stamps: pick pairs, place companions, inspect masks.<br><br>"
                          "Built on candels-blender's rules (Boucaud et al. 2020) and BTK's metrics.")

    # ------------------------------------------------------------------ events
    def _hovered(self, name: str, x: float, y: float, value: Any) -> None:
        text = f"{name:<9} x {x:8.2f}  y {y:8.2f}"
        if value is not None:
            text += f"   value {value: .5g}"
            world = self._world(name, x, y)
            if world is not None:
                text += f"   RA {world[0]:.6f}  Dec {world[1]:+.6f}"
        self.readout.setText(text)

    def _world(self, name: str, x: float, y: float) -> tuple[float, float] | None:
        """RA/Dec of view pixel (x, y) when the data carry a WCS (``meta["wcs"]``: one, or one per stamp)."""
        stamps, spec = self.state.stamps, self.state.spec
        wcs = stamps.meta.get("wcs") if stamps is not None else None
        if wcs is None or spec is None:
            return None
        if isinstance(wcs, (list, tuple)):
            galaxy = spec.id2 if name == "galaxy 2" else spec.id1
            wcs = wcs[stamps.index_of(galaxy)]
        try:
            ra, dec = wcs.pixel_to_world_values(x, y)
        except (AttributeError, ValueError):
            return None
        return float(ra), float(dec)

    def _sync_overlay_actions(self) -> None:
        for name, value in (("toggle_masks", self.display.mask_visible),
                            ("mask_outline", self.display.mask_outline)):
            act: QAction = self.actions_by_name[name]
            act.blockSignals(True)
            act.setChecked(value)
            act.blockSignals(False)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and all(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.session_ctl.confirm_discard("Close candels-gui"):  # unsaved queue: Save/Discard/Cancel
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.tasks.cancel_all()
        self.tasks.wait(5000)
        super().closeEvent(event)

    # ------------------------------------------------------------------ private
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, *,
              scroll: bool = False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        if scroll:  # small screens: the panel scrolls instead of forcing a tall window
            area_widget = QScrollArea(dock)
            area_widget.setWidget(widget)
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            area_widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area_widget.setMinimumWidth(widget.minimumSizeHint().width()
                                        + area_widget.verticalScrollBar().sizeHint().width())
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock
