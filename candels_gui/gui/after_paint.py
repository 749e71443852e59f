"""Readout work that waits until a view has painted its new frame.

A preview frame is what the user waits for; the readouts beside it (the blend's metrics, the levels
histogram) can follow a few milliseconds later. Work queued here runs once the watched widget has
painted, so it never delays that paint; a zero-interval timer would not do, because Qt fires timers
before the paint that an image change schedules (the paint request is posted from a queued call).
The owner says when a frame is on its way (:meth:`AfterPaint.expect_paint`); work queued while none is
runs at the event loop's next turn. When an expected paint does not come (the widget hidden), the work
runs after :data:`FALLBACK_MS`.
"""

from __future__ import annotations

from typing import Callable

from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtWidgets import QWidget

__all__ = ["AfterPaint", "FALLBACK_MS"]

#: Milliseconds after which queued work runs even if the widget has not painted.
FALLBACK_MS = 100


class AfterPaint(QObject):
    """Run queued callables once ``widget`` has painted (or after :data:`FALLBACK_MS`).

    Parameters
    ----------
    widget : QWidget
        The widget whose paint the work waits for (a view's viewport).

    Examples
    --------
    >>> after = AfterPaint(view.viewport())                   # doctest: +SKIP
    >>> after.call("metrics", editor.show_metrics)            # doctest: +SKIP
    """

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self._pending: dict[str, Callable[[], None]] = {}
        self._run_timer = QTimer(self)
        self._run_timer.setSingleShot(True)
        self._run_timer.setInterval(0)
        self._run_timer.timeout.connect(self.run_now)
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.setInterval(FALLBACK_MS)
        self._fallback.timeout.connect(self.run_now)
        self._frame_pending = False
        widget.installEventFilter(self)

    @property
    def pending(self) -> bool:
        """Whether work is waiting."""
        return bool(self._pending)

    def expect_paint(self) -> None:
        """A new frame has been given to the widget: queued work waits for its paint."""
        self._frame_pending = True

    def call(self, key: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the coming frame's paint (at the loop's next turn when no frame is coming); a
        later call with the same ``key`` replaces it."""
        self._pending[key] = fn
        if not self._frame_pending:
            self._run_timer.start()
        elif not self._fallback.isActive():
            self._fallback.start()

    def cancel(self, key: str) -> None:
        """Drop the work queued under ``key`` (nothing if none)."""
        self._pending.pop(key, None)

    def run_now(self) -> None:
        """Run every queued callable now, in the order queued."""
        self._run_timer.stop()
        self._fallback.stop()
        self._frame_pending = False
        pending, self._pending = self._pending, {}
        for fn in pending.values():
            fn()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint:
            self._frame_pending = False
            if self._pending:
                self._run_timer.start()   # fires when control is back in the event loop: after this paint
        return False
