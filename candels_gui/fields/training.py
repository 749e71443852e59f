"""Training the SGAN on one field image: random crops, relativistic average loss, checkpoints and resume.

Each step draws ``batch_size`` crops of ``patch`` x ``patch`` pixels of the scaled field (random turns and
flips: the sky has no preferred orientation), ``d_steps`` discriminator updates on real crops against generated
ones, then one generator update. Generated patches are cut from the centre of a generation ``M`` cells wider on
every side (as in :mod:`.generate`), so the generator is trained on exactly what tessellation asks of it,
never on its zero padding. Adam (lr 2e-4, betas 0.5 / 0.999) on both networks, three discriminator updates
per generator update; bfloat16 autocast on CUDA.

Every epoch (``steps_per_epoch`` steps) writes the checkpoint ``OUT.ckpt`` (both networks, both optimisers,
the random states), a sample image ``SAMPLES/epoch_NNN.png`` of the generator on fixed noise, and reports
the mean losses; ``resume=True`` continues from the checkpoint. The weights file (generator only, with a
model card: architecture, scaling, training data and settings, the losses) is written at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..core.atomic import temp_path
from ..core.errors import DataError
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from .scaling import FieldScaling

__all__ = ["TrainingImage", "load_training_image", "hdf_image", "SGANTrainer", "train_sgan_job"]


@dataclass
class TrainingImage:
    """A field to learn from: (C, H, W) float32 in its own units, and where it came from."""

    data: np.ndarray
    source: str
    pixel_scale: Optional[float] = None
    zeropoint: Optional[float] = None
    bunit: str = ""
    band_names: list[str] = field(default_factory=list)
    sha256: str = ""


def hdf_image(band: Optional[int] = None) -> TrainingImage:
    """The Hubble Deep Field image that scikit-image ships (``skimage.data.hubble_deep_field()``): a real HST
    image, an 8-bit colour composite (872 x 1000, three bands), read from the installed package; one of its
    planes with ``band`` (0 R, 1 G, 2 B)."""
    import hashlib

    from skimage import data as skdata

    rgb = np.asarray(skdata.hubble_deep_field())
    names = ["R", "G", "B"]
    if band is not None and not 0 <= int(band) < len(names):
        raise DataError(f"--band {band}: the Hubble Deep Field has {len(names)} bands (0 R, 1 G, 2 B)")
    cube = np.ascontiguousarray(np.moveaxis(rgb, -1, 0).astype(np.float32))
    source = "skimage.data.hubble_deep_field()"
    if band is not None:
        cube, names, source = np.ascontiguousarray(cube[int(band)][None]), [names[int(band)]], f"{source}, band {band}"
    return TrainingImage(cube, source, None, None, "8-bit value", names,
                         hashlib.sha256(rgb.tobytes() + (b"" if band is None else bytes([int(band)]))).hexdigest())


def load_training_image(path: str | os.PathLike, *, hdu: Optional[int] = None,
                        band: Optional[int] = None) -> TrainingImage:
    """A FITS image (one 2-D image, or one ``band`` of a cube) as a training field, checked: finite values."""
    from ..core.data.field_fits import file_sha256, read_field

    f = read_field(path, hdu=hdu, band=band)
    data = np.asarray(f.data, dtype=np.float32)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise DataError(f"{f.path}: {bad:,} NaN or infinite pixel(s); crop them away or fill them (e.g. with 0) "
                        "before training")
    return TrainingImage(np.ascontiguousarray(data[None]), str(f.path), f.pixel_scale, f.zeropoint,
                         str(f.header.get("BUNIT", "")), [], file_sha256(f.path))


class SGANTrainer:
    """Both networks, their optimisers and one training step (see the module docstring).

    Parameters
    ----------
    scaled : ndarray (C, H, W) float32
        The field scaled onto [-1, 1].
    kwargs : dict
        Architecture options (:data:`~.sgan.DEFAULT_KWARGS`).
    patch, batch_size : int
        Crop side (a multiple of the generator's factor) and crops per step.
    lr, lr_d : float
        Adam learning rates of the generator and the discriminator.
    d_steps : int
        Discriminator updates per generator update (a discriminator that keeps ahead: with one, this small
        generator learns a texture that fools it instead of galaxies).
    seed : int
    device : torch.device
    """

    def __init__(self, scaled: np.ndarray, kwargs: dict[str, Any], *, patch: int = 64, batch_size: int = 16,
                 lr: float = 2e-4, lr_d: float = 2e-4, d_steps: int = 3, seed: int = 0,
                 device: Any = "cpu") -> None:
        import torch

        from .sgan import build_discriminator, build_generator

        self.torch = torch
        self.device = torch.device(device)
        torch.manual_seed(int(seed))
        self.gen = build_generator(kwargs).to(self.device)
        self.disc = build_discriminator(kwargs).to(self.device)
        if patch % self.gen.factor or patch < 2 * self.gen.factor:
            raise DataError(f"--patch must be a multiple of {self.gen.factor} and at least {2 * self.gen.factor}, "
                            f"got {patch}")
        if min(scaled.shape[-2:]) < patch:
            raise DataError(f"the training image is {scaled.shape[-2]}x{scaled.shape[-1]} px, smaller than the "
                            f"{patch} px training patch; use a larger image or a smaller --patch")
        self.scaled = scaled
        self.patch, self.batch_size = int(patch), int(batch_size)
        if int(d_steps) < 1:
            raise DataError(f"--d_steps must be >= 1, got {d_steps}")
        self.d_steps = int(d_steps)
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr_d, betas=betas)
        self.rng = np.random.default_rng([int(seed), 0x5CA1])
        self.noise_gen = torch.Generator().manual_seed(int(seed) + 1)
        self.amp = dict(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    # ------------------------------------------------------------------ batches
    def real_batch(self) -> Any:
        """``batch_size`` random crops, turned and flipped at random, as a tensor on the device."""
        c, h, w = self.scaled.shape
        p = self.patch
        out = np.empty((self.batch_size, c, p, p), np.float32)
        for i in range(self.batch_size):
            y, x = int(self.rng.integers(0, h - p + 1)), int(self.rng.integers(0, w - p + 1))
            crop = self.scaled[:, y:y + p, x:x + p]
            crop = np.rot90(crop, int(self.rng.integers(4)), axes=(1, 2))
            out[i] = crop[:, :, ::-1] if self.rng.uniform() < 0.5 else crop
        return self.torch.from_numpy(out).to(self.device)

    def noise(self, cells: int, n: Optional[int] = None) -> list[Any]:
        """Spatial noise of every level for ``n`` patches of ``cells`` coarse cells."""
        n = self.batch_size if n is None else n
        out = []
        for lvl, ch in enumerate(self.gen.noise_channels()):
            s = cells * 2 ** lvl
            out.append(self.torch.randn((n, ch, s, s), generator=self.noise_gen).to(self.device))
        return out

    def fake_batch(self, n: Optional[int] = None, patch: Optional[int] = None) -> Any:
        """Generated patches, cut from the centre of a generation ``M`` cells wider on each side."""
        p = int(patch or self.patch)
        f, m = self.gen.factor, self.gen.margin_cells()
        z = self.noise(p // f + 2 * m, n)
        out = self.gen(z[0], z[1:])
        return out[:, :, m * f:m * f + p, m * f:m * f + p]

    # ------------------------------------------------------------------ one step
    def step(self) -> tuple[float, float]:
        """``d_steps`` discriminator updates, then one generator update; returns ``(d_loss, g_loss)`` (the last
        discriminator update's loss)."""
        from .sgan import ragan_losses

        torch = self.torch
        self.gen.train()
        self.disc.train()
        for _ in range(self.d_steps):
            real = self.real_batch()
            with torch.autocast(**self.amp):
                with torch.no_grad():
                    fake = self.fake_batch()
                d_loss, _ = ragan_losses(self.disc(real).float(), self.disc(fake).float())
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        real = self.real_batch()
        with torch.autocast(**self.amp):
            _, g_loss = ragan_losses(self.disc(real).float(), self.disc(self.fake_batch()).float())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return float(d_loss.detach()), float(g_loss.detach())

    def sample(self, seed: int = 12345, cells: int = 32) -> np.ndarray:
        """The generator's output on fixed noise (bands, cells * F, cells * F), in [-1, 1]."""
        torch = self.torch
        g = torch.Generator().manual_seed(int(seed))
        f = self.gen.factor
        self.gen.eval()
        with torch.no_grad():
            z = [torch.randn((1, ch, cells * 2 ** lvl, cells * 2 ** lvl), generator=g).to(self.device)
                 for lvl, ch in enumerate(self.gen.noise_channels())]
            out = self.gen(z[0], z[1:])[0].float().cpu().numpy()
        m = self.gen.margin_cells() * f
        return out[:, m:-m, m:-m]

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {"gen": self.gen.state_dict(), "disc": self.disc.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "rng": self.rng.bit_generator.state,
                "noise_gen": self.noise_gen.get_state()}

    def load_state(self, st: dict[str, Any]) -> None:
        self.gen.load_state_dict(st["gen"])
        self.disc.load_state_dict(st["disc"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.rng.bit_generator.state = st["rng"]
        self.noise_gen.set_state(st["noise_gen"])


def _write_sample(path: Path, arr: np.ndarray) -> None:
    """A PNG of a scaled field: grey for one band, RGB for three (values in [-1, 1])."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    img = np.clip((arr + 1.0) / 2.0, 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.shape[0] == 3:
        plt.imsave(path, np.moveaxis(img, 0, -1), origin="lower")
    else:
        plt.imsave(path, img[0], cmap="gray", origin="lower")


def _save_ckpt(path: Path, payload: dict[str, Any]) -> None:
    import torch

    tmp = temp_path(path)
    torch.save(payload, tmp)
    os.replace(tmp, path)


_CKPT_KEYS = ("trainer", "kwargs", "scaling", "history", "epoch")


def _load_ckpt(path: Path) -> dict[str, Any]:
    """A training checkpoint (``OUT.pt.ckpt``), or a one-line error when the file is not one."""
    import pickle

    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        raise DataError(f"--resume: {path} is not a readable training checkpoint (corrupt, truncated or another "
                        f"format: {type(exc).__name__}); train anew without --resume") from None
    if not isinstance(ck, dict) or not all(k in ck for k in _CKPT_KEYS):
        raise DataError(f"--resume: {path} is not an SGAN training checkpoint (it lacks "
                        f"{[k for k in _CKPT_KEYS if not isinstance(ck, dict) or k not in ck]}; a weights file?); "
                        f"train anew without --resume")
    return ck


def _check_resume_model(ck: dict[str, Any], model_kwargs: dict[str, Any], epochs: int, where: Path) -> None:
    """Refuse network options other than the checkpoint's (they would be ignored, and the card would lie) and
    an ``--epochs`` the checkpoint has already reached (nothing would be trained)."""
    changed = {k: v for k, v in model_kwargs.items() if k in ck["kwargs"] and ck["kwargs"][k] != v}
    if changed:
        was = ", ".join(f"{k}={ck['kwargs'][k]!r}" for k in changed)
        raise DataError(f"--resume: {where.name} was trained with {was}; resume with the same network options "
                        f"(or train anew without --resume)")
    if int(ck["epoch"]) >= int(epochs):
        raise DataError(f"--resume: {where.name} has already trained {ck['epoch']} epoch(s); give --epochs above "
                        f"{ck['epoch']} to train more")


def _check_resume(ck: dict[str, Any], image: TrainingImage, *, scale: str, patch: int, where: Path) -> None:
    """Refuse to go on from a checkpoint made on other data, with another scaling or patch size: the run would
    train on one image under another's scaling (clipping most of its pixels) and its card would name only one.
    Checkpoints written before these were recorded are not checked."""
    kind = str(ck["scaling"].get("kind", scale))
    if kind != scale:
        raise DataError(f"--resume: {where.name} scales the image with {kind!r}, not {scale!r}: give --scale {kind} "
                        f"(or train anew without --resume)")
    if ck.get("data_sha256") and image.sha256 and ck["data_sha256"] != image.sha256:
        raise DataError(f"--resume: {where.name} was trained on {ck.get('data', 'another image')}, not {image.source}: "
                        f"resume on the same image (or train anew without --resume)")
    if ck.get("patch") is not None and int(ck["patch"]) != int(patch):
        raise DataError(f"--resume: {where.name} was trained on {ck['patch']} px patches: give --patch {ck['patch']}")


def train_sgan_job(image: TrainingImage, out: str | os.PathLike, *, epochs: int = 30, steps_per_epoch: int = 100,
                   batch_size: int = 8, patch: int = 64, lr: float = 2e-4, lr_d: float = 2e-4, d_steps: int = 3,
                   seed: int = 0, device: str = "auto",
                   resume: bool = False, scale: str = "asinh", samples: Optional[str | os.PathLike] = None,
                   threads: Optional[int] = None, model_kwargs: Optional[dict[str, Any]] = None,
                   command: str = "", cancel: Optional[CancelToken] = None) -> Job:
    """Train an SGAN on ``image`` and write the generator's weights to ``out`` (see the module docstring).

    Yields :class:`~candels_gui.core.jobs.Progress` per step; returns the model card written.
    """
    import torch

    from ..torch_common import device_label, pick_device, save_weights
    from .sgan import ARCHITECTURE, DEFAULT_KWARGS, count_parameters

    if epochs < 1 or steps_per_epoch < 1 or batch_size < 1:
        raise DataError("--epochs, --steps and --batch_size must be >= 1")
    out = Path(out)
    ckpt_path = out.with_name(out.name + ".ckpt")
    samples_dir = Path(samples) if samples else out.with_name(out.stem + "_samples")
    dev = pick_device(device)
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        ck = None
        if resume:
            if not ckpt_path.is_file():
                raise DataError(f"--resume: no checkpoint {ckpt_path}")
            ck = _load_ckpt(ckpt_path)
            kwargs = dict(ck["kwargs"])
            scaling = FieldScaling.from_card(ck["scaling"])
            _check_resume(ck, image, scale=scale, patch=patch, where=ckpt_path)
            _check_resume_model(ck, model_kwargs or {}, epochs, ckpt_path)
        else:
            kwargs = {**DEFAULT_KWARGS, **(model_kwargs or {}), "bands": int(image.data.shape[0])}
            scaling = FieldScaling.fit(image.data, scale)
        if int(kwargs["bands"]) != image.data.shape[0]:
            raise DataError(f"the checkpoint is for {kwargs['bands']} band(s); the image has {image.data.shape[0]}")
        scaled = scaling.forward(image.data)
        trainer = SGANTrainer(scaled, kwargs, patch=patch, batch_size=batch_size, lr=lr, lr_d=lr_d,
                              d_steps=d_steps, seed=seed, device=dev)
        history: list[dict[str, float]] = []
        start = 0
        if ck is not None:
            trainer.load_state(ck["trainer"])
            history, start = list(ck["history"]), int(ck["epoch"])
        total = epochs * steps_per_epoch
        label = device_label(dev)
        t0 = time.perf_counter()
        for epoch in range(start, epochs):
            d_sum = g_sum = 0.0
            for k in range(steps_per_epoch):
                check_cancel(cancel)
                d, g = trainer.step()
                d_sum, g_sum = d_sum + d, g_sum + g
                yield Progress(epoch * steps_per_epoch + k + 1, total, f"epoch {epoch + 1}/{epochs} ({label})")
            history.append({"epoch": epoch + 1, "d_loss": d_sum / steps_per_epoch, "g_loss": g_sum / steps_per_epoch,
                            "seconds": round(time.perf_counter() - t0, 1)})
            _write_sample(samples_dir / f"epoch_{epoch + 1:03d}.png", trainer.sample())
            _save_ckpt(ckpt_path, {"trainer": trainer.state(), "kwargs": kwargs, "scaling": scaling.to_card(),
                                   "history": history, "epoch": epoch + 1, "data_sha256": image.sha256,
                                   "data": image.source, "patch": int(patch)})
            yield Progress((epoch + 1) * steps_per_epoch, total,
                           f"epoch {epoch + 1}/{epochs}: mean D {history[-1]['d_loss']:.3f} "
                           f"G {history[-1]['g_loss']:.3f}")
        card = {
            "architecture": ARCHITECTURE, "kwargs": kwargs, "scaling": scaling.to_card(),
            "pixel_scale": image.pixel_scale, "zeropoint": image.zeropoint, "bunit": image.bunit,
            "band_names": image.band_names, "parameters": count_parameters(trainer.gen),
            "factor": trainer.gen.factor, "margin_cells": trainer.gen.margin_cells(),
            "training": {"data": image.source, "data_sha256": image.sha256, "epochs": epochs,
                         "steps_per_epoch": steps_per_epoch, "batch_size": batch_size, "patch": patch, "lr": lr, "lr_d": lr_d, "d_steps": d_steps,
                         "seed": seed, "device": device_label(dev), "command": command, "history": history},
        }
        save_weights(out, trainer.gen, card)
        return card
    finally:
        torch.set_num_threads(old_threads)
