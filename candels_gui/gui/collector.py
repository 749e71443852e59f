"""Short garbage-collector passes in a long-lived window: what stays loaded is frozen out of the full passes.

Python's full (generation 2) collection walks every container object the interpreter tracks. Once torch, astropy,
scipy and the app's widgets are loaded that is ~280,000 objects, and one full pass holds the UI thread for 100-130
ms on the 2-core development machine: measured as the longest UI stall of an export (`bench`) when the pass fell in
it. Nearly all of those objects live as long as the app (modules, classes, functions, widgets). After the app has
settled (its data shown, a task finished having imported more code), one full collection clears the garbage made so
far and :func:`gc.freeze` moves every survivor to the permanent generation, which later passes skip: they then walk
only what was made since, and stay short.
"""

from __future__ import annotations

import gc
import sys

from PyQt6.QtCore import QObject, QTimer

__all__ = ["CollectorSettler"]


class CollectorSettler(QObject):
    """Runs :meth:`settle` :attr:`DELAY_MS` after :meth:`poke` (the last poke counts) when the interpreter has
    imported modules since the last settle (the first poke always settles).

    Parameters
    ----------
    parent : QObject, optional
    """

    #: Milliseconds between the event that pokes (data shown, a task finished) and the settle: the frame that
    #: shows the new state is painted first.
    DELAY_MS = 500

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settles = 0
        self._modules = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DELAY_MS)
        self._timer.timeout.connect(self._due)

    def poke(self) -> None:
        """Code may have been loaded (data shown, a task finished): settle in :attr:`DELAY_MS` if it was."""
        self._timer.start()

    def settle(self) -> None:
        """One full collection, then :func:`gc.freeze` of every object that survived it."""
        gc.collect()
        gc.freeze()
        self._modules = len(sys.modules)
        self.settles += 1

    def _due(self) -> None:
        if len(sys.modules) > self._modules:
            self.settle()
