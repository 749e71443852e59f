"""The training samples of the torch deblenders, their augmentation and learning-rate schedule.

:class:`TrainingData` reads an HDF5 export (``candels-gui produce``/export, either storage) or a Zarr store
(``produce --format zarr``) into normalised
inputs and targets (see :mod:`.models` and :mod:`.training`); :func:`augment_batch` turns and flips them;
:func:`epoch_lr` is the schedule; :func:`data_hash` identifies the data in a model card.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import DataError
from ..core.store.produce import produce_file
from .base import flux_region, robust_sigma

__all__ = ["TrainingData", "MixedTrainingData", "open_training_data", "export_label", "augment_batch", "epoch_lr", "data_hash",
           "DEFAULT_KWARGS", "IMAGE_MODELS", "SHARED_BODY"]


#: Architecture options used when ``model_kwargs`` is not given.
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "unet-seg": {"base": 16, "depth": 3}, "unet-deblend": {"base": 16, "depth": 3},
    "cgan": {"base": 32, "depth": 4}, "blend2flux": {"base": 16, "depth": 4},
}
#: Models of the same U-Net body (all but the output layer): each can start from the other's weights.
SHARED_BODY = ("unet-seg", "unet-deblend")
#: Models that predict the isolated galaxy images.
IMAGE_MODELS = ("unet-deblend", "cgan")


def export_label(path: str | os.PathLike) -> str:
    """How messages name an export: its folder and file (``REAL/blends.h5``), since produce names every file
    ``blends.h5``."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def data_hash(path: str | os.PathLike) -> str:
    """sha256 of an export's provenance attributes (``input_hashes``, ``options``, ``seed``, ``splits``),
    or of the whole file when it has none."""
    from ..core.store.checks import open_h5

    h = hashlib.sha256()
    store = _zarr_store(path)
    if store is not None:
        from ..core.store.zarr_store import check_export_store, open_zarr

        check_export_store(store)
        zarr_root = open_zarr(store)
        keys = ("input_hashes", "options", "seed", "splits", "label_method")
        h.update(json.dumps({k: str(zarr_root.attrs[k]) for k in keys if k in zarr_root.attrs},
                            sort_keys=True).encode())
        return h.hexdigest()
    with open_h5(path, "training data") as f:
        if "input_hashes" in f.attrs:
            keys = ("input_hashes", "options", "seed", "splits", "label_method")
            attrs = {k: str(f.attrs[k]) for k in keys if k in f.attrs}
            h.update(json.dumps(attrs, sort_keys=True).encode())
            return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TrainingData:
    """Normalised training samples of one model from an HDF5 export (in memory or read per batch).

    ``batch(idx)`` returns ``(x (B,1,H,W) f4, target)``; targets: ogg masks (B,3,H,W) f4 for
    ``unet-seg``; for ``unet-deblend``/``cgan`` (B,4,H,W) f4: the two normalised images, then the two
    flux regions (true footprints grown by :data:`~.base.FLUX_REGION_RADIUS`, 0/1); normalised log fluxes
    (B,2) f4 for ``blend2flux``.
    """

    def __init__(self, path: str | os.PathLike, model: str, *, scale: float = 1.0, memory_mb: float = 1024,
                 chunk: int = 512) -> None:
        import h5py

        from ..core.store.checks import check_finite_array, open_h5
        from ..core.store.hdf5 import check_hdf5_header
        from ..core.store.stamp_library import SplitArrays

        self.path, self.model, self.scale, self.chunk = Path(path), model, float(scale), int(chunk)
        store = _zarr_store(path)
        self._zarr: Any = None
        if store is not None:
            from ..core.store.zarr_store import check_export_store, open_zarr

            check_export_store(store)
            self.path, self._zarr = store, open_zarr(store)
            self._init_zarr(memory_mb)
            return
        self.path = produce_file(self.path)
        if not self.path.is_file():
            what = "folder holds no blends.h5 or blends.zarr" if self.path.is_dir() else "file does not exist"
            raise DataError(f"{self.path}: training data {what}")
        from ..core.store.common import find_manifest

        find_manifest(self.path)     # a manifest beside it that is another run's is refused, as every reader does
        if self.path.suffix.lower() in (".fits", ".fit", ".fz") or self.path.name.lower().endswith(".fits.gz"):
            raise DataError(f"{self.path}: a FITS export; train reads HDF5 or Zarr exports (produce's blends.h5 or "
                            f"blends.zarr, or the app's HDF5 export)")
        with open_h5(self.path, "training data") as f:
            if "format" in f.attrs or "splits" in f.attrs:  # says it is ours: check what it says
                check_hdf5_header(f, self.path)
            g = f["train"] if isinstance(f.get("train"), h5py.Group) else f
            if not isinstance(g.get("fluxes"), h5py.Dataset):
                if "format" not in f.attrs and "splits" not in f.attrs:
                    raise DataError(f"{self.path}: not a candels-gui blend export (no fluxes; a deblend results "
                                    f"file, or another program's HDF5?); train reads produce's or the app's exports")
                raise DataError(f"{self.path}: group {g.name} lacks dataset(s) ['fluxes']")
            arrays = SplitArrays(g)      # checks the image datasets, or builds a compact export's engine
            self.group, self._engine = g.name, arrays.engine
            n, (h, w) = len(arrays), arrays.shape
            shapes = [("fluxes", (n, 2))]
            if not arrays.compact:
                shapes += [("isolated_images", (n, 2, h, w)), ("masks", (n, 2, h, w))]
            for key, shape in shapes:
                if g[key].shape != shape:
                    raise DataError(f"{self.path}: {g.name}/{key} has shape {g[key].shape}, expected {shape}")
            check_finite_array(np.asarray(g["fluxes"][...], np.float64), f"{self.path}:{g.name}", "the true fluxes")
        self.n, self.shape = int(n), (int(h), int(w))
        self._fill_memory(memory_mb)

    def _init_zarr(self, memory_mb: float) -> None:
        """A Zarr store (``produce --format zarr``): its ``train`` split, or its only one."""
        root = self._zarr
        g = root["train"] if "train" in root else root
        self.group = g.path
        n, h, w = g["blend_images"].shape
        self._engine = None
        self.n, self.shape = int(n), (int(h), int(w))
        self._fill_memory(memory_mb)

    def _fill_memory(self, memory_mb: float) -> None:
        h, w = self.shape
        model = self.model
        per = h * w * (1 + (3 if model == "unet-seg" else 4 if model in IMAGE_MODELS else 0)) * 4
        self._mem: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if self.n * per / 2 ** 20 <= memory_mb:
            parts = [self._read(np.arange(a, min(self.n, a + self.chunk))) for a in range(0, self.n, self.chunk)]
            self._mem = tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[assignment]

    @property
    def in_memory(self) -> bool:
        """True when all samples are held in memory."""
        return self._mem is not None

    def _read(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from ..core.store.checks import open_h5
        from ..core.store.stamp_library import SplitArrays
        from .models import asinh_normalise

        order = np.argsort(idx)
        sidx = np.asarray(idx)[order]
        contiguous = sidx.size and sidx[-1] - sidx[0] == sidx.size - 1
        sel: Any = slice(int(sidx[0]), int(sidx[-1]) + 1) if contiguous else sidx
        if self._zarr is not None:
            from ..core.store.zarr_store import zarr_rows

            split = self.group or None
            blend, isolated, masks = zarr_rows(str(self.path), split, sel, isolated=self.model in IMAGE_MODELS)
            g = self._zarr[self.group] if self.group else self._zarr
            flux = np.clip(np.asarray(g["fluxes"][sel] if contiguous else g["fluxes"].oindex[sel], np.float64),
                           1e-12, None)
        else:
            with open_h5(self.path, "training data") as f:
                g = f[self.group]
                arrays = SplitArrays(g, self._engine)
                blend, isolated, masks = arrays.read(sel, isolated=self.model in IMAGE_MODELS)
                flux = np.clip(np.asarray(g["fluxes"][sel], np.float64), 1e-12, None)
        sigma = np.array([robust_sigma(b) for b in blend])
        x = asinh_normalise(blend, sigma, self.scale)[:, None]
        log_flux = (np.log(flux) - np.log(self.scale * sigma)[:, None]).astype(np.float32)
        if self.model == "unet-seg":
            y = np.stack([masks[:, 0] & masks[:, 1], masks[:, 0], masks[:, 1]], axis=1).astype(np.float32)
        elif self.model == "blend2flux":
            y = log_flux
        else:          # normalised images, then the regions of their flux term (see _task_loss)
            y = asinh_normalise(isolated, sigma, self.scale)
            y = np.concatenate([y, flux_region(masks).astype(np.float32)], axis=1)
        inv = np.argsort(order)
        return x[inv], y[inv], log_flux[inv]

    def batch(self, idx: np.ndarray, *, with_flux: bool = False) -> tuple[np.ndarray, ...]:
        """Inputs and targets of the samples ``idx``; ``with_flux=True`` adds their normalised log
        fluxes ``log(flux / (scale * sigma))`` (B,2) as a third array."""
        parts = (tuple(a[idx] for a in self._mem) if self._mem is not None
                 else self._read(np.asarray(idx)))
        return parts if with_flux else parts[:2]


class MixedTrainingData:
    """The samples of several exports as one set: sample ``i`` of the mix is sample ``i - offset[k]`` of
    export ``k`` (the exports in the order given), so an epoch over the mix reads every blend of every
    export once.

    Parameters
    ----------
    parts : sequence of TrainingData
        The exports (of one model, one stamp size).
    """

    def __init__(self, parts: Sequence[TrainingData]) -> None:
        if not parts:
            raise DataError("no training data given")
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            raise DataError("training exports have different stamp sizes: "
                            + ", ".join(f"{export_label(p.path)} {p.shape[0]}x{p.shape[1]}" for p in parts))
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [p.n for p in self.parts])
        self.n, self.shape = int(self.offsets[-1]), self.parts[0].shape
        self.group = ",".join(p.group for p in self.parts)

    @property
    def in_memory(self) -> bool:
        """True when every export's samples are held in memory."""
        return all(p.in_memory for p in self.parts)

    def source(self, idx: np.ndarray) -> np.ndarray:
        """Which export each sample of ``idx`` comes from (0-based, in the order given)."""
        return np.searchsorted(self.offsets, np.asarray(idx), side="right") - 1

    def batch(self, idx: np.ndarray, *, with_flux: bool = False) -> tuple[np.ndarray, ...]:
        """As :meth:`TrainingData.batch`, the samples ``idx`` of the mix in the order given."""
        idx = np.asarray(idx)
        src = self.source(idx)
        out: list[np.ndarray] | None = None
        for k in np.unique(src):
            where = np.flatnonzero(src == k)
            got = self.parts[k].batch(idx[where] - self.offsets[k], with_flux=with_flux)
            if out is None:
                out = [np.empty((len(idx),) + a.shape[1:], a.dtype) for a in got]
            for dest, a in zip(out, got):
                dest[where] = a
        assert out is not None
        return tuple(out)


def open_training_data(paths: str | os.PathLike | Sequence[str | os.PathLike], model: str, *,
                       scale: float = 1.0, memory_mb: float = 1024) -> TrainingData | MixedTrainingData:
    """The training samples of one export, or of several as one mix (``memory_mb`` shared among them)."""
    if isinstance(paths, (str, os.PathLike)):
        return TrainingData(paths, model, scale=scale, memory_mb=memory_mb)
    paths = list(paths)
    if len(paths) == 1:
        return TrainingData(paths[0], model, scale=scale, memory_mb=memory_mb)
    if len({Path(p).resolve() for p in paths}) < len(paths):
        raise DataError("the same training export is given twice: " + ", ".join(map(str, paths)))
    return MixedTrainingData([TrainingData(p, model, scale=scale, memory_mb=memory_mb / len(paths))
                              for p in paths])


def _zarr_store(path: str | os.PathLike) -> Path | None:
    """The Zarr export at ``path`` (a store, or a produce folder holding ``blends.zarr``); ``None`` for
    anything else."""
    from ..core.store.export import detect_export
    from ..core.store.zarr_store import zarr_splits

    if not Path(path).is_dir():
        return None
    fmt, p = detect_export(path)        # a produce folder: the store its manifest names
    if fmt != "zarr":
        return None
    zarr_splits(p)          # a finished candels-gui store, or a DataError saying what it is
    return Path(p)


def epoch_lr(lr: float, epoch: int, epochs: int, schedule: str = "cosine") -> float:
    """Learning rate of epoch ``epoch`` (1-based) of ``epochs``: cosine decay to 5 % of ``lr``, or ``lr``.

    Examples
    --------
    >>> epoch_lr(1e-3, 1, 10), round(epoch_lr(1e-3, 11, 10), 8), epoch_lr(1e-3, 5, 10, "constant")
    (0.001, 5e-05, 0.001)
    """
    if schedule == "constant":
        return float(lr)
    return float(lr) * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(int(epochs), 1))))


def augment_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Turn each sample by a random multiple of 90 degrees and flip it at random, input and image or mask
    target alike (flux targets, ``y.ndim == 2``, are left as they are).

    Non-square samples are only turned by 0 or 180 degrees, so the batch keeps its shape.

    Examples
    --------
    >>> x = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    >>> xa, ya = augment_batch(x, x.copy(), np.random.default_rng(0))
    >>> bool((xa == ya).all()) and sorted(xa[0].ravel()) == sorted(x[0].ravel())
    True
    """
    square = x.shape[-1] == x.shape[-2]
    ks = rng.integers(0, 4, len(x)) if square else 2 * rng.integers(0, 2, len(x))
    flips = rng.integers(0, 2, len(x)).astype(bool)
    images = y.ndim == x.ndim
    xo, yo = np.empty_like(x), np.empty_like(y) if images else y
    for i, (k, flip) in enumerate(zip(ks, flips)):
        xi = np.rot90(x[i], int(k), axes=(-2, -1))
        xo[i] = xi[..., ::-1] if flip else xi
        if images:
            yi = np.rot90(y[i], int(k), axes=(-2, -1))
            yo[i] = yi[..., ::-1] if flip else yi
    return xo, yo
