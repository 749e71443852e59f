"""Train the torch deblenders on an HDF5 export (``candels-gui produce``/export, BTK-like names).

The file's ``train`` group (or its root group when unsplit) must hold ``blend_images`` (N,H,W) f4,
``isolated_images`` (N,2,H,W) f4, ``masks`` (N,2,H,W) bool/u1 and ``fluxes`` (N,2) f8. Samples are read in
chunks and normalised (see :mod:`.models`); they are kept in memory when they fit in ``memory_mb``,
otherwise every batch is read from the file.

Losses: ``unet-seg`` BCE + (1 - soft Jaccard) on ogg_masks; ``unet-deblend`` L1 on normalised images
plus a flux term; ``cgan`` pix2pix: adversarial (BCE with logits, conditional PatchGAN) + 100 x (L1 + flux
term) for the generator (the validation loss leaves the adversarial part out, so epochs compare);
``blend2flux`` L1 on normalised log flux. Early stopping watches the validation loss; the weights written
are those of the best epoch.

The flux term (``flux_weight``, default 1) is the L1 between ``log`` of each predicted image's sum over
its galaxy's true footprint grown by :data:`~.base.FLUX_REGION_RADIUS` pixels (where the deblender sums
its fluxes) and ``log`` of the galaxy's catalogue flux, plus the same for the sum over the whole image
(so that no light leaks outside the galaxy: into the companion or the background), all in units of the
blend's noise. The per-pixel L1 alone is dominated by the pixels of pure noise (which no network can
predict), so it learns the galaxies' cores and wings slowly; their total flux is what photometry needs,
and the catalogue holds it without noise.

Learning rate (``schedule="cosine"``, the default): epoch ``e`` of ``E`` trains at
``lr * (0.05 + 0.95 * (1 + cos(pi * (e - 1) / E)) / 2)``, a function of the epoch alone, so a resumed run
continues the same schedule; ``"constant"`` keeps ``lr``.

Augmentation (``augment=True``, the default): every training sample is turned by a random multiple of
90 degrees and flipped at random, blend and target alike (the eight symmetries of the pixel grid leave a
blend physically valid and its fluxes unchanged). With a few hundred galaxies behind the blends, this is
what keeps the networks from memorising them. Validation samples are never transformed.

Examples
--------
>>> from candels_gui.core.jobs import run_with_progress
>>> run_with_progress(train_model("unet-seg", "blends.h5", "unet-seg.pt", epochs=30))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.atomic import temp_path
from ..core.errors import DataError, OptionError, OutputError, TrainingError, WeightsError, one_line
from ..core.validate import check_output, finite, integer
from ..torch_common import pick_device, read_weights
from ..core.jobs import CancelToken, Job, Progress, check_cancel
from ..core.store.produce import produce_file
from .training_data import (DEFAULT_KWARGS, IMAGE_MODELS, SHARED_BODY, TrainingData, augment_batch, data_hash,
                            epoch_lr, export_label, open_training_data)

__all__ = ["train_model", "TrainResult", "TrainingData", "data_hash", "DEFAULT_KWARGS", "augment_batch",
           "epoch_lr"]

@dataclass
class TrainResult:
    """What :func:`train_model` returns."""

    path: Path
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    epochs_run: int = 0
    stopped_early: bool = False
    card: dict[str, Any] = field(default_factory=dict)
    #: Where the weights file this run replaced was kept (``NAME.prev.pt`` beside it), if there was one.
    replaced: Path | None = None


def _seg_loss(logits: Any, target: Any) -> Any:
    import torch
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(2, 3))
    union = (p + target - p * target).sum(dim=(2, 3))
    jaccard = ((inter + 1.0) / (union + 1.0)).mean()
    return bce + (1.0 - jaccard)


def _image_log_flux(pred: Any, region: Any) -> Any:
    """``log(sum of the denormalised predicted image over region / (scale * sigma))`` per source, (B, K)."""
    import torch

    total = (torch.sinh(pred.clamp(max=20.0)) * region).sum(dim=(2, 3))
    return torch.log(total.clamp(min=1.0))


def _task_loss(name: str, pred: Any, target: Any, log_flux: Any = None, flux_weight: float = 0.0) -> Any:
    """The model's own loss: BCE + Jaccard for ``unet-seg``, L1 for the others (without the cGAN term);
    for the image models (``target`` = images then flux regions), plus ``flux_weight`` x the flux term
    when ``log_flux`` is given: the L1 of log fluxes, each predicted image summed inside its region and
    over the whole image, against the catalogue's (see the module docstring)."""
    import torch.nn.functional as F

    if name == "unet-seg":
        return _seg_loss(pred, target)
    if name not in IMAGE_MODELS:
        return F.l1_loss(pred, target)
    images, region = target[:, :2], target[:, 2:]
    loss = F.l1_loss(pred, images)
    if log_flux is not None and flux_weight > 0:
        inside = F.l1_loss(_image_log_flux(pred, region), log_flux)
        whole = F.l1_loss(_image_log_flux(pred, 1.0), log_flux)
        loss = loss + float(flux_weight) * (inside + whole)
    return loss


def train_step(name: str, model: Any, disc: Any, optim: Any, optim_d: Any, x: Any, y: Any, *,
               amp: dict[str, Any], l1_lambda: float | None = 100.0, log_flux: Any = None,
               flux_weight: float = 0.0) -> Any:
    """One optimisation step of model ``name`` (and of the cGAN's discriminator ``disc``); returns the
    task loss (:func:`_task_loss`, without the adversarial term), as used for the epoch means."""
    import torch
    import torch.nn.functional as F

    with torch.autocast(**amp):
        pred = model(x)
        if disc is not None:
            optim_d.zero_grad(set_to_none=True)
            real, fake = disc(x, y[:, :2]), disc(x, pred.detach())
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if disc is not None:
        d_loss.float().backward()
        optim_d.step()
    with torch.autocast(**amp):
        loss = _task_loss(name, pred.float(), y, log_flux, flux_weight)
        full = loss
        if disc is not None:
            adv = disc(x, pred)
            full = F.binary_cross_entropy_with_logits(adv, torch.ones_like(adv)) + float(l1_lambda or 100.0) * loss
    optim.zero_grad(set_to_none=True)
    full.float().backward()
    optim.step()
    return loss


def _metrics(model: str, pred: Any, target: Any, log_flux: Any = None) -> dict[str, float]:
    import torch

    if model == "unet-seg":
        m, t = pred[:, 1:] > 0, target[:, 1:] > 0.5
        inter = (m & t).sum(dim=(2, 3)).float()
        union = (m | t).sum(dim=(2, 3)).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        return {"iou": float(iou.mean())}
    if model == "blend2flux":
        return {"flux_mape": float(torch.expm1(pred - target).abs().mean() * 100)}
    out = {"l1": float((pred - target[:, :2]).abs().mean())}
    if log_flux is not None:
        lf = _image_log_flux(pred, target[:, 2:])
        out["flux_mape"] = float(torch.expm1(lf - log_flux).abs().mean() * 100)
    return out


def train_model(name: str, data_path: str | os.PathLike | Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                epochs: int = 30, batch_size: int = 32, lr: float = 1e-3, val_fraction: float = 0.1,
                patience: int = 5, seed: int = 0, device: str = "auto",
                resume: bool | str | os.PathLike | None = None, cancel: CancelToken | None = None,
                model_kwargs: dict[str, Any] | None = None, scale: float = 1.0,
                l1_lambda: float = 100.0, memory_mb: float = 1024, num_threads: int | None = None,
                augment: bool = True, schedule: str = "cosine", flux_weight: float = 1.0,
                init: str | os.PathLike | None = None, coords: bool | None = None,
                command: str | None = None) -> Job:
    """Train model ``name`` on an HDF5 export (a job generator returning a :class:`TrainResult`).

    Parameters
    ----------
    name : {"unet-seg", "unet-deblend", "cgan", "blend2flux"}
    data_path : path or sequence of paths
        HDF5 export (``train`` group, or datasets in the root group); several exports are trained on as
        one mix (every blend of each read once per epoch; the validation samples drawn from the mix).
    out_path : path
        Weights file to write (``.pt``, with the model card); the checkpoint is ``out_path + ".ckpt"``.
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size, lr : int, float
        Mini-batch size and Adam learning rate.
    val_fraction : float
        Fraction of the samples held out for validation (at least one sample).
    patience : int
        Stop after this many epochs without a better validation loss.
    seed : int
        Seeds torch and the numpy generator of the split and of the shuffling.
    device : str
        ``"auto"`` (CUDA, MPS, CPU) or a torch device.
    init : path, optional
        Start from the weights of this ``.pt`` file (fine-tuning; its architecture options are used, and
        its card's command is recorded in the new card); the run is otherwise a new one (epochs,
        schedule, early stopping). Not with ``resume``. ``unet-deblend`` may start from ``unet-seg``
        weights and the reverse (:data:`SHARED_BODY`: the same U-Net but the output layer, which starts
        fresh): a segmentation network already knows which pixels belong to which galaxy.
    coords : bool, optional
        Give the network the distance from the stamp centre as a second input channel
        (:func:`~.models.add_centre_channel`); ``None`` keeps the architecture options (``model_kwargs``,
        the ``init`` weights' or :data:`DEFAULT_KWARGS`). With ``init`` weights that lack it, the new
        channel's weights start at zero, so the run starts from exactly the ``init`` model.
    resume : bool or path, optional
        ``True`` resumes from ``out_path + ".ckpt"`` when it exists; a path resumes from that file.
    cancel : CancelToken, optional
        Checked between batches; the last finished epoch stays in the checkpoint.
    model_kwargs : dict, optional
        Architecture options (``base``, ``depth``, ...); those not given are the ``init`` weights' or
        :data:`DEFAULT_KWARGS`'. A resumed run takes its checkpoint's; options given (and ``coords``) must
        agree with them.
    scale : float
        Normalisation scale (``arcsinh(x / (scale * sigma))``).
    l1_lambda : float
        Weight of the L1 term of the cGAN generator (pix2pix: 100).
    memory_mb : float
        Keep the normalised samples in memory when they fit in this many MiB.
    num_threads : int, optional
        torch CPU threads during the run (default: torch's own, one per core); 1 lets two runs share two
        cores.
    augment : bool
        Random 90-degree turns and flips of the training samples (see the module docstring).
    schedule : {"cosine", "constant"}
        Learning rate over the epochs (see the module docstring).
    flux_weight : float
        Image models: weight of the flux term of the loss (see the module docstring); 0 turns it off.
    command : str, optional
        Command line recorded in the model card (default: this process's ``sys.argv``).
    """
    if name not in DEFAULT_KWARGS:
        raise OptionError(f"unknown model {name!r}; trainable models: {', '.join(DEFAULT_KWARGS)}")
    epochs, batch_size = integer(epochs, "epochs", low=1), integer(batch_size, "batch_size", low=1)
    patience = integer(patience, "patience", low=1)
    val_fraction = finite(val_fraction, "val_fraction", low=0, high=1, low_open=True, high_open=True)
    lr = finite(lr, "lr", low=0, high=10)  # 0 is allowed here (a run that only measures); the CLI wants > 0
    memory_mb = finite(memory_mb, "memory_mb", low=0)
    flux_weight = finite(flux_weight, "flux_weight", low=0)
    scale = finite(scale, "scale", low=0, low_open=True)
    l1_lambda = finite(l1_lambda, "l1_lambda", low=0)
    seed = integer(seed, "seed", low=0, high=2 ** 32 - 1)
    if num_threads is not None:
        num_threads = integer(num_threads, "num_threads", low=1, high=1024)
    if schedule not in ("cosine", "constant"):
        raise OptionError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    inputs = [data_path] if isinstance(data_path, (str, os.PathLike)) else list(data_path)
    check_output(out_path, "out_path", kind="file", inputs=[*inputs, init])
    if Path(out_path).exists():
        try:
            read_weights(out_path)
        except DataError:
            raise OutputError(f"{out_path}: exists and is not a weights file of this program; training "
                              f"would replace it. Choose another output") from None
    pick_device(device)  # an absent device fails now, not after reading the data
    init_state, start_kwargs = None, DEFAULT_KWARGS[name]
    if init is not None:
        if resume:
            raise ValueError("init starts a new run from weights; resume continues a checkpoint: not both")
        from .torch_deblender import load_weights

        init_model, init_card = load_weights(init)
        init_arch = init_card.get("architecture")
        if init_arch != name and {init_arch, name} != set(SHARED_BODY):
            raise DataError(f"{init}: holds a {init_arch!r} model, not {name!r}")
        init_state = (init_model.state_dict(), {"weights": Path(init).name, "command": init_card.get("command"),
                                                "architecture": init_arch,
                                                "epochs_run": len(init_card.get("history", [])),
                                                "metrics": init_card.get("metrics")})
        start_kwargs = init_card.get("kwargs", {})
        clash = {k: v for k, v in (model_kwargs or {}).items() if k in ("base", "depth") and k in start_kwargs
                 and start_kwargs[k] != v}
        if clash:   # the weights could not be loaded into another network's shape
            theirs = ", ".join(f"--{k} {start_kwargs[k]}" for k in clash)
            raise DataError(f"--init {Path(init).name}: its network has {theirs}; fine-tuning keeps the "
                            f"network's shape: drop {', '.join('--' + k for k in clash)}")
    given = dict(model_kwargs or {})
    if coords is not None:
        given["coords"] = bool(coords)
    kwargs = {**start_kwargs, **given}
    options = {"epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr),
               "val_fraction": float(val_fraction), "patience": int(patience), "seed": int(seed),
               "scale": float(scale), "l1_lambda": float(l1_lambda) if name == "cgan" else None,
               "augment": bool(augment), "schedule": schedule,
               "flux_weight": float(flux_weight) if name in IMAGE_MODELS else None}
    cmd = command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    paths = [produce_file(p) for p in ([data_path] if isinstance(data_path, (str, os.PathLike)) else data_path)]
    if not paths:
        raise ValueError("no training data given")
    return _train(name, paths, Path(out_path), (kwargs, given), options, device, resume, cancel,
                  memory_mb, num_threads, cmd, init_state)


def _resumed_kwargs(ck: dict[str, Any], src: Path, kwargs: dict[str, Any], given: dict[str, Any]
                    ) -> dict[str, Any]:
    """The architecture options of a resumed run: the checkpoint's, which those ``given`` must agree with."""
    saved = ck.get("kwargs")
    if saved is None:
        return kwargs
    if {**saved, **given} != dict(saved):
        raise DataError(f"{src}: the checkpoint's architecture options are {dict(saved)}, not {given}; "
                        "resume with the same options, or leave them out")
    return dict(saved)


#: Options a resumed run must keep: others would change, mid-run, the split (seed, val_fraction), the steps
#: (batch_size, lr, schedule), the loss (flux_weight), the inputs (scale, augment); epochs and patience may grow.
RUN_OPTIONS = ("lr", "seed", "val_fraction", "batch_size", "schedule", "flux_weight", "augment", "scale")


def _check_resumed_run(ck: dict[str, Any], src: Path, opt: dict[str, Any], hashes: list[str]) -> None:
    """Refuse to resume on other data or with other run options (the card would describe a run that never
    happened: epochs of one export or learning rate under another's name)."""
    saved = ck.get("data_hashes")
    if saved is not None and list(saved) != list(hashes):
        raise DataError(f"--resume: {src} was trained on other data; resume on the same export(s), or train anew "
                        f"without --resume")
    before = ck.get("options") or {}
    changed = [k for k in RUN_OPTIONS if k in before and before[k] != opt.get(k)]
    if changed:
        was = ", ".join(f"--{k} {before[k]}" for k in changed)
        raise DataError(f"--resume: {src} was trained with {was}; resume with the same options (or train anew "
                        f"without --resume)")


def _read_checkpoint(src: Path) -> dict[str, Any]:
    """A training checkpoint (``weights_only``); a foreign or broken file raises WeightsError."""
    import torch

    try:
        ck = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many kinds on foreign or broken files
        raise WeightsError(f"{src}: not a readable training checkpoint ({type(exc).__name__}: "
                           f"{one_line(exc, 120)})") from None
    needed = ("name", "epoch", "model", "optim", "rng", "torch_rng", "history", "best_val", "best_epoch",
              "best_state", "bad")
    if not isinstance(ck, dict) or any(k not in ck for k in needed):
        raise WeightsError(f"{src}: not a training checkpoint of this program")
    types = {"name": str, "epoch": int, "model": dict, "optim": dict, "history": list, "best_epoch": int,
             "bad": int, "best_val": float}
    wrong = [k for k, t in types.items() if not isinstance(ck[k], t) or isinstance(ck[k], bool)]
    if wrong or not (ck["best_state"] is None or isinstance(ck["best_state"], dict)):
        raise WeightsError(f"{src}: checkpoint field(s) {wrong or ['best_state']} have the wrong type")
    return ck


def _train(name: str, data_paths: list[Path], out_path: Path, arch: tuple[dict[str, Any], dict[str, Any]],
           opt: dict[str, Any], device: str, resume: Any, cancel: CancelToken | None, memory_mb: float,
           threads: int | None, cmd: str, init_state: Any = None) -> Job:
    import torch

    from .models import PatchDiscriminator, build_model, load_matching_state
    from ..torch_common import keep_replaced, pick_device, save_weights

    yield Progress(0, 0, f"{name}: reading {', '.join(export_label(p) for p in data_paths)}")
    data = open_training_data(data_paths, name, scale=opt["scale"], memory_mb=memory_mb)
    n_val = max(1, int(round(data.n * opt["val_fraction"])))
    if data.n - n_val < 1:
        raise DataError(f"{', '.join(map(str, data_paths))}: {data.n} blend(s) are too few to train with a "
                        "validation split")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(old_threads if threads is None else int(threads))
    try:
        torch.manual_seed(opt["seed"])
        rng = np.random.default_rng(opt["seed"])
        perm = rng.permutation(data.n)
        val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
        dev = pick_device(device)
        ckpt_path = out_path.with_name(out_path.name + ".ckpt")
        src = Path(resume) if resume not in (None, False, True) else ckpt_path if resume else None
        ck = _read_checkpoint(src) if src is not None and src.is_file() else None
        if ck is not None and ck["name"] != name:
            raise DataError(f"{src}: checkpoint of {ck['name']!r}, not {name!r}")
        kwargs = arch[0] if ck is None else _resumed_kwargs(ck, src, *arch)
        hashes = [data_hash(p) for p in data_paths]
        if ck is not None:
            _check_resumed_run(ck, src, opt, hashes)
            yield Progress(0, 0, f"{name}: resuming {src.name} after epoch {ck['epoch']}")
        elif resume:
            yield Progress(0, 0, f"{name}: no checkpoint {src.name}: training from the start")
        model = build_model(name, **kwargs)
        if init_state is not None:
            _, init_state[1]["not_loaded"] = load_matching_state(model, init_state[0])
            misfit = [k for k in init_state[1]["not_loaded"]   # the other U-Net's output layer may differ
                      if init_state[1]["architecture"] == name or not k.startswith("head.")]
            if misfit:
                raise DataError(f"init weights do not fit {name} {kwargs}: {misfit}")
        model = model.to(dev)
        optim = torch.optim.Adam(model.parameters(), lr=opt["lr"], betas=(0.5, 0.999) if name == "cgan" else (0.9, 0.999))
        disc = optim_d = None
        if name == "cgan":
            disc = PatchDiscriminator().to(dev)
            optim_d = torch.optim.Adam(disc.parameters(), lr=opt["lr"], betas=(0.5, 0.999))
        res = TrainResult(path=out_path)
        best_state, bad, start = None, 0, 1
        init_info = None if init_state is None else init_state[1]
        if ck is not None:
            try:
                model.load_state_dict(ck["model"])
                optim.load_state_dict(ck["optim"])
                if disc is not None:
                    disc.load_state_dict(ck["disc"])
                    optim_d.load_state_dict(ck["optim_d"])
                rng.bit_generator.state = ck["rng"]
                torch.set_rng_state(ck["torch_rng"])
            except (RuntimeError, TypeError, ValueError, KeyError) as exc:
                raise WeightsError(f"{src}: checkpoint does not fit this run ({one_line(exc, 160)})") from None
            init_info = ck.get("init")     # a resumed fine-tuning keeps the record of its start
            res.history, res.best_val_loss, res.best_epoch = ck["history"], ck["best_val"], ck["best_epoch"]
            best_state, bad, start = ck["best_state"], ck["bad"], ck["epoch"] + 1
        amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
        steps = (len(train_idx) + opt["batch_size"] - 1) // opt["batch_size"]
        fw = float(opt.get("flux_weight") or 0.0)
        total = opt["epochs"] * steps

        def tensors(idx: np.ndarray, train: bool = False) -> tuple[Any, Any, Any]:
            x, y, lf = data.batch(idx, with_flux=True)
            if train and opt.get("augment"):
                x, y = augment_batch(x, y, rng)
            return torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev), torch.from_numpy(lf).to(dev)

        for epoch in range(start, opt["epochs"] + 1):
            if bad >= opt["patience"]:
                res.stopped_early = True
                break
            rate = epoch_lr(opt["lr"], epoch, opt["epochs"], opt.get("schedule", "constant"))
            for o in (optim, optim_d):
                for group in o.param_groups if o is not None else ():
                    group["lr"] = rate
            model.train()
            if disc is not None:
                disc.train()
            order = rng.permutation(train_idx)
            tr_sum, tr_n = 0.0, 0
            for s in range(steps):
                check_cancel(cancel)
                idx = order[s * opt["batch_size"]:(s + 1) * opt["batch_size"]]
                x, y, lf = tensors(idx, train=True)
                loss = train_step(name, model, disc, optim, optim_d, x, y, amp=amp,
                                  l1_lambda=opt["l1_lambda"], log_flux=lf, flux_weight=fw)
                value = loss.item()
                if not math.isfinite(value):
                    ckpt_path.unlink(missing_ok=True)  # its weights are the diverged ones
                    raise TrainingError(f"training diverged at epoch {epoch} (loss {value}); no weights were "
                                        f"written to {out_path}. Lower --lr (now {opt['lr']:g})")
                tr_sum += value * len(idx)
                tr_n += len(idx)
                yield Progress((epoch - 1) * steps + s + 1, total, f"{name} epoch {epoch}/{opt['epochs']}")
            model.eval()
            v_sum, mets = 0.0, []
            with torch.inference_mode():
                for a in range(0, n_val, opt["batch_size"]):
                    idx = val_idx[a:a + opt["batch_size"]]
                    x, y, lf = tensors(idx)
                    with torch.autocast(**amp):
                        pred = model(x).float()
                    v_sum += float(_task_loss(name, pred, y, lf, fw)) * len(idx)
                    mets.append((len(idx), _metrics(name, pred, y, lf if fw else None)))
            val = v_sum / n_val
            row = {"epoch": epoch, "train_loss": tr_sum / max(tr_n, 1), "val_loss": val}
            for key in mets[0][1]:
                row[f"val_{key}"] = sum(k * m[key] for k, m in mets) / n_val
            res.history.append(row)
            if val < res.best_val_loss:
                res.best_val_loss, res.best_epoch, bad = val, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
            ck = {"name": name, "epoch": epoch, "model": model.state_dict(), "optim": optim.state_dict(),
                  "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "history": res.history,
                  "best_val": res.best_val_loss, "best_epoch": res.best_epoch, "best_state": best_state,
                  "bad": bad, "options": opt, "kwargs": kwargs, "init": init_info, "data_hashes": hashes}
            if disc is not None:
                ck.update(disc=disc.state_dict(), optim_d=optim_d.state_dict())
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(ckpt_path)
            try:
                torch.save(ck, tmp)
                os.replace(tmp, ckpt_path)
            finally:
                tmp.unlink(missing_ok=True)
            msg = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
            yield Progress(epoch * steps, total, f"{name} epoch {epoch}/{opt['epochs']}: {msg}")
        res.epochs_run = res.history[-1]["epoch"] if res.history else 0
        if best_state is not None:
            model.load_state_dict(best_state)
        best = next((r for r in res.history if r["epoch"] == res.best_epoch), {})
        res.card = {"architecture": name, "kwargs": kwargs,
                    "normalisation": {"kind": "asinh", "scale": opt["scale"], "sigma": "1.4826 MAD per blend"},
                    "data_hash": hashes[0] if len(hashes) == 1 else hashes,
                    "data_file": ",".join(export_label(p) for p in data_paths), "data_group": data.group,
                    "n_train": int(len(train_idx)), "n_val": int(n_val),
                    "options": opt, "metrics": best, "history": res.history, "command": cmd,
                    "device": str(dev), "n_parameters": sum(p.numel() for p in model.parameters()),
                    "init": init_info}
        model = model.cpu()
        bad_tensors = [k for k, v in model.state_dict().items()
                       if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad_tensors or not math.isfinite(res.best_val_loss):
            ckpt_path.unlink(missing_ok=True)
            raise TrainingError(f"training diverged (validation loss {res.best_val_loss}); no weights were "
                                f"written to {out_path}. Lower --lr (now {opt['lr']:g})")
        res.replaced = keep_replaced(out_path)   # nothing lost: the weights this run replaces stay beside it
        save_weights(out_path, model, res.card)
        return res
    finally:
        torch.set_num_threads(old_threads)
