"""Classical deblenders: photutils (detect + deblend sources) and SEP with the Boucaud et al. settings.

Both work on the background-subtracted image and split the flux by segmentation: source *k*'s image is
the background-subtracted blend inside its segment, ``image * (seg == k)``, so the sum of the source
images is the blend over all detected pixels and each catalogue ``flux`` is its segment's flux. The
photutils deblender can instead split *smoothly* (``split="smooth"``): every detected pixel is shared
among the sources in proportion to each source's Gaussian-smoothed (``smooth_sigma`` px) positive flux,
which softens the hard cut along the watershed boundary between touching galaxies while still keeping the
sum of the source images equal to the blend on detected pixels. Segmentations stay the hard labels.

photutils and sep are imported when a deblender is first run, not when this module is imported.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import DeblendResult, Deblender, catalog_table, split_by_footprints

__all__ = ["PhotutilsDeblender", "SepDeblender", "SEP_STRICT", "SEP_LOOSE", "segment_split"]

#: Boucaud et al. 2020 SExtractor/SEP configuration tried first.
SEP_STRICT = {"minarea": 10, "thresh": 5.0, "deblend_cont": 0.01, "deblend_nthresh": 64}
#: Configuration used when the strict one finds fewer than 2 sources.
SEP_LOOSE = {"minarea": 6, "thresh": 4.0, "deblend_cont": 1e-4, "deblend_nthresh": 64}


def segment_split(image: np.ndarray, labels: np.ndarray, label_ids: np.ndarray, *,
                  smooth_sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split ``image`` into one image per segment label.

    Parameters
    ----------
    image : (H, W) array
        Background-subtracted blend.
    labels : (H, W) int array
        Segmentation map (0 = background).
    label_ids : (K,) int array
        Labels of the sources, in output order.
    smooth_sigma : float, optional
        ``None``: hard split, ``image * (labels == k)``. A number: every detected pixel is shared in
        proportion to each source's positive flux smoothed by a Gaussian of this sigma (pixels).

    Returns
    -------
    segmentation : (K, H, W) bool
    images : (K, H, W) float32

    Examples
    --------
    >>> seg, img = segment_split(np.ones((2, 2)), np.array([[1, 1], [0, 2]]), np.array([1, 2]))
    >>> img.sum(axis=(1, 2)).tolist()
    [2.0, 1.0]
    """
    h, w = image.shape
    ids = np.asarray(label_ids, np.int64).reshape(-1)
    seg = labels[None, :, :] == ids[:, None, None] if ids.size else np.zeros((0, h, w), bool)
    if smooth_sigma is None or ids.size < 2:
        return seg, (image[None] * seg).astype(np.float32)
    return seg, split_by_footprints(image, seg, float(smooth_sigma), radius=0)


def _result(name: str, params: dict[str, Any], x: Any, y: Any, seg: np.ndarray, img: np.ndarray
            ) -> DeblendResult:
    flux = img.astype(np.float64).sum(axis=(1, 2)) if img.shape[0] else np.zeros(0)
    return DeblendResult(catalog_table(x, y, flux), seg, img, name=name, params=params, device="cpu")


class PhotutilsDeblender(Deblender):
    """photutils ``detect_sources`` + ``deblend_sources`` on the background-subtracted blend.

    Parameters
    ----------
    nsigma : float
        Detection threshold in noise sigmas above the background.
    npixels : int
        Minimum number of connected pixels of a source.
    nlevels, contrast, mode
        ``deblend_sources`` options (multi-thresholding levels, contrast, level spacing).
    kernel_fwhm : float or None
        FWHM (pixels) of the Gaussian the image is smoothed with for detection (``None``: no smoothing).
    split : {"segment", "smooth"}
        Hard segment split, or the smooth flux-weighted split of :func:`segment_split`.
    smooth_sigma : float
        Gaussian sigma (pixels) of the smooth split.

    Examples
    --------
    >>> res = PhotutilsDeblender(nsigma=3).run(blend)[0]      # doctest: +SKIP
    """

    name = "photutils"

    def __init__(self, *, nsigma: float = 3.0, npixels: int = 10, nlevels: int = 32,
                 contrast: float = 0.001, mode: str = "exponential", kernel_fwhm: float | None = 2.0,
                 split: str = "segment", smooth_sigma: float = 2.0) -> None:
        if split not in ("segment", "smooth"):
            raise ValueError(f"split must be 'segment' or 'smooth', got {split!r}")
        if nsigma <= 0 or int(npixels) < 1:
            raise ValueError(f"nsigma must be > 0 and npixels >= 1, got {nsigma}, {npixels}")
        super().__init__(nsigma=float(nsigma), npixels=int(npixels), nlevels=int(nlevels),
                         contrast=float(contrast), mode=str(mode),
                         kernel_fwhm=None if kernel_fwhm is None else float(kernel_fwhm),
                         split=split, smooth_sigma=float(smooth_sigma))

    def _one(self, image: np.ndarray, sigma: float | None) -> DeblendResult:
        from astropy.convolution import convolve
        from astropy.stats import sigma_clipped_stats
        from photutils.segmentation import (SourceCatalog, deblend_sources, detect_sources,
                                            make_2dgaussian_kernel)
        from photutils.utils.exceptions import NoDetectionsWarning

        p = self._params
        data = image.astype(np.float64)
        _, median, std = sigma_clipped_stats(data, sigma=3.0)
        noise = float(sigma) if sigma is not None else float(std)
        if not np.isfinite(noise) or noise <= 0:
            noise = float(np.std(data)) or 1.0
        sub = data - median
        if p["kernel_fwhm"]:
            size = 2 * int(np.ceil(1.5 * p["kernel_fwhm"])) + 1
            conv = convolve(sub, make_2dgaussian_kernel(p["kernel_fwhm"], size=size))
        else:
            conv = sub
        h, w = data.shape
        params = {**p, "noise_sigma": noise, "background": float(median)}
        with warnings.catch_warnings():  # "no sources found" is a result here, not a problem
            warnings.simplefilter("ignore", NoDetectionsWarning)
            segm = detect_sources(conv, p["nsigma"] * noise, p["npixels"])
        if segm is None:
            return _result(self.name, params, [], [], np.zeros((0, h, w), bool),
                           np.zeros((0, h, w), np.float32))
        if segm.n_labels > 0 and p["nlevels"] > 1:
            segm = deblend_sources(conv, segm, p["npixels"], n_levels=p["nlevels"],
                                   contrast=p["contrast"], mode=p["mode"], progress_bar=False)
        cat = SourceCatalog(sub, segm, convolved_data=conv)
        labels = np.asarray(cat.labels, np.int64)
        smooth = p["smooth_sigma"] if p["split"] == "smooth" else None
        seg, img = segment_split(sub, segm.data, labels, smooth_sigma=smooth)
        return _result(self.name, params, np.asarray(cat.x_centroid), np.asarray(cat.y_centroid), seg, img)

    def _run_batch(self, images: np.ndarray, psf: np.ndarray | None,
                   noise_sigma: np.ndarray | None) -> list[DeblendResult]:
        return [self._one(im, None if noise_sigma is None else float(noise_sigma[i]))
                for i, im in enumerate(images)]


class SepDeblender(Deblender):
    """SEP (SExtractor as a library) with the configurations of Boucaud et al. 2020.

    The strict configuration (:data:`SEP_STRICT`) runs first; when it finds fewer than two sources the
    loose one (:data:`SEP_LOOSE`) runs instead. ``thresh`` is in units of the noise sigma. The background
    is SEP's ``Background`` map; its global RMS is the noise unless ``noise_sigma`` is given. Each result's
    ``params["config"]`` says which configuration was kept.

    Parameters
    ----------
    strict, loose : dict, optional
        Overrides of :data:`SEP_STRICT` / :data:`SEP_LOOSE` (keys ``minarea``, ``thresh``,
        ``deblend_cont``, ``deblend_nthresh``).
    background_box : int
        Box size (pixels) of the background mesh (capped at half the image size).
    """

    name = "sep"

    def __init__(self, *, strict: dict[str, Any] | None = None, loose: dict[str, Any] | None = None,
                 background_box: int = 64) -> None:
        cfg_s = {**SEP_STRICT, **(strict or {})}
        cfg_l = {**SEP_LOOSE, **(loose or {})}
        for cfg, which in ((cfg_s, "strict"), (cfg_l, "loose")):
            unknown = set(cfg) - set(SEP_STRICT)
            if unknown:
                raise ValueError(f"unknown SEP option(s) in {which}: {sorted(unknown)}")
        super().__init__(strict=cfg_s, loose=cfg_l, background_box=int(background_box))

    def detect(self, image: np.ndarray, sigma: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """SEP's detection on one image: the strict configuration, then the loose one below two sources.

        Returns
        -------
        (background-subtracted image, objects, segmentation map, params)
            ``objects`` is SEP's structured array (``x``, ``y``, …), the map labels object ``i`` as
            ``i + 1``; ``params`` holds the options, the kept ``config``, ``noise_sigma`` and ``background``.
        """
        import sep

        data = np.ascontiguousarray(image, dtype=np.dtype("=f8"))  # native-endian, C order, as sep needs
        h, w = data.shape
        box = max(8, min(self._params["background_box"], h // 2, w // 2))
        bkg = sep.Background(data, bw=box, bh=box)
        sub = np.ascontiguousarray(data - bkg.back())
        noise = float(sigma) if sigma is not None else float(bkg.globalrms)
        if not np.isfinite(noise) or noise <= 0:
            noise = float(np.std(sub)) or 1.0
        objects, segmap, config = None, None, "strict"
        for config in ("strict", "loose"):
            c = self._params[config]
            objects, segmap = sep.extract(sub, c["thresh"], err=noise, minarea=int(c["minarea"]),
                                          deblend_nthresh=int(c["deblend_nthresh"]),
                                          deblend_cont=float(c["deblend_cont"]), segmentation_map=True)
            if len(objects) >= 2:
                break
        params = {**self._params, "config": config, "noise_sigma": noise,
                  "background": float(bkg.globalback)}
        return sub, objects, np.asarray(segmap), params

    def _one(self, image: np.ndarray, sigma: float | None) -> DeblendResult:
        sub, objects, segmap, params = self.detect(image, sigma)
        ids = np.arange(1, len(objects) + 1)
        seg, img = segment_split(sub, segmap, ids)
        return _result(self.name, params, objects["x"], objects["y"], seg, img)

    def _run_batch(self, images: np.ndarray, psf: np.ndarray | None,
                   noise_sigma: np.ndarray | None) -> list[DeblendResult]:
        return [self._one(im, None if noise_sigma is None else float(noise_sigma[i]))
                for i, im in enumerate(images)]
