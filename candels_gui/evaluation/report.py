"""Write an evaluation's report files: the summary (ECSV + JSON) and one per-blend table per deblender."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from ..core.atomic import remove_stale_temps, temp_path
from .result import EvaluationResult

__all__ = ["write_report"]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "deblender"


def _atomic_write(path: Path, write: Any) -> Path:
    """Write via ``write(tmp_path)`` to a temporary name beside ``path``, then rename over it."""
    tmp = temp_path(path)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _ecsv_safe(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata round-tripped through JSON, so ECSV's YAML header gets plain types only."""
    return json.loads(json.dumps(dict(meta), default=lambda o: o.item() if hasattr(o, "item") else str(o),
                                 allow_nan=True))


def write_report(result: EvaluationResult, outdir: str | os.PathLike) -> list[Path]:
    """Write ``metrics.ecsv``, ``metrics.json`` and ``per_blend_<name>.ecsv`` into ``outdir``.

    ``metrics.ecsv``: one row per deblender, the summary keys as columns (units and descriptions in the
    header). ``metrics.json``: deblender -> summary, NaN and infinities as ``null``. Each file is written
    under a temporary name and renamed when complete; the ``per_blend_*.ecsv`` of an earlier evaluation into
    the folder that this one did not write again are removed (they would not match its ``metrics.json``).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    summary = result.summary_table()
    summary.meta = _ecsv_safe(summary.meta)
    written = [_atomic_write(out / "metrics.ecsv",
                             lambda p: summary.write(p, format="ascii.ecsv", overwrite=True))]
    text = json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
    written.append(_atomic_write(out / "metrics.json", lambda p: p.write_text(text, encoding="utf-8")))
    for name, table in result.tables.items():
        t = table.copy(copy_data=False)
        t.meta = _ecsv_safe(t.meta)
        written.append(_atomic_write(out / f"per_blend_{_safe_name(name)}.ecsv",
                                     lambda p, t=t: t.write(p, format="ascii.ecsv", overwrite=True)))
    # an earlier evaluation into this folder: its per-blend tables of deblenders this run left out would sit
    # beside a metrics.json that no longer lists them
    for stale in sorted(set(out.glob("per_blend_*.ecsv")) - set(written)):
        stale.unlink(missing_ok=True)
    return written
