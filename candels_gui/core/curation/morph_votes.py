"""Eyeball morphology labels of a curation session: each labeller's vote per galaxy, and their fractions.

:class:`MorphVotes` holds ``{galaxy ID: {labeller: class}}`` (one vote per labeller and galaxy; voting
again replaces the vote). The session stores it (``"morph_votes"`` in the session file) and every vote is
an undoable :class:`SetVote` command. :meth:`MorphVotes.fractions` turns the votes into the vote
fractions of a label file (:mod:`candels_gui.core.data.morph_labels`), which :meth:`MorphVotes.write_csv`
writes with the number of votes and the labellers' names beside them.

Examples
--------
>>> v = MorphVotes()
>>> v.set(101, "ana", "disk"); v.set(101, "ben", "irr"); v.set(102, "ana", "sph")
>>> ids, fr, n = v.fractions()
>>> ids.tolist(), n.tolist(), fr[0].round(2).tolist()
([101, 102], [2, 1], [0.0, 0.0, 0.5, 0.5, 0.0, 0.0])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.morph_labels import CLASS_NAMES, MORPH_CLASSES, fractions_from_votes, write_labels_csv
from ..errors import DataError
from .undo import Command

__all__ = ["MorphVotes", "SetVote"]


class MorphVotes:
    """Votes per galaxy and labeller (see the module docstring)."""

    def __init__(self, votes: dict[int, dict[str, str]] | None = None) -> None:
        self.votes: dict[int, dict[str, str]] = {}
        for gid, by in (votes or {}).items():
            for who, cls in by.items():
                self.set(int(gid), who, cls)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MorphVotes) and self.votes == other.votes

    def __len__(self) -> int:
        """Galaxies with at least one vote."""
        return len(self.votes)

    def copy(self) -> "MorphVotes":
        """An independent copy."""
        return MorphVotes({g: dict(v) for g, v in self.votes.items()})

    def get(self, galaxy_id: int, labeller: str) -> str | None:
        """``labeller``'s vote for the galaxy, or ``None``."""
        return self.votes.get(int(galaxy_id), {}).get(labeller)

    def set(self, galaxy_id: int, labeller: str, cls: str | None) -> str | None:
        """Record (``None``: remove) a vote; returns the vote it replaces."""
        labeller = str(labeller).strip()
        if not labeller:
            raise ValueError("a vote needs a labeller's name")
        if cls is not None and cls not in MORPH_CLASSES:
            raise ValueError(f"unknown class {cls!r}; expected one of {', '.join(MORPH_CLASSES)}")
        gid = int(galaxy_id)
        by = self.votes.setdefault(gid, {})
        old = by.get(labeller)
        if cls is None:
            by.pop(labeller, None)
        else:
            by[labeller] = cls
        if not by:
            del self.votes[gid]
        return old

    def labellers(self) -> list[str]:
        """Everyone who voted, sorted."""
        return sorted({who for by in self.votes.values() for who in by})

    def galaxy_fractions(self, galaxy_id: int) -> np.ndarray:
        """(K,) vote fractions of one galaxy (zeros without votes)."""
        return fractions_from_votes(self.votes.get(int(galaxy_id), {}).values())

    def fractions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ids, fractions (N, K), n_votes)`` of every voted galaxy, IDs ascending."""
        ids = np.array(sorted(self.votes), dtype=np.int64)
        fr = np.array([self.galaxy_fractions(g) for g in ids]).reshape(len(ids), len(MORPH_CLASSES))
        n = np.array([len(self.votes[int(g)]) for g in ids], dtype=np.int64)
        return ids, fr, n

    def summary(self, galaxy_id: int) -> str:
        """``"disk 2, irr 1"`` (most votes first), or ``""``."""
        by = self.votes.get(int(galaxy_id), {})
        counts: dict[str, int] = {}
        for cls in by.values():
            counts[cls] = counts.get(cls, 0) + 1
        return ", ".join(f"{CLASS_NAMES[c]} {k}" for c, k in sorted(counts.items(), key=lambda kv: -kv[1]))

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the label file (``ID``, ``p_<class>``, ``n_votes``, ``labellers``) atomically."""
        ids, fr, n = self.fractions()
        if not len(ids):
            raise DataError("no galaxy has a vote yet: nothing to export")
        who = [";".join(sorted(self.votes[int(g)])) for g in ids]
        return write_labels_csv(path, ids, fr, extra={"n_votes": n.tolist(), "labellers": who})

    # ------------------------------------------------------------------ session file
    def to_dict(self) -> dict[str, dict[str, str]]:
        """JSON form: ``{"<id>": {labeller: class}}``."""
        return {str(g): dict(sorted(by.items())) for g, by in sorted(self.votes.items())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MorphVotes":
        """Inverse of :meth:`to_dict` (raises ``ValueError`` on an unknown class)."""
        if not isinstance(data, dict):
            raise ValueError(f"morph_votes must be an object, got {type(data).__name__}")
        return cls({int(g): {str(w): str(c) for w, c in by.items()} for g, by in data.items()})


@dataclass
class SetVote(Command):
    """One labeller's vote for one galaxy (``cls`` ``None`` removes it); undo restores the vote before."""

    galaxy_id: int
    labeller: str
    cls: str | None
    label: str = ""
    _old: str | None = None

    def do(self, session: Any) -> None:
        self._old = session.morph_votes.set(self.galaxy_id, self.labeller, self.cls)

    def undo(self, session: Any) -> None:
        session.morph_votes.set(self.galaxy_id, self.labeller, self._old)
