"""The morphology CNN (``morph-cnn``): a small convolutional classifier, torch imported inside the functions.

Four convolutional blocks then a two-layer head::

    block 0  5x5 conv, stride 2, base channels            64 -> 32 px
    block 1  3x3 conv, 2 base, max-pool                   32 -> 16 px
    block 2  two 3x3 convs, 3 base, max-pool              16 -> 8 px
    block 3  two 3x3 convs, 4 base                        8 px
    head     [global mean, global max] -> 4 base -> K classes (logits)

Every convolution is followed by batch normalisation and a ReLU. ``freeze=N`` (fine-tuning) keeps the
weights and batch statistics of blocks ``0 .. N-1`` fixed. For inference the batch normalisations are
folded into the convolutions (:func:`fold_batchnorm`): the same outputs, a third faster on a CPU.
With ``base=16``: 85,718 parameters (0.35 MB).
"""

from __future__ import annotations

from typing import Any

from .preprocess import N_CHANNELS

__all__ = ["ARCHITECTURE", "DEFAULT_KWARGS", "N_BLOCKS", "build_network", "fold_batchnorm", "freeze_blocks"]

#: Registry name written in the model card.
ARCHITECTURE = "morph-cnn"
#: Network options and their defaults.
DEFAULT_KWARGS = {"base": 16, "n_classes": 6, "in_channels": N_CHANNELS}
#: Convolutional blocks (what ``freeze`` counts).
N_BLOCKS = 4


def build_network(base: int = 16, n_classes: int = 6, in_channels: int = N_CHANNELS) -> Any:
    """A fresh ``torch.nn.Module``: input (B, in_channels, 64, 64), output (B, n_classes) logits."""
    import torch
    from torch import nn

    def conv(i: int, o: int, k: int = 3, s: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=False), nn.BatchNorm2d(o),
                nn.ReLU(inplace=True)]

    b = int(base)

    class MorphCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([
                nn.Sequential(*conv(in_channels, b, 5, 2)),
                nn.Sequential(*conv(b, 2 * b), nn.MaxPool2d(2)),
                nn.Sequential(*conv(2 * b, 3 * b), *conv(3 * b, 3 * b), nn.MaxPool2d(2)),
                nn.Sequential(*conv(3 * b, 4 * b), *conv(4 * b, 4 * b)),
            ])
            self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8 * b, 4 * b), nn.ReLU(inplace=True),
                                      nn.Linear(4 * b, n_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for blk in self.blocks:
                x = blk(x)
            pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
            return self.head(pooled)

    return MorphCNN()


def freeze_blocks(model: Any, n: int) -> None:
    """Fix the weights and batch statistics of the first ``n`` blocks (call again after ``model.train()``)."""
    if not 0 <= n <= N_BLOCKS:
        raise ValueError(f"--freeze must be 0 to {N_BLOCKS} (the convolutional blocks), got {n}")
    for i, blk in enumerate(model.blocks):
        frozen = i < n
        for p in blk.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            blk.eval()


def fold_batchnorm(model: Any) -> Any:
    """An inference copy of ``model`` with every BatchNorm folded into the convolution before it."""
    import copy

    import torch
    from torch import nn

    model = copy.deepcopy(model).eval()
    for seq in model.blocks:
        layers = list(seq)
        out: list[nn.Module] = []
        i = 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d):
                bn = layers[i + 1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                  layer.padding, bias=True)
                with torch.no_grad():
                    fused.weight.copy_(layer.weight * scale[:, None, None, None])
                    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
                    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
                out.append(fused)
                i += 2
            else:
                out.append(layer)
                i += 1
        seq._modules.clear()
        for k, m in enumerate(out):
            seq.add_module(str(k), m)
    return model
