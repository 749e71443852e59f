"""Export of a curation session's queue: pick blends by status, split by galaxy, call the core writers.

The GUI's export dialog and scripts use :func:`export_session`; it hands the chosen specs to
:func:`candels_gui.core.store.export.export` unchanged, so its files equal what the core writers give for the
same specs.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np

from ..blending.engine import BlendEngine, BlendSpec
from ..blending.sampling import duplicate_specs
from ..data.catalog import split_by_galaxy
from ..errors import DataError
from ..jobs import CancelToken, Job
from .session import Session
from ..data.stampset import StampSet

__all__ = ["split_specs_by_galaxy", "session_export_specs", "export_session", "DUPLICATE_POLICIES"]

#: What an export does with queued blends that repeat an earlier one (same pair and geometry).
DUPLICATE_POLICIES = ("refuse", "drop", "keep")


def split_specs_by_galaxy(specs: Sequence[BlendSpec], stamps: StampSet, test_ratio: float, seed: int
                          ) -> tuple[list[BlendSpec], list[BlendSpec], list[BlendSpec]]:
    """Split blends into train and test so that no galaxy is in both.

    The galaxies of ``specs`` are split with :func:`~candels_gui.core.data.catalog.split_by_galaxy`
    ``(galaxies, test_ratio, seed)``; a blend goes to train (test) when both its galaxies are train
    (test) galaxies. Blends with one galaxy on each side are returned third (they cannot be kept
    without a galaxy crossing the split).

    Returns
    -------
    train, test, dropped : lists of BlendSpec, in the order of ``specs``

    Examples
    --------
    >>> train, test, dropped = split_specs_by_galaxy(specs, stamps, 0.2, 42)   # doctest: +SKIP
    """
    galaxies = sorted({stamps.index_of(s.id1) for s in specs} | {stamps.index_of(s.id2) for s in specs})
    _, test_pool = split_by_galaxy(np.asarray(galaxies, dtype=np.int64), test_ratio, seed)
    test_set = set(int(i) for i in test_pool)
    train, test, dropped = [], [], []
    for spec in specs:
        sides = {stamps.index_of(spec.id1) in test_set, stamps.index_of(spec.id2) in test_set}
        if sides == {False}:
            train.append(spec)
        elif sides == {True}:
            test.append(spec)
        else:
            dropped.append(spec)
    return train, test, dropped


def session_export_specs(session: Session, stamps: StampSet, *, statuses: Iterable[str] = ("accepted",),
                         test_ratio: float | None = None, duplicates: str = "refuse"
                         ) -> tuple[list[BlendSpec] | dict[str, list[BlendSpec]], list[BlendSpec]]:
    """What :func:`export_session` writes: the specs (or ``{"train": ..., "test": ...}``) and the dropped.

    ``duplicates`` (:data:`DUPLICATE_POLICIES`): blends that repeat an earlier exported one (same
    :func:`~candels_gui.core.blending.sampling.spec_key`) make the export fail (``"refuse"``, naming
    them), are left out (``"drop"``) or written again (``"keep"``).

    Raises
    ------
    DataError
        If no queued blend has one of ``statuses``, duplicates are refused, or a split leaves train or
        test empty.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    statuses = tuple(statuses)
    specs = session.specs(statuses)
    if not specs:
        raise DataError(f"no queued blend is {' or '.join(statuses) or '(no status chosen)'}: "
                        f"nothing to export (queue: {session.counts()})")
    repeats = duplicate_specs(specs)
    if repeats and duplicates == "refuse":
        rows = [i for i, item in enumerate(session.queue) if item.status in statuses]
        pairs = ", ".join(f"#{rows[i] + 1} = #{rows[j] + 1}" for i, j in list(repeats.items())[:5])
        raise DataError(f"{len(repeats)} exported blend(s) repeat an earlier one ({pairs}"
                        f"{', ...' if len(repeats) > 5 else ''}); remove them, or export with duplicates "
                        "dropped or kept")
    if repeats and duplicates == "drop":
        specs = [s for i, s in enumerate(specs) if i not in repeats]
    if test_ratio is None:
        return specs, []
    train, test, dropped = split_specs_by_galaxy(specs, stamps, test_ratio, session.seed)
    if not train or not test:
        raise DataError(f"splitting {len(specs)} blends by galaxy with test fraction {test_ratio} gives "
                        f"{len(train)} train and {len(test)} test blends; change the fraction or queue "
                        "more blends")
    return {"train": train, "test": test}, dropped


def export_session(dest: str | os.PathLike, session: Session, stamps: StampSet, *, fmt: str = "npy",
                   method: str | None = None, statuses: Iterable[str] = ("accepted",),
                   test_ratio: float | None = None, duplicates: str = "refuse",
                   engine: BlendEngine | None = None, cancel: CancelToken | None = None,
                   **format_options: Any) -> Job:
    """Job: export the session's blends with the given statuses (returns the core ``ExportResult``).

    Parameters
    ----------
    dest : path
        Folder (npy) or file (hdf5, fits), as for :func:`~candels_gui.core.store.export.export`.
    session : Session
    stamps : StampSet
        The session's data (checked with :meth:`Session.check_data`).
    fmt, method
        Format and label method (see :func:`~candels_gui.core.store.export.export`).
    statuses : iterable of str
        Which queued blends (default: the accepted ones).
    test_ratio : float, optional
        Split by galaxy with this test fraction (:func:`split_specs_by_galaxy`); ``None``: no split.
    duplicates : {"refuse", "drop", "keep"}
        Blends that repeat an earlier one: fail, leave out, or write again (see
        :func:`session_export_specs`); the manifest records the policy and how many were dropped.
    engine : BlendEngine, optional
        Default: a new ``BlendEngine(stamps)`` (an engine is not shared with another thread).
    cancel : CancelToken, optional
    **format_options
        Passed to the writer (``compression``, ``zeropoint`` ...).
    """
    from ..store.export import export

    session.check_data(stamps)
    n_repeats = len(duplicate_specs(session.specs(tuple(statuses)))) if duplicates != "keep" else 0
    specs, dropped = session_export_specs(session, stamps, statuses=statuses, test_ratio=test_ratio,
                                          duplicates=duplicates)
    options = {"statuses": list(statuses), "test_ratio": test_ratio, "dropped_by_split": len(dropped),
               "session": str(session.path) if session.path else None, "duplicates": duplicates,
               "dropped_duplicates": n_repeats if duplicates == "drop" else 0}
    return export(dest, engine or BlendEngine(stamps), specs, fmt=fmt, method=method, seed=session.seed,
                  options=options, cancel=cancel, **format_options)
