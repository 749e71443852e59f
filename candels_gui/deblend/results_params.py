"""Deblender parameters of many blends: those every blend shares, and those that vary (results files)."""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["split_params", "params_key"]


def params_key(value: Any) -> str:
    """A parameter value as canonical JSON (what two blends' values are compared by)."""
    return json.dumps(value, default=str, sort_keys=True)


def split_params(params: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Split per-blend parameter dicts into those all blends share and those that vary (key -> one value
    per blend, ``None`` where a blend lacks the key).

    Examples
    --------
    >>> split_params([{"a": 1, "s": 0.5}, {"a": 1, "s": 0.7}])
    ({'a': 1}, {'s': [0.5, 0.7]})
    """
    keys = list(dict.fromkeys(k for p in params for k in p))
    common, varying = {}, {}
    for k in keys:
        values = [p.get(k) for p in params]
        if all(k in p for p in params) and len({params_key(v) for v in values}) == 1:
            common[k] = values[0]
        else:
            varying[k] = values
    return common, varying
