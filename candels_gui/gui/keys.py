"""Keys that always work: the window's single-key actions survive number boxes; Escape goes home.

Qt gives a focused text or number field the first claim on every key it could type (a
``ShortcutOverride``), so with the focus left in a spin box, N, M, A, R, F ... would go nowhere. The
:class:`KeyRouter` (an application event filter, one per main window) settles it the way DS9 and
napari behave:

* a **number box** keeps only the keys that edit a number (digits, sign, decimal point, Backspace,
  Delete, Home / End, arrows, Page Up / Down); every other key of the action table acts on the window
  (letters, ``[``, ``]``, ``?``, ``=``, F1, Ctrl+Z ...);
* a **text field** (the ID search, a note being edited) keeps what it types;
* **Escape** in a number box (reverting what was typed) or in a text field, and **Enter** in a number
  box (committing it), hand the keyboard back to the views, where every key of the table acts;
* other widgets (lists, tables, combo boxes, check boxes, sliders, buttons) never take a key of the
  table from the window.
"""

from __future__ import annotations

from typing import Callable, Iterable

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtCore import QKeyCombination
from PyQt6.QtGui import QKeyEvent, QKeySequence
from PyQt6.QtWidgets import QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QWidget

__all__ = ["KeyRouter", "spin_box_of", "typed_by_number_box", "text_field_of"]

#: Keys a number box uses to edit its value (with or without Shift, which selects).
_NUMBER_EDIT_KEYS = {Qt.Key.Key_Backspace, Qt.Key.Key_Delete, Qt.Key.Key_Home, Qt.Key.Key_End,
                     Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down,
                     Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}
_NUMBER_CHARS = set("0123456789+-.,")
_ARROWS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down}
_PLAIN = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.KeypadModifier,
          Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)


def spin_box_of(widget: QObject | None) -> QAbstractSpinBox | None:
    """The spin box ``widget`` is (or whose line edit it is), else ``None``."""
    if isinstance(widget, QAbstractSpinBox):
        return widget
    if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QAbstractSpinBox):
        return widget.parent()  # type: ignore[return-value]
    return None


def text_field_of(widget: QObject | None) -> QLineEdit | None:
    """The free-text field ``widget`` is (not a spin box's own line edit), else ``None``."""
    if isinstance(widget, QLineEdit) and spin_box_of(widget) is None:
        return widget
    return None


def typed_by_number_box(event: QKeyEvent) -> bool:
    """True when a number box would use this key to edit its value."""
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    if mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
        return False  # Ctrl / Alt combinations belong to the window (Ctrl+Z undoes the session's edit)
    if event.key() in _NUMBER_EDIT_KEYS:
        return True
    text = event.text()
    return bool(text) and all(c in _NUMBER_CHARS for c in text)


def _inside_item_view(widget: QWidget) -> bool:
    parent = widget.parent()
    while parent is not None:
        if isinstance(parent, QAbstractItemView):
            return True
        parent = parent.parent()
    return False


class KeyRouter(QObject):
    """Application event filter that keeps the action keys of one window working.

    Parameters
    ----------
    window : QWidget
        The main window; only events of its own widgets are routed.
    home : callable
        Gives the keyboard back to the views (Escape / Enter in a field).
    action_keys : iterable of str
        The window's shortcuts (portable text, as in the action table).
    views : callable, optional
        The image views: a plain arrow key there (the queue's keys, in review mode only) says so through
        ``say``.
    say : callable, optional
        ``say(text)``: a status-bar message.
    """

    def __init__(self, window: QWidget, home: Callable[[], None], action_keys: Iterable[str], *,
                 views: Callable[[], Iterable[QWidget]] = tuple, say: Callable[[str], None] | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.home = home
        self.views, self.say = views, say
        self.keys = {QKeySequence(k)[0].toCombined() for k in action_keys if QKeySequence(k).count()}

    def is_action_key(self, event: QKeyEvent) -> bool:
        """True when ``event`` is the shortcut of an action of the table."""
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if QKeyCombination(mods, Qt.Key(event.key())).toCombined() in self.keys:
            return True
        text = event.text()  # "?" typed as Shift+/ is the "?" of the table
        return len(text) == 1 and text.isprintable() and text != " " and \
            QKeySequence(text)[0].toCombined() in self.keys

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self.window:
            return False
        assert isinstance(event, QKeyEvent)
        spin = spin_box_of(obj)
        if kind == QEvent.Type.ShortcutOverride:
            if spin is not None and not typed_by_number_box(event) and self.is_action_key(event):
                event.ignore()  # not the box's key: the window's shortcut takes it
                return True
            return False
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and event.key() in _ARROWS and self.say is not None and obj in tuple(self.views()):
            self.say("Arrows move through the queue in review mode (Ctrl+R); Shift+arrows nudge galaxy 2")
            return True
        if event.key() != Qt.Key.Key_Escape or not plain:
            return False
        if spin is not None:  # Escape: forget what was typed, give the keys back to the views
            spin.lineEdit().setText(spin.textFromValue(spin.value()) if hasattr(spin, "textFromValue")
                                    else spin.text())
            self.home()
            return True
        field = text_field_of(obj)
        if field is not None and not _inside_item_view(field) and not isinstance(field.parent(), QComboBox):
            self.home()
            return True
        return False
