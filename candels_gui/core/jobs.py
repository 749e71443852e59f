"""Progress and cancel protocol for long work.

Long work in the core is a generator that yields :class:`Progress` items and checks a
:class:`CancelToken` between steps; its ``return`` value is the result. The command line drives it with
a tqdm bar (:func:`run_with_progress`), the GUI from a worker thread.

Examples
--------
>>> def work(n, *, cancel=None):
...     for i in range(n):
...         check_cancel(cancel)
...         yield Progress(i + 1, n, "counting")
...     return n
>>> run_job(work(3))
3
"""

from __future__ import annotations

import sys

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, Optional

from .errors import Cancelled

__all__ = ["Progress", "CancelToken", "check_cancel", "run_job", "run_with_progress", "Job"]


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units (``total`` 0 when unknown); ``partial``, when the job
    offers one, is its result so far (e.g. a table whose rows not done yet are blank), for a caller to show."""

    done: int
    total: int
    message: str = ""
    partial: Any = None

    @property
    def fraction(self) -> float:
        """Done fraction in [0, 1] (0 when the total is unknown)."""
        return self.done / self.total if self.total else 0.0


class CancelToken:
    """A thread-safe flag that long work checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()


def check_cancel(token: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``token`` is set (``None`` never cancels)."""
    if token is not None and token.cancelled:
        raise Cancelled("cancelled")


Job = Generator[Progress, None, Any]


def run_job(job: Job, on_progress: Optional[Callable[[Progress], None]] = None) -> Any:
    """Drive a job generator to its end and return its result."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def run_with_progress(job: Job, desc: str = "", *, disable: Optional[bool] = None,
                      unit: str = "it", log: bool = False) -> Any:
    """Drive a job generator with a tqdm progress bar (on stderr) and return its result.

    ``disable=None`` hides the bar when stderr is not a terminal. ``log=True`` prints each new
    progress message as a line on stderr when the bar is hidden (a batch job's log then shows, say,
    every training epoch's losses).
    """
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, disable=disable, dynamic_ncols=True)
    last = [""]
    try:
        def update(p: Progress) -> None:
            if p.total and bar.total != p.total:
                bar.total = p.total
            if p.message and not bar.disable and p.message != getattr(bar, "desc", ""):
                bar.set_description(p.message, refresh=False)
            elif log and bar.disable and p.message and p.message != last[0]:
                print(p.message, file=sys.stderr, flush=True)
            last[0] = p.message or last[0]
            bar.update(p.done - bar.n)
        return run_job(job, update)
    finally:
        bar.close()
