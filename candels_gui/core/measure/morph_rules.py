"""Morphological classes from measured diagnostics: the Gini–M20 regions of Lotz et al. (2008), with Sérsic n
and asymmetry, for labelling galaxies no one has looked at.

The rule (applied in this order; every threshold is a keyword argument):

1. ``unc`` (unclassifiable): statmorph's ``flag`` is 2 or more (a bad or failed measurement), or its S/N per
   pixel is below ``min_sn_per_pixel`` (2.5, the limit Lotz et al. 2004 give for reliable G and M20).
2. ``ps`` (point source): half-light radius below ``ps_rhalf_fwhm`` (0.75) times the PSF's FWHM, in pixels
   (only when the PSF's FWHM is known).
3. ``irr`` (irregular / merger): in the merger region of Lotz et al. 2008, ``G > -0.14 M20 + 0.33``, or
   asymmetry above ``max_asymmetry`` (0.35, Conselice 2003's merger limit).
4. In the bulge region (E/S0/Sa), ``G > 0.14 M20 + 0.80``: ``sph`` when Sérsic ``n >= n_split`` (2.5),
   else ``sphd``.
5. Otherwise (the disk region, Sb/Sc/Ir): ``disk`` when ``n < n_split``, else ``sphd``.

A Sérsic index that statmorph could not fit (NaN) counts as below the split. These are labels from
a rule, not from eyes: the document ``docs/morphology.md`` says what they are good for.

Examples
--------
>>> lotz_classes(gini=[0.60, 0.58, 0.45], m20=[-2.3, -1.0, -1.9], asymmetry=[0.05, 0.1, 0.05],
...              sersic_n=[4.0, 2.0, 1.0], flag=[0, 0, 0], sn_per_pixel=[20, 20, 20]).tolist()
['sph', 'irr', 'disk']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["lotz_classes", "psf_fwhm_px", "MERGER_LINE", "BULGE_LINE"]

#: Merger region of Lotz et al. (2008): ``G > a * M20 + b``.
MERGER_LINE = (-0.14, 0.33)
#: Bulge (E/S0/Sa) region: ``G > a * M20 + b``.
BULGE_LINE = (0.14, 0.80)


def psf_fwhm_px(psf: np.ndarray) -> float:
    """FWHM (px) of a PSF image: the diameter of the circle with the area of its pixels above half the peak."""
    psf = np.asarray(psf, dtype=np.float64)
    if psf.size == 0 or not np.isfinite(psf).all() or psf.max() <= 0:
        return float("nan")
    area = np.count_nonzero(psf >= 0.5 * psf.max())
    return float(2.0 * np.sqrt(area / np.pi))


def lotz_classes(*, gini: Sequence[float], m20: Sequence[float], asymmetry: Sequence[float],
                 sersic_n: Sequence[float], flag: Sequence[int], sn_per_pixel: Sequence[float],
                 rhalf: Sequence[float] | None = None, psf_fwhm: float | Sequence[float] | None = None,
                 min_sn_per_pixel: float = 2.5, ps_rhalf_fwhm: float = 0.75, max_asymmetry: float = 0.35,
                 n_split: float = 2.5) -> np.ndarray:
    """Class of each galaxy (``sph``, ``sphd``, ``disk``, ``irr``, ``ps``, ``unc``) by the rule above."""
    g, m = np.asarray(gini, float), np.asarray(m20, float)
    a, n = np.asarray(asymmetry, float), np.asarray(sersic_n, float)
    fl, sn = np.asarray(flag, float), np.asarray(sn_per_pixel, float)
    out = np.full(len(g), "disk", dtype="<U4")
    bulge = g > BULGE_LINE[0] * m + BULGE_LINE[1]
    high_n = np.nan_to_num(n, nan=0.0) >= n_split
    out[bulge & high_n] = "sph"
    out[bulge & ~high_n] = "sphd"
    out[~bulge & high_n] = "sphd"
    merger = (g > MERGER_LINE[0] * m + MERGER_LINE[1]) | (np.nan_to_num(a, nan=0.0) > max_asymmetry)
    out[merger] = "irr"
    if rhalf is not None and psf_fwhm is not None:
        fwhm = np.broadcast_to(np.asarray(psf_fwhm, float), g.shape)
        small = np.asarray(rhalf, float) < ps_rhalf_fwhm * fwhm
        out[np.nan_to_num(small, nan=False).astype(bool)] = "ps"
    bad = (fl >= 2) | ~(sn >= min_sn_per_pixel) | ~np.isfinite(g) | ~np.isfinite(m)
    out[bad] = "unc"
    return out
