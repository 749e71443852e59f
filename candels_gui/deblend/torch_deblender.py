"""Run the trained PyTorch models as :class:`~candels_gui.deblend.base.Deblender` s.

A weights file (``.pt``) holds ``{"state_dict": ..., "card": {...}}``; the *model card* is a plain dict:
``architecture`` (registry name), ``kwargs`` (architecture options), ``normalisation`` (``{"kind":
"asinh", "scale": s}``, see :mod:`.models`), ``data_hash``, ``options``, ``metrics``, ``command``,
``n_parameters``, ``torch_version``, ``created_utc``, ``format_version``. Shipped weights live in
:func:`candels_gui.paths.models_dir` as ``NAME.pt``.

Outputs (always K = 2 sources: [central, companion])
-----------------------------------------------------
* ``unet-seg``: footprints = mask logits > 0 (central = central or overlap channel, companion =
  companion or overlap); the source images split the blend over the footprints grown by
  :data:`~candels_gui.deblend.base.FLUX_REGION_RADIUS` (4) pixels in proportion to each source's own light
  (:func:`~candels_gui.deblend.base.split_by_footprints`, smoothed by a Gaussian of ``smooth_sigma`` (2)
  pixels); flux = image sum. Chosen over the isophotal sum (each footprint's blend, shared pixels half and
  half), which misses the wings below the isophote: on 1,000 blends of the training galaxies flux MAPE
  28.5 → 21.4 %, and held out 26.4 → 22.1 % (catalogue fluxes; the segmentation is the same).
* ``unet-deblend``, ``cgan`` (``split_blend=True``, the default): the blend split between the two sources in
  proportion to the predicted isolated galaxies (each smoothed by a Gaussian of ``footprint_fwhm`` (3) pixels
  FWHM, negative values clipped), so the two images add up to the blend (flux-conserving, as scarlet's
  re-distribution); footprints = the blend's SExtractor-like isophote (smoothed the same way, above
  ``footprint_nsigma`` (1.5) times its noise sigma: the rule of the catalogue segmentation maps and the
  sample data's) partitioned pixel by pixel to the source with the larger share. ``split_blend=False``: the
  predicted images themselves (denormalised), footprints their own isophotes. Flux = the image's sum over
  its footprint grown by :data:`~candels_gui.deblend.base.FLUX_REGION_RADIUS` (4) pixels (the whole image
  when the footprint is empty), which keeps the wings but not the background. Splitting the blend was
  chosen on blends of the training galaxies (IoU 0.19 → 0.29 and flux MAPE 79 → 65 % for ``unet-deblend``,
  MAPE 47 → 33 % at equal IoU for ``cgan``) and holds on the held-out test set (README).
* ``blend2flux``: fluxes only; images are zero, footprints empty, both positions at the stamp centre
  (the network does not predict offsets).

Positions are flux-weighted centroids of the positive flux on the footprint (on the whole image when the
footprint is empty; the stamp centre when there is no positive flux).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.data.autoseg import smooth
from ..torch_common import (CARD_VERSION, device_label, pick_device, read_weights, save_weights,
                            weights_path)
from .base import (SPLIT_SMOOTH_SIGMA, TTA_SUFFIX, DeblendResult, Deblender, catalog_table, noise_per_image,
                   region_fluxes, split_by_footprints, split_by_models)
from .training_data import IMAGE_MODELS

__all__ = ["TorchDeblender", "pick_device", "device_label", "weights_path", "save_weights",
           "load_weights", "dihedral_mean", "CARD_VERSION"]


def dihedral_mean(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """Test-time augmentation: the mean of ``predict`` over the 8 turns and flips of ``images`` (B, H, W).

    Image outputs (B, C, H, W) are turned back before averaging; other outputs (e.g. fluxes, (B, 2)) are
    averaged as they are. A network trained with turned and flipped samples should not care which way up a
    blend is; its residual dependence on it is noise that the mean removes.

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> bool(np.allclose(dihedral_mean(lambda b: b[:, None] * 2, x), x[:, None] * 2))
    True
    """
    total = None
    for turns in range(4):
        for flip in (False, True):
            x = np.rot90(images, turns, axes=(1, 2))
            x = x[:, :, ::-1] if flip else x
            y = np.asarray(predict(np.ascontiguousarray(x)), dtype=np.float64)
            if y.ndim == 4:
                y = np.rot90(y[..., ::-1] if flip else y, -turns, axes=(2, 3))
            total = y if total is None else total + y
    return (total / 8).astype(np.float32)


def load_weights(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Load a deblender's weights file: returns ``(model in eval mode on the CPU, card)``.

    Raises
    ------
    DataError
        When the file is not a candels-gui weights file or its weights do not fit the card's network.
    """
    from ..core.errors import DataError
    from .models import build_model

    import inspect

    from ..core.errors import WeightsError, one_line
    from .models import ARCHITECTURES

    state, card = read_weights(path)
    arch, kwargs = card["architecture"], dict(card.get("kwargs", {}))
    if arch not in ARCHITECTURES:
        raise WeightsError(f"{path}: model card names architecture {arch!r}; this program has "
                           f"{', '.join(ARCHITECTURES)}")
    accepted = set(inspect.signature(ARCHITECTURES[arch]).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise WeightsError(f"{path}: model card kwargs {unknown} are not options of {arch!r} "
                           f"({', '.join(sorted(accepted))})")
    if kwargs.get("depth", 1) > 8 or kwargs.get("base", 1) > 512:
        raise WeightsError(f"{path}: model card kwargs {kwargs} describe a network larger than any this "
                           f"program trains (depth <= 8, base <= 512)")
    try:
        model = build_model(arch, **kwargs)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: model card kwargs {kwargs} do not build {arch!r} ({one_line(exc, 120)})") from None
    own = model.state_dict()
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        missing = sorted(set(own) - set(state))[:3]
        extra = sorted(set(state) - set(own))[:3]
        raise WeightsError(f"{path}: weights do not fit architecture {arch!r} {kwargs} (missing {missing}, "
                           f"unexpected {extra}, or shapes differ)")
    wrong = [k for k in own if own[k].dtype != state[k].dtype]
    if wrong:
        raise WeightsError(f"{path}: tensor {wrong[0]} is {state[wrong[0]].dtype}, the network holds "
                           f"{own[wrong[0]].dtype}")
    model.load_state_dict(state)
    return model.eval(), card


def _centroids(images: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k, h, w = images.shape
    yy, xx = np.mgrid[:h, :w]
    xs, ys = np.full(k, w // 2, np.float64), np.full(k, h // 2, np.float64)
    for i in range(k):
        pos = np.clip(images[i].astype(np.float64), 0, None)
        wgt = pos * seg[i] if (pos * seg[i]).sum() > 0 else pos
        tot = wgt.sum()
        if tot > 0:
            xs[i], ys[i] = (wgt * xx).sum() / tot, (wgt * yy).sum() / tot
    return xs, ys


class TorchDeblender(Deblender):
    """A trained torch model behind the :class:`Deblender` interface.

    Parameters
    ----------
    model : torch.nn.Module
        The network (from :func:`load_weights`).
    card : dict
        Its model card; ``card["architecture"]`` is the registry name.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU) or a torch device string.
    batch_size : int
        Largest number of blends sent to the network at once inside :meth:`run`.
    weights : path, optional
        The file it came from (recorded in ``params``).
    footprint_nsigma, footprint_fwhm, split_blend : float, float, bool
        ``unet-deblend`` and ``cgan``: how their outputs become footprints and images (module docstring).
    smooth_sigma : float
        ``unet-seg``: the smoothing of the split of the blend over its footprints.
    tta : bool
        Test-time augmentation: average the network's outputs over the 8 turns and flips of each blend
        (:func:`dihedral_mean`; 8 times the inference time). The deblender is then named ``NAME+tta``
        (``get("unet-seg+tta")``). On the README's 1,000 held-out blends it raises ``unet-seg``'s IoU
        0.741 → 0.752 (flux MAPE 22.1 → 21.8 %) and lowers ``blend2flux``'s MAPE 20.7 → 19.9 %; it does
        not help the photometry of the image models (``unet-deblend`` MAPE 27.0 → 28.0 %, ``cgan`` 27.6 →
        28.8 %: the mean of 8 predicted images is blurred).

    Examples
    --------
    >>> deb = TorchDeblender.from_file("unet-seg.pt")        # doctest: +SKIP
    >>> deb.run(blends)[0].catalog                             # doctest: +SKIP
    """

    def __init__(self, model: Any, card: dict[str, Any], *, device: str = "auto", batch_size: int = 32,
                 weights: str | os.PathLike | None = None, footprint_nsigma: float = 1.5,
                 footprint_fwhm: float = 3.0, split_blend: bool = True,
                 smooth_sigma: float = SPLIT_SMOOTH_SIGMA, tta: bool = False) -> None:
        import torch

        self.architecture = str(card["architecture"])
        self.name = self.architecture + (TTA_SUFFIX if tta else "")
        self.flux_only = self.architecture == "blend2flux"
        self.card = card
        self._device = pick_device(device)
        norm = dict(card.get("normalisation", {"kind": "asinh", "scale": 1.0}))
        if norm.get("kind", "asinh") != "asinh":
            raise ValueError(f"{self.name}: unknown normalisation {norm!r}")
        self._scale = float(norm.get("scale", 1.0))
        self._cpu = self._device.type == "cpu"
        model = model.eval().to(self._device)
        if self._cpu:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        super().__init__(weights=None if weights is None else str(weights), batch_size=int(batch_size),
                         architecture=self.architecture, tta=bool(tta), kwargs=dict(card.get("kwargs", {})),
                         normalisation=norm, data_hash=card.get("data_hash"),
                         **self._output_params(footprint_nsigma, footprint_fwhm, split_blend, smooth_sigma))

    def _output_params(self, footprint_nsigma: float, footprint_fwhm: float, split_blend: bool,
                       smooth_sigma: float) -> dict[str, Any]:
        """The parameters of this model's outputs (module docstring): none for ``blend2flux``."""
        if self.architecture in IMAGE_MODELS:
            return {"footprint_nsigma": float(footprint_nsigma), "footprint_fwhm": float(footprint_fwhm),
                    "split_blend": bool(split_blend)}
        return {"smooth_sigma": float(smooth_sigma)} if self.architecture == "unet-seg" else {}

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kw: Any) -> "TorchDeblender":
        """Load a ``.pt`` weights file (see :func:`load_weights`)."""
        model, card = load_weights(path)
        return cls(model, card, weights=path, **kw)

    @classmethod
    def from_name(cls, name: str, *, weights: str | os.PathLike | None = None, **kw: Any
                  ) -> "TorchDeblender":
        """The registry's factory: load ``weights`` or the shipped ``models_dir()/NAME.pt``.

        Raises
        ------
        FileNotFoundError
            When the weights file is missing; the message gives the command that makes it.
        """
        path = Path(weights) if weights is not None else weights_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"no weights for deblender {name!r}: {path} does not exist. Train them with "
                f"`candels-gui train --model {name} --data BLENDS.h5 -o {path}` "
                f"(BLENDS.h5: the blends.h5 of `candels-gui produce`, or an HDF5 export from the app).")
        deb = cls.from_file(path, **kw)
        if deb.architecture != name:
            raise ValueError(f"{path}: holds a {deb.architecture!r} model, not {name!r}")
        return deb

    @property
    def device(self) -> str:
        return device_label(self._device)

    def predict(self, images: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Raw network outputs (float32 numpy) for a ``(B, H, W)`` batch with noise ``sigma`` (B,).

        With ``tta``, the mean of the outputs on the eight turns and flips of the batch, each turned back
        (:func:`dihedral_mean`).
        """
        if self._params["tta"]:
            return dihedral_mean(lambda x: self._predict(x, sigma), images)
        return self._predict(images, sigma)

    def _predict(self, images: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        import torch

        from .models import asinh_normalise

        outs = []
        step = int(self._params["batch_size"])
        for a in range(0, len(images), step):
            z = torch.from_numpy(asinh_normalise(images[a:a + step], sigma[a:a + step], self._scale))
            x = z[:, None].to(self._device)
            if self._cpu:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(self._device.type, enabled=self._device.type == "cuda"):
                y = self.model(x)
            outs.append(y.float().cpu().numpy())
        return np.concatenate(outs, axis=0)

    def _image_outputs(self, blend: np.ndarray, out: np.ndarray, sigma: float
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Images (2,H,W) float32 and footprints (2,H,W) bool of an image model (module docstring)."""
        from .models import asinh_denormalise

        pred = asinh_denormalise(out[None], np.array([sigma]), self._scale)[0]
        fwhm, level = self._params["footprint_fwhm"], self._params["footprint_nsigma"] * sigma
        if not self._params["split_blend"]:
            return pred, np.stack([smooth(g, fwhm) > level for g in pred])
        return split_by_models(blend, pred, sigma, fwhm=fwhm, nsigma=self._params["footprint_nsigma"])

    def _run_batch(self, images: np.ndarray, psf: np.ndarray | None,
                   noise_sigma: np.ndarray | None) -> list[DeblendResult]:
        sigma = noise_sigma if noise_sigma is not None else noise_per_image(images)
        out = self.predict(images, sigma)
        b, h, w = images.shape
        results = []
        for i in range(b):
            if self.architecture == "blend2flux":
                seg = np.zeros((2, h, w), bool)
                img = np.zeros((2, h, w), np.float32)
                flux = np.exp(out[i].astype(np.float64)) * self._scale * sigma[i]
                xs, ys = np.full(2, float(w // 2)), np.full(2, float(h // 2))
            else:
                if self.architecture == "unet-seg":
                    m = out[i] > 0
                    seg = np.stack([m[1] | m[0], m[2] | m[0]])
                    img = split_by_footprints(images[i], seg, self._params["smooth_sigma"])
                    flux = img.astype(np.float64).sum(axis=(1, 2))
                else:
                    img, seg = self._image_outputs(images[i], out[i], float(sigma[i]))
                    flux = region_fluxes(img, seg)
                xs, ys = _centroids(img, seg)
            results.append(DeblendResult(catalog_table(xs, ys, flux), seg, img, name=self.name,
                                         flux_only=self.flux_only,
                                         params={**self._params, "noise_sigma": float(sigma[i])},
                                         device=self.device))
        return results
