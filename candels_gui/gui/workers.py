"""Background work for the GUI: core jobs and plain calls run on the thread pool.

Workers never touch widgets: results, progress and errors come back to the UI thread as Qt signals
(superqt's ``create_worker``), and the :class:`TaskRunner` shows them in the status bar with a Cancel
button. Core jobs are generators yielding :class:`~candels_gui.core.jobs.Progress`; cancelling sets
their :class:`~candels_gui.core.jobs.CancelToken`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PyQt6.QtCore import (QCoreApplication, QElapsedTimer, QEventLoop, QObject, QThread, QThreadPool, QTimer,
                          pyqtSignal)
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # superqt is imported with the first task (its package import costs ~0.5 s of start-up)
    from superqt.utils import FunctionWorker, GeneratorWorker

from ..core.errors import Cancelled
from ..core.jobs import CancelToken, Job, Progress

__all__ = ["Task", "TaskRunner", "TaskBar", "progress_text"]


class Task(QObject):
    """One piece of background work: its label, its cancel token and its worker."""

    def __init__(self, label: str, token: CancelToken, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.token = token
        #: Works on its own copy of what it needs (an export's snapshot, a training's files): opening other
        #: data does not stop it (set by :meth:`TaskRunner.run_job`).
        self.independent = False
        self.worker: GeneratorWorker | FunctionWorker | None = None
        self.done = False

    def cancel(self) -> None:
        """Ask the work to stop at its next check (a job) or drop its result (a plain call).

        A job is stopped by its token only: it raises :class:`Cancelled` at its next check, inside the
        worker, so its own clean-up runs there (temporary files removed) before the task is reported
        done. Aborting the generator between two steps instead would leave that clean-up to the garbage
        collector, and the files behind when the app exits first.
        """
        self.token.cancel()
        from superqt.utils import GeneratorWorker

        if self.worker is not None and not isinstance(self.worker, GeneratorWorker):
            self.worker.quit()


class TaskRunner(QObject):
    """Runs work off the UI thread and reports it by signals.

    Signals
    -------
    started(str)
        A task with this label began.
    progress(object)
        A :class:`Progress` of the current task.
    idle()
        No task is running any more.
    """

    started = pyqtSignal(str)
    progress = pyqtSignal(object)
    idle = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks: list[Task] = []

    @property
    def busy(self) -> bool:
        """True while a task runs."""
        return bool(self.tasks)

    def run_job(self, label: str, make_job: Callable[[CancelToken], Job], *,
                on_result: Callable[[Any], None], on_error: Callable[[BaseException], None],
                on_cancel: Callable[[], None] | None = None, independent: bool = False,
                on_progress: Callable[[Progress], None] | None = None) -> Task:
        """Run the core job ``make_job(token)`` in a worker.

        ``on_result(value)``, ``on_error(exc)``, ``on_cancel()`` and ``on_progress(progress)`` (each report of
        this job, e.g. to show its partial result) are called on the UI thread;
        a :class:`~candels_gui.core.errors.Cancelled` error counts as a cancel, not an error. An
        ``independent`` job works on its own copy of what it needs: opening other data does not cancel it
        (:meth:`cancel_data_work`).
        """
        token = CancelToken()

        def gen():  # generator function: superqt runs it step by step in the pool thread
            return (yield from make_job(token))

        task = self._start(label, token, gen, on_result, on_error, on_cancel, on_progress)
        task.independent = independent
        return task

    def run_call(self, label: str, fn: Callable[..., Any], *args: Any,
                 on_result: Callable[[Any], None], on_error: Callable[[BaseException], None],
                 **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` in a worker (for work that is not a job)."""
        return self._start(label, CancelToken(), lambda: fn(*args, **kwargs), on_result, on_error, None)

    def cancel_all(self) -> None:
        """Ask every running task to stop."""
        for task in list(self.tasks):
            task.cancel()

    def cancel_data_work(self) -> None:
        """Ask the tasks that work on the open data to stop (other data is being opened); independent ones
        (an export of a snapshot, a training) go on."""
        for task in list(self.tasks):
            if not task.independent:
                task.cancel()

    def wait(self, msecs: int = 10_000) -> bool:
        """Block until the pool's threads are done (for closing the window); True when they are.

        superqt hands a new worker to the pool from a 1 ms timer: a task started just before is let into the
        pool first (its job, cancelled, stops at its first check), so that it does not start after the window
        that waited for it has gone.
        """
        if any(t.worker is not None and not t.done and not t.worker.is_running for t in self.tasks):
            QThread.msleep(2)
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        return QThreadPool.globalInstance().waitForDone(msecs)

    def when_stopped(self, callback: Callable[[], None], *, give_up_ms: int = 30_000) -> None:
        """Call ``callback`` on the UI thread once the pool's threads are done, or after ``give_up_ms``.

        For closing a window whose cancelled work is still finishing a step that cannot be interrupted (a
        scarlet fit, JAX compiling it): the window waits hidden with its event loop running, where
        :meth:`wait` would freeze it, and its objects outlive the work that reports to them.
        """
        timer = QTimer(self)
        timer.setInterval(50)
        clock = QElapsedTimer()
        clock.start()

        def check() -> None:
            if QThreadPool.globalInstance().activeThreadCount() == 0 or clock.elapsed() >= give_up_ms:
                timer.stop()
                timer.deleteLater()
                callback()

        timer.timeout.connect(check)
        timer.start()

    # ------------------------------------------------------------------ private
    def _start(self, label: str, token: CancelToken, fn: Callable[[], Any],
               on_result: Callable[[Any], None], on_error: Callable[[BaseException], None],
               on_cancel: Callable[[], None] | None,
               on_progress: Callable[[Progress], None] | None = None) -> Task:
        task = Task(label, token, self)
        from superqt.utils import create_worker

        worker = create_worker(fn, _start_thread=False, _ignore_errors=True)
        task.worker = worker

        reported = [False]

        def returned(value: Any) -> None:
            reported[0] = True
            if token.cancelled:
                if on_cancel:
                    on_cancel()
            else:
                on_result(value)

        def errored(exc: BaseException) -> None:
            reported[0] = True
            if isinstance(exc, Cancelled) or token.cancelled:
                if on_cancel:
                    on_cancel()
            else:
                on_error(exc)

        def finished() -> None:
            task.done = True
            if not reported[0] and on_cancel:  # aborted between two steps: neither returned nor raised
                on_cancel()
            if task in self.tasks:
                self.tasks.remove(task)
            if not self.tasks:
                self.idle.emit()

        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.finished.connect(finished)
        from superqt.utils import GeneratorWorker

        if isinstance(worker, GeneratorWorker):
            def yielded(p: Any) -> None:
                if isinstance(p, Progress):
                    self.progress.emit(p)
                    if on_progress is not None and not token.cancelled:
                        on_progress(p)
            worker.yielded.connect(yielded)
        self.tasks.append(task)
        self.started.emit(label)
        worker.start()
        return task


class TaskBar(QWidget):
    """Status-bar widget: label, progress bar and Cancel button of the running task."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(runner.cancel_all)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        runner.started.connect(self._started)
        runner.progress.connect(self._progress)
        self._marks: dict[str, tuple[float, int]] = {}    # per message: when its reports began (time left)
        runner.idle.connect(self._idle)
        self.hide()

    def _started(self, label: str) -> None:
        self.label.setText(label)
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.show()

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * p.fraction))
        if p.message:
            self.label.setText(progress_text(p, self._marks))

    def _idle(self) -> None:
        self._marks.clear()
        self.hide()


def progress_text(p: Progress, marks: dict[str, tuple[float, int]], now: float | None = None) -> str:
    """A progress report in words: ``"statmorph 12 of 100 · about 40 s left"``. ``marks`` keeps, per message, when
    and at what count its reports began (the time left is the rate since then; none in the first 2 s)."""
    now = time.monotonic() if now is None else now
    if not p.total:
        return p.message
    start = marks.get(p.message)
    if start is None or p.done < start[1]:
        marks[p.message] = start = (now, p.done)
    text = f"{p.message} {p.done:,} of {p.total:,}"
    spent, gained = now - start[0], p.done - start[1]
    if spent >= 2.0 and gained > 0 and p.done < p.total:
        left = (p.total - p.done) * spent / gained
        text += f" · about {left:.0f} s left" if left < 90 else f" · about {left / 60:.0f} min left"
    return text
