"""Undoable edits of a curation session: command objects with labels on a capped undo stack.

As in glue, every user edit is a :class:`Command` with a human label (``"Accept blend 12"``,
``"Move companion"``, ``"Add 50 random blends"``); the :class:`UndoStack` executes it, keeps at most
``cap`` of them and undoes / redoes them. Commands change a :class:`~candels_gui.core.curation.session.Session`
through a few primitive operations only (replace items, insert/remove items, set the current spec), so
``undo`` is always the exact inverse of ``do``.

Examples
--------
>>> from candels_gui.core.blending.engine import BlendSpec
>>> from candels_gui.core.curation.session import Session
>>> s = Session()
>>> s.add_specs([BlendSpec(1, 2, dx=5.0)])
>>> s.set_status([0], "accepted")
>>> s.labels()
['Add blend 1', 'Accept blend 1']
>>> s.undo()
'Accept blend 1'
>>> s.queue[0].status
'pending'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from ..blending.engine import BlendSpec
from .queue_item import QueueItem

__all__ = ["EditTarget", "Command", "UndoStack", "AddItems", "RemoveItems", "ReplaceItems", "SetCurrent",
           "describe_spec_change", "blend_label", "touched_rows", "DEFAULT_CAP"]

#: Commands kept on the undo stack (the oldest are dropped).
DEFAULT_CAP = 200


class EditTarget(Protocol):
    """What a command edits: a queue, the blend in the editor and the random-draw index.

    :class:`~candels_gui.core.curation.session.Session` is one; commands know nothing else of it, so this
    module does not import the session's.
    """

    queue: list[QueueItem]
    current: BlendSpec | None
    current_item: int | None
    random_index: int

    def insert_items(self, at: int, items: Sequence[QueueItem]) -> None:
        """Insert ``items`` before index ``at``."""

    def remove_items(self, indices: Sequence[int]) -> None:
        """Remove the items at ``indices``."""

    def replace_items(self, items: dict[int, QueueItem]) -> None:
        """Replace items: index -> new item."""


def blend_label(indices: Sequence[int]) -> str:
    """``"blend 12"`` (1-based, as the queue table numbers them) or ``"3 blends"``."""
    return f"blend {indices[0] + 1}" if len(indices) == 1 else f"{len(indices)} blends"


class Command:
    """One undoable edit; subclasses implement :meth:`do` and :meth:`undo`."""

    label: str = ""

    def do(self, session: EditTarget) -> None:  # pragma: no cover - interface
        """Apply the edit."""
        raise NotImplementedError

    def undo(self, session: EditTarget) -> None:  # pragma: no cover - interface
        """Revert exactly what :meth:`do` did."""
        raise NotImplementedError


@dataclass
class AddItems(Command):
    """Append queue items; optionally advance the session's random-draw index by ``advance``."""

    items: list[QueueItem]
    label: str = ""
    advance: int = 0
    _start: int = field(default=0, init=False, repr=False)

    def do(self, session: EditTarget) -> None:
        self._start = len(session.queue)
        session.insert_items(self._start, self.items)
        session.random_index += self.advance

    def undo(self, session: EditTarget) -> None:
        session.remove_items(list(range(self._start, self._start + len(self.items))))
        session.random_index -= self.advance


@dataclass
class RemoveItems(Command):
    """Remove the queue items at ``indices``."""

    indices: list[int]
    label: str = ""
    _removed: list[tuple[int, QueueItem]] = field(default_factory=list, init=False, repr=False)
    _current_item: int | None = field(default=None, init=False, repr=False)

    def do(self, session: EditTarget) -> None:
        self._current_item = session.current_item
        idx = sorted(set(self.indices))
        self._removed = [(i, session.queue[i]) for i in idx]
        session.remove_items(idx)

    def undo(self, session: EditTarget) -> None:
        for i, item in self._removed:  # ascending: each index is valid once the earlier ones are back
            session.insert_items(i, [item])
        session.current_item = self._current_item


@dataclass
class ReplaceItems(Command):
    """Replace queue items (status, note or spec changes): ``new`` maps index -> item."""

    new: dict[int, QueueItem]
    label: str = ""
    _old: dict[int, QueueItem] = field(default_factory=dict, init=False, repr=False)

    def do(self, session: EditTarget) -> None:
        self._old = {i: session.queue[i] for i in self.new}
        session.replace_items(self.new)

    def undo(self, session: EditTarget) -> None:
        session.replace_items(self._old)


@dataclass
class SetCurrent(Command):
    """Change the spec in the editor; with ``item`` set, the queued blend it came from changes too."""

    old: BlendSpec | None
    new: BlendSpec | None
    label: str = ""
    item: int | None = None
    _old_item_spec: BlendSpec | None = field(default=None, init=False, repr=False)

    def do(self, session: EditTarget) -> None:
        session.current = self.new
        if self.item is not None and self.new is not None:
            old_item = session.queue[self.item]
            self._old_item_spec = old_item.spec
            session.replace_items({self.item: old_item.replace(spec=self.new)})

    def undo(self, session: EditTarget) -> None:
        session.current = self.old
        if self.item is not None and self._old_item_spec is not None:
            session.replace_items({self.item: session.queue[self.item].replace(spec=self._old_item_spec)})


def describe_spec_change(old: BlendSpec | None, new: BlendSpec | None) -> str:
    """A label for a change of the editor's spec (``"Move companion"``, ``"Swap galaxies"``...).

    Examples
    --------
    >>> describe_spec_change(BlendSpec(1, 2), BlendSpec(1, 2, dx=3.0))
    'Move companion'
    >>> describe_spec_change(BlendSpec(1, 2), BlendSpec(2, 1))
    'Swap galaxies'
    """
    if new is None:
        return "Clear blend"
    if old is None:
        return f"New pair {new.id1} + {new.id2}"
    if (old.id1, old.id2) == (new.id2, new.id1) and old.id1 != old.id2:
        return "Swap galaxies"
    if old.id1 != new.id1 and old.id2 != new.id2:
        return f"New pair {new.id1} + {new.id2}"
    if old.id1 != new.id1:
        return f"Set galaxy 1 to {new.id1}"
    if old.id2 != new.id2:
        return f"Set galaxy 2 to {new.id2}"
    names = {"dx": "Move companion", "dy": "Move companion", "rotation": "Rotate companion",
             "flip": "Flip companion", "flux_scale": "Change companion flux", "seed": "Change noise seed"}
    changed = {names[k] for k in names if getattr(old, k) != getattr(new, k)}
    if len(changed) == 1:
        return changed.pop()
    return "Edit companion" if changed else "Edit blend"


def touched_rows(command: Command, *, undone: bool, queue_length: int) -> list[int]:
    """The queue rows a user should land on after ``command`` was undone (``undone``) or redone.

    The rows it changed when they still exist; after an undone add or a redone removal, the row next to
    where the blends were (none when the queue is empty).

    Examples
    --------
    >>> touched_rows(ReplaceItems({3: None, 1: None}), undone=True, queue_length=5)
    [1, 3]
    """
    def near(i: int) -> list[int]:
        return [min(max(i, 0), queue_length - 1)] if queue_length else []

    if isinstance(command, AddItems):
        added = list(range(command._start, command._start + len(command.items)))
        return near(command._start - 1) if undone else added
    if isinstance(command, RemoveItems):
        removed = sorted({i for i, _ in command._removed})
        return removed if undone else (near(removed[0]) if removed else [])
    if isinstance(command, ReplaceItems):
        return sorted(command.new)
    if isinstance(command, SetCurrent):
        return [command.item] if command.item is not None else []
    return []


class UndoStack:
    """Executed commands, the position in them, and a "clean" mark (the last save).

    Parameters
    ----------
    cap : int
        Most commands kept; pushing more drops the oldest (they can no longer be undone).
    """

    def __init__(self, *, cap: int = DEFAULT_CAP) -> None:
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap}")
        self.cap = int(cap)
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self.last_moved: tuple[Command, bool] | None = None  # (command, undone) of the last undo / redo

    def push(self, command: Command, session: EditTarget) -> None:
        """Execute ``command`` and put it on the stack (forgets the redo branch)."""
        command.do(session)
        del self._commands[self._index:]
        self._commands.append(command)
        if len(self._commands) > self.cap:
            del self._commands[: len(self._commands) - self.cap]
        self._index = len(self._commands)

    def undo(self, session: EditTarget) -> Command | None:
        """Undo the last done command; returns it (``None`` when there is nothing to undo)."""
        if not self.can_undo:
            return None
        self._index -= 1
        command = self._commands[self._index]
        command.undo(session)
        self.last_moved = (command, True)
        return command

    def redo(self, session: EditTarget) -> Command | None:
        """Redo the next undone command; returns it (``None`` when there is nothing to redo)."""
        if not self.can_redo:
            return None
        command = self._commands[self._index]
        command.do(session)
        self._index += 1
        self.last_moved = (command, False)
        return command

    def clear(self) -> None:
        """Forget every command."""
        self._commands.clear()
        self._index = 0

    @property
    def can_undo(self) -> bool:
        """True when a command can be undone."""
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        """True when an undone command can be redone."""
        return self._index < len(self._commands)

    @property
    def undo_label(self) -> str:
        """Label of the command :meth:`undo` would revert ("" when none)."""
        return self._commands[self._index - 1].label if self.can_undo else ""

    @property
    def redo_label(self) -> str:
        """Label of the command :meth:`redo` would apply ("" when none)."""
        return self._commands[self._index].label if self.can_redo else ""

    def labels(self) -> list[str]:
        """Labels of the done commands, oldest first."""
        return [c.label for c in self._commands[: self._index]]

    def __len__(self) -> int:
        return len(self._commands)
