"""Store deblender outputs of many blends in one HDF5 file (ragged sources, concatenated).

Layout: ``n_sources`` (N,) int32, ``offsets`` (N + 1,) int64 into the source axis, ``catalog``
(compound: blend, x, y, flux), ``segmentation`` (S, H, W) bool and ``images`` (S, H, W) float32 with
``S = n_sources.sum()``; attributes: deblender name, the parameters every blend shares (JSON), device, data
path. Parameters that differ between blends (the noise level each was measured at, SEP's strict or loose
configuration) are one dataset each in the group ``blend_params``: float64 (N,) for numbers, JSON strings otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from ..core.atomic import remove_stale_temps, temp_path
from .base import DeblendResult
from .results_params import params_key as _key, split_params

__all__ = ["write_results", "read_results", "split_params"]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def check_results_output(path: str | os.PathLike, fmt: str) -> None:
    """Refuse an ``-o`` that exists and is not deblender results (it would be replaced: a produce export, a
    folder of someone's files). ``fmt``: ``"hdf5"`` (a file) or ``"zarr"`` (a store folder).

    Raises
    ------
    OutputError
        ``path`` holds something else than the results of an earlier ``deblend`` run.
    """
    from ..core.errors import OutputError

    p = Path(path)
    if p.name in ("blends.h5", "blends.zarr"):
        raise OutputError(f"-o {path}: {p.name} is the name of a produce export's blends (readers would take the "
                          f"results for them); name the results otherwise, e.g. {p.stem}_results{p.suffix}")
    if fmt == "zarr":
        from .results_zarr import is_results_zarr

        if p.is_dir() and any(p.iterdir()) and not is_results_zarr(p):
            raise OutputError(f"-o {path}: exists and is not a deblender results store (it would be replaced); "
                              f"name a new store")
        return
    if not p.is_file():
        return
    try:
        with h5py.File(p, "r") as f:
            ours = "deblender" in f.attrs and "n_sources" in f
    except OSError:
        ours = False
    if not ours:
        raise OutputError(f"-o {path}: exists and is not a deblender results file (it would be replaced); name a "
                          f"new file")


def write_results(path: str | os.PathLike, results: Sequence[DeblendResult], *, data_path: str = "",
                  split: str | None = None) -> Path:
    """Write ``results`` (one per blend, in blend order) to ``path`` atomically; ``data_path`` and ``split``
    (the export and split deblended) are recorded in its attributes."""
    out = Path(path)
    if not results:
        raise ValueError("no deblender results to write")
    h, w = results[0].segmentation.shape[1:] if results[0].segmentation.ndim == 3 else (0, 0)
    counts = np.array([r.segmentation.shape[0] for r in results], np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    if out.parent.is_dir():
        remove_stale_temps(out.parent)
    tmp = temp_path(out)
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
            common, varying = split_params([r.params for r in results])
            group = f.create_group("blend_params")
            for k, values in varying.items():
                if all(_is_number(v) for v in values):
                    group[k] = np.asarray(values, np.float64)
                else:
                    group.create_dataset(k, data=[_key(v) for v in values], dtype=h5py.string_dtype())
            f.attrs.update(deblender=first.name, params=json.dumps(common, default=str),
                           device=str(first.device), data_path=str(data_path), split=split or "",
                           n_blends=len(results),
                           flux_only=bool(first.flux_only))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def read_results(path: str | os.PathLike) -> tuple[dict, list[dict[str, np.ndarray]]]:
    """Read a file of :func:`write_results`: (attributes, per blend {segmentation, images, catalog, params}).

    ``attrs["params"]`` is the JSON of the parameters all blends share; each blend's ``params`` holds those
    and its own values of the others (``blend_params``). A Zarr results store (``deblend --format zarr``,
    :mod:`.results_zarr`) is read the same way.
    """
    if Path(path).is_dir() or "://" in str(path):
        from .results_zarr import read_results_zarr

        return read_results_zarr(path)
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        offsets = f["offsets"][...]
        cat = f["catalog"][...]
        seg, img = f["segmentation"][...], f["images"][...]
        varying = {}
        for k, ds in f.get("blend_params", {}).items():
            values = ds[...]
            varying[k] = (values.tolist() if values.dtype.kind == "f"
                          else [json.loads(v.decode() if isinstance(v, bytes) else v) for v in values])
    common = json.loads(attrs.get("params", "{}"))
    per_blend = []
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        params = {**common, **{k: v[i] for k, v in varying.items()}}
        per_blend.append({"segmentation": seg[a:b], "images": img[a:b], "catalog": cat[cat["blend"] == i],
                          "params": params})
    return attrs, per_blend
