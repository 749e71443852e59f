"""Benchmark groups of the deblenders for ``candels-gui bench`` (registered on import).

``infer``
    ``infer_blends_per_s`` = {deblender name: {device label: blends/s}} for photutils, SEP, scarlet and
    every torch model, on blends of 128x128 rendered from the sample data (N = min(n, 256); a deblender stops
    early when it has used its time budget, and ``infer_n`` = {name: blends timed} says how many it did).
    Torch models without weights run with freshly initialised weights (inference speed does not depend
    on the weight values); they are listed in ``infer_untrained_weights``.
``train``
    ``train_samples_per_s`` = {model: samples/s} over a few optimisation steps (batch 16, after one
    warm-up step) of each torch model with its default architecture and its training loss (the cGAN
    step includes its discriminator step); ``train_steps``, ``train_batch_size`` say what was timed.
Both report ``device``: what torch used (``"cpu"``, ``"cuda:NVIDIA H100 …"``).

Examples
--------
>>> from candels_gui.bench import run_bench
>>> run_bench(64, groups=["infer"])["infer_blends_per_s"]["sep"]     # doctest: +SKIP
{'cpu': 190.3}
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from ..bench import register
from . import TORCH_MODELS, get

__all__ = ["bench_infer", "bench_train", "sample_blends", "INFER_N", "INFER_BUDGET_S"]

Log = Callable[[str], None] | None

#: Blends per deblender for the ``infer`` group (at most; see :data:`INFER_BUDGET_S`).
INFER_N = 256
#: Seconds a deblender may spend before its figure is taken from the blends done so far.
INFER_BUDGET_S = 8.0


def sample_blends(n: int, *, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` blends of the sample data drawn with the default sampling rules.

    Returns
    -------
    images (n, H, W) f4, isolated (n, 2, H, W) f4, masks (n, 2, H, W) bool, fluxes (n, 2) f8
    """
    from ..core.blending.engine import BlendEngine
    from ..core.blending.sampling import SamplingRules, sample_specs
    from ..core.data.load import load_stampset
    from ..paths import sample_data_dir

    stamps = load_stampset(sample_data_dir())
    engine = BlendEngine(stamps)
    batch = engine.render_batch(sample_specs(stamps, int(n), SamplingRules(), seed=seed))
    iso = np.asarray(batch.isolated, np.float32)
    return (np.ascontiguousarray(batch.images, np.float32), iso, np.asarray(batch.masks, bool),
            iso.astype(np.float64).sum(axis=(2, 3)))


def _torch_deblender(name: str, device: str) -> tuple[Any, bool]:
    """The named torch deblender with its weights, or freshly initialised when there are none."""
    from .torch_deblender import TorchDeblender
    from .training import DEFAULT_KWARGS

    try:
        return get(name, device=device), False
    except FileNotFoundError:
        import torch

        from .models import build_model

        torch.manual_seed(0)
        kwargs = DEFAULT_KWARGS[name]
        card = {"architecture": name, "kwargs": kwargs, "normalisation": {"kind": "asinh", "scale": 1.0}}
        return TorchDeblender(build_model(name, **kwargs), card, device=device), True


def _rate(deb: Any, images: np.ndarray, batch: int, budget_s: float) -> tuple[float, int]:
    deb.run(images[:min(len(images), 2)])  # warm-up (imports, allocator, kernel choice)
    done, t0 = 0, time.perf_counter()
    while done < len(images):
        deb.run(images[done:done + batch])
        done = min(len(images), done + batch)
        if time.perf_counter() - t0 > budget_s:
            break
    return done / (time.perf_counter() - t0), done


def bench_infer(n: int, log: Log = None, *, names: Sequence[str] | None = None, device: str = "auto",
                budget_s: float = INFER_BUDGET_S, batch_size: int = 16) -> dict[str, Any]:
    """Inference blends/s of photutils, SEP, scarlet and the torch models (see the module docstring).

    Parameters
    ----------
    n : int
        Blends to time per deblender (at most :data:`INFER_N`).
    names : sequence of str, optional
        Deblenders to time (default: photutils, sep, scarlet and every torch model).
    device : str
        Torch device (``"auto"``: CUDA, then MPS, then CPU).
    budget_s : float
        Time budget per deblender; slower ones stop early (``infer_n`` records the blends timed).
    """
    names = list(names) if names is not None else ["photutils", "sep", "scarlet", *TORCH_MODELS]
    images = sample_blends(max(2, min(int(n), INFER_N)))[0]
    rates: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    untrained: list[str] = []
    torch_device = None
    for name in names:
        if name in TORCH_MODELS:
            deb, fresh = _torch_deblender(name, device)
            if fresh:
                untrained.append(name)
            torch_device = deb.device
        else:
            deb = get(name)
        rate, done = _rate(deb, images, batch_size, budget_s)
        rates[name] = {deb.device: round(rate, 2)}
        counts[name] = done
        if log:
            log(f"infer {name}: {rate:.1f} blends/s on {deb.device} (N={done})")
    out: dict[str, Any] = {"infer_blends_per_s": rates, "infer_n": counts,
                           "infer_blend_shape": list(images.shape[1:])}
    if untrained:
        out["infer_untrained_weights"] = untrained
    if torch_device is not None:
        out["device"] = torch_device
    return out


def bench_train(n: int, log: Log = None, *, names: Sequence[str] | None = None, steps: int = 3,
                batch_size: int = 16, device: str = "auto") -> dict[str, Any]:
    """Training samples/s of each torch model over ``steps`` optimisation steps of ``batch_size``.

    Inputs and targets are real: sample-data blends, normalised as :mod:`.training` does (ogg masks
    for ``unet-seg``, isolated images for ``unet-deblend``/``cgan``, log fluxes for ``blend2flux``).
    ``n`` is not used (the figure is per step).
    """
    import torch

    from .base import robust_sigma
    from .models import PatchDiscriminator, asinh_normalise, build_model
    from ..torch_common import device_label, pick_device
    from .training import DEFAULT_KWARGS, train_step

    if int(steps) < 1 or int(batch_size) < 1:
        raise ValueError(f"need steps >= 1 and batch_size >= 1, got {steps}, {batch_size}")
    names = list(names) if names is not None else list(TORCH_MODELS)
    images, iso, masks, fluxes = sample_blends(int(batch_size))
    sigma = np.array([robust_sigma(b) for b in images])
    x_np = asinh_normalise(images, sigma)[:, None]
    targets = {
        "unet-seg": np.stack([masks[:, 0] & masks[:, 1], masks[:, 0], masks[:, 1]], 1).astype(np.float32),
        "unet-deblend": asinh_normalise(iso, sigma), "cgan": asinh_normalise(iso, sigma),
        "blend2flux": (np.log(np.clip(fluxes, 1e-12, None)) - np.log(sigma)[:, None]).astype(np.float32),
    }
    dev = pick_device(device)
    amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")  # as training
    x = torch.from_numpy(x_np).to(dev)
    rates: dict[str, float] = {}
    for name in names:
        if name not in targets:
            raise ValueError(f"{name!r} is not a torch model; torch models: {list(targets)}")
        torch.manual_seed(0)
        model = build_model(name, **DEFAULT_KWARGS[name]).to(dev).train()
        optim = torch.optim.Adam(model.parameters(), lr=1e-3)
        disc = optim_d = None
        if name == "cgan":
            disc = PatchDiscriminator().to(dev).train()
            optim_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
        y = torch.from_numpy(targets[name]).to(dev)
        train_step(name, model, disc, optim, optim_d, x, y, amp=amp)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(int(steps)):
            train_step(name, model, disc, optim, optim_d, x, y, amp=amp)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates[name] = round(int(steps) * int(batch_size) / (time.perf_counter() - t0), 2)
        if log:
            log(f"train {name}: {rates[name]:.1f} samples/s on {device_label(dev)}")
    return {"train_samples_per_s": rates, "train_steps": int(steps), "train_batch_size": int(batch_size),
            "device": device_label(dev)}


register("infer", bench_infer)
register("train", bench_train)
