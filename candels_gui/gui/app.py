"""The main window: catalog, blend editor, display, queue, deblend and compare panels around one app state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PyQt6.QtCore import QTimer
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QFrame, QLabel, QMainWindow, QMenu,
                             QMessageBox, QScrollArea, QTabWidget, QToolBar, QWidget)

from .. import __version__
from ..core.atomic import is_temp_name
from ..core.data.stampset import StampSet
from .actions import ACTIONS, CheatSheetDialog, build_actions, build_menus, build_toolbar
from .blend_editor import BlendEditor
from .catalog_panel import CatalogPanel
from .collector import CollectorSettler
from .display_model import DisplayModel
from .display_panel import DisplayPanel
from .deblend_panel import DeblendPanel, queue_specs
from .keys import KeyRouter
from .places import MAX_RECENT, remember_folder, start_folder
from .recent_menu import RecentFilesMixin
from .queue_panel import QueuePanel
from .compare_view import install_compare_view
from .morphology_ui import bind_morphology, install_morphology
from .field_view import install_field_view
from .review import ReviewMode
from .rules_panel import RulesPanel
from .session_ctl import SessionController
from .services import WindowServices
from .state import AppState
from .style import monospace_font
from .workers import TaskBar, TaskRunner

#: How long closing the window blocks for cancelled work to stop before it waits for it hidden (ms).
CLOSE_WAIT_MS = 1000

__all__ = ["MainWindow", "app_settings", "error_text", "MAX_RECENT", "MAX_EXPORT_BLENDS"]

#: Blends of an opened export put in the queue (the first ones of its split); the Compare view's summary holds
#: every queued blend's results, so a queue of 100,000s would not fit in memory.
MAX_EXPORT_BLENDS = 10_000


def app_settings() -> QSettings:
    """The app's persistent settings (an INI file in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "candels-gui", "candels-gui")


def error_text(exc: BaseException) -> str:
    """What an error dialog says: the core's message, never a traceback."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror and isinstance(exc.filename, str):
        name = Path(exc.filename)   # "[Errno 30] Read-only file system: '…'" said plainly; a temporary's folder
        return (f"cannot write in {name.parent}: {exc.strerror}" if is_temp_name(name.name)
                else f"{name}: {exc.strerror}")
    if isinstance(exc, (ValueError, OSError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


class MainWindow(RecentFilesMixin, QMainWindow):
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
        self._closing = False   # closing: hidden while cancelled work stops (closeEvent)
        self.collector = CollectorSettler(self)  # full GC passes stay short once the app has settled
        self.tasks.idle.connect(self.collector.poke)
        self.source_path: Path | None = None
        self._load_serial = 0   # the latest data load asked for (open_path)
        self.setWindowTitle("candels-gui")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.editor = BlendEditor(self.state, self.display, self.show_error, self)
        self.setCentralWidget(self.editor)
        self.catalog = CatalogPanel(self.state, self.display, self.show_error, status=self.show_status)
        self.display_panel = DisplayPanel(self.display)
        self.display_panel.histogram.defer = self.editor.after_paint.call   # redrawn after the blend's paint
        self.catalog_dock = self._dock("Catalog", self.catalog, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.rules_panel = RulesPanel(self.state, self.show_error)
        # the right column: Display and Random pairs as tabs of one dock, so each has the column's height (no
        # scrolling at 1280x800). (One dock with a tab widget: a second pair of tabified docks makes Qt leave
        # a stray tab bar over the window.)
        self.right_tabs = QTabWidget(self)
        self.right_tabs.setObjectName("right_tabs")
        self.right_tabs.setDocumentMode(True)
        self.right_tabs.addTab(self._scrolled(self.display_panel), "Display")
        self.right_tabs.addTab(self._scrolled(self.rules_panel), "Random pairs")
        self.display_dock = self._dock("Display and sampling", self.right_tabs,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.display_dock.setObjectName("dock_display")
        self.deblend_panel = DeblendPanel(self.state, self.display, self.tasks, self.show_error)
        self.services = WindowServices(parent=self, tasks=self.tasks, show_error=self.show_error,
                                       status=self.show_status, source_path=lambda: self.source_path,
                                       open_path=self.open_path, focus_views=self.focus_views,
                                       settings=self.settings)
        # curation: queue, undo stack, session files, autosave
        self.session_ctl = SessionController(self.state, self.display, self.services)
        self.session_ctl.settingsApplied.connect(self.rules_panel.show_rules)
        self.queue_panel = QueuePanel(self.session_ctl)
        self.queue_dock = self._dock("Queue", self.queue_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        # catalog and queue share the left column as tabs, so the catalog table keeps its height
        self.deblend_panel.set_queue_source(lambda: queue_specs(self.session_ctl.session))
        self.export_result: Any = None  # the last export's ExportResult (set by the Export dialog)
        self.deblend_panel.training_data = self.last_hdf5_export
        self.review = ReviewMode(self.queue_panel, self.session_ctl, catalog_dock=self.catalog_dock,
                                 queue_dock=self.queue_dock, services=self.services)
        self.compare = install_compare_view(self)  # central area: Editor | Compare tabs
        # the Deblend panel is a tab of the central area (Editor | Deblend | Compare): its outputs get the
        # room of the editor, a grid of the chosen deblenders that fills it
        self.central_tabs.insertTab(1, self.deblend_panel, "Deblend")
        self.central_tabs.setTabToolTip(1, "Run deblenders on the current blend or the queue (Ctrl+D)")
        self.labelling = install_morphology(self)  # + Labelling tab, Morphology tab, self.morphology
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
        view_menu.addAction(self.queue_dock.toggleViewAction())
        self.session_ctl.bind_actions(self.actions_by_name)
        self.review.bind_actions(self.actions_by_name)
        self.review.set_active(False)
        bind_morphology(self)
        self._sync_overlay_actions()

        # single-key actions work whatever widget was last touched; Escape / Enter in a field come home
        self.key_router = KeyRouter(self, self.focus_views, [k for a in ACTIONS for k in a.shortcuts],
                                    views=lambda: self.editor.views,
                                    say=lambda text: self.show_status(text, 5000))
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.key_router)

        for view in self.editor.views:
            view.hovered.connect(self._hovered)
            view.left.connect(lambda: self.readout.setText(""))
        self.display.overlayChanged.connect(self._sync_overlay_actions)
        self.state.stampsChanged.connect(self._stamps_changed)

        # catalog and queue share the left column as tabs, so the catalog table keeps its height
        self.tabifyDockWidget(self.catalog_dock, self.queue_dock)
        self.catalog_dock.raise_()
        self.resize(1600, 1000)
        self.resizeDocks([self.catalog_dock, self.display_dock], [440, 300], Qt.Orientation.Horizontal)
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
        """Read ``path`` in a worker; the window stays responsive and shows progress. Stamp data, or a blend
        export (``produce``'s folder, an HDF5 export): its stamps, and its blends fill the queue."""
        from ..core.store.open_data import iter_open_data

        path = Path(path)
        ctl = getattr(self, "session_ctl", None)  # absent while the window is being built
        if ctl is not None and not ctl.confirm_discard(f"Open {path.name}", until_replaced=True):
            return  # unsaved queue and the user chose Cancel (or a failed save)
        self.tasks.cancel_data_work()   # an export or a training started before goes on
        self.statusBar().showMessage(f"Loading {path} …")
        def read(token: Any) -> Any:
            data = yield from iter_open_data(path, limit=MAX_EXPORT_BLENDS, cancel=token)
            (data if isinstance(data, StampSet) else data[0]).content_hash()  # cached: not in the UI thread
            return data

        self._load_serial += 1
        serial = self._load_serial

        def not_loaded() -> None:   # a session waiting for this data (the latest asked for) is not opened
            if serial == self._load_serial and getattr(self, "session_ctl", None) is not None:
                self.session_ctl.data_load_failed()

        def failed(exc: BaseException) -> None:
            self.statusBar().showMessage(f"Could not open {path}", 8000)   # not 'Loading …' for ever
            self.show_error(f"Cannot open {path.name}", exc)
            not_loaded()

        def cancelled() -> None:
            self.statusBar().showMessage("Loading cancelled", 4000)
            not_loaded()

        self.tasks.run_job(f"Loading {path.name}", read, on_result=lambda data: self._loaded(path, data),
                           on_error=failed, on_cancel=cancelled)

    def set_stamps(self, stamps: StampSet, *, random_pair: bool = True, engine: Any = None) -> None:
        """Use ``stamps`` now (and show a random pair so the editor is not empty); ``engine``: the BlendEngine
        that renders them, when not a default one (an opened export's)."""
        self.state.set_stamps(stamps, engine)
        if random_pair and len(stamps) >= 2:
            try:
                self.state.random_pair()
            except (ValueError, KeyError) as exc:
                self.statusBar().showMessage(f"No random pair: {error_text(exc)}", 8000)

    def use_data(self, path: Path, data: Any, *, random_pair: bool = True) -> str:
        """Use what :func:`~candels_gui.core.store.open_data.iter_open_data` read at ``path``: stamps (a random
        pair in the editor with ``random_pair``), or an export's stamps with its blends as the queue (pending,
        in order, the first in the editor). Returns the status line that says what was loaded."""
        self.source_path = path
        if isinstance(data, StampSet):
            self.set_stamps(data, random_pair=random_pair)
            return f"Loaded {len(data):,} stamps from {path}"
        stamps, specs, info = data
        self.set_stamps(stamps, engine=info.engine, random_pair=random_pair and not specs)
        self.session_ctl.start_queue(specs)
        return info.describe(path)

    def _loaded(self, path: Path, data: Any) -> None:
        self.add_recent(path)
        self.statusBar().showMessage(self.use_data(path, data), 6000 if isinstance(data, StampSet) else 10000)

    def _stamps_changed(self) -> None:
        stamps = self.state.stamps
        if stamps is None:
            return
        self.collector.poke()
        h, w = stamps.stamp_shape
        name = self.source_path.name if self.source_path else (Path(stamps.source).name or "data")
        self.setWindowTitle(f"candels-gui — {name}")
        scale = f" · {stamps.pixel_scale:g}″/px" if stamps.pixel_scale else ""
        self.data_label.setText(f"{name} · {len(stamps):,} stamps · {h}×{w} px{scale}")

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
        start = start_folder(self.settings, self.source_path.parent if self.source_path else None)
        folder = QFileDialog.getExistingDirectory(self, "Open data folder", str(start))
        if folder:
            remember_folder(self.settings, Path(folder).parent)
            self.open_path(folder)

    def open_file_dialog(self) -> None:
        start = start_folder(self.settings, self.source_path.parent if self.source_path else None)
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data file", str(start),
            "Stamp data (*.npy *.fits *.fit *.fits.gz *.fz);;Blend exports (*.h5 *.hdf5);;All files (*)")
        if path:
            remember_folder(self.settings, path)
            self.open_path(path)

    def _can_act(self, what: str, *, spec: bool = True) -> bool:
        """True when there is data (and a blend, with ``spec``); otherwise the status bar says why."""
        if self.state.stamps is None:
            self.show_status(f"{what}: no data open (File > Open data folder…, Ctrl+O)", 5000)
            return False
        if spec and self.state.spec is None:
            self.show_status(f"{what}: no blend yet (pick two galaxies with 1 / 2, or press N)", 5000)
            return False
        return True

    def _pick(self, which: int) -> None:
        if not self._can_act(f"Set galaxy {which}", spec=False):
            return
        if self.catalog.current_stamp() is None:
            self.show_status(f"Set galaxy {which}: no catalog row under the cursor (show the Catalog and "
                             "click a row)", 5000)
            return
        self.catalog.pick_current(which)

    def set_selected_galaxy1(self) -> None:
        self._pick(1)

    def set_selected_galaxy2(self) -> None:
        self._pick(2)

    def random_pair(self) -> None:
        if self._can_act("Random pair", spec=False):
            self.catalog.random_pair()

    def swap_galaxies(self) -> None:
        if self._can_act("Swap"):
            self.state.swap()

    def _nudge(self, dx: float, dy: float) -> None:
        spec = self.state.spec
        if self._can_act("Nudge") and spec is not None:
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
        if self._can_act("Rotate") and self.state.spec is not None:
            self.state.update_spec(rotation=(self.state.spec.rotation + 15.0) % 360.0)

    def rotate_cw(self) -> None:
        if self._can_act("Rotate") and self.state.spec is not None:
            self.state.update_spec(rotation=(self.state.spec.rotation - 15.0) % 360.0)

    def toggle_flip(self) -> None:
        if self._can_act("Flip") and self.state.spec is not None:
            self.state.update_spec(flip=not self.state.spec.flip)

    def reset_transform(self) -> None:
        if self._can_act("Reset"):
            self.editor.controls.reset()

    def set_masks_visible(self, visible: bool) -> None:
        self.display.set_overlay(visible=visible)

    def set_mask_outline(self, outline: bool) -> None:
        self.display.set_overlay(outline=outline)

    def set_fill_visible(self, visible: bool) -> None:
        self.display.set_overlay(fill=visible)
        stamps = self.state.stamps
        if visible and stamps is not None and stamps.fillmask is None:
            self.show_status("These data carry no fill mask: only where galaxy 2's moved stamp does not reach "
                             "is hatched", 6000)

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
        self.central_tabs.setCurrentWidget(self.deblend_panel)
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

    # ------------------------------------------------------------------ keyboard
    def focus_views(self) -> None:
        """Give the keyboard to the views (the blend view, or the Compare view when it is shown)."""
        tabs = getattr(self, "central_tabs", None)
        target: QWidget = self.editor.blend_view
        if tabs is not None and tabs.currentWidget() is not self.editor:
            target = tabs.currentWidget()
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):  # first focus: the blend view, never a filter box
            self._shown_once = True
            self.focus_views()
            QTimer.singleShot(0, self.focus_views)

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
        """RA/Dec of view pixel (x, y) of the galaxy the view shows (the data's WCS, when they carry one)."""
        stamps, spec = self.state.stamps, self.state.spec
        if stamps is None or spec is None:
            return None
        return stamps.pixel_to_sky(spec.id2 if name == "galaxy 2" else spec.id1, x, y)

    def _sync_overlay_actions(self) -> None:
        for name, value in (("toggle_masks", self.display.mask_visible),
                            ("mask_outline", self.display.mask_outline), ("toggle_fill", self.display.fill_visible)):
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
        if self._closing:   # called again once the cancelled work has stopped
            self._close_now(event)
            return
        self.session_ctl.session.flush_autosave()  # edits the autosave timer had not written yet
        if not self.session_ctl.confirm_discard("Close candels-gui"):  # unsaved queue: Save/Discard/Cancel
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.morphology.stop_automatic()   # a closed window starts no background work (it may outlive the close)
        self.tasks.cancel_all()
        if not self.tasks.wait(CLOSE_WAIT_MS):
            # work that stops at its next check only (a scarlet fit, JAX compiling it): the window waits for
            # it hidden, with its event loop running, and closes when it has stopped
            self._closing = True
            self.hide()
            self.tasks.when_stopped(self.close)
            event.ignore()
            return
        self._close_now(event)

    def _close_now(self, event: QCloseEvent) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.key_router)
        super().closeEvent(event)
        if self._closing and isinstance(app, QApplication) and app.quitOnLastWindowClosed() \
                and not any(w.isVisible() for w in app.topLevelWidgets()):
            app.quit()   # Qt quits when the last *visible* window closes; this one was hidden while it waited

    # ------------------------------------------------------------------ private
    @staticmethod
    def _scrolled(widget: QWidget) -> QScrollArea:
        """``widget`` in a vertical scroll area (a short screen scrolls the panel instead of growing the window)."""
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setMinimumWidth(widget.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
        return area

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock
