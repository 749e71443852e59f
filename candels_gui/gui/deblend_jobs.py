"""The Deblend dock's work, apart from its widgets: the job that runs deblenders on blends in a worker.

Nothing here touches a widget: :func:`deblend_job` is a job generator that the panel hands to its
:class:`~.workers.TaskRunner`; results go back through the ``emit`` callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.blending.engine import BlendSpec
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from ..deblend.base import DeblendResult, Deblender
from ..deblend.torch_deblender import weights_path

__all__ = ["deblend_job", "train_command", "queue_specs", "RUN_CHUNK"]

#: Blends rendered and deblended per step of a run (the cancel granularity).
RUN_CHUNK = 8
#: Deblenders that take seconds a blend (scarlet: a fit each): a run with one of them goes blend by blend, so
#: its results and progress come as each blend is done.
ONE_BLEND_A_STEP = frozenset({"scarlet"})


def train_command(name: str, path: str | Path | None = None) -> str:
    """The command line that makes weights for torch model ``name`` (default path: the shipped one)."""
    out = Path(path) if path is not None else weights_path(name)
    return f"candels-gui train --model {name} --data EXPORT.h5 -o {out}"


def queue_specs(session: Any) -> list[BlendSpec]:
    """The specs of a curation session's queue (:class:`~candels_gui.core.curation.session.Session`), in order.

    Wire the panel to a session with
    ``panel.set_queue_source(lambda: queue_specs(controller.session))``.
    """
    return [item.spec for item in session.queue]


def deblend_job(todo: dict[str, list[BlendSpec]], render: Callable[[list[BlendSpec]], np.ndarray],
                make: Callable[[str], Deblender],
                emit: Callable[[str, list[BlendSpec], list[DeblendResult] | str], None], *,
                cancel: CancelToken | None = None, chunk: int = RUN_CHUNK) -> Job:
    """Run deblenders on blends: a job generator (runs in a worker; touches no widget).

    Parameters
    ----------
    todo : dict
        Deblender name -> the specs it must deblend.
    render : callable
        ``render(specs)`` returns their blend images ``(B, H, W)`` float32.
    make : callable
        ``make(name)`` returns the deblender (may raise ``FileNotFoundError`` or ``DataError``).
    emit : callable
        ``emit(name, specs, results)`` after each chunk; ``emit(name, [], message)`` when the deblender
        cannot be made or fails (the others go on).
    cancel : CancelToken, optional
        Checked before every chunk and every deblender.
    chunk : int
        Blends per step (1 when a deblender of :data:`ONE_BLEND_A_STEP` is in ``todo``).

    Returns
    -------
    dict
        Deblender name -> number of blends deblended.
    """
    order: list[BlendSpec] = []
    seen: set[BlendSpec] = set()
    for specs in todo.values():
        for s in specs:
            if s not in seen:
                seen.add(s)
                order.append(s)
    wanted = {name: set(specs) for name, specs in todo.items()}
    total = sum(len(v) for v in wanted.values())
    done, counts = 0, {name: 0 for name in todo}
    made: dict[str, Deblender] = {}
    failed: set[str] = set()
    yield Progress(0, total, f"deblending {len(order)} blend(s)")
    if ONE_BLEND_A_STEP & set(todo):
        chunk = 1
    for start in range(0, len(order), max(1, int(chunk))):
        check_cancel(cancel)
        part = order[start:start + int(chunk)]
        images = np.asarray(render(part), np.float32)
        for name in todo:
            sel = [i for i, s in enumerate(part) if s in wanted[name]]
            if not sel:
                continue
            check_cancel(cancel)
            if name in failed:
                done += len(sel)
                continue
            try:
                if name not in made:
                    made[name] = make(name)
                results = made[name].run(images[sel], cancel=cancel)
            except (FileNotFoundError, DataError, ValueError, RuntimeError, ImportError) as exc:
                failed.add(name)
                emit(name, [], str(exc) or type(exc).__name__)
                done += len(sel)
                continue
            emit(name, [part[i] for i in sel], results)
            counts[name] += len(sel)
            done += len(sel)
            yield Progress(done, total, f"{name}: {done}/{total}")
    return counts
