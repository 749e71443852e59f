"""One interface for every deblender, and the registry that looks deblenders up by name.

A deblender takes a batch of blend images ``(B, H, W)`` float32 (with an optional PSF and noise level)
and returns one :class:`DeblendResult` per blend: a detection catalogue (``x``, ``y``, ``flux``), a
segmentation ``(K, H, W)`` bool and the deblended source images ``(K, H, W)`` float32, with the name,
parameters and device of the deblender that made them.

Pixel convention: ``x`` is the column, ``y`` the row, both 0-based pixel centres (as in numpy indexing,
photutils and SEP).

Examples
--------
>>> from candels_gui.deblend import available, get
>>> "sep" in available()
True
>>> results = get("sep").run(images)            # doctest: +SKIP
>>> results[0].catalog["x", "y", "flux"]          # doctest: +SKIP
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from astropy.table import Table

from ..core.jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["DeblendResult", "Deblender", "register", "available", "get", "describe",
           "descriptions", "catalog_table", "as_batch", "noise_per_image", "robust_sigma",
           "CATALOG_COLUMNS", "FLUX_REGION_RADIUS", "SPLIT_SMOOTH_SIGMA", "flux_region", "region_fluxes",
           "split_by_footprints", "TTA_SUFFIX"]

#: Columns every result catalogue has (more may follow).
CATALOG_COLUMNS = ("x", "y", "flux")


def catalog_table(x: Sequence[float], y: Sequence[float], flux: Sequence[float]) -> Table:
    """Build a result catalogue with float64 columns ``x``, ``y``, ``flux``.

    Examples
    --------
    >>> float(catalog_table([1.0], [2.0], [3.0])["flux"][0])
    3.0
    """
    return Table({"x": np.asarray(x, np.float64).reshape(-1), "y": np.asarray(y, np.float64).reshape(-1),
                  "flux": np.asarray(flux, np.float64).reshape(-1)})


@dataclass(eq=False)
class DeblendResult:
    """What a deblender found in one blend.

    Attributes
    ----------
    catalog : astropy.table.Table
        K rows with at least ``x`` (column), ``y`` (row) and ``flux`` (sum of the source image).
    segmentation : ndarray, shape (K, H, W), bool
        Footprint of each source (footprints may overlap for the model deblenders).
    images : ndarray, shape (K, H, W), float32
        The deblended image of each source.
    name : str
        Registry name of the deblender.
    params : dict
        Its parameters (JSON types).
    device : str
        Where it ran (``"cpu"``, ``"cuda:0"``, ...).
    flux_only : bool
        True when only the fluxes mean something (``[central, companion]``; see
        :attr:`Deblender.flux_only`).
    """

    catalog: Table
    segmentation: np.ndarray
    images: np.ndarray
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    flux_only: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.catalog, Table):
            self.catalog = Table(self.catalog)
        missing = [c for c in CATALOG_COLUMNS if c not in self.catalog.colnames]
        if missing:
            raise ValueError(f"{self.name}: result catalog lacks column(s) {missing}")
        seg = np.asarray(self.segmentation)
        img = np.asarray(self.images)
        if seg.ndim != 3 or img.ndim != 3 or seg.shape != img.shape:
            raise ValueError(f"{self.name}: segmentation {seg.shape} and images {img.shape} must both "
                             f"be (K, H, W) of one shape")
        if len(self.catalog) != seg.shape[0]:
            raise ValueError(f"{self.name}: catalog has {len(self.catalog)} rows but there are "
                             f"{seg.shape[0]} source images")
        self.segmentation = seg.astype(bool, copy=False)
        self.images = np.ascontiguousarray(img, dtype=np.float32)

    @property
    def n_sources(self) -> int:
        """Number K of sources."""
        return int(self.segmentation.shape[0])


def as_batch(images: Any) -> np.ndarray:
    """Return ``images`` as a C-contiguous ``(B, H, W)`` float32 array (an ``(H, W)`` image gives B=1).

    Raises
    ------
    ValueError
        When the array is not 2-D or 3-D or holds non-finite values.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"images must be (B, H, W) or (H, W), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"images of shape {arr.shape} hold NaN or infinite values")
    return arr


def robust_sigma(image: np.ndarray) -> float:
    """Noise estimate of one image: 1.4826 x the median absolute deviation (ignores bright sources)."""
    data = np.asarray(image, np.float64).ravel()
    med = np.median(data)
    sigma = 1.4826 * float(np.median(np.abs(data - med)))
    if not np.isfinite(sigma) or sigma <= 0:
        spread = float(np.std(data))
        sigma = spread * 1e-3 if spread > 0 else 1.0
    return sigma


def noise_per_image(images: np.ndarray, noise_sigma: Any = None) -> np.ndarray:
    """Per-image noise sigma, shape (B,): ``noise_sigma`` broadcast, or :func:`robust_sigma` of each.

    Examples
    --------
    >>> noise_per_image(np.zeros((3, 4, 4), np.float32), 0.5).tolist()
    [0.5, 0.5, 0.5]
    """
    b = images.shape[0]
    if noise_sigma is None:
        return np.array([robust_sigma(im) for im in images], np.float64)
    sig = np.broadcast_to(np.asarray(noise_sigma, np.float64), (b,)).copy() if np.ndim(noise_sigma) == 0 \
        else np.asarray(noise_sigma, np.float64).reshape(-1)
    if sig.shape != (b,):
        raise ValueError(f"noise_sigma must be a number or one value per image ({b}), got shape "
                         f"{np.shape(noise_sigma)}")
    if not (np.isfinite(sig).all() and (sig > 0).all()):
        raise ValueError(f"noise_sigma must be finite and > 0, got {sig.tolist()}")
    return sig


#: Radius (pixels) by which a footprint is grown to make the region in which an image deblender's
#: fluxes are summed (and, in training, the region of its flux loss).
FLUX_REGION_RADIUS = 4


def flux_region(footprints: np.ndarray, radius: int = FLUX_REGION_RADIUS) -> np.ndarray:
    """Footprints ``(..., H, W)`` bool grown by a disc of ``radius`` pixels: where a galaxy's flux is summed.

    Sums over the whole stamp would add every background pixel's noise (and any small offset of a
    network's background) to each flux; the grown footprint keeps the galaxy's wings and little else.

    Examples
    --------
    >>> m = np.zeros((1, 9, 9), bool); m[0, 4, 4] = True
    >>> int(flux_region(m, 2).sum())
    13
    """
    from scipy import ndimage

    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (xx ** 2 + yy ** 2) <= r * r
    fp = np.asarray(footprints, bool)
    return ndimage.binary_dilation(fp, structure=disc.reshape((1,) * (fp.ndim - 2) + disc.shape))


def region_fluxes(images: np.ndarray, footprints: np.ndarray, radius: int = FLUX_REGION_RADIUS) -> np.ndarray:
    """Fluxes ``(..., K)`` float64 of images ``(..., K, H, W)``: each summed over its footprint grown by
    :func:`flux_region` (over the whole image when the footprint is empty).

    Examples
    --------
    >>> img = np.ones((2, 9, 9)); fp = np.zeros((2, 9, 9), bool); fp[0, 4, 4] = True
    >>> region_fluxes(img, fp, 2).tolist()
    [13.0, 81.0]
    """
    fp = np.asarray(footprints, bool)
    region = flux_region(fp, radius)
    region[~fp.any(axis=(-2, -1))] = True
    return (np.asarray(images, np.float64) * region).sum(axis=(-2, -1))


#: Gaussian sigma (pixels) of each source's own light in :func:`split_by_footprints`, the default of
#: ``unet-seg``'s photometry and of the oracle that measures the true footprints the same way.
SPLIT_SMOOTH_SIGMA = 2.0


def split_by_footprints(blend: np.ndarray, footprints: np.ndarray, smooth_sigma: float = SPLIT_SMOOTH_SIGMA,
                        radius: int = FLUX_REGION_RADIUS) -> np.ndarray:
    """Split a blend (H, W) among K sources of footprints (K, H, W) bool, in proportion to their own light.

    The pixels of the footprints grown by ``radius`` pixels (:func:`flux_region`; 0: the footprints
    themselves) are shared among the sources in proportion to each one's own light, the positive blend on
    its footprint smoothed by a Gaussian of ``smooth_sigma`` pixels (in equal parts among the grown
    footprints that reach a pixel where no source has light); other pixels go to no source. The K images
    add up to the blend on the union of the grown footprints: with a radius, their sums keep the wings
    beyond the footprints that an isophotal sum loses, and the light of a neighbour falls to the neighbour.

    Returns
    -------
    numpy.ndarray
        (K, H, W) float32 source images.

    Examples
    --------
    >>> blend = np.zeros((9, 9)); blend[4, 2] = blend[4, 6] = 1.0
    >>> fp = np.zeros((2, 9, 9), bool); fp[0, 4, 2] = fp[1, 4, 6] = True
    >>> split_by_footprints(blend, fp, radius=1).sum(axis=(1, 2)).tolist()
    [1.0, 1.0]
    """
    from scipy.ndimage import gaussian_filter

    fp = np.asarray(footprints, bool)
    region = flux_region(fp, radius) if radius > 0 else fp
    positive = np.clip(np.asarray(blend, np.float64), 0.0, None)
    weight = np.stack([gaussian_filter(positive * f, float(smooth_sigma)) for f in fp]).reshape(fp.shape)
    weight *= region.any(axis=0)
    total = weight.sum(axis=0)
    equal = region / np.maximum(region.sum(axis=0), 1)
    share = np.where(total > 0, weight / np.where(total > 0, total, 1.0), equal)
    return (np.asarray(blend, np.float64)[None] * share).astype(np.float32)


def split_by_models(blend: np.ndarray, models: np.ndarray, sigma: float, *, fwhm: float = 3.0,
                    nsigma: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Share a blend (H, W) among K sources in proportion to their modelled images (K, H, W).

    Each model is smoothed by a Gaussian of ``fwhm`` pixels and clipped at 0; every pixel of the blend is
    shared in those proportions, so the K images add up to the blend (flux-conserving, as scarlet's
    re-distribution). The footprints are the blend's isophote (the blend smoothed the same way, above
    ``nsigma`` times the noise ``sigma``: the rule of the catalogue segmentation maps) given pixel by pixel
    to the source with the largest share. The photometry of ``unet-deblend``, ``cgan`` and ``scarlet``.

    Returns
    -------
    images : (K, H, W) float32
    footprints : (K, H, W) bool

    Examples
    --------
    >>> blend = np.zeros((9, 9)); blend[4, 2] = blend[4, 6] = 1.0
    >>> img, fp = split_by_models(blend, np.stack([blend * (np.arange(9) < 4), blend * (np.arange(9) > 4)]),
    ...                           0.01, fwhm=1.0)
    >>> img.sum(axis=(1, 2)).round(3).tolist(), fp.sum(axis=(1, 2)).tolist()
    ([1.0, 1.0], [5, 5])
    """
    from ..core.data.autoseg import smooth

    k = len(models)
    h, w = np.shape(blend)
    if k == 0:
        return np.zeros((0, h, w), np.float32), np.zeros((0, h, w), bool)
    weight = np.clip(np.stack([smooth(m, fwhm) for m in models]), 0.0, None) + 1e-6 * float(sigma)
    share = weight / weight.sum(axis=0)
    detected = smooth(blend, fwhm) > nsigma * float(sigma)
    owner = np.argmax(share, axis=0)
    footprints = detected[None] & (owner[None] == np.arange(k)[:, None, None])
    return (np.asarray(blend, np.float64)[None] * share).astype(np.float32), footprints


class Deblender(abc.ABC):
    """Base class of all deblenders.

    Subclasses set :attr:`name` and implement :meth:`_run_batch`; :meth:`run` validates the input and
    :meth:`iter_run` runs a large set batch by batch as a cancellable job.
    """

    #: Registry name.
    name: str = ""
    #: True for a deblender that measures fluxes only (``[central, companion]``, no positions, footprints
    #: or images): evaluation then matches its fluxes to the galaxies by order and reports no detection,
    #: segmentation or image metrics.
    flux_only: bool = False

    def __init__(self, **params: Any) -> None:
        self._params = dict(params)
        #: The cancel token of the run in progress (:meth:`run`, :meth:`iter_run`): a deblender whose batch is
        #: long (scarlet: a fit per blend) checks it between blends with :meth:`_check_cancel`.
        self._cancel: CancelToken | None = None

    @property
    def params(self) -> dict[str, Any]:
        """Parameters of this deblender (a copy)."""
        return dict(self._params)

    @property
    def device(self) -> str:
        """Where the deblender runs (``"cpu"`` for the classical ones)."""
        return "cpu"

    @abc.abstractmethod
    def _run_batch(self, images: np.ndarray, psf: np.ndarray | None,
                   noise_sigma: np.ndarray | None) -> list[DeblendResult]:
        """Deblend a validated ``(B, H, W)`` float32 batch (noise_sigma: (B,) float64 or None)."""

    def run(self, images: Any, *, psf: np.ndarray | None = None,
            noise_sigma: float | Sequence[float] | None = None,
            cancel: CancelToken | None = None) -> list[DeblendResult]:
        """Deblend a batch of blends.

        Parameters
        ----------
        images : array, shape (B, H, W) or (H, W)
            Blend images.
        psf : array, optional
            PSF image (h, w) or one per blend (B, h, w); deblenders that do not use it ignore it.
        noise_sigma : float or sequence of B floats, optional
            Background noise standard deviation; estimated from each image when not given.
        cancel : CancelToken, optional
            Deblenders that take long per blend (scarlet) check it between blends and raise
            :class:`~candels_gui.core.errors.Cancelled`.

        Returns
        -------
        list of DeblendResult
            One per blend, in order.
        """
        batch = as_batch(images)
        sig = None if noise_sigma is None else noise_per_image(batch, noise_sigma)
        if batch.shape[0] == 0:
            return []
        return self._run_checked(batch, psf, sig, cancel)

    def _run_checked(self, images: np.ndarray, psf: np.ndarray | None, noise_sigma: np.ndarray | None,
                     cancel: CancelToken | None) -> list[DeblendResult]:
        """:meth:`_run_batch` with ``cancel`` as the token :meth:`_check_cancel` reads."""
        self._cancel = cancel
        try:
            return list(self._run_batch(images, psf, noise_sigma))
        finally:
            self._cancel = None

    def _check_cancel(self) -> None:
        """Raise :class:`~candels_gui.core.errors.Cancelled` when the run in progress was cancelled."""
        check_cancel(self._cancel)

    def iter_run(self, images: Any, batch_size: int = 16, cancel: CancelToken | None = None, *,
                 psf: np.ndarray | None = None,
                 noise_sigma: float | Sequence[float] | None = None) -> Job:
        """Job generator: deblend ``images`` ``batch_size`` at a time, checking ``cancel`` between batches.

        Yields a :class:`~candels_gui.core.jobs.Progress` after each batch (``done`` = blends done) and
        returns the list of :class:`DeblendResult`. ``cancel`` raises
        :class:`~candels_gui.core.errors.Cancelled` before the next batch starts.

        Examples
        --------
        >>> from candels_gui.core.jobs import run_job
        >>> results = run_job(get("sep").iter_run(images, 32))     # doctest: +SKIP
        """
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        batch = as_batch(images)
        n = batch.shape[0]
        sig = None if noise_sigma is None else noise_per_image(batch, noise_sigma)
        psf_arr = None if psf is None else np.asarray(psf)
        per_blend_psf = psf_arr is not None and psf_arr.ndim == 3
        if per_blend_psf and psf_arr.shape[0] != n:
            raise ValueError(f"psf must be (h, w) or one per blend ({n}, h, w), got {psf_arr.shape}")
        out: list[DeblendResult] = []
        for a in range(0, n, int(batch_size)):
            check_cancel(cancel)
            b = min(n, a + int(batch_size))
            p = psf_arr[a:b] if per_blend_psf else psf_arr
            out.extend(self._run_checked(batch[a:b], p, None if sig is None else sig[a:b], cancel))
            yield Progress(b, n, f"{self.name}: {b}/{n} blends")
        return out

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({opts}) [{self.name} on {self.device}]"


# ----------------------------------------------------------------------------------------- registry
#: Suffix that asks :func:`get` for a deblender's test-time-augmented variant (``"unet-seg+tta"``).
TTA_SUFFIX = "+tta"


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Deblender]
    description: str
    tta: bool = False


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, factory: Callable[..., Deblender], description: str = "", *,
             replace: bool = False, tta: bool = False) -> None:
    """Register a deblender factory under ``name`` (``factory(**kw)`` returns a :class:`Deblender`).

    Registering must not import heavy libraries: factories import them when called. ``tta``: the factory
    takes ``tta=True`` (test-time augmentation), which :func:`get` passes for ``name + TTA_SUFFIX``.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"deblender name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"deblender {name!r} is already registered")
    _REGISTRY[name] = _Entry(factory, description, bool(tta))


def available() -> list[str]:
    """Names of the registered deblenders, in registration order (torch models listed even without weights)."""
    return list(_REGISTRY)


def describe(name: str) -> str:
    """One-line description of a registered deblender."""
    return _entry(name).description


def descriptions() -> dict[str, str]:
    """name -> description of every registered deblender (what ``candels-gui deblend --list`` prints)."""
    return {k: e.description for k, e in _REGISTRY.items()}


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown deblender {name!r}; available: {', '.join(_REGISTRY)}") from None


def get(name: str, **kw: Any) -> Deblender:
    """Make the deblender registered as ``name`` with options ``kw``.

    ``name + "+tta"`` (:data:`TTA_SUFFIX`) makes the test-time-augmented variant of a torch model
    (``tta=True``: its outputs averaged over the 8 turns and flips of each blend).

    Raises
    ------
    ValueError
        For an unknown name, or the ``+tta`` variant of a deblender that has none.
    FileNotFoundError
        For a torch model whose weights file is missing (the message names the ``candels-gui train``
        command that makes it).
    """
    if name.endswith(TTA_SUFFIX) and name not in _REGISTRY:
        base = name[:-len(TTA_SUFFIX)]
        if not _entry(base).tta:
            raise ValueError(f"deblender {base!r} has no test-time augmentation ({TTA_SUFFIX}); those that do: "
                             f"{', '.join(k for k, e in _REGISTRY.items() if e.tta)}")
        return _entry(base).factory(**kw, tta=True)
    return _entry(name).factory(**kw)
