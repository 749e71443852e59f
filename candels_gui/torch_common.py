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
import os
from pathlib import Path
from typing import Any

from .core.errors import DataError

__all__ = ["CARD_VERSION", "pick_device", "device_label", "weights_path", "save_weights", "read_weights"]

#: Version of the model card this program writes (and the newest it reads).
CARD_VERSION = 1


def pick_device(device: str = "auto") -> Any:
    """``torch.device``: ``"auto"`` = CUDA, then MPS, then CPU; anything else is passed to torch.

    Examples
    --------
    >>> str(pick_device("cpu"))
    'cpu'
    """
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def save_weights(path: str | os.PathLike, model: Any, card: dict[str, Any]) -> Path:
    """Write ``{"state_dict", "card"}`` to ``path`` atomically (temporary name, then rename)."""
    import torch

    path = Path(path)
    card = {"format_version": CARD_VERSION, "torch_version": str(torch.__version__),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **card}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "card": card}, tmp)
    os.replace(tmp, path)
    return path


def read_weights(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a weights file without building a network: returns ``(state_dict, card)``.

    Loaded with ``weights_only=True`` (no code in the file runs).

    Raises
    ------
    DataError
        When the file cannot be read or is not a candels-gui weights file, or its card is newer than this
        program reads.
    """
    import pickle

    import torch

    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: cannot read torch weights ({exc})") from exc
    if not isinstance(blob, dict) or "state_dict" not in blob or "card" not in blob:
        raise DataError(f"{path}: not a candels-gui weights file (needs 'state_dict' and 'card')")
    card = dict(blob["card"])
    if int(card.get("format_version", 0)) > CARD_VERSION:
        raise DataError(f"{path}: model card version {card['format_version']} is newer than this "
                        f"program reads ({CARD_VERSION})")
    return blob["state_dict"], card
