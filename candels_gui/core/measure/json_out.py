"""JSON that strict parsers read: NaN and infinities as ``null``, numpy scalars and arrays as plain Python."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["json_ready", "dumps_strict"]


def json_ready(obj: Any) -> Any:
    """``obj`` with every float that is NaN or infinite replaced by ``None`` and numpy values made plain
    (mappings, lists and tuples walked; anything else left to :func:`json.dumps`).

    Examples
    --------
    >>> import numpy as np
    >>> json_ready({"a": float("nan"), "b": [np.float32(1.5), np.inf], "c": np.arange(2)})
    {'a': None, 'b': [1.5, None], 'c': [0, 1]}
    """
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):   # numpy scalars and arrays
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """:func:`json.dumps` of :func:`json_ready` ``(obj)`` with ``allow_nan=False`` (valid JSON, always)."""
    return json.dumps(json_ready(obj), allow_nan=False, **kwargs)
