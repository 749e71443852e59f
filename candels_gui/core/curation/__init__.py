"""Curation: the session a user builds in the app, and everything it can undo.

Lives here: :class:`~.session.Session` (the current blend, the queue, decisions, notes), the undoable
commands and the capped undo stack (:mod:`.undo`), queue items and their statuses (:mod:`.queue_item`),
session files, autosave and recovery (:mod:`.session_files`), and exporting a session's queue
(:mod:`.session_export`).

May import: :mod:`candels_gui.core.store`, :mod:`candels_gui.core.blending`, :mod:`candels_gui.core.data`
and the root modules of core. Never ``measure`` or ``display``, Qt or torch.
"""
