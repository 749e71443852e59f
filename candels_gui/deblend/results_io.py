"""Store deblender outputs of many blends in one HDF5 file (ragged sources, concatenated).

Layout: ``n_sources`` (N,) int32, ``offsets`` (N + 1,) int64 into the source axis, ``catalog``
(compound: blend, x, y, flux), ``segmentation`` (S, H, W) bool and ``images`` (S, H, W) float32 with
``S = n_sources.sum()``; attributes: deblender name, parameters (JSON), device, data path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from .base import DeblendResult

__all__ = ["write_results", "read_results"]


def write_results(path: str | os.PathLike, results: Sequence[DeblendResult], *, data_path: str = "") -> Path:
    """Write ``results`` (one per blend, in blend order) to ``path`` atomically."""
    out = Path(path)
    if not results:
        raise ValueError("no deblender results to write")
    h, w = results[0].segmentation.shape[1:] if results[0].segmentation.ndim == 3 else (0, 0)
    counts = np.array([r.segmentation.shape[0] for r in results], np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    tmp = out.with_name(f".{out.name}.part")
    try:
        with h5py.File(tmp, "w") as f:
            f["n_sources"] = counts
            f["offsets"] = offsets
            seg = f.create_dataset("segmentation", (int(offsets[-1]), h, w), bool)
            img = f.create_dataset("images", (int(offsets[-1]), h, w), np.float32)
            rows = []
            for i, r in enumerate(results):
                a, b = offsets[i], offsets[i + 1]
                if b > a:
                    seg[a:b] = r.segmentation
                    img[a:b] = r.images
                for x, y, flux in zip(r.catalog["x"], r.catalog["y"], r.catalog["flux"]):
                    rows.append((i, float(x), float(y), float(flux)))
            f["catalog"] = np.array(rows, dtype=[("blend", "i8"), ("x", "f8"), ("y", "f8"), ("flux", "f8")])
            first = results[0]
            f.attrs.update(deblender=first.name, params=json.dumps(first.params, default=str),
                           device=str(first.device), data_path=str(data_path), n_blends=len(results),
                           flux_only=bool(first.flux_only))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def read_results(path: str | os.PathLike) -> tuple[dict, list[dict[str, np.ndarray]]]:
    """Read a file of :func:`write_results`: (attributes, per blend {segmentation, images, catalog})."""
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        offsets = f["offsets"][...]
        cat = f["catalog"][...]
        seg, img = f["segmentation"][...], f["images"][...]
    per_blend = []
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        per_blend.append({"segmentation": seg[a:b], "images": img[a:b], "catalog": cat[cat["blend"] == i]})
    return attrs, per_blend
