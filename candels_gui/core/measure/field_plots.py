"""Figures of a real-vs-generated field comparison (matplotlib, imported when a figure is drawn).

:func:`write_field_plots` writes into a folder: ``fields.png`` (the two fields side by side, the same asinh
stretch, a 512 x 512 crop and the whole field binned), ``counts.png`` (number counts per unit area),
``flux_radius.png``, ``ellipticity.png`` (and one per morphology quantity), ``pixels.png`` (pixel-value
histograms, log scale) and ``power.png`` (power spectra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .field_stats import MAG_BINS, FieldStatistics

__all__ = ["write_field_plots", "binned_view"]

_COLORS = {"real": "#1f4e79", "generated": "#c55a11"}


def binned_view(image: np.ndarray, size: int = 512) -> np.ndarray:
    """The whole field binned (block mean) to at most ``size`` pixels a side, read strip by strip."""
    h, w = image.shape
    f = max(1, int(np.ceil(max(h, w) / size)))
    hh, ww = h // f, w // f
    out = np.zeros((hh, ww), np.float64)
    for r in range(hh):
        out[r] = np.nanmean(np.asarray(image[r * f:(r + 1) * f, :ww * f], np.float64).reshape(f, ww, f),
                            axis=(0, 2))
    return out


def _stretch(img: np.ndarray, rms: float) -> np.ndarray:
    a = 3.0 * rms if np.isfinite(rms) and rms > 0 else float(np.nanstd(img)) or 1.0
    return np.arcsinh(np.asarray(img, np.float64) / a)


def agg_pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    return plt


def write_field_plots(real: FieldStatistics, generated: FieldStatistics, real_image: np.ndarray,
                      generated_image: np.ndarray, outdir: str | os.PathLike) -> list[Path]:
    """Write the comparison figures into ``outdir``; returns their paths."""
    plt = agg_pyplot()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    label = {"real": f"real: {real.name}", "generated": f"generated: {generated.name}"}

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    # the fields side by side: a crop at full resolution and the whole field binned
    fig, axes = plt.subplots(2, 2, figsize=(10, 10))
    hi = None
    for col, (key, st, img) in enumerate((("real", real, real_image), ("generated", generated, generated_image))):
        n = min(512, img.shape[0], img.shape[1])
        r0, c0 = (img.shape[0] - n) // 2, (img.shape[1] - n) // 2
        crop = _stretch(np.asarray(img[r0:r0 + n, c0:c0 + n]), real.rms)
        whole = _stretch(binned_view(img), real.rms / max(1.0, img.shape[0] / 512))
        if hi is None:
            hi = float(np.nanpercentile(crop, 99.7))
        axes[0, col].imshow(crop, cmap="gray", origin="lower", vmin=-1.5, vmax=hi)
        axes[0, col].set_title(f"{label[key]}\n{n}x{n} px crop (centre)", fontsize=9)
        axes[1, col].imshow(whole, cmap="gray", origin="lower", vmin=-1.5, vmax=hi)
        axes[1, col].set_title(f"whole field {img.shape[0]}x{img.shape[1]} px, binned", fontsize=9)
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("the same asinh stretch (softening 3x the real field's sky rms)", fontsize=9)
    save(fig, "fields.png")

    # number counts
    fig, ax = plt.subplots(figsize=(6, 4.2))
    centres = 0.5 * (MAG_BINS[1:] + MAG_BINS[:-1])
    for key, st in (("real", real), ("generated", generated)):
        c = np.where(st.counts > 0, st.counts, np.nan)
        ax.plot(centres, c, "o-", ms=3, color=_COLORS[key], label=f"{label[key]} ({len(st.catalog)} objects)")
    ax.set_yscale("log")
    ax.set_xlabel("magnitude (AB, SEP Kron flux)")
    ax.set_ylabel(f"N per {real.area_unit.replace('arcmin2', 'arcmin²')} per mag")
    ax.legend(fontsize=8)
    ax.set_title("number counts", fontsize=10)
    save(fig, "counts.png")

    # distributions of catalog quantities
    for q in real.quantities:
        if q not in generated.quantities or q == "mag":
            continue
        a, b = real.quantities[q], generated.quantities[q]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 2 or len(b) < 2:
            continue
        lo, hi_q = np.percentile(np.concatenate([a, b]), [0.5, 99.5])
        bins = np.linspace(lo, hi_q if hi_q > lo else lo + 1, 40)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for key, v in (("real", a), ("generated", b)):
            ax.hist(v, bins, density=True, histtype="step", lw=1.6, color=_COLORS[key], label=label[key])
        ax.set_xlabel(q.replace("_", " ") + (" (px)" if q == "flux_radius" else ""))
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        save(fig, f"{q}.png")

    # pixel values
    fig, ax = plt.subplots(figsize=(6, 4.2))
    both = np.concatenate([real.pixels, generated.pixels])
    lo, hi_p = np.percentile(both, [0.01, 99.99]) if len(both) else (0.0, 1.0)
    bins = np.linspace(lo, hi_p if hi_p > lo else lo + 1, 200)
    for key, st in (("real", real), ("generated", generated)):
        ax.hist(st.pixels, bins, density=True, histtype="step", lw=1.4, color=_COLORS[key], label=label[key])
    ax.set_yscale("log")
    ax.set_xlabel("pixel value (field units)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    save(fig, "pixels.png")

    # power spectra
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, st in (("real", real), ("generated", generated)):
        ax.loglog(st.ps_freq, st.ps_power, color=_COLORS[key], label=label[key])
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("power")
    ax.legend(fontsize=8)
    ax.set_title("azimuthally averaged power spectrum", fontsize=10)
    save(fig, "power.png")
    return written
