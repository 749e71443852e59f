"""The Compare view: deblenders side by side on the current blend, and their metrics over the queue.

Top: one row per deblender that has results for the editor's blend (the Deblend panel's cache; missing
ones are run through the panel), six linked columns -- blend, truth galaxy 1 and 2, the outputs matched to
them (Hungarian on positions, :func:`~candels_gui.core.measure.metrics.match_detections` inside
:func:`~candels_gui.core.measure.binned.per_blend_table`) and the residual -- all with the app's one
stretch and levels. Below: the per-blend metric table of that blend, then the dataset summary over the
queue (or its accepted blends): the panel deblends what is not cached, a worker measures every blend
(:func:`~.compare_metrics.summary_job`), and the summary table and the interactive plots follow; a click
on a point opens its blend. Every number comes from core functions; this module only arranges them.

Results of a summary are held until the next one (about ``K x H x W x 5`` bytes per blend and
deblender), so summarise queues of hundreds of blends, not hundreds of thousands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from astropy.table import Table
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QPushButton,
                             QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from ..core.blending.engine import BlendSpec
from ..deblend.base import TTA_SUFFIX, DeblendResult
from .compare_grid import BLEND_COLUMNS, SUMMARY_COLUMNS, CompareGrid, MetricTable, comparison_rows
from .compare_metrics import BlendComparison, blend_comparison, summary_job
from .compare_plots import SummaryPlots, deblender_color
from .places import remember_folder, start_folder, window_settings

if TYPE_CHECKING:
    from ..evaluation.result import EvaluationResult

__all__ = ["CompareView", "install_compare_view", "SCOPES"]

#: Which queued blends the summary covers: label -> statuses (``None`` = all).
SCOPES: dict[str, tuple[str, ...] | None] = {"summary: whole queue": None,
                                             "summary: accepted": ("accepted",),
                                             "summary: accepted + pending": ("accepted", "pending")}


@dataclass
class _Request:
    """A dataset summary waiting for the panel's deblending."""

    specs: list[BlendSpec]
    rows: list[int]
    names: list[str]
    results: dict[str, dict[BlendSpec, DeblendResult]] = field(default_factory=dict)
    task: Any = None

    def complete(self) -> bool:
        return all(len(self.results[n]) == len(set(self.specs)) for n in self.names)


class CompareView(QWidget):
    """Deblenders side by side on the current blend, a per-blend metric table, the dataset summary.

    Parameters
    ----------
    state : AppState
        The current blend, the data and the engine.
    display : DisplayModel
        The one stretch and levels used by every image.
    panel : DeblendPanel
        Runs the deblenders and caches their results.
    tasks : TaskRunner
        Runs the summary's measurements in a worker.
    queue : callable, optional
        Returns the curation queue (a sequence of :class:`~candels_gui.core.curation.session.QueueItem`).
    load_row : callable, optional
        ``load_row(row)`` opens queued blend ``row`` in the editor (selects its queue row).
    on_error : callable, optional
        ``on_error(title, exc)``.
    """

    def __init__(self, state: Any, display: Any, panel: Any, tasks: Any, *,
                 queue: Callable[[], Sequence[Any]] | None = None,
                 load_row: Callable[[int], None] | None = None,
                 on_error: Callable[[str, BaseException], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.display, self.panel, self.tasks = state, display, panel, tasks
        self.queue, self.load_row, self.on_error = queue, load_row, on_error
        self.comparison: BlendComparison | None = None
        self.summary: EvaluationResult | None = None
        self.summary_specs: list[BlendSpec] = []
        self.summary_rows: list[int] = []
        self._request: _Request | None = None
        self._key: Any = None
        self._asked: set[tuple[str, BlendSpec]] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)

        self.title = QLabel("No blend")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.auto_run = QCheckBox("Run missing")
        self.auto_run.setChecked(True)
        self.auto_run.setToolTip("Run the deblenders checked in the Deblend panel on the shown blend when "
                                 "they have no cached result for it")
        self.scope = QComboBox()
        self.scope.addItems(list(SCOPES))
        self.scope.setToolTip("Which queued blends the dataset summary covers")
        self.scope.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.scope.setMinimumContentsLength(max(len(k) for k in SCOPES) - 4)
        self.summary_button = QPushButton("Summarize")
        self.summary_button.setToolTip("Deblend the chosen queued blends with the checked deblenders (cached "
                                       "results are reused) and measure them")
        self.summary_button.clicked.connect(lambda: self.run_summary())
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Save the comparison grid and the summary plots as PNG pictures")
        self.png_button.clicked.connect(self._save_png_dialog)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Save the metric tables as CSV files")
        self.csv_button.clicked.connect(self._save_csv_dialog)
        self.status = QLabel("")
        self.status.setObjectName("caption")
        head = QHBoxLayout()   # the title on its own line: beside the controls a 600 px view cut it to "Blen"
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.auto_run)
        head.addStretch(1)
        for w in (self.scope, self.summary_button, self.png_button, self.csv_button):
            head.addWidget(w)

        self.grid = CompareGrid(display)
        self.blend_table = MetricTable(BLEND_COLUMNS)
        self.summary_table = MetricTable(SUMMARY_COLUMNS)
        tables = QWidget()
        tables_box = QVBoxLayout(tables)
        tables_box.setContentsMargins(0, 0, 0, 0)
        tables_box.setSpacing(2)
        for caption, widget in (("This blend", self.blend_table), ("Dataset summary", self.summary_table)):
            label = QLabel(caption)
            label.setObjectName("caption")
            tables_box.addWidget(label)
            tables_box.addWidget(widget)
            tables_box.addWidget(widget.legend)  # spells out the short headers when they are in use
        tables_box.addStretch(1)
        bottom = QWidget()
        bottom_box = QVBoxLayout(bottom)
        bottom_box.setContentsMargins(0, 0, 0, 0)
        self._plots_box = bottom_box     # the summary plots go in when first needed (:attr:`plots`)
        self._plots: SummaryPlots | None = None
        self.splitter = QSplitter(Qt.Orientation.Vertical)  # grid | tables | plots, each resizable
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(tables)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setChildrenCollapsible(False)
        self.tables = tables
        self._splitter_moved = False  # once the user drags a handle, the sizes are theirs
        self.splitter.splitterMoved.connect(lambda *_a: setattr(self, "_splitter_moved", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addLayout(head)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

        state.specChanged.connect(lambda _s, final: self._schedule() if final else None)
        state.stampsChanged.connect(self._stamps_changed)
        panel.resultsReady.connect(self._results)
        panel.runFinished.connect(self._run_finished)
        tasks.idle.connect(self._tasks_idle)
        for box in [*panel.checks.values(), panel.tta_box]:  # a newly checked deblender joins the comparison
            box.toggled.connect(self._schedule)

    # ------------------------------------------------------------------ layout
    @property
    def plots(self) -> SummaryPlots:
        """The summary plots, made when the view is first shown or a summary first needs them (their pyqtgraph
        plots would cost the window's start-up ~40 ms)."""
        if self._plots is None:
            self._plots = SummaryPlots()
            self._plots.blendClicked.connect(self.open_blend)
            self._plots_box.addWidget(self._plots, 1)
        return self._plots

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.plots  # noqa: B018 (made before the first paint of the view)
        super().showEvent(event)

    def fit_splitter(self) -> None:
        """Give the tables all their rows when there is room (the grid and the plots share the rest);
        on a short screen they keep at least two rows each and scroll (until the user drags a handle)."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if self._splitter_moved or total <= 0:
            return
        grid_min, plots_min = 150, 230
        tables = max(self.tables.minimumSizeHint().height(),
                     min(self.tables.sizeHint().height(), total - grid_min - plots_min))
        rest = max(0, total - tables)
        grid = max(grid_min, int(rest * 0.45)) if rest > grid_min + plots_min else rest // 2
        new = [grid, tables, max(0, rest - grid)]
        if any(abs(a - b) > 2 for a, b in zip(new, sizes)):  # (an unchanged layout keeps the views' zoom)
            self.splitter.setSizes(new)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_splitter()

    # ------------------------------------------------------------------ current blend
    def activate(self) -> None:
        """Bring the view to the front (its tab) and show the current blend (action slot)."""
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QTabWidget):
            parent = parent.parentWidget()
        if parent is not None:
            parent.setCurrentWidget(self)
        self.refresh()

    def names_with_results(self, spec: BlendSpec | None = None) -> list[str]:
        """Deblenders (registry order) with a cached result for ``spec`` (default: the current blend)."""
        spec = self.state.spec if spec is None else spec
        return [] if spec is None else [n for n in self.panel.run_names() if (n, spec) in self.panel.cache]

    def refresh(self) -> None:
        """Show the current blend's results (and run the missing ones when "Run missing" is on)."""
        if not self.isVisible():
            self._key = None
            return
        spec, engine = self.state.spec, self.state.engine
        if spec is None or engine is None:
            self._show(None, "No blend: pick two galaxies, a random pair or a queued blend.")
            return
        missing = [n for n in self.panel.selected() if (n, spec) not in self.panel.cache
                   and (n, spec) not in self._asked]
        if missing and self.auto_run.isChecked() and not self.panel.busy:
            self._asked.update((n, spec) for n in missing)
            self.panel.run_current()
        names = self.names_with_results(spec)
        self.title.setText(f"<b>Blend</b> {spec.id1} + {spec.id2} · separation {spec.separation:.1f} px")
        if not names:
            running = self.panel.busy
            self._show(None, "Deblending…" if running else
                       "No results for this blend: check deblenders in the Deblend panel (Run missing).")
            return
        results = {n: self.panel.cache.get(n, spec) for n in names}
        key = (spec, tuple((n, id(r)) for n, r in results.items()))
        if key == self._key:
            return
        self._key = key
        self._show(blend_comparison(engine, self.state.stamps, spec, results))

    def _show(self, comparison: BlendComparison | None, message: str = "") -> None:
        self.comparison = comparison
        if comparison is None:
            self._key = None
            self.grid.set_message(message)
            self.blend_table.set_rows([])
            return
        colors = self._colors(comparison.results)
        self.grid.set_rows(comparison_rows(comparison, colors))
        self.blend_table.set_rows([(n, colors[n], comparison.table[i])
                                   for i, n in enumerate(comparison.results)])
        self.fit_splitter()

    def _colors(self, names: Any) -> dict[str, tuple[int, int, int]]:
        order = list(self.panel.checks)  # a deblender keeps its colour whatever else is shown
        colors = {}
        for i, n in enumerate(names):
            base = n.removesuffix(TTA_SUFFIX)
            color = deblender_color(order.index(base) if base in order else len(order) + i)
            colors[n] = color if n == base else tuple(v + (255 - v) * 9 // 20 for v in color)  # +tta: paler
        return colors

    def _schedule(self, *_args: Any) -> None:
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._schedule()

    # ------------------------------------------------------------------ dataset summary
    def queue_items(self, scope: str | None = None) -> tuple[list[int], list[BlendSpec]]:
        """Queue rows and specs the summary covers for ``scope`` (default: the scope box's choice)."""
        statuses = SCOPES[scope if scope is not None else self.scope.currentText()]
        items = list(self.queue()) if self.queue is not None else []
        chosen = [(i, it.spec) for i, it in enumerate(items) if statuses is None or it.status in statuses]
        return [i for i, _ in chosen], [s for _, s in chosen]

    def run_summary(self, scope: str | None = None) -> None:
        """Deblend the queued blends of ``scope`` with the checked deblenders through the panel (cached
        results are reused), then measure them in a worker and show the summary and the plots."""
        rows, specs = self.queue_items(scope)
        names = self.panel.selected()
        if not specs or not names or self.state.engine is None:
            self.status.setText("Nothing to summarize: " + ("the queue (in this scope) is empty." if not specs
                                else "check deblenders in the Deblend panel." if not names else "no data."))
            return
        request = _Request(specs, rows, names, {n: {} for n in names})
        for n in names:
            for s in specs:
                res = self.panel.cache.get(n, s)
                if res is not None:
                    request.results[n][s] = res
        self._request = request
        if request.complete():
            self._measure()
            return
        self.status.setText(f"Deblending {len(specs)} blend(s) with {', '.join(names)} …")
        request.task = self.panel.run_specs(specs)
        if request.task is None:  # nothing left to run after all
            self._measure()

    def _results(self, name: str, specs: list[BlendSpec], results: list[DeblendResult]) -> None:
        # delivered: asked for again if the panel's cache drops them later (a summary of a long queue fills it);
        # a deblender that failed on a blend stays asked, and is not run on it again and again
        self._asked.difference_update((name, s) for s in specs)
        req = self._request
        if req is not None and req.task is not None and name in req.results:
            wanted = set(req.specs)
            for s, r in zip(specs, results):
                if s in wanted:
                    req.results[name][s] = r
            if req.complete():
                self._measure()
        if self.state.spec in specs:
            self._schedule()

    def _run_finished(self, counts: Any) -> None:
        req = self._request
        if req is not None and req.task is not None:
            if req.task.token.cancelled:  # Cancel, or another run of the panel replaced this one
                self._request = None
                self.status.setText("Summary cancelled: its deblending was stopped.")
            elif counts is not None and self.panel.task is req.task:
                self._measure()  # done, some results missing: a deblender failed (left out, with a note)
        self._schedule()

    def _tasks_idle(self) -> None:
        req = self._request
        if req is not None and req.task is not None and req.task.done and not req.task.token.cancelled:
            self._measure()  # the panel's run failed (its error was shown): measure what came back

    def _measure(self) -> None:
        req, self._request = self._request, None
        state = self.state
        if req is None or state.engine is None:
            return
        engine, stamps = state.engine, state.stamps
        results = {n: dict(r) for n, r in req.results.items()}
        n_missing = sum(len(set(req.specs)) - len(r) for r in results.values())
        self.status.setText(f"Measuring {len(req.specs)} blend(s)…"
                            + (f" ({n_missing} deblending(s) missing)" if n_missing else ""))
        self.summary_button.setEnabled(False)

        def done(result: EvaluationResult) -> None:
            self.summary_button.setEnabled(True)
            self.show_summary(result, req.specs, req.rows)

        def failed(exc: BaseException) -> None:
            self.summary_button.setEnabled(True)
            self.status.setText(f"Summary failed: {exc}")
            if self.on_error is not None:
                self.on_error("Summary failed", exc)

        def cancelled() -> None:
            self.summary_button.setEnabled(True)
            self.status.setText("Summary cancelled.")

        self.tasks.run_job(f"Measuring {len(req.specs)} blend(s)",
                           lambda token: summary_job(engine, stamps, req.specs, results, rows=req.rows,
                                                     cancel=token),
                           on_result=done, on_error=failed, on_cancel=cancelled)

    def show_summary(self, result: EvaluationResult, specs: Sequence[BlendSpec], rows: Sequence[int]) -> None:
        """Show a summary (:func:`summary_job`'s result) in the table and the plots."""
        self.summary, self.summary_specs, self.summary_rows = result, list(specs), list(rows)
        colors = self._colors(result.tables)
        self.summary_table.set_rows([(n, colors[n], result.summaries[n]) for n in result.deblenders])
        self.fit_splitter()
        self.plots.set_tables(result.tables, colors, tip=self._tip)
        spec = self.state.spec
        self.plots.select_blend(self.summary_specs.index(spec) if spec in self.summary_specs else None)
        notes = "; ".join([*result.notes, *(f"{k}: {v}" for k, v in result.skipped.items())])
        self.status.setText(f"Summary of {result.n_blends} blend(s) · {', '.join(result.deblenders)}"
                            + (f" · {notes}" if notes else ""))

    def _tip(self, blend: int) -> str:
        spec, row = self.summary_specs[blend], self.summary_rows[blend]
        return f"queue row {row + 1}: {spec.id1} + {spec.id2}"

    def open_blend(self, blend: int) -> None:
        """Open blend ``blend`` of the summary in the editor: select its queue row (or set its spec)."""
        spec, row = self.summary_specs[blend], self.summary_rows[blend]
        items = list(self.queue()) if self.queue is not None else []
        if not (0 <= row < len(items) and items[row].spec == spec):
            row = next((i for i, it in enumerate(items) if it.spec == spec), -1)
        if row >= 0 and self.load_row is not None:
            self.load_row(row)
        if self.state.spec != spec:
            self.state.set_spec(spec)
        self.plots.select_blend(blend)
        self.status.setText(f"Opened blend {spec.id1} + {spec.id2}" + (f" (queue row {row + 1})" if row >= 0
                                                                        else ""))

    def _stamps_changed(self) -> None:
        self._request = None
        self._asked.clear()
        self.summary = None
        self.summary_specs, self.summary_rows = [], []
        if self._plots is not None:
            self._plots.clear()
        self.summary_table.set_rows([])
        self.status.setText("")          # the summary it described is gone with the data
        self._show(None, "No blend")

    # ------------------------------------------------------------------ saving
    def save_png(self, path: str | os.PathLike) -> Path:
        """Save the whole view (images, tables, plots) as a PNG."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(out), "PNG"):
            raise OSError(f"could not write the picture {out}")
        return out

    def save_csv(self, folder: str | os.PathLike) -> list[Path]:
        """Write ``compare_blend.csv`` (this blend's metrics), and with a summary ``compare_summary.csv``
        and ``compare_per_blend_<deblender>.csv``, into ``folder``; returns the files written."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        tables: list[tuple[str, Table]] = []
        if self.comparison is not None:
            tables.append(("compare_blend.csv", self.comparison.table))
        if self.summary is not None:
            tables.append(("compare_summary.csv", self.summary.summary_table()))
            tables += [(f"compare_per_blend_{_safe(n)}.csv", t) for n, t in self.summary.tables.items()]
        if not tables:
            raise ValueError("nothing to save: no deblender results for this blend and no summary yet")
        written = []
        for name, table in tables:
            t = table.copy(copy_data=False)
            t.meta.clear()
            t.write(out / name, format="ascii.csv", overwrite=True)
            written.append(out / name)
        return written

    def _save_png_dialog(self) -> None:
        start = start_folder(window_settings(self)) / "compare.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison picture", str(start), "PNG (*.png)")
        if path:
            remember_folder(window_settings(self), path)
            self._try(lambda: self.status.setText(f"Saved {self.save_png(path)}"))

    def _save_csv_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the comparison tables (CSV)",
                                                  str(start_folder(window_settings(self))))
        if folder:
            remember_folder(window_settings(self), Path(folder).parent)
            self._try(lambda: self.status.setText(
                f"Saved {len(self.save_csv(folder))} CSV file(s) in {folder}"))

    def _try(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (OSError, ValueError) as exc:
            if self.on_error is not None:
                self.on_error("Cannot save", exc)
            else:
                self.status.setText(str(exc))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "deblender"


def install_compare_view(window: QMainWindow) -> CompareView:
    """Put the editor and a new :class:`CompareView` in tabs of ``window``'s central area.

    ``window`` is the :class:`~.app.MainWindow` (state, display, deblend panel, tasks, session controller).
    """
    ctl = window.session_ctl  # type: ignore[attr-defined]
    w: Any = window
    view = CompareView(w.state, w.display, w.deblend_panel, w.tasks, queue=lambda: ctl.session.queue,
                       load_row=ctl.load_item, on_error=w.show_error)
    editor = window.takeCentralWidget()
    tabs = QTabWidget(window)
    tabs.setObjectName("central_tabs")
    tabs.setDocumentMode(True)
    tabs.addTab(editor, "Editor")
    tabs.addTab(view, "Compare")
    window.setCentralWidget(tabs)
    window.central_tabs = tabs  # type: ignore[attr-defined]
    return view
