"""PyTorch deblending networks, small enough to train on a 2-core CPU (0.3-2 M parameters).

This module imports torch at the top: nothing in :mod:`candels_gui.deblend` imports it until a torch
deblender is made or a model is trained.

Input normalisation (all models)
--------------------------------
A blend ``x`` is divided by ``scale * sigma`` and passed through ``arcsinh``::

    z = arcsinh(x / (scale * sigma)),     x = scale * sigma * sinh(z)

where ``sigma`` is a robust noise estimate of that blend (1.4826 x the median absolute deviation,
:func:`~candels_gui.deblend.base.robust_sigma`, or the noise level the caller gives). Faint pixels stay
linear (in units of the noise), bright cores are compressed logarithmically, and the map is exactly
invertible. Image targets (the isolated galaxies) are normalised with *their blend's* sigma, so predicted
images come back in counts through the inverse. ``blend2flux`` predicts ``log(flux / (scale * sigma))``
for the same reason: the network only sees the image in noise units.

Models
------
``UNetSeg``        (B,1,H,W) -> (B,3,H,W) logits of ogg_masks [overlap, central, companion]
``UNetDeblend``    (B,1,H,W) -> (B,2,H,W) normalised isolated images [central, companion]
``CGANGenerator``  pix2pix-style U-Net generator, (B,1,H,W) -> (B,2,H,W)
``PatchDiscriminator``  conditional PatchGAN: (blend, 2 images) -> (B,1,h,w) real/fake logits
``Blend2Flux``     (B,1,H,W) -> (B,2) normalised log fluxes
Any H, W works: the U-Nets pad to a multiple of their down-sampling factor and crop back.

Every model takes ``coords=True`` (an architecture option, recorded in the model card): a second input
channel holds each pixel's distance from the stamp centre (:func:`add_centre_channel`). Convolutions cannot
tell where they are, and a network without the channel has only the zero padding at the stamp's edges to
tell the central galaxy from its companion; :func:`load_matching_state` starts such a model from weights
without the channel (its weights at zero: the same function).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNetSeg", "UNetDeblend", "CGANGenerator", "PatchDiscriminator", "Blend2Flux",
           "ARCHITECTURES", "build_model", "asinh_normalise", "asinh_denormalise", "count_parameters",
           "add_centre_channel", "load_matching_state"]


# ------------------------------------------------------------------------------------ normalisation
def asinh_normalise(x: np.ndarray, sigma: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``arcsinh(x / (scale * sigma))`` with one ``sigma`` per blend (broadcast over trailing axes).

    Examples
    --------
    >>> z = asinh_normalise(np.array([[3.0]]), np.array([1.0]))
    >>> round(float(asinh_denormalise(z, np.array([1.0]))[0, 0]), 5)
    3.0
    """
    s = (scale * np.asarray(sigma, np.float64)).reshape((-1,) + (1,) * (np.ndim(x) - 1))
    return np.arcsinh(np.asarray(x, np.float64) / s).astype(np.float32)


def asinh_denormalise(z: np.ndarray, sigma: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Inverse of :func:`asinh_normalise`: ``scale * sigma * sinh(z)``."""
    s = (scale * np.asarray(sigma, np.float64)).reshape((-1,) + (1,) * (np.ndim(z) - 1))
    return (np.sinh(np.asarray(z, np.float64)) * s).astype(np.float32)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------------------- U-Nets
def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def add_centre_channel(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B,C,H,W) with one more channel: each pixel's distance from the stamp centre ``(W//2, H//2)``
    (where the central galaxy sits), in units of half the stamp size.

    Convolutions are blind to where they are; this channel tells the network which galaxy is the central
    one, so it can put each galaxy in its own output (CoordConv, Liu et al. 2018).

    Examples
    --------
    >>> add_centre_channel(torch.zeros(1, 1, 4, 4))[0, 1, 2, 2].item()
    0.0
    """
    b, _, h, w = x.shape
    yy = (torch.arange(h, device=x.device, dtype=x.dtype) - h // 2)[:, None]
    xx = (torch.arange(w, device=x.device, dtype=x.dtype) - w // 2)[None, :]
    r = torch.sqrt(xx * xx + yy * yy) / (max(h, w) / 2)
    return torch.cat([x, r.expand(b, 1, h, w)], dim=1)


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _UNet(nn.Module):
    """Plain U-Net: ``depth`` max-pool stages of doubled width, transposed-conv up-sampling, skips."""

    def __init__(self, out_channels: int, *, in_channels: int = 1, base: int = 16, depth: int = 3,
                 coords: bool = False) -> None:
        super().__init__()
        if depth < 1 or base < 1:
            raise ValueError(f"depth and base must be >= 1, got {depth}, {base}")
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.depth, self.coords = depth, bool(coords)
        in_channels += int(self.coords)
        self.down = nn.ModuleList([_DoubleConv(in_channels, widths[0])] +
                                  [_DoubleConv(widths[i], widths[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coords:
            x = add_centre_channel(x)
        x, (h, w) = _pad_to(x, 2 ** self.depth)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)[..., :h, :w]


class UNetSeg(_UNet):
    """U-Net to ogg_masks logits: (B,1,H,W) -> (B,3,H,W) = [overlap, central, companion]."""

    def __init__(self, *, base: int = 16, depth: int = 3, coords: bool = False) -> None:
        super().__init__(3, base=base, depth=depth, coords=coords)


class UNetDeblend(_UNet):
    """U-Net image deblender: (B,1,H,W) -> (B,2,H,W) normalised [central, companion] images."""

    def __init__(self, *, base: int = 16, depth: int = 3, coords: bool = False) -> None:
        super().__init__(2, base=base, depth=depth, coords=coords)


# ------------------------------------------------------------------------------------------ cGAN
class CGANGenerator(nn.Module):
    """pix2pix-style U-Net generator: ``depth`` stride-2 4x4 convolutions down (LeakyReLU, BatchNorm),
    transposed convolutions up (ReLU, BatchNorm, dropout in the deepest ``n_dropout`` stages), skips;
    linear output (normalised images are not bounded, so no tanh)."""

    def __init__(self, *, base: int = 32, depth: int = 4, out_channels: int = 2, dropout: float = 0.5,
                 n_dropout: int = 1, coords: bool = False) -> None:
        super().__init__()
        if depth < 2 or base < 1:   # one stage has no decoder for the output layer to follow
            raise ValueError(f"cgan needs --depth 2 or more and --base 1 or more, got depth {depth}, base {base}")
        w = [min(base * 2 ** i, base * 8) for i in range(depth)]
        self.depth, self.coords = depth, bool(coords)
        self.enc = nn.ModuleList()
        for i in range(depth):
            cin = 1 + int(self.coords) if i == 0 else w[i - 1]
            layers: list[nn.Module] = [nn.Conv2d(cin, w[i], 4, stride=2, padding=1, bias=i == 0)]
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(w[i]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            self.enc.append(nn.Sequential(*layers))
        self.dec = nn.ModuleList()
        for j, i in enumerate(reversed(range(1, depth))):
            cin = w[i] if j == 0 else 2 * w[i]
            layers = [nn.ConvTranspose2d(cin, w[i - 1], 4, stride=2, padding=1, bias=False),
                      nn.BatchNorm2d(w[i - 1]), nn.ReLU(inplace=True)]
            if j < n_dropout and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.dec.append(nn.Sequential(*layers))
        self.out = nn.ConvTranspose2d(2 * w[0], out_channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coords:
            x = add_centre_channel(x)
        x, (h, w) = _pad_to(x, 2 ** self.depth)
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.dec:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return self.out(x)[..., :h, :w]


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN (pix2pix / Hemmati et al.): 5 convolutions on [blend, 2 images] -> logits map.

    Three stride-2 4x4 convolutions (LeakyReLU 0.2, BatchNorm after the first), one stride-1, and a
    1-channel stride-1 output: one real/fake logit per overlapping patch (70x70-like receptive field).
    """

    def __init__(self, *, base: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        c = [base, base * 2, base * 4, base * 8]
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c[0], c[1], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c[1]),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c[1], c[2], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c[2]),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c[2], c[3], 4, stride=1, padding=1, bias=False), nn.BatchNorm2d(c[3]),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c[3], 1, 4, stride=1, padding=1))

    def forward(self, blend: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([blend, images], dim=1))


# ------------------------------------------------------------------------------------- regressor
class Blend2Flux(nn.Module):
    """Convolutional regressor: (B,1,H,W) -> (B,2) normalised log fluxes [central, companion].

    ``depth`` stages of two 3x3 conv + BatchNorm + ReLU and a 2x2 max-pool, global average and max
    pooling, and a two-layer head.
    """

    def __init__(self, *, base: int = 16, depth: int = 4, hidden: int = 128, coords: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        self.coords = bool(coords)
        cin = 1 + int(self.coords)
        for i in range(depth):
            cout = base * 2 ** i
            layers += [_DoubleConv(cin, cout), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(add_centre_channel(x) if self.coords else x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def load_matching_state(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load ``state`` into ``model`` where the tensors fit.

    A convolution weight of the model with more input channels than the state's (a model with
    :func:`add_centre_channel`, from weights without it) gets the state's weights for the first channels
    and zeros for the new ones, so the model starts computing exactly what the state's model did. A
    tensor of another shape (the output layer of another model with the same body, as ``unet-seg``'s
    three mask channels for ``unet-deblend``'s two images) keeps the model's own initial values.

    Returns
    -------
    (widened, skipped) : (list of str, list of str)
        Names of the tensors widened, and of those left at their initial values.
    """
    own = model.state_dict()
    widened, skipped, merged = [], [], dict(own)
    for key, target in own.items():
        value = state.get(key)
        if value is None or value.ndim != target.ndim:
            skipped.append(key)
        elif value.shape == target.shape:
            merged[key] = value
        elif (value.ndim == 4 and target.shape[1] > value.shape[1] and target.shape[0] == value.shape[0]
              and target.shape[2:] == value.shape[2:]):
            grown = torch.zeros_like(target)
            grown[:, :value.shape[1]] = value
            merged[key] = grown
            widened.append(key)
        else:
            skipped.append(key)
    model.load_state_dict(merged)
    return widened, skipped


#: Registry name -> model class (the cGAN's generator; its discriminator is only used in training).
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet-seg": UNetSeg, "unet-deblend": UNetDeblend, "cgan": CGANGenerator, "blend2flux": Blend2Flux,
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Make the network of registry name ``name`` with architecture options ``kwargs``.

    Examples
    --------
    >>> build_model("unet-seg", base=8)(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
    """
    try:
        cls = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(ARCHITECTURES)}") from None
    return cls(**kwargs)
