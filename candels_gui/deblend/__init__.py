"""Deblenders: one interface (:mod:`.base`), classical baselines (:mod:`.classical`), PyTorch models.

Results files: :mod:`.results_io` (HDF5) and :mod:`.results_zarr` (Zarr, written by partitions);
:mod:`.distributed` builds deblenders on the workers of a Dask cluster (``deblend --scheduler``).

Importing this package imports neither torch, JAX, photutils nor sep: the torch deblenders are listed by
:func:`available` even when torch or their weights are missing, and :func:`get` imports what it needs.

Examples
--------
>>> from candels_gui.deblend import available, get
>>> available()[:2]
['photutils', 'sep']
"""

from __future__ import annotations

from typing import Any

from .base import (DeblendResult, Deblender, available, describe, descriptions, get, register)

__all__ = ["DeblendResult", "Deblender", "available", "describe", "descriptions", "get", "register",
           "TORCH_MODELS"]

#: Registry name -> description of the torch models (weights: ``models_dir() / f"{name}.pt"``).
TORCH_MODELS = {
    "unet-seg": "U-Net segmentation to ogg_masks [overlap, central, companion] (BCE + Jaccard); "
                "flux split by the predicted footprints",
    "unet-deblend": "U-Net predicting the two isolated galaxies; the blend shared in proportion to them, fluxes summed over "
                    "footprints grown by 4 px",
    "cgan": "conditional GAN (pix2pix U-Net generator + PatchGAN, Hemmati-style) predicting the two "
            "isolated galaxies",
    "blend2flux": "convolutional regressor blend -> the two fluxes (log flux); positions unknown",
}


def _photutils(**kw: Any) -> Deblender:
    from .classical import PhotutilsDeblender
    return PhotutilsDeblender(**kw)


def _sep(**kw: Any) -> Deblender:
    from .classical import SepDeblender
    return SepDeblender(**kw)


def _scarlet(**kw: Any) -> Deblender:
    from .scarlet import ScarletDeblender
    return ScarletDeblender(**kw)


def _torch_factory(name: str):
    def factory(**kw: Any) -> Deblender:
        from .torch_deblender import TorchDeblender
        return TorchDeblender.from_name(name, **kw)
    factory.__name__ = f"make_{name.replace('-', '_')}"
    return factory


register("photutils", _photutils, "photutils detect_sources + deblend_sources, segmentation flux split")
register("sep", _sep, "SEP (SExtractor) with the Boucaud et al. 2020 strict/loose configurations")
register("scarlet", _scarlet, "scarlet2 (JAX) on SEP's detections: non-negative source models fitted to the "
         "blend, which is shared in their proportions")
for _name, _desc in TORCH_MODELS.items():
    register(_name, _torch_factory(_name), _desc, tta=True)
del _name, _desc
