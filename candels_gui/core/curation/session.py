"""Curation sessions: a queue of blends with statuses and notes, an undo stack, persistence and autosave.

A :class:`Session` holds what a person curating a training set works on: the data it refers to (path
and :meth:`~candels_gui.core.data.stampset.StampSet.content_hash`), the seed, sampling rules, catalog filter
and display settings, the blend in the editor (``current``) and the queue of :class:`QueueItem`. Every
edit is a command (:mod:`candels_gui.core.curation.undo`) on a capped undo stack.

Session files are versioned JSON (``{"format": "candels-gui-session", "version": 1, ...}``) with the
data path stored relative to the session file and the data hash checked on open. Saving is atomic (a
temporary file in the same folder, then :func:`os.replace`). With an autosave folder set, the session
writes itself atomically to an autosave file after every change, so a crash (even ``kill -9``) loses
at most the edit being made; the file is removed when the session is saved or closed cleanly.

Examples
--------
>>> from candels_gui.core.blending.engine import BlendSpec
>>> s = Session(seed=7)
>>> s.add_specs([BlendSpec(1, 2, dx=4.0), BlendSpec(3, 4, dy=-6.0)])
>>> s.set_status([1], "rejected")
>>> s.counts()
{'pending': 1, 'accepted': 0, 'rejected': 1, 'flagged': 0}
>>> s.save("work/session.json")          # doctest: +SKIP
>>> Session.load("work/session.json").queue == s.queue   # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..blending.engine import BlendSpec
from ..data.catalog import CatalogFilter
from .undo import (DEFAULT_CAP, AddItems, Command, RemoveItems, ReplaceItems, SetCurrent, UndoStack,
                   blend_label, describe_spec_change)
from ..errors import DataError, SessionError, UnsafePathError, one_line
from .session_schema import check_session_fields
from ..jobs import CancelToken, Job, run_job
from .morph_votes import MorphVotes, SetVote
from .queue_item import STATUS_VERBS, STATUSES, QueueItem, utc_now
from ..blending.sampling import SamplingRules, duplicate_specs, iter_sample_specs, spec_key
from .session_files import (AUTOSAVE_ENV, AutosaveInfo, atomic_write_text, autosave_path_for,
                            default_autosave_dir, find_autosave, list_recoverable, peek_data_path,
                            read_session_text, resolve_session_path)
from ..data.stampset import StampSet

__all__ = ["QueueItem", "Session", "SessionChange", "SessionDataMismatch", "STATUSES", "STATUS_VERBS",
           "SESSION_FORMAT", "SESSION_VERSION", "default_autosave_dir", "autosave_path_for",
           "find_autosave", "atomic_write_text", "AUTOSAVE_ENV", "AutosaveInfo", "list_recoverable"]

SESSION_FORMAT = "candels-gui-session"
SESSION_VERSION = 1
@dataclass(frozen=True)
class SessionChange:
    """What one edit (or undo / redo) changed: the queue's length, some rows, the current spec."""

    structure: bool = False
    rows: frozenset[int] = frozenset()
    current: bool = False


class SessionDataMismatch(SessionError):
    """A session was opened on data whose content hash differs from the one it was saved with."""


class Session:
    """The state of one curation session (see the module docstring).

    Parameters
    ----------
    data_path : path, optional
        The data the session works on (absolute in memory; stored relative to the session file).
    data_hash : str, optional
        ``StampSet.content_hash()`` of that data.
    seed : int
        Data-set seed: random blends use :func:`~candels_gui.core.rng.blend_rng` ``(seed, k)``.
    rules, catalog_filter : SamplingRules, CatalogFilter, optional
        Rules and cuts of random blends.
    display : dict, optional
        Display settings (JSON types; the GUI's stretch, levels, mask overlay ...).
    current : BlendSpec, optional
        The blend in the editor.
    cap : int
        Undo stack size.
    autosave_dir : path, optional
        Write an autosave there after every change (``None``: no autosave).
    """

    def __init__(self, *, data_path: str | os.PathLike | None = None, data_hash: str | None = None,
                 seed: int = 42, rules: SamplingRules | None = None,
                 catalog_filter: CatalogFilter | None = None, display: dict[str, Any] | None = None,
                 current: BlendSpec | None = None, cap: int = DEFAULT_CAP,
                 autosave_dir: str | os.PathLike | None = None) -> None:
        self.data_path = Path(data_path).resolve() if data_path is not None else None
        self.data_hash = data_hash
        self.seed = int(seed)
        self.rules = rules or SamplingRules()
        self.filter = catalog_filter or CatalogFilter()
        self.display: dict[str, Any] = dict(display or {})
        self._current = current
        self.current_item: int | None = None
        self.queue: list[QueueItem] = []
        #: Eyeball morphology labels (votes per galaxy and labeller), saved with the session.
        self.morph_votes = MorphVotes()
        self._saved_votes = MorphVotes()
        self.random_index = 0
        self.stack = UndoStack(cap=cap)
        self.path: Path | None = None
        self.autosave_dir = Path(autosave_dir) if autosave_dir is not None else None
        self.listeners: list[Callable[[SessionChange], None]] = []
        self._saved_queue: list[QueueItem] | None = []
        self._written_autosave: Path | None = None
        #: Seconds between two autosaves while the editor's blend changes quickly (0: after every change).
        #: Changes to the queue are written at once; a moving blend inside the interval is written by the next
        #: change after it or by :meth:`flush_autosave` (an app's timer).
        self.autosave_interval = 0.0
        self._autosave_pending = False
        self._autosave_last = -1e9
        self._change = _ChangeCollector()
        #: True when the data path was not read from a file someone else could have written (an autosave)
        self.trusted_data_path = False

    # ------------------------------------------------------------------ primitives (the commands' EditTarget)
    @property
    def current(self) -> BlendSpec | None:
        """The blend in the editor."""
        return self._current

    @current.setter
    def current(self, spec: BlendSpec | None) -> None:
        self._current = spec
        self._change.current = True

    def insert_items(self, at: int, items: Sequence[QueueItem]) -> None:
        self.queue[at:at] = list(items)
        if self.current_item is not None and self.current_item >= at:
            self.current_item += len(items)
        self._change.structure = True

    def remove_items(self, indices: Sequence[int]) -> None:
        drop = set(indices)
        if self.current_item is not None:
            if self.current_item in drop:
                self.current_item = None
            else:
                self.current_item -= sum(1 for i in drop if i < self.current_item)
        self.queue = [item for i, item in enumerate(self.queue) if i not in drop]
        self._change.structure = True

    def replace_items(self, items: dict[int, QueueItem]) -> None:
        for i, item in items.items():
            self.queue[i] = item
        self._change.rows.update(items)

    # ------------------------------------------------------------------ commands
    def execute(self, command: Command) -> None:
        """Run ``command`` and put it on the undo stack; listeners and the autosave follow."""
        self.stack.push(command, self)
        self._changed()

    def undo(self) -> str:
        """Undo the last edit; returns its label ("" when there was nothing to undo)."""
        command = self.stack.undo(self)
        if command is not None:
            self._changed()
        return command.label if command else ""

    def redo(self) -> str:
        """Redo the last undone edit; returns its label ("" when there was nothing to redo)."""
        command = self.stack.redo(self)
        if command is not None:
            self._changed()
        return command.label if command else ""

    @property
    def can_undo(self) -> bool:
        """True when an edit can be undone."""
        return self.stack.can_undo

    @property
    def can_redo(self) -> bool:
        """True when an undone edit can be redone."""
        return self.stack.can_redo

    @property
    def undo_label(self) -> str:
        """Label of the edit :meth:`undo` would revert."""
        return self.stack.undo_label

    @property
    def redo_label(self) -> str:
        """Label of the edit :meth:`redo` would apply."""
        return self.stack.redo_label

    def labels(self) -> list[str]:
        """Labels of the edits that can be undone, oldest first."""
        return self.stack.labels()

    # ------------------------------------------------------------------ edits
    def add_specs(self, specs: Sequence[BlendSpec], *, label: str | None = None, advance: int = 0,
                  status: str = "pending") -> None:
        """Queue ``specs`` (one command); ``advance`` moves :attr:`random_index` on (random draws)."""
        if not specs:
            return
        items = [QueueItem(s, status=status) for s in specs]
        first = len(self.queue)
        label = label or f"Add {blend_label(list(range(first, first + len(items))))}"
        self.execute(AddItems(items, label=label, advance=advance))

    def add_current(self) -> int:
        """Queue the blend in the editor; returns its queue index.

        Raises
        ------
        ValueError
            If there is no current blend.
        """
        if self.current is None:
            raise ValueError("no blend to add: pick two galaxies or draw a random pair first")
        self.add_specs([self.current])
        return len(self.queue) - 1

    def remove(self, indices: Iterable[int]) -> None:
        """Remove queued blends (one command)."""
        idx = sorted(set(self._check_indices(indices)))
        if idx:
            self.execute(RemoveItems(idx, label=f"Remove {blend_label(idx)}"))

    def set_status(self, indices: Iterable[int], status: str) -> None:
        """Give the blends at ``indices`` the status ``status`` (label ``"Accept blend 12"``)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {list(STATUSES)}")
        idx = sorted(set(self._check_indices(indices)))
        new = {i: self.queue[i].replace(status=status) for i in idx if self.queue[i].status != status}
        if new:
            self.execute(ReplaceItems(new, label=f"{STATUS_VERBS[status]} {blend_label(idx)}"))

    def set_note(self, index: int, note: str) -> None:
        """Set the note of one queued blend."""
        (i,) = self._check_indices([index])
        if self.queue[i].note != note:
            self.execute(ReplaceItems({i: self.queue[i].replace(note=str(note))},
                                      label=f"Edit note of {blend_label([i])}"))

    def set_current(self, spec: BlendSpec | None, *, label: str | None = None,
                    item: int | None = None) -> None:
        """Change the editor's blend (one command); with ``item``, the queued blend follows.

        The label defaults to :func:`~candels_gui.core.curation.undo.describe_spec_change`.
        """
        if spec == self.current and (item is None or self.queue[item].spec == spec):
            return
        if item is not None:
            self._check_indices([item])
        text = label or describe_spec_change(self.current, spec)
        if item is not None:
            text += f" ({blend_label([item])})"
        self.execute(SetCurrent(self.current, spec, label=text, item=item))

    def load_item(self, index: int) -> BlendSpec:
        """Show queued blend ``index`` in the editor (not an edit: no command, no autosave)."""
        (i,) = self._check_indices([index])
        self._current = self.queue[i].spec
        self.current_item = i
        return self._current

    def iter_random_specs(self, stamps: StampSet, n: int, *, pool: Sequence[int] | np.ndarray | None = None,
                          cancel: CancelToken | None = None) -> Job:
        """Job: draw ``n`` new specs with the session's rules, continuing the stream at ``random_index``.

        Draws that repeat a queued blend or each other are skipped (the stream goes on), so the result
        holds ``n`` distinct specs not in the queue; queue it with :meth:`add_random_specs`.
        """
        if n < 1:
            raise ValueError(f"number of random blends must be >= 1, got {n}")
        if pool is None:
            pool = np.flatnonzero(self.filter.mask(stamps.catalog))
        return iter_sample_specs(stamps, int(n), self.rules, seed=self.seed, pool=pool, unique=True,
                                 exclude=[item.spec for item in self.queue],
                                 start_index=self.random_index, cancel=cancel)

    def add_random(self, stamps: StampSet, n: int, *, pool: Sequence[int] | np.ndarray | None = None) -> None:
        """Draw ``n`` random blends (:meth:`iter_random_specs`) and queue them as one command."""
        specs = run_job(self.iter_random_specs(stamps, n, pool=pool))
        self.add_random_specs(specs)

    def add_random_specs(self, specs: Sequence[BlendSpec]) -> None:
        """Queue specs drawn by :meth:`iter_random_specs` (label ``"Add 50 random blends"``), leaving out
        any that reached the queue meanwhile; the stream advances by the draws used."""
        advance = int(getattr(specs, "draws", len(specs)))
        repeats = duplicate_specs(specs, among=[item.spec for item in self.queue])
        specs = [s for i, s in enumerate(specs) if i not in repeats]
        n = len(specs)
        self.add_specs(specs, advance=advance, label=f"Add {n} random blend{'s' if n != 1 else ''}")

    def find_spec(self, spec: BlendSpec) -> int | None:
        """Queue index of the first queued blend that is ``spec`` (same :func:`spec_key`), or ``None``."""
        key = spec_key(spec)
        return next((i for i, item in enumerate(self.queue) if spec_key(item.spec) == key), None)

    # ------------------------------------------------------------------ queries
    def counts(self) -> dict[str, int]:
        """Number of queued blends per status."""
        out = dict.fromkeys(STATUSES, 0)
        for item in self.queue:
            out[item.status] += 1
        return out

    def specs(self, statuses: Iterable[str] = ("accepted",)) -> list[BlendSpec]:
        """Specs of the queued blends with one of ``statuses``, in queue order."""
        wanted = set(statuses)
        unknown = wanted - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status(es) {sorted(unknown)}; expected some of {list(STATUSES)}")
        return [item.spec for item in self.queue if item.status in wanted]

    @property
    def modified(self) -> bool:
        """True when the queue (blends, statuses, notes) or the morphology votes differ from the last save or open."""
        return self._saved_queue is None or self.queue != self._saved_queue or self.morph_votes != self._saved_votes

    def relocate_data(self, path: str | os.PathLike) -> None:
        """The session's data (same content) now lies at ``path``: record it, and mark the session unsaved so
        that saving it writes the new place (its file pointed at the old one, where it could not be opened)."""
        self.data_path = Path(path)
        self._saved_queue = None

    def mark_saved(self) -> None:
        """The current queue is what is on disk."""
        self._saved_queue = list(self.queue)
        self._saved_votes = self.morph_votes.copy()

    def set_vote(self, galaxy_id: int, labeller: str, cls: str | None) -> None:
        """Record ``labeller``'s morphology vote for a galaxy (``None`` removes it), as an undoable edit."""
        verb = f"Label galaxy {galaxy_id} {cls}" if cls else f"Clear the label of galaxy {galaxy_id}"
        MorphVotes().set(galaxy_id, labeller, cls or "unc")   # checks name and class before the stack sees them
        self.execute(SetVote(int(galaxy_id), labeller, cls, label=f"{verb} ({labeller})"))

    def check_data(self, stamps: StampSet) -> None:
        """Raise :class:`SessionDataMismatch` if ``stamps`` is not the data the session was made on: another
        content hash, or a blend (in the editor or the queue) naming a galaxy the stamps do not hold."""
        actual = stamps.content_hash()
        if self.data_hash and actual != self.data_hash:
            where = f"session {self.path}" if self.path else "the session"
            raise SessionDataMismatch(
                f"{where} was made on data with hash {self.data_hash} "
                f"({self.data_path or 'unknown path'}), but {stamps.source or 'the open data'} has hash "
                f"{actual}: the stamps differ, so its blends would not be the same")
        known = set(int(i) for i in np.asarray(stamps.ids))
        specs = ([("the editor's blend", self.current)] if self.current is not None else []) + \
            [(f"queue item {k}", item.spec) for k, item in enumerate(self.queue)]
        for what, spec in specs:
            missing = [g for g in (spec.id1, spec.id2) if g not in known]
            if missing:
                where = f"session {self.path}" if self.path else "the session"
                raise SessionDataMismatch(f"{where}: {what} names galaxy {missing[0]}, which "
                                          f"{stamps.source or 'the open data'} does not hold: not its data")

    def _check_indices(self, indices: Iterable[int]) -> list[int]:
        idx = [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < len(self.queue)]
        if bad:
            raise IndexError(f"queue index {bad[0]} out of range (queue has {len(self.queue)} blends)")
        return idx

    def _changed(self) -> None:
        change = self._change.take()
        if self.autosave_dir is not None:
            queue_changed = change.structure or bool(change.rows)
            if queue_changed or time.monotonic() - self._autosave_last >= self.autosave_interval:
                self.write_autosave()   # a decision on the queue is written at once
            else:  # the editor's blend moving (a drag's many small edits): one write per interval
                self._autosave_pending = True
        for listener in list(self.listeners):
            listener(change)

    # ------------------------------------------------------------------ persistence
    def to_text(self, base_dir: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> str:
        """The session file's text, data path relative to ``base_dir`` (one queued blend per line)."""
        data_rel = None
        if self.data_path is not None:
            try:
                data_rel = Path(os.path.relpath(self.data_path, Path(base_dir).resolve())).as_posix()
            except ValueError:  # another drive (Windows): keep it absolute
                data_rel = self.data_path.as_posix()
        from ... import __version__

        head: dict[str, Any] = {
            "format": SESSION_FORMAT, "version": SESSION_VERSION, "tool_version": __version__,
            "saved": utc_now(), "data": {"path": data_rel, "hash": self.data_hash},
            "seed": self.seed, "random_index": self.random_index, "rules": self.rules.to_dict(),
            "filter": self.filter.to_dict(), "display": self.display,
            "current": self.current.to_dict() if self.current is not None else None,
            "current_item": self.current_item, **(extra or {})}
        if len(self.morph_votes):
            head["morph_votes"] = self.morph_votes.to_dict()
        text = json.dumps(head, indent=1, ensure_ascii=False)
        body = ",\n".join(item.json_text for item in self.queue)
        return text[:-1].rstrip() + ',\n "queue": [\n' + body + ("\n" if body else "") + " ]\n}\n"

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the session file atomically (to ``path``, or where it was last saved / opened).

        The autosave is removed: what it held is now in the file.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("the session has no file yet: give a path")
        target = target.resolve()
        atomic_write_text(target, self.to_text(target.parent))
        self.path = target
        self.mark_saved()
        self.remove_autosave()
        return target

    @classmethod
    def from_text(cls, text: str, *, base_dir: str | os.PathLike, source: str = "session",
                  cap: int = DEFAULT_CAP) -> "Session":
        """Parse a session file's text; relative data paths are resolved against ``base_dir``."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SessionError(f"{source}: not a session file (invalid JSON: {one_line(exc, 120)})") from None
        if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
            raise SessionError(f"{source}: not a candels-gui session file (format is "
                               f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}, "
                               f"expected {SESSION_FORMAT!r})")
        check_session_fields(data, source, newest_version=SESSION_VERSION)
        field = "rules"
        try:
            info = data.get("data") or {}
            data_path = info.get("path")
            rules = SamplingRules.from_dict(data.get("rules") or {})
            field = "filter"
            catalog_filter = CatalogFilter.from_dict(data.get("filter") or {})
            field = "current"
            current = BlendSpec.from_dict(data["current"]) if data.get("current") else None
            field = "seed"
            session = cls(
                data_path=(Path(base_dir) / data_path) if data_path else None, data_hash=info.get("hash"),
                seed=int(data.get("seed", 42)), rules=rules, catalog_filter=catalog_filter,
                display=data.get("display") or {}, cap=cap, current=current)
            session.random_index = int(data.get("random_index") or 0)
            field = "morph_votes"
            session.morph_votes = MorphVotes.from_dict(data.get("morph_votes") or {})
            queue = data.get("queue") or []
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:  # RuntimeError: a link loop
            raise SessionError(f"{source}: invalid session setting {field!r} ({one_line(exc, 200)})") from None
        items = []
        for k, raw in enumerate(queue):
            try:
                items.append(QueueItem.from_dict(raw))
            except (KeyError, TypeError, ValueError) as exc:
                raise SessionError(f"{source}: queue item {k} is invalid ({one_line(exc, 200)})") from None
        session.queue = items
        current_item = data.get("current_item")
        session.current_item = current_item if current_item is not None and current_item < len(items) else None
        session.mark_saved()
        return session

    @classmethod
    def load(cls, path: str | os.PathLike, *, stamps: StampSet | None = None,
             autosave_dir: str | os.PathLike | None = None, cap: int = DEFAULT_CAP) -> "Session":
        """Open a session file; with ``stamps``, check they are its data (:class:`SessionDataMismatch`).

        Examples
        --------
        >>> s = Session.load("work/session.json", stamps=stamps)   # doctest: +SKIP
        """
        path = resolve_session_path(path)
        text = read_session_text(path)
        session = cls.from_text(text, base_dir=path.parent, source=str(path), cap=cap)
        session.path = path
        session.autosave_dir = Path(autosave_dir) if autosave_dir is not None else None
        if stamps is not None:
            session.check_data(stamps)
        return session

    @staticmethod
    def peek_data_path(path: str | os.PathLike) -> Path | None:
        """The data path recorded in a session file that may be damaged (``None`` when none can be read,
        or it leaves the session's folder): see :func:`~.session_files.peek_data_path`."""
        return peek_data_path(path)

    @classmethod
    def recover(cls, autosave: str | os.PathLike, *, autosave_dir: str | os.PathLike | None = None,
                cap: int = DEFAULT_CAP) -> "Session":
        """Open an autosave file as the session it was written by (marked unsaved)."""
        autosave = resolve_session_path(autosave)
        text = read_session_text(autosave)
        session = cls.from_text(text, base_dir=autosave.parent, source=str(autosave), cap=cap)
        meta = json.loads(text).get("autosave") or {}
        where = meta.get("session_path")
        if where is not None and not isinstance(where, str):
            raise SessionError(f"{autosave}: field 'autosave.session_path' is {where!r}, expected text")
        session.path = Path(where) if where else None
        session.trusted_data_path = True  # written by the app itself
        session.autosave_dir = Path(autosave_dir) if autosave_dir is not None else autosave.parent
        session._written_autosave = autosave
        session._saved_queue = None
        return session

    def data_path_to_open(self, *, allow_outside: bool = False) -> Path | None:
        """The session's data path, to be opened; ``None`` when it records none.

        A path read from a session file must stay inside the session file's folder (resolved: no ``..``
        out of it, no link out): a session from elsewhere cannot make the app read any file on the machine.
        Otherwise :class:`~candels_gui.core.errors.UnsafePathError` is raised, unless ``allow_outside`` (the
        user confirmed that path) or the session is an autosave the app wrote itself.
        """
        if self.data_path is None:
            return None
        if allow_outside or self.trusted_data_path or self.path is None:
            return self.data_path
        folder = self.path.parent.resolve()
        try:
            target = self.data_path.resolve()
        except (RuntimeError, OSError):
            raise UnsafePathError(f"{self.path}: its data path {self.data_path} is a loop of symbolic links") from None
        if target != folder and folder not in target.parents:
            raise UnsafePathError(f"{self.path}: its data path {target} lies outside the session's folder "
                                  f"{folder}; open that data yourself, or confirm the path")
        return target

    @property
    def autosave_path(self) -> Path | None:
        """This session's autosave file (``None`` without an autosave folder or a key)."""
        if self.autosave_dir is None:
            return None
        return autosave_path_for(session_path=self.path, data_hash=self.data_hash,
                                 directory=self.autosave_dir)

    def write_autosave(self) -> Path | None:
        """Write the autosave file now (atomic, no fsync: it must survive the process, not the disk)."""
        path = self.autosave_path
        if path is None:
            return None
        extra = {"autosave": {"session_path": str(self.path) if self.path else None,
                              "modified": self.modified, "pid": os.getpid()}}
        atomic_write_text(path, self.to_text(path.parent, extra=extra), fsync=False)
        self._autosave_pending, self._autosave_last = False, time.monotonic()
        if self._written_autosave not in (None, path):  # the key changed (saved under a new name)
            self._written_autosave.unlink(missing_ok=True)
        self._written_autosave = path
        return path

    def flush_autosave(self) -> bool:
        """Write the autosave if changes wait for it (see :attr:`autosave_interval`); True when written."""
        if self._autosave_pending and self.autosave_dir is not None:
            return self.write_autosave() is not None
        return False

    def remove_autosave(self) -> None:
        """Delete the autosave file (after a save, or when the user discards the changes)."""
        self._autosave_pending = False
        for path in {self.autosave_path, self._written_autosave} - {None}:
            path.unlink(missing_ok=True)
        self._written_autosave = None


class _ChangeCollector:
    """Accumulates what the primitives changed during one command."""

    def __init__(self) -> None:
        self.structure = False
        self.current = False
        self.rows: set[int] = set()

    def take(self) -> SessionChange:
        change = SessionChange(self.structure, frozenset(self.rows), self.current)
        self.structure = self.current = False
        self.rows = set()
        return change
