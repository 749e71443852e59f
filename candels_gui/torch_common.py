"""Torch plumbing every model family shares: device choice, weights files and their model cards.

The deblenders (:mod:`candels_gui.deblend`) and any other family of networks use this one module, so that
a weights file is written, read and checked the same way everywhere. torch is imported inside the functions:
importing this module costs nothing.

A weights file (``.pt``) holds ``{"state_dict": ..., "card": {...}}``. The *model card* is a plain dict with
at least ``architecture`` (the registry name of the network) and ``kwargs`` (its options); this module adds
``format_version``, ``torch_version`` and ``created_utc`` on writing.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import shutil
from pathlib import Path
from typing import Any

from .core.atomic import remove_stale_temps, temp_path
from .core.errors import (DataError, DeviceError, NonFiniteError, OutputError, TrainingError, WeightsError,
                          one_line)

__all__ = ["CARD_VERSION", "pick_device", "device_label", "weights_path", "save_weights", "keep_replaced", "prev_weights_path", "read_weights",
           "check_card"]

#: Version of the model card this program writes (and the newest it reads).
CARD_VERSION = 1


def pick_device(device: str = "auto") -> Any:
    """``torch.device``: ``"auto"`` = CUDA, then MPS, then CPU; anything else must name a device this
    machine has.

    Raises
    ------
    DeviceError
        For a name torch does not know, or a device that is absent (``cuda`` on a machine without a CUDA
        GPU or with a CPU-only torch, ``cuda:7`` with fewer GPUs, ``mps`` off Apple silicon).

    Examples
    --------
    >>> str(pick_device("cpu"))
    'cpu'
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, str) or not device.strip():
        raise DeviceError("--device: empty device name; use auto, cpu, cuda, cuda:N or mps")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"--device {device!r}: not a torch device; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device}: this machine has no usable CUDA GPU (torch "
                              f"{torch.__version__}); use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here "
                              f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"--device {device}: MPS (Apple silicon) is not available here; use cpu or auto")
    elif dev.type != "cpu":
        raise DeviceError(f"--device {device}: device type {dev.type!r} is not supported; use auto, cpu, cuda or mps")
    return dev


def device_label(device: Any) -> str:
    """Human label of a torch device: ``"cpu"``, ``"mps"``, ``"cuda:NVIDIA H100 ..."``."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return dev.type


def weights_path(name: str) -> Path:
    """Where the shipped weights of model ``name`` live: ``models_dir() / f"{name}.pt"``."""
    from .paths import models_dir

    return models_dir() / f"{name}.pt"


def prev_weights_path(path: str | os.PathLike) -> Path:
    """Where :func:`keep_replaced` keeps the weights file a run replaces: ``NAME.prev.pt`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def keep_replaced(path: str | os.PathLike) -> Path | None:
    """Before weights are written over ``path``: keep the file there as ``NAME.prev.pt`` (the one before), and,
    the first time a shipped file (in :func:`~candels_gui.paths.models_dir`) is replaced, as ``NAME.shipped.pt``
    too, which no later run overwrites (two trainings in a row would otherwise leave no copy of the shipped
    weights). Returns the ``.prev.pt`` path, or ``None`` when there was no file."""
    from .paths import models_dir

    path = Path(path)
    if not path.is_file():
        return None
    shipped = path.with_name(f"{path.stem}.shipped{path.suffix}")
    try:
        in_models = path.resolve().parent == models_dir().resolve()
    except OSError:
        in_models = False
    if in_models and not shipped.exists() and ".prev" not in path.stem:
        shutil.copy2(path, shipped)
    prev = prev_weights_path(path)
    shutil.copy2(path, prev)       # a copy: the file stays in place until the new one is renamed over it
    return prev


def save_weights(path: str | os.PathLike, model: Any, card: dict[str, Any]) -> Path:
    """Write ``{"state_dict", "card"}`` to ``path`` atomically: a temporary file, read back and checked
    (:func:`read_weights`: loadable, finite), then renamed over ``path``.

    Raises
    ------
    TrainingError
        When the weights are not all finite (a diverged training): nothing is written.
    """
    import torch

    path = Path(path)
    card = {"format_version": CARD_VERSION, "torch_version": str(torch.__version__),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **card}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise TrainingError(f"the weights hold NaN or infinite values ({len(bad)} tensor(s), e.g. {bad[0]}): "
                            f"training diverged; nothing was written to {path} (try a lower --lr)")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = temp_path(path)
    try:
        try:
            torch.save({"state_dict": state, "card": card}, tmp)
        except (OSError, RuntimeError) as exc:     # torch's writer reports a full disk as a RuntimeError
            free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
            raise OutputError(f"{path}: could not write the weights ({free / 1e6:.1f} MB free there; a full disk?): "
                              f"{one_line(exc, 120)}") from None
        read_weights(tmp)  # what is about to replace `path` loads back and is finite
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_card(card: Any, source: str | os.PathLike) -> dict[str, Any]:
    """Check a model card against its schema; returns it as a dict.

    ``architecture`` text; ``kwargs`` an object of text keys to whole numbers (1 to 4096), true/false,
    finite numbers or lists of up to 64 of them; ``normalisation`` an object with ``kind`` "asinh" and a finite ``scale`` > 0;
    ``format_version`` a whole number no newer than :data:`CARD_VERSION`.

    Raises
    ------
    WeightsError
        Naming the field and what was expected.
    """
    if not isinstance(card, dict):
        raise WeightsError(f"{source}: the model card is a {type(card).__name__}, expected an object")
    version = card.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise WeightsError(f"{source}: model card 'format_version' is {version!r}, expected a whole number")
    if version > CARD_VERSION:
        raise WeightsError(f"{source}: model card version {version} is newer than this program reads "
                           f"({CARD_VERSION}); update candels-gui")
    arch = card.get("architecture")
    if not isinstance(arch, str) or not arch:
        raise WeightsError(f"{source}: model card 'architecture' is {arch!r}, expected a model name")
    kwargs = card.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise WeightsError(f"{source}: model card 'kwargs' is {kwargs!r}, expected an object")
    def scalar_ok(value: Any) -> bool:
        return isinstance(value, bool) or (isinstance(value, int) and 1 <= value <= 4096) \
            or (isinstance(value, float) and math.isfinite(value))

    for key, value in kwargs.items():
        ok = isinstance(key, str) and (scalar_ok(value) or (
            isinstance(value, (list, tuple)) and 0 < len(value) <= 64 and all(scalar_ok(v) for v in value)))
        if not ok:
            raise WeightsError(f"{source}: model card 'kwargs' {key!r} is {value!r}, expected a whole number "
                               f"from 1 to 4096, true/false, a finite number or a short list of them")
    norm = card.get("normalisation", {"kind": "asinh", "scale": 1.0})
    if not isinstance(norm, dict) or norm.get("kind", "asinh") != "asinh":
        raise WeightsError(f"{source}: model card 'normalisation' is {norm!r}, expected {{'kind': 'asinh', "
                           f"'scale': number}}")
    scale = norm.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise WeightsError(f"{source}: model card normalisation scale is {scale!r}, expected a finite number > 0")
    return dict(card)


def _foreign_format(path: Path) -> str:
    """What ``path`` is when its first bytes show it is no torch file (zip or pickle); '' when it may be one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return ""  # torch.load then says why it cannot read it
    if not head:
        return "the file is empty"
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return ""
    from .core.store.signatures import FILE_SIGNATURES

    for magic, name in FILE_SIGNATURES:
        if head.startswith(magic):
            return f"it is {name}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its first bytes are neither a zip archive nor a pickle"
    return "it is a text file"


def read_weights(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a weights file without building a network: returns ``(state_dict, card)``.

    Loaded with ``weights_only=True`` (no code in the file runs); the card is checked against its schema
    (:func:`check_card`) and every tensor must be finite.

    Raises
    ------
    WeightsError
        When the file cannot be read or is not a candels-gui weights file, its card is not valid or newer
        than this program reads, or its tensors are not finite.
    """
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, not a weights file")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    foreign = _foreign_format(path)
    if foreign:
        raise WeightsError(f"{path}: not a torch weights file ({foreign}); weights are the .pt files that "
                           f"train writes")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise WeightsError(f"{path}: holds Python objects other than tensors (a pickled model or code); "
                               f"refused, since loading it could run code: save a state_dict instead") from None
        raise WeightsError(f"{path}: not a torch weights file (corrupt, truncated or another format)") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many kinds on foreign or broken files
        if isinstance(exc, (RuntimeError, EOFError)) and ("PytorchStreamReader" in str(exc) or "zip" in str(exc)
                                                          or isinstance(exc, EOFError)):
            raise WeightsError(f"{path}: not a torch weights file (corrupt, truncated or another format)") from None
        raise WeightsError(f"{path}: not a readable torch weights file ({type(exc).__name__}: "
                           f"{one_line(exc, 160)})") from None
    if not isinstance(blob, dict) or "state_dict" not in blob or "card" not in blob:
        raise WeightsError(f"{path}: not a candels-gui weights file (needs 'state_dict' and 'card'; "
                           f"found {sorted(map(str, blob))[:6] if isinstance(blob, dict) else type(blob).__name__})")
    card = check_card(blob["card"], path)
    state = blob["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise WeightsError(f"{path}: 'state_dict' is not a mapping of names to tensors")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise NonFiniteError(f"{path}: weights hold NaN or infinite values ({len(bad)} tensor(s), e.g. "
                             f"{bad[0]}): a diverged training; retrain or use other weights")
    return state, card
