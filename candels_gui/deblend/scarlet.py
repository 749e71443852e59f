"""scarlet (scarlet2, Melchior et al.) behind the :class:`~candels_gui.deblend.base.Deblender` interface.

scarlet models a scene as a sum of sources, each a non-negative morphology image times an amplitude, fitted
to the blend by gradient descent on its likelihood (here the blend's Gaussian noise). It is the deblender of
the LSST pipelines and one of BlendingToolKit's; ours runs scarlet2 (JAX) on one band:

* **detection**: SEP with the Boucaud et al. configurations (:class:`~.classical.SepDeblender`, strict then
  loose), as BlendingToolKit's SEP-then-scarlet pipeline; its background-subtracted image and noise are
  what scarlet fits.
* **sources**: one per detection, started from the Gaussian with the moments of the light around it
  (``scarlet2.init.from_gaussian_moments``, box sizes ``box_sizes``) or, where those cannot be measured, a
  round Gaussian of 2 px; amplitude and morphology are fitted under a positivity constraint for
  ``max_iter`` steps or until their relative change is below ``e_rel``.
* **no PSF model**: the model frame is the observed one (the PSF is in the morphologies), as for every other
  deblender here.
* **outputs**: the blend shared among the sources in proportion to their models
  (:func:`~.base.split_by_models`, scarlet's flux re-distribution), footprints its isophote given to the
  source with the largest share, fluxes summed over the footprints grown by 4 px: the photometry of
  ``unet-deblend`` and ``cgan``, so the image models compare on equal terms. ``split_blend=False`` gives the
  fitted models themselves. Positions are the detections'.

JAX is imported when the deblender is first run. It is told not to take the GPU's memory up front
(``XLA_PYTHON_CLIENT_PREALLOCATE=false``, unless already set) so that torch can share the GPU.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Sequence

import numpy as np

from .base import DeblendResult, Deblender, catalog_table, region_fluxes, split_by_models
from .classical import SepDeblender

__all__ = ["ScarletDeblender", "BOX_SIZES"]

#: Box sizes (pixels) tried for each source's first guess: the smallest whose edge is at the noise.
BOX_SIZES = (11, 17, 25, 35, 47, 61)
#: Fits between two clearings of all of JAX's compiled functions (:func:`_forget_compiled_steps`).
CLEAR_ALL_EVERY = 250
_fits_since_clear = 0
#: Sigma (pixels) of the round Gaussian a source starts from when its moments cannot be measured.
FALLBACK_SIGMA = 2.0


def _scarlet() -> Any:
    """Import scarlet2 with JAX kept off the GPU memory it would otherwise pre-allocate."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import scarlet2
    from scarlet2.validation_utils import set_validation

    set_validation(False)  # its checks print reports on every scene; our inputs are checked here
    return scarlet2


def _forget_compiled_steps() -> None:
    """Drop the optimiser steps scarlet2 compiled for the scenes fitted so far.

    scarlet2 compiles its step anew for every scene (each fit makes a new parameter class) and JAX keeps every
    compiled step: without this, a long run grew by ~5 MB a blend until the process crashed (a 1,000-blend
    ``evaluate`` died with SIGSEGV). Only that function's cache is cleared (clearing all of JAX's caches makes
    every blend recompile everything: 10 times slower), and all of them every :data:`CLEAR_ALL_EVERY` fits.
    """
    import jax
    from scarlet2 import infer

    global _fits_since_clear
    _fits_since_clear += 1
    step = getattr(getattr(infer, "_make_step", None), "_cached", None)
    if _fits_since_clear >= CLEAR_ALL_EVERY or not hasattr(step, "clear_cache"):
        jax.clear_caches()  # what else JAX keeps per scene (~0.1 MB a blend); recompiling costs ~5 s
        _fits_since_clear = 0
    else:
        step.clear_cache()


class ScarletDeblender(Deblender):
    """scarlet2 on SEP's detections (module docstring).

    Parameters
    ----------
    max_iter : int
        Most optimiser steps per blend.
    e_rel : float
        Stop when the relative change of every parameter is below this.
    box_sizes : sequence of int
        Box sizes (pixels) tried for each source's Gaussian-moments start.
    morph_step : float
        Step size of the morphology pixels (units of the morphology's peak of 1).
    split_blend : bool
        Share the blend in proportion to the models (default), or return the models themselves.
    footprint_nsigma, footprint_fwhm : float
        The isophote of the footprints: the blend smoothed by a Gaussian of ``footprint_fwhm`` px, above
        ``footprint_nsigma`` noise sigmas.
    sep_options : dict, optional
        ``strict`` / ``loose`` overrides of the SEP detection (:class:`~.classical.SepDeblender`).

    Examples
    --------
    >>> res = ScarletDeblender().run(blends)          # doctest: +SKIP
    >>> res[0].catalog["flux"]                        # doctest: +SKIP
    """

    name = "scarlet"

    def __init__(self, *, max_iter: int = 200, e_rel: float = 1e-4, box_sizes: Sequence[int] = BOX_SIZES,
                 morph_step: float = 0.1, split_blend: bool = True, footprint_nsigma: float = 1.5,
                 footprint_fwhm: float = 3.0, sep_options: dict[str, Any] | None = None) -> None:
        if int(max_iter) < 1 or not float(e_rel) > 0:
            raise ValueError(f"max_iter must be >= 1 and e_rel > 0, got {max_iter}, {e_rel}")
        sizes = sorted({int(s) for s in box_sizes})
        if not sizes or sizes[0] < 3:
            raise ValueError(f"box_sizes must be pixel sizes >= 3, got {list(box_sizes)}")
        self._detector = SepDeblender(**(sep_options or {}))
        super().__init__(max_iter=int(max_iter), e_rel=float(e_rel), box_sizes=sizes,
                         morph_step=float(morph_step), split_blend=bool(split_blend),
                         footprint_nsigma=float(footprint_nsigma), footprint_fwhm=float(footprint_fwhm),
                         detection={k: self._detector.params[k] for k in ("strict", "loose")})
        self._device: str | None = None

    @property
    def device(self) -> str:
        if self._device is None:  # JAX not imported yet: it runs on the CPU unless it finds a GPU
            return "cpu"
        return self._device

    def _sources(self, s2: Any, obs: Any, centres: np.ndarray, data: np.ndarray, sigma: float) -> None:
        """Add one source per centre ``(y, x)`` to the open scene."""
        import jax.numpy as jnp

        h, w = data.shape
        r = int(3 * FALLBACK_SIGMA)
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        fallback = np.clip(np.exp(-(xx ** 2 + yy ** 2) / (2 * FALLBACK_SIGMA ** 2)), 1e-6, 1 - 1e-6)
        for y, x in centres:
            centre = jnp.array([y, x], dtype=jnp.float32)
            try:
                spectrum, morph = s2.init.from_gaussian_moments(obs, centre, box_sizes=self._params["box_sizes"])
            except (ValueError, IndexError):  # no moments measurable (edge, noise peak): a small round start
                peak = data[min(max(int(round(y)), 0), h - 1), min(max(int(round(x)), 0), w - 1)]
                spectrum = jnp.array([max(float(peak), float(sigma))], dtype=jnp.float32)
                morph = jnp.asarray(fallback, dtype=jnp.float32)
            s2.Source(centre, spectrum, morph)

    def _fit(self, sub: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
        """The fitted model image (K, H, W) of each source."""
        import jax
        import jax.numpy as jnp
        from numpyro.distributions import constraints

        s2 = _scarlet()
        self._device = jax.default_backend()
        data = jnp.asarray(sub[None], dtype=jnp.float32)
        obs = s2.Observation(data, jnp.full(data.shape, 1.0 / sigma ** 2, dtype=jnp.float32), psf=None)
        frame = s2.Frame(s2.Box(data.shape), psf=None)
        obs.match(frame)
        with s2.Scene(frame) as scene:
            self._sources(s2, obs, centres, sub, sigma)
        spectrum_step = partial(s2.relative_step, factor=0.05)
        with s2.Parameters(scene):
            for k, src in enumerate(scene.sources):
                s2.Parameter(src.spectrum, name=f"spectrum:{k}", constraint=constraints.positive,
                             stepsize=spectrum_step)
                s2.Parameter(src.morphology, name=f"morph:{k}", constraint=constraints.positive,
                             stepsize=self._params["morph_step"])
        fitted = scene.fit(obs, max_iter=self._params["max_iter"], e_rel=self._params["e_rel"],
                           progress_bar=False)
        models = np.stack([np.asarray(obs.render(fitted.evaluate_source(src)))[0] for src in fitted.sources])
        s2.parameter_registry.pop(getattr(scene, "registry_key", None), None)  # its global registry of scenes
        _forget_compiled_steps()
        return models

    def _one(self, image: np.ndarray, sigma: float | None) -> DeblendResult:
        sub, objects, _, det = self._detector.detect(image, sigma)
        noise = det["noise_sigma"]
        params = {**self._params, "config": det["config"], "noise_sigma": noise,
                  "background": det["background"]}
        h, w = sub.shape
        if len(objects) == 0:
            return DeblendResult(catalog_table([], [], []), np.zeros((0, h, w), bool),
                                 np.zeros((0, h, w), np.float32), name=self.name, params=params,
                                 device=self.device)
        models = self._fit(sub, np.stack([objects["y"], objects["x"]], axis=1), noise)
        fwhm, nsig = self._params["footprint_fwhm"], self._params["footprint_nsigma"]
        shared, seg = split_by_models(sub, models, noise, fwhm=fwhm, nsigma=nsig)
        img = shared if self._params["split_blend"] else models.astype(np.float32)
        flux = region_fluxes(img, seg)
        return DeblendResult(catalog_table(objects["x"], objects["y"], flux), seg, img, name=self.name,
                             params=params, device=self.device)

    def _run_batch(self, images: np.ndarray, psf: np.ndarray | None,
                   noise_sigma: np.ndarray | None) -> list[DeblendResult]:
        out = []
        for i, im in enumerate(images):
            self._check_cancel()     # a fit takes ~1 s: a cancelled run stops before the next
            out.append(self._one(im, None if noise_sigma is None else float(noise_sigma[i])))
        return out
