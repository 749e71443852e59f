"""The spatial GAN's networks (PyTorch; this module imports torch at the top, and nothing imports it until
a field is trained or generated).

Generator (fully convolutional, Jetchev et al. 2016): spatial noise ``z`` of ``nz`` channels on a coarse
grid -> a 3x3 convolution -> ``len(channels) - 1`` stages of a nearest-neighbour up-sampling by 2 and a 3x3
convolution (no transposed convolutions: they print a checkerboard, Odena et al. 2016), with noise maps of that resolution added per channel (scaled by learned weights,
as StyleGAN does; they give the pixel-scale texture of sky noise that the coarse grid cannot) -> a 3x3
convolution to the bands, ``tanh``. Leaky ReLUs, pixel norm on the coarse stages (a per-pixel operation:
the output at a pixel depends only on the noise within the receptive field, which is what tessellation
needs). No batch norm: training and generation compute the same function.

Discriminator (fully convolutional): a 3x3 convolution at full resolution (so pixel-scale texture is seen
before any down-sampling), then stride-2 4x4 convolutions with spectral norm and leaky ReLUs, then a
3x3 convolution to a *map* of real/fake logits, one per 8x8 pixels; the relativistic average loss (RaGAN,
Jolicoeur-Martineau 2018, as Smith & Geach 2019 use) is taken over every position of the map.
"""

from __future__ import annotations

from math import ceil
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SGANGenerator", "SGANDiscriminator", "build_generator", "build_discriminator", "ARCHITECTURE",
           "DEFAULT_KWARGS", "ragan_losses", "count_parameters"]

#: The name in the model card.
ARCHITECTURE = "sgan"
DEFAULT_KWARGS: dict[str, Any] = {"nz": 16, "channels": [96, 48, 16, 8], "bands": 1, "disc_channels": [16, 32, 64],
                                  "disc_pool": False}


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class SGANGenerator(nn.Module):
    """Spatial noise (B, nz, h, w) + noise maps -> field (B, bands, h * 2**L, w * 2**L) in [-1, 1].

    Parameters
    ----------
    nz : int
        Noise channels of the coarse grid.
    channels : sequence of int
        Feature channels of the coarse stage and of each finer one (``L = len(channels) - 1`` doublings).
    bands : int
        Output bands.
    """

    def __init__(self, nz: int = 16, channels: Sequence[int] = (96, 48, 16, 8), bands: int = 1,
                 **_: Any) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        if len(ch) < 2 or min(ch) < 1 or int(nz) < 1 or int(bands) < 1:
            raise ValueError(f"bad SGAN generator sizes: nz {nz}, channels {channels}, bands {bands}")
        self.nz, self.channels, self.bands = int(nz), ch, int(bands)
        self.inp = nn.Conv2d(self.nz, ch[0], 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(len(ch) - 1))
        self.noise_weight = nn.ParameterList(nn.Parameter(torch.full((1, ch[i + 1], 1, 1), 0.1))
                                             for i in range(len(ch) - 1))
        self.out = nn.Conv2d(ch[-1], self.bands, 3, padding=1)

    @property
    def levels(self) -> int:
        """Number of doublings L (the output is ``2**L`` times the noise grid)."""
        return len(self.ups)

    @property
    def factor(self) -> int:
        return 2 ** self.levels

    def noise_channels(self) -> list[int]:
        """Channels of the noise at each level: ``[nz, 1, 1, ...]``."""
        return [self.nz] + [1] * self.levels

    def receptive_radius(self) -> int:
        """How far (output pixels) from a pixel the noise that changes it can lie, at most: one coarse cell for
        the input 3x3 convolution; for each stage, one cell of the coarser level (the nearest-neighbour
        up-sampling) and one of the finer (its 3x3 convolution); one pixel for the output convolution."""
        return self.factor + sum(self.factor // 2 ** i + self.factor // 2 ** (i + 1) for i in range(self.levels)) + 1

    def margin_cells(self) -> int:
        """Coarse cells of context a tile needs on each side so that its centre is exact."""
        return int(ceil(self.receptive_radius() / self.factor))

    def forward(self, z: torch.Tensor, noises: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(noises) != self.levels:
            raise ValueError(f"the generator needs {self.levels} noise maps, got {len(noises)}")
        x = _pixel_norm(F.leaky_relu(self.inp(z), 0.2))
        for i, (up, w, n) in enumerate(zip(self.ups, self.noise_weight, noises)):
            x = up(F.interpolate(x, scale_factor=2, mode="nearest")) + w * n
            x = F.leaky_relu(x, 0.2)
            if i < self.levels - 1:
                x = _pixel_norm(x)
        return torch.tanh(self.out(x))


class SGANDiscriminator(nn.Module):
    """Field (B, bands, H, W) -> real/fake logits (B, 1, H/8, W/8), or their mean (B, 1, 1, 1) with ``pool``
    (one verdict per patch, as Smith & Geach's global average pooling: a patch is judged on the whole of it)."""

    def __init__(self, bands: int = 1, disc_channels: Sequence[int] = (16, 32, 64), pool: bool = False,
                 **_: Any) -> None:
        super().__init__()
        self.pool = bool(pool)
        sn = nn.utils.spectral_norm
        first = int(disc_channels[0])
        layers: list[nn.Module] = [sn(nn.Conv2d(int(bands), first, 3, padding=1)), nn.LeakyReLU(0.2)]
        prev = first
        for c in disc_channels:
            layers += [sn(nn.Conv2d(prev, int(c), 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            prev = int(c)
        layers.append(sn(nn.Conv2d(prev, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.mean(dim=(2, 3), keepdim=True) if self.pool else out


def build_generator(kwargs: dict[str, Any] | None = None) -> SGANGenerator:
    """A generator from model-card options (missing ones take :data:`DEFAULT_KWARGS`)."""
    kw = {**DEFAULT_KWARGS, **(kwargs or {})}
    return SGANGenerator(nz=kw["nz"], channels=kw["channels"], bands=kw["bands"])


def build_discriminator(kwargs: dict[str, Any] | None = None) -> SGANDiscriminator:
    """A discriminator from model-card options."""
    kw = {**DEFAULT_KWARGS, **(kwargs or {})}
    return SGANDiscriminator(bands=kw["bands"], disc_channels=kw["disc_channels"], pool=bool(kw.get("disc_pool")))


def ragan_losses(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Relativistic average GAN losses ``(discriminator, generator)`` over every position of the logit maps."""
    r = real_logits - fake_logits.mean()
    f = fake_logits - real_logits.mean()
    ones, zeros = torch.ones_like(r), torch.zeros_like(f)
    d_loss = F.binary_cross_entropy_with_logits(r, ones) + F.binary_cross_entropy_with_logits(f, zeros)
    g_loss = F.binary_cross_entropy_with_logits(f, ones) + F.binary_cross_entropy_with_logits(r, zeros)
    return d_loss, g_loss


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
