"""One queued blend of a curation session: its spec, status, note and when it was added.

Examples
--------
>>> from candels_gui.core.blending.engine import BlendSpec
>>> item = QueueItem(BlendSpec(1, 2, dx=4.0), status="accepted", added="2026-01-01T00:00:00+00:00")
>>> QueueItem.from_dict(item.to_dict()) == item
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from ..blending.engine import BlendSpec

__all__ = ["QueueItem", "STATUSES", "STATUS_VERBS", "utc_now"]

#: Statuses of a queued blend, in display order.
STATUSES = ("pending", "accepted", "rejected", "flagged")
#: Verb of the undo label that sets each status.
STATUS_VERBS = {"pending": "Reset", "accepted": "Accept", "rejected": "Reject", "flagged": "Flag"}


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class QueueItem:
    """One queued blend: its spec, status (one of :data:`STATUSES`), a note and when it was added."""

    spec: BlendSpec
    status: str = "pending"
    note: str = ""
    added: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {list(STATUSES)}")
        if not isinstance(self.spec, BlendSpec):
            raise TypeError(f"QueueItem.spec must be a BlendSpec, got {type(self.spec).__name__}")

    def replace(self, **changes: Any) -> "QueueItem":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON types only)."""
        return {"spec": self.spec.to_dict(), "status": self.status, "note": self.note, "added": self.added}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueueItem":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise TypeError(f"a queue item must be an object, got {type(data).__name__}")
        for key in ("status", "note", "added"):
            if key in data and not isinstance(data[key], str):
                raise TypeError(f"{key} must be text, got {data[key]!r}")
        return cls(BlendSpec.from_dict(data["spec"]), status=data.get("status", "pending"),
                   note=data.get("note", ""), added=data.get("added", ""))

    @cached_property
    def json_text(self) -> str:
        """Compact JSON of :meth:`to_dict`, computed once (items are immutable): autosave stays cheap."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
