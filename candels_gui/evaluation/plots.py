"""Figures of a deblender evaluation (matplotlib, Agg, imported only when a figure is drawn).

Every figure puts all deblenders on the same axes with a legend, labels its axes with units and is saved
as one PNG:

* :func:`plot_vs_separation` -- precision, recall, mean IoU, flux MAPE, Δmag (mean ± σ of the inliers),
  the outlier fraction, the ellipticity residual and the fraction of shapes lost in the separation bins of
  Boucaud et al. (2020);
* :func:`plot_vs_delta_mag` -- the same in bins of the magnitude difference of the two galaxies;
* :func:`plot_iou_histograms` -- the distribution of per-galaxy IoU (central galaxy, companion);
* :func:`plot_magnitudes` -- predicted vs true magnitude, with the residual Δmag below.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so
drawing them does not change the backend of a running app. Each function takes an
:class:`~candels_gui.evaluation.evaluate.EvaluationResult` or a mapping deblender name -> per-blend table.

Examples
--------
>>> from candels_gui.evaluation import write_plots
>>> write_plots(result, "plots")        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from astropy.table import Table

from ..core.atomic import temp_path
from ..core.blending.labels import DEFAULT_ZEROPOINT, flux_to_mag
from ..core.measure.metrics import DMAG_OUTLIER, dmag_stats
from ..core.measure.binned import DELTA_MAG_BINS, SEPARATION_BINS, binned_metric, shapes_lost
from .measure import ORACLES

__all__ = ["PLOT_FILES", "write_plots", "plot_vs_separation", "plot_vs_delta_mag", "plot_iou_histograms",
           "plot_magnitudes"]

#: Figure key -> PNG file name written by :func:`write_plots`.
PLOT_FILES = {"separation": "metrics_vs_separation.png", "delta_mag": "metrics_vs_delta_mag.png",
              "iou": "iou_histograms.png", "magnitudes": "magnitudes_pred_vs_true.png"}

# Okabe & Ito colour-blind-safe palette, and one marker per deblender.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_STYLE = {
    "font.size": 11, "axes.labelsize": 12, "axes.titlesize": 12, "legend.fontsize": 10.5,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.35, "grid.linestyle": ":", "lines.linewidth": 1.6,
    "errorbar.capsize": 2.5, "legend.frameon": False, "savefig.dpi": 150, "figure.dpi": 100,
    "mathtext.default": "regular",
}

# The oracle rows (``evaluate --oracle``): greys, dashed, markers of their own.
_ORACLE_LOOKS = (("0.45", "h"), ("0.7", "p"), ("0.25", "d"))


def _looks(names: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """name -> (colour, marker, line style): deblenders take the palette in order (dashed from the 9th on,
    with shifted markers, so no two share a look); the ``truth-`` oracle rows are grey and dashed."""
    looks, j, k = {}, 0, 0
    for name in names:
        if name in ORACLES:
            colour, marker = _ORACLE_LOOKS[k % len(_ORACLE_LOOKS)]
            looks[name], k = (colour, marker, "--"), k + 1
        else:
            lap = j // len(_COLOURS)
            looks[name] = (_COLOURS[j % len(_COLOURS)], _MARKERS[(j + 3 * lap) % len(_MARKERS)],
                           "-" if lap == 0 else "--")
            j += 1
    return looks


def _tables(source: Any) -> dict[str, Table]:
    tables = getattr(source, "tables", source)
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("plots need an EvaluationResult or a non-empty mapping name -> per-blend table")
    return dict(tables)


@contextlib.contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _figure(**kw: Any) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained", **kw)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(p)
    try:
        fig.savefig(tmp, format="png", facecolor="white")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _col(table: Table, name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=np.float64)


def _both(table: Table, name: str) -> np.ndarray:
    return np.concatenate([_col(table, f"{name}_1"), _col(table, f"{name}_2")])


def _has_flux(table: Table) -> bool:
    return bool(np.isfinite(_both(table, "flux_pred")).any())


def _mags(table: Table, kind: str) -> np.ndarray:
    """``mag_{kind}_1`` and ``_2`` concatenated (from the fluxes when the columns are missing)."""
    if f"mag_{kind}_1" in table.colnames:
        return _both(table, f"mag_{kind}")
    return flux_to_mag(_both(table, f"flux_{kind}"), DEFAULT_ZEROPOINT)


# ------------------------------------------------------------------------------------ binned figures
def _ratio(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(den > 0, num / den, np.nan)
        err = np.where(den > 0, np.sqrt(p * (1 - p) / den), np.nan)
    return p, err


def _mean_sem(x: np.ndarray, values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = binned_metric(x, values, edges, statistic="mean")
    std = binned_metric(x, values, edges, statistic="std")
    n = binned_metric(x, np.isfinite(values).astype(float), edges, statistic="sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        return mean, np.where(n > 1, std / np.sqrt(n), np.nan)


def _binned_stats(table: Table, x: np.ndarray, edges: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """Per-bin (value, error) of every panel's metric; ``x`` is one value per blend."""
    sums = {c: binned_metric(x, _col(table, c), edges, statistic="sum") for c in ("tp", "fp", "fn")}
    xg = np.concatenate([x, x])
    out = {"precision": _ratio(sums["tp"], sums["tp"] + sums["fp"]),
           "recall": _ratio(sums["tp"], sums["tp"] + sums["fn"]),
           "iou": _mean_sem(xg, _both(table, "iou"), edges)}
    if _has_flux(table):
        mape, sem = _mean_sem(xg, 100.0 * np.abs(_both(table, "flux_relerr")), edges)
        dmag = _both(table, "dmag")
        mean = binned_metric(xg, dmag, edges, statistic=lambda d: dmag_stats(d)[0])
        sigma = binned_metric(xg, dmag, edges, statistic=lambda d: dmag_stats(d)[1])
        frac = binned_metric(xg, dmag, edges, statistic=lambda d: dmag_stats(d)[2])
        n_gal = binned_metric(xg, dmag, edges, statistic="count")
        out.update(mape=(mape, sem), dmag=(mean, sigma), outlier=(frac, _ratio(frac * n_gal, n_gal)[1]))
    if "shape_err_1" in table.colnames and np.isfinite(_both(table, "rmse")).any():
        measurable, lost = shapes_lost(table)
        out.update(shape=_mean_sem(xg, _both(table, "shape_err"), edges),
                   shape_lost=_ratio(binned_metric(xg, lost.astype(float), edges, statistic="sum"),
                                     binned_metric(xg, measurable.astype(float), edges, statistic="sum")))
    return out


_PANELS = (("precision", "Precision", (0, 1.04)), ("recall", "Recall", (0, 1.04)),
           ("iou", "Mean IoU", (0, 1.04)), ("mape", "Flux MAPE [%]", None),
           ("dmag", r"$\Delta m$ = $m_{pred} - m_{true}$ [mag]", None),
           ("outlier", rf"Outlier fraction ($|\Delta m| > {DMAG_OUTLIER}$)", (0, 1.04)),
           ("shape", r"Ellipticity residual $|g_{pred} - g_{true}|$", None),
           ("shape_lost", "Shapes lost (no HSM moments)", (0, 1.04)))
_PANEL_NOTES = {"iou": "mean ± s.e.m.", "mape": "mean ± s.e.m.",
                "dmag": rf"mean ± σ, $|\Delta m| \leq {DMAG_OUTLIER}$", "precision": "± binomial error",
                "recall": "± binomial error", "outlier": "± binomial error", "shape": "mean ± s.e.m.",
                "shape_lost": "± binomial error"}


def _binned_figure(tables: Mapping[str, Table], xkey: str, edges: np.ndarray, xlabel: str,
                   path: str | os.PathLike) -> Path:
    edges = np.asarray(edges, dtype=np.float64)
    nb = len(edges) - 1
    names = list(tables)
    with _style():
        fig = _figure(figsize=(16.0, 7.2))
        axes = fig.subplots(2, 4, sharex=True)
        first = next(iter(tables.values()))
        xb = np.abs(_col(first, xkey)) if xkey == "delta_mag" else _col(first, xkey)
        counts = binned_metric(xb, np.ones_like(xb), edges, statistic="count").astype(int)
        pos = np.arange(nb, dtype=float)
        step = min(0.12, 0.6 / len(names))   # horizontal offset between deblenders in a bin
        handles = []
        looks = _looks(names)
        for j, name in enumerate(names):
            t = tables[name]
            x = np.abs(_col(t, xkey)) if xkey == "delta_mag" else _col(t, xkey)
            stats = _binned_stats(t, x, edges)
            off = pos + (j - (len(names) - 1) / 2) * step
            colour, marker, line = looks[name]
            for ax, (key, _, _) in zip(axes.flat, _PANELS):
                if key not in stats:
                    continue
                val, err = stats[key]
                h = ax.errorbar(off, val, yerr=err, color=colour, marker=marker, markersize=6, linestyle=line,
                                label=name)
            handles.append(h)
        labels = [f"{a:g}–{b:g}\nN = {c}" for a, b, c in zip(edges[:-1], edges[1:], counts)]
        for ax, (key, ylabel, ylim) in zip(axes.flat, _PANELS):
            ax.set_ylabel(ylabel)
            ax.set_title(_PANEL_NOTES[key], fontsize=9.5, color="0.35", loc="right")
            ax.set_xticks(pos, labels)
            ax.set_xlim(-0.5, nb - 0.5)
            if ylim is not None:
                ax.set_ylim(*ylim)
            if key == "dmag":
                ax.axhline(0.0, color="0.3", linewidth=0.9, zorder=0)
            if key in ("mape", "shape"):
                ax.set_ylim(bottom=0)
            if not ax.has_data():
                ax.text(0.5, 0.5, "no shapes measured" if key.startswith("shape") else "no fluxes measured",
                        transform=ax.transAxes, ha="center", va="center", color="0.4")
        fig.supxlabel(xlabel)
        fig.legend(handles, names, loc="outside upper center", ncols=min(len(names), 6), fontsize=11.5)
        return _save(fig, path)


def plot_vs_separation(source: Any, path: str | os.PathLike, *,
                       edges: np.ndarray = SEPARATION_BINS) -> Path:
    """Detection, segmentation and photometry metrics in separation bins (Boucaud et al. 2020).

    Parameters
    ----------
    source : EvaluationResult or mapping name -> per-blend table
    path : path
        PNG to write.
    edges : array
        Bin edges in pixels (default :data:`~candels_gui.core.measure.binned.SEPARATION_BINS`).

    Returns
    -------
    Path
    """
    return _binned_figure(_tables(source), "separation", edges, "Separation of the two galaxies [pixels]",
                          path)


def plot_vs_delta_mag(source: Any, path: str | os.PathLike, *,
                      edges: np.ndarray = DELTA_MAG_BINS) -> Path:
    """The metrics of :func:`plot_vs_separation` in bins of ``|m2 - m1|`` of the two galaxies."""
    return _binned_figure(_tables(source), "delta_mag", edges,
                          r"Magnitude difference of the two galaxies $|m_2 - m_1|$ [mag]", path)


# --------------------------------------------------------------------------------------- histograms
def plot_iou_histograms(source: Any, path: str | os.PathLike, *, bins: int = 20) -> Path:
    """Distribution of the IoU of each true galaxy with its matched footprint, per galaxy role.

    A missed galaxy has IoU 0. Histograms are normalised to the fraction of galaxies.
    """
    tables = _tables(source)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    with _style():
        fig = _figure(figsize=(11.0, 4.4))
        axes = fig.subplots(1, 2, sharey=True)
        looks = _looks(list(tables))
        for g, (ax, role) in enumerate(zip(axes, ("Central galaxy (galaxy 1)", "Companion (galaxy 2)")), 1):
            drawn = 0
            for name, t in tables.items():
                v = _col(t, f"iou_{g}")
                v = v[np.isfinite(v)]
                if not v.size:
                    continue
                ax.hist(v, bins=edges, weights=np.full(v.size, 1.0 / v.size), histtype="step",
                        linewidth=1.9, color=looks[name][0], linestyle=looks[name][2],
                        label=f"{name} (mean {v.mean():.2f}, median {np.median(v):.2f})")
                drawn += 1
            ax.set_title(role)
            ax.set_xlabel("IoU with the true footprint (0: galaxy missed)")
            ax.set_xlim(0, 1)
            if drawn:
                ax.legend(loc="upper right")
            else:
                ax.text(0.5, 0.5, "no deblender made footprints", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
        axes[0].set_ylabel("Fraction of galaxies")
        return _save(fig, path)


# --------------------------------------------------------------------------------------- magnitudes
def _clipped(ax: Any, x: np.ndarray, y: np.ndarray, lo: float, hi: float, colour: str, marker: str,
             label: str | None) -> None:
    """Scatter with points outside [lo, hi] in y drawn at the edge as open triangles."""
    inside = (y >= lo) & (y <= hi)
    ax.scatter(x[inside], y[inside], s=14, color=colour, marker=marker, alpha=0.55, linewidths=0,
               label=label)
    pad = 0.02 * (hi - lo)
    for sel, edge, m in ((y > hi, hi - pad, "^"), (y < lo, lo + pad, "v")):
        if sel.any():
            ax.scatter(x[sel], np.full(sel.sum(), edge), s=22, marker=m, facecolors="none",
                       edgecolors=colour, linewidths=0.9, alpha=0.8)


def plot_magnitudes(source: Any, path: str | os.PathLike, *, dmag_range: float = 2.0) -> Path:
    """Predicted vs true AB magnitude of every galaxy (top) and ``Δm = m_pred - m_true`` (bottom).

    Galaxies without a positive predicted flux (missed or negative) have no magnitude; the legend
    counts them. Points beyond the axes are drawn at the edge as open triangles.
    """
    tables = {k: t for k, t in _tables(source).items() if _has_flux(t)}
    with _style():
        fig = _figure(figsize=(7.0, 8.4))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1.3)})
        all_true = np.concatenate([_mags(t, "true") for t in tables.values()]) if tables else np.array([])
        finite = all_true[np.isfinite(all_true)]
        lo, hi = (float(finite.min()) - 0.5, float(finite.max()) + 0.5) if finite.size else (20.0, 28.0)
        top.plot([lo, hi], [lo, hi], color="0.25", linestyle="--", linewidth=1.0, label="1:1")
        looks = _looks(list(tables))
        for name, t in tables.items():
            mt, mp = _mags(t, "true"), _mags(t, "pred")
            ok = np.isfinite(mt) & np.isfinite(mp)
            lost = int(np.sum(np.isfinite(mt) & ~np.isfinite(mp)))
            label = f"{name} ({lost}/{int(np.isfinite(mt).sum())} galaxies without flux)" if lost else name
            c, m, _ = looks[name]
            _clipped(top, mt[ok], mp[ok], lo, hi, c, m, label)
            _clipped(bottom, mt[ok], mp[ok] - mt[ok], -dmag_range, dmag_range, c, m, None)
        if not tables:
            top.text(0.5, 0.5, "no deblender measured fluxes", transform=top.transAxes, ha="center",
                     color="0.4")
        top.set_xlim(lo, hi)
        top.set_ylim(lo, hi)
        top.set_ylabel("Predicted magnitude [AB mag]")
        top.legend(loc="upper left", markerscale=1.6)
        bottom.axhline(0.0, color="0.25", linewidth=1.0)
        for s in (-DMAG_OUTLIER, DMAG_OUTLIER):
            bottom.axhline(s, color="0.45", linestyle=":", linewidth=1.0)
        bottom.set_ylim(-dmag_range, dmag_range)
        bottom.set_xlabel("True magnitude [AB mag]")
        bottom.set_ylabel(r"$\Delta m$ [mag]")
        return _save(fig, path)


# -------------------------------------------------------------------------------------------- all
def write_plots(source: Any, outdir: str | os.PathLike) -> list[Path]:
    """Write every figure as a PNG into ``outdir`` (file names: :data:`PLOT_FILES`).

    Returns
    -------
    list of Path
        The PNG files written.
    """
    out = Path(outdir)
    tables = _tables(source)
    return [plot_vs_separation(tables, out / PLOT_FILES["separation"]),
            plot_vs_delta_mag(tables, out / PLOT_FILES["delta_mag"]),
            plot_iou_histograms(tables, out / PLOT_FILES["iou"]),
            plot_magnitudes(tables, out / PLOT_FILES["magnitudes"])]
