"""Generating a field of any size with a trained SGAN, tile by tile, straight into a FITS file.

The field is defined by the seed alone: its spatial noise (:mod:`.noise`) is a fixed function of the seed and
the position, and field pixel ``p`` is generator output pixel ``p + M * F`` of that noise grid (``F`` = the
generator's up-sampling factor, ``M`` = :meth:`~.sgan.SGANGenerator.margin_cells`), so no output pixel is
ever within reach of the zero padding at the grid's edges. Each tile is generated from its noise plus ``M``
cells of context on every side and cropped: its pixels are those of a one-shot generation of the whole field
(to float rounding), whatever the tile size, and the tiles meet without seams. Tiles go to disk as soon as
they are made (:class:`~candels_gui.core.data.field_fits.FieldWriter`): memory holds one tile, whatever the
size of the field.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.data.field_fits import FieldWriter, field_header, file_sha256
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel, run_job
from .noise import noise_window
from .scaling import FieldScaling

__all__ = ["SGANModel", "load_sgan", "render_window", "render_tile", "generate_array", "generate_field_job",
           "generate_field", "DEFAULT_TILE"]

#: Tile side (output pixels) on a CPU; on a GPU four times that.
DEFAULT_TILE = 1024


@dataclass
class SGANModel:
    """A trained generator ready to run: the network, its scaling, its card and where it came from."""

    generator: Any
    scaling: FieldScaling
    card: dict
    device: Any
    path: Optional[Path] = None
    sha256: str = ""

    @property
    def bands(self) -> int:
        return int(self.generator.bands)


def load_sgan(path: str | os.PathLike, *, device: str = "auto") -> SGANModel:
    """Read an SGAN weights file (from ``field train``).

    Raises
    ------
    DataError
        The file is not a weights file, or holds another kind of model.
    """
    from ..torch_common import pick_device, read_weights
    from .sgan import ARCHITECTURE, build_generator

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    state, card = read_weights(path)
    arch = card.get("architecture")
    if arch != ARCHITECTURE:
        raise DataError(f"{path} holds a {arch!r} model, not an SGAN field generator (make one with "
                        "'candels-gui field train')")
    gen = build_generator(card.get("kwargs"))
    try:
        gen.load_state_dict(state)
    except RuntimeError as exc:
        raise DataError(f"{path}: the weights do not fit the SGAN its card describes ({exc})") from exc
    dev = pick_device(device)
    gen = gen.to(dev).eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    return SGANModel(gen, FieldScaling.from_card(card.get("scaling", {})), card, dev, path, file_sha256(path))


def _window_noise(gen: Any, seed: int, a0: int, a1: int, b0: int, b1: int) -> list[np.ndarray]:
    return [noise_window(seed, lvl, ch, a0 * 2 ** lvl, a1 * 2 ** lvl, b0 * 2 ** lvl, b1 * 2 ** lvl)
            for lvl, ch in enumerate(gen.noise_channels())]


def render_window(model: SGANModel, seed: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Field rows ``r0:r1``, columns ``c0:c1`` of the field of ``seed``, in [-1, 1] (bands, h, w) float32."""
    import torch

    gen = model.generator
    f, m = gen.factor, gen.margin_cells()
    a0, a1 = r0 // f, -(-r1 // f) + 2 * m
    b0, b1 = c0 // f, -(-c1 // f) + 2 * m
    noise = _window_noise(gen, seed, a0, a1, b0, b1)
    dev = model.device
    with torch.inference_mode():
        tensors = [torch.from_numpy(n)[None].to(dev) for n in noise]
        if dev.type == "cuda":
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                out = gen(tensors[0], tensors[1:])
        else:
            out = gen(tensors[0].contiguous(memory_format=torch.channels_last), tensors[1:])
        out = out.float()[0].cpu().numpy()
    y0, x0 = r0 + m * f - a0 * f, c0 + m * f - b0 * f
    return np.ascontiguousarray(out[:, y0:y0 + r1 - r0, x0:x0 + c1 - c0])


def generate_array(model: SGANModel, shape: tuple[int, int], seed: int) -> np.ndarray:
    """The whole field in one piece (in the input's units), (bands, H, W) float32: for small fields and tests."""
    return model.scaling.inverse(render_window(model, seed, 0, int(shape[0]), 0, int(shape[1])))


def _shape(size: Any) -> tuple[int, int]:
    if isinstance(size, (tuple, list)):
        h, w = (int(v) for v in size)
    else:
        h = w = int(size)
    if h < 1 or w < 1:
        raise DataError(f"--size must be at least 1 pixel, got {size}")
    if h * w > 2 ** 34:
        raise DataError(f"--size {h}x{w} is more than 16 Gpix; FITS readers will not open it")
    return h, w


def _header(model: SGANModel, shape: tuple[int, ...], seed: int) -> Any:
    card = model.card
    scale = card.get("pixel_scale")      # unknown (a FITS without WCS, the --hdf image): no sky position made up
    hdr = field_header(shape, pixel_scale=float(scale) if scale else None,
                       zeropoint=card.get("zeropoint"), bunit=str(card.get("bunit") or ""))
    hdr["ORIGIN"] = ("candels-gui field generate", "SGAN-generated field")
    hdr["SGANFILE"] = (model.path.name if model.path else "", "generator weights file")
    hdr["SGANHASH"] = (model.sha256[:16], "SHA-256 of the weights file (first 16 hex)")
    hdr["SGANSEED"] = (int(seed), "seed of the spatial noise")
    hdr["SGANDATA"] = (str(card.get("training", {}).get("data", ""))[-68:], "training image")
    for i, name in enumerate(card.get("band_names", [])[:9]):
        hdr[f"BAND{i}"] = str(name)
    return hdr


def generate_field_job(model: SGANModel | str | os.PathLike, out: str | os.PathLike, size: Any, *, seed: int = 0,
                       tile: Optional[int] = None, overwrite: bool = False, device: str = "auto",
                       client: Any = None, cancel: Optional[CancelToken] = None) -> Job:
    """Generate a field of ``size`` (side, or (H, W)) into the FITS file ``out``, tile by tile.

    Yields :class:`~candels_gui.core.jobs.Progress` per tile (in pixels) and returns a dict: ``path``,
    ``shape``, ``seconds``, ``mpix_per_s``, ``device``, ``tile``. The file is written under a temporary name
    and renamed at the end; cancelling, Ctrl-C or a full disk leave nothing under ``out``.

    With a Dask ``client`` (``field generate --scheduler``) the workers generate the tiles (each loads the
    weights once, from the same path) and this process writes them as they come, a few in flight per worker.
    """
    from ..torch_common import device_label

    sgan = model if isinstance(model, SGANModel) else load_sgan(model, device=device)
    h, w = _shape(size)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out} exists; pass --force to replace it")
    if seed < 0:
        raise DataError(f"--seed must be >= 0, got {seed}")
    f = sgan.generator.factor
    t = int(tile or (4 * DEFAULT_TILE if sgan.device.type == "cuda" else DEFAULT_TILE))
    t = max(f, t - t % f)
    shape = (h, w) if sgan.bands == 1 else (sgan.bands, h, w)
    tiles = [(r, c) for r in range(0, h, t) for c in range(0, w, t)]
    total = h * w
    done = 0
    t0 = time.perf_counter()
    with FieldWriter(out, shape, _header(sgan, shape, seed)) as writer:
        yield Progress(0, total, f"generating {h}x{w} in {len(tiles)} tile(s)")
        if client is not None:
            yield from _tiles_on_cluster(client, sgan, device, seed, tiles, t, (h, w), writer, cancel)
            tiles = []
        for r, c in tiles:
            check_cancel(cancel)
            r1, c1 = min(r + t, h), min(c + t, w)
            block = sgan.scaling.inverse(render_window(sgan, seed, r, r1, c, c1))
            writer.write(block[0] if sgan.bands == 1 else block, r, c)
            done += (r1 - r) * (c1 - c)
            yield Progress(done, total, f"generating {h}x{w}")
        check_cancel(cancel)
    dt = time.perf_counter() - t0
    return {"path": str(out), "shape": shape, "seconds": dt, "mpix_per_s": total / 1e6 / dt,
            "device": device_label(sgan.device), "tile": t, "seed": int(seed)}


def _tiles_on_cluster(client: Any, sgan: SGANModel, device: str, seed: int, tiles: list[tuple[int, int]], t: int,
                      shape: tuple[int, int], writer: FieldWriter, cancel: Optional[CancelToken]) -> Job:
    """The tiles generated by the workers of ``client``, written here as they finish."""
    from ..core.parallel import n_workers, run_partitions

    if sgan.path is None:
        raise DataError("a field generated on a cluster needs its model as a file (the same path on every worker)")
    h, w = shape
    windows = [(r, min(r + t, h), c, min(c + t, w)) for r, c in tiles]
    tasks = [(str(sgan.path.resolve()), device, int(seed), *win) for win in windows]

    def write(i: int, block: np.ndarray) -> None:
        writer.write(block[0] if sgan.bands == 1 else block, windows[i][0], windows[i][2])

    yield from run_partitions(client, render_tile, tasks, sizes=[(r1 - r) * (c1 - c) for r, r1, c, c1 in windows],
                              on_result=write, message=f"generating {h}x{w}", total=h * w, key="field-tile",
                              max_in_flight=2 * n_workers(client) + 2, cancel=cancel)


def render_tile(weights: str, device: str, seed: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """On a worker: field rows ``r0:r1``, columns ``c0:c1`` in the input's units (the model loaded once)."""
    from ..core.parallel import worker_cached

    sgan = worker_cached(("sgan", weights, device), lambda: load_sgan(weights, device=device))
    return sgan.scaling.inverse(render_window(sgan, seed, r0, r1, c0, c1))


def generate_field(model: SGANModel | str | os.PathLike, out: str | os.PathLike, size: Any, **kwargs: Any) -> dict:
    """:func:`generate_field_job` run to its end (see there)."""
    return run_job(generate_field_job(model, out, size, **kwargs))
