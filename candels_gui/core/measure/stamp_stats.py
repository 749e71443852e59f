"""How alike two stamp sets are: the distributions of what a deblender sees, real against generated.

:func:`stamp_quantities_job` measures, on the central galaxy of every stamp of a set (or a seeded sample of
``limit`` stamps):

- ``mag``: AB magnitude of the flux inside the central segment (background: the median of the unsegmented
  pixels), with the set's zeropoint;
- ``r50_arcsec``: radius holding half that flux, around the segment's flux-weighted centre, in arcseconds
  (each stamp's own pixel scale);
- ``snr``: that flux over the noise of the segment's area (per-pixel rms x sqrt(area));
- ``noise_rms`` and ``noise_lag1``: the background's rms and its lag-1 correlation (adjacent pixels along
  rows and columns, both unsegmented and at least 3 px from any segment; padded, masked and zero pixels are
  left out), which drizzling raises above zero;
- ``gini``, ``m20``, ``asymmetry`` (statmorph, :mod:`.morphology`) unless ``morphology=False``.

:func:`compare_stamp_sets` sets the distributions side by side: per set the 16th, 50th and 84th percentiles,
and against the reference set the two-sample KS statistic and the Wasserstein distance
(:func:`~.field_stats.two_sample`). :func:`write_stamp_plots` draws the histograms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..jobs import CancelToken, Job, Progress, check_cancel
from .field_stats import two_sample

__all__ = ["stamp_quantities_job", "compare_stamp_sets", "summary_markdown", "write_stamp_plots", "write_stamp_montage",
           "pixel_scales_of", "QUANTITIES", "DEFAULT_PIXEL_SCALE"]

_MEASURED = ("mag", "r50_arcsec", "snr", "noise_rms", "noise_lag1")   # by :func:`_measure_one`
_MORPH = ("gini", "m20", "asymmetry")                                # by statmorph
#: The compared quantities, in table order.
QUANTITIES = (*_MEASURED, *_MORPH)
#: Pixel scale assumed when a set says none (the CANDELS mosaics' 0.06"/px).
DEFAULT_PIXEL_SCALE = 0.06
_LOG_AXES = ("snr", "noise_rms")
_GAP = 3   # background pixels this far from every segment


def pixel_scales_of(stamps: Any, folder: str | os.PathLike | None = None) -> np.ndarray:
    """Each stamp's pixel scale ("/px): a sky-variety set's ``variety.csv`` (per stamp, by ID), else the set's
    ``pixel_scale``, else :data:`DEFAULT_PIXEL_SCALE`."""
    base = float(stamps.pixel_scale) if stamps.pixel_scale else DEFAULT_PIXEL_SCALE
    if folder is not None:
        from ..data.sky_variety import VARIETY_FILE

        path = Path(folder)
        variety = (path.parent if path.is_file() else path) / VARIETY_FILE
        if variety.is_file():
            import csv

            with open(variety, newline="", encoding="utf-8") as fh:
                by_id = {int(r["ID"]): float(r["pixel_scale"]) for r in csv.DictReader(fh)}
            return np.array([by_id.get(int(i), base) for i in stamps.ids], float)
    return np.full(len(stamps), base)


def _background_lag1(image: np.ndarray, usable: np.ndarray) -> tuple[float, float]:
    """rms and lag-1 correlation of the pixels where ``usable`` (pairs along rows and along columns)."""
    values = image[usable]
    if values.size < 50:
        return float("nan"), float("nan")
    mean, rms = float(values.mean()), float(values.std())
    if not rms > 0:
        return rms, float("nan")
    d = image - mean
    num = float((d[:, :-1] * d[:, 1:])[usable[:, :-1] & usable[:, 1:]].sum()
                + (d[:-1] * d[1:])[usable[:-1] & usable[1:]].sum())
    pairs = int((usable[:, :-1] & usable[:, 1:]).sum() + (usable[:-1] & usable[1:]).sum())
    return rms, (num / pairs / rms ** 2 if pairs else float("nan"))


def _measure_one(image: np.ndarray, segmap: np.ndarray, fill: np.ndarray | None, scale: float,
                 zeropoint: float) -> dict[str, float]:
    from scipy import ndimage

    image = np.asarray(image, np.float64)
    segmap = np.asarray(segmap)
    h, w = image.shape
    label = segmap[h // 2, w // 2]
    out = dict.fromkeys(_MEASURED, float("nan"))
    near = ndimage.binary_dilation(segmap != 0, iterations=_GAP)
    usable = ~near & np.isfinite(image) & (image != 0)
    if fill is not None:
        usable &= ~fill
    out["noise_rms"], out["noise_lag1"] = _background_lag1(image, usable)
    if label == 0:
        return out
    background = float(np.median(image[usable])) if usable.any() else 0.0
    seg = (segmap == label) & np.isfinite(image)
    values = image[seg] - background
    flux = float(values.sum())
    if not flux > 0:
        return out
    out["mag"] = zeropoint - 2.5 * np.log10(flux)
    if np.isfinite(out["noise_rms"]) and out["noise_rms"] > 0:
        out["snr"] = flux / (out["noise_rms"] * np.sqrt(values.size))
    ys, xs = np.nonzero(seg)
    weights = np.clip(values, 0, None)
    cy, cx = (np.average(ys, weights=weights), np.average(xs, weights=weights)) if weights.sum() > 0 \
        else (h // 2, w // 2)
    r = np.hypot(ys - cy, xs - cx)
    order = np.argsort(r, kind="stable")
    cum = np.cumsum(values[order])
    k = int(np.searchsorted(cum, 0.5 * flux))
    out["r50_arcsec"] = float(r[order][min(k, len(r) - 1)]) * scale
    return out


def stamp_quantities_job(stamps: Any, *, pixel_scales: Optional[np.ndarray] = None, limit: Optional[int] = None,
                         seed: int = 0, morphology: bool = True, workers: Optional[int] = None,
                         cancel: Optional[CancelToken] = None) -> Job:
    """Measure :data:`QUANTITIES` on the central galaxy of the stamps (a job generator; returns an astropy Table
    ``id`` + the quantities, one row per stamp measured).

    Parameters
    ----------
    stamps : StampSet
    pixel_scales : (N,) array, optional
        Each stamp's pixel scale (default :func:`pixel_scales_of` without a folder).
    limit : int, optional
        Measure a seeded random sample of this many stamps (all when None or larger than the set).
    seed : int
        Seed of that sample.
    morphology : bool
        Also measure Gini, M20 and asymmetry with statmorph (the slow part: ~0.2 s a stamp).
    workers : int, optional
        statmorph's processes (default: one per core).
    cancel : CancelToken, optional
    """
    from astropy.table import Table

    n = len(stamps)
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    idx = np.arange(n)
    if limit is not None and int(limit) < n:
        idx = np.sort(np.random.default_rng([int(seed), 0x535453]).choice(n, int(limit), replace=False))
    scales = pixel_scales_of(stamps) if pixel_scales is None else np.asarray(pixel_scales, float)
    if len(scales) != n:
        raise ValueError(f"pixel_scales has {len(scales)} values for {n} stamps")
    rows = []
    for k, i in enumerate(idx):
        check_cancel(cancel)
        rows.append(_measure_one(stamps.images[i], stamps.segmaps[i], stamps.fill_of(int(i)), float(scales[i]),
                                 float(stamps.zeropoint)))
        if k % 16 == 15 or k == len(idx) - 1:
            yield Progress(k + 1, len(idx), "stamp statistics")
    table = Table({"id": np.asarray(stamps.ids)[idx]})
    for q in _MEASURED:
        table[q] = np.array([r[q] for r in rows], float)
    if morphology:
        from .morphology import morphology_job

        subset = stamps.subset(idx) if len(idx) < n else stamps
        morph = yield from morphology_job(subset, workers=workers, use_cache=False, cancel=cancel)
        for q in _MORPH:
            table[q] = np.asarray(morph[q], float)
    else:
        for q in _MORPH:
            table[q] = np.full(len(idx), np.nan)
    return table


def compare_stamp_sets(tables: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """Percentiles of every quantity per set and, against ``reference``, the KS statistic and Wasserstein distance.

    Returns
    -------
    dict
        ``{"reference": name, "sets": {name: {"n": int, quantity: {"p16", "p50", "p84"}}},
        "distances": {name: {quantity: {"ks", "ks_pvalue", "wasserstein", ...}}}}`` (JSON-ready).
    """
    if reference not in tables:
        raise ValueError(f"reference {reference!r} is not one of the sets {sorted(tables)}")
    out: dict[str, Any] = {"reference": reference, "sets": {}, "distances": {}}
    for name, t in tables.items():
        entry: dict[str, Any] = {"n": int(len(t))}
        for q in QUANTITIES:
            v = np.asarray(t[q], float)
            v = v[np.isfinite(v)]
            entry[q] = ({k: float(np.percentile(v, p)) for k, p in (("p16", 16), ("p50", 50), ("p84", 84))}
                        if v.size else {"p16": float("nan"), "p50": float("nan"), "p84": float("nan")})
        out["sets"][name] = entry
        if name != reference:
            out["distances"][name] = {q: two_sample(np.asarray(tables[reference][q], float), np.asarray(t[q], float))
                                      for q in QUANTITIES}
    return out


def summary_markdown(comparison: Mapping[str, Any]) -> str:
    """The comparison as a Markdown table: median [16th-84th] per set, and KS against the reference."""
    names = list(comparison["sets"])
    ref = comparison["reference"]
    others = [n for n in names if n != ref]
    head = ["quantity", *(f"{n} (n={comparison['sets'][n]['n']})" for n in names),
            *(f"KS {n} vs {ref}" for n in others)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for q in QUANTITIES:
        cells = [q]
        for n in names:
            p = comparison["sets"][n][q]
            cells.append(f"{p['p50']:.3g} [{p['p16']:.3g}, {p['p84']:.3g}]" if np.isfinite(p["p50"]) else "—")
        for n in others:
            ks = comparison["distances"][n][q]["ks"]
            cells.append(f"{ks:.2f}" if np.isfinite(ks) else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_stamp_plots(tables: Mapping[str, Any], path: str | os.PathLike,
                      quantities: Sequence[str] = QUANTITIES) -> Path:
    """Histograms (density) of every quantity, one panel each, every set overlaid; a PNG at ``path``."""
    from .field_plots import agg_pyplot

    plt = agg_pyplot()
    cols = 4
    rows = (len(quantities) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, q in zip(axes.ravel(), quantities):
        values = {n: np.asarray(t[q], float) for n, t in tables.items()}
        if q in _LOG_AXES:      # spans decades: histogram of log10
            with np.errstate(divide="ignore", invalid="ignore"):
                values = {n: np.log10(np.where(v > 0, v, np.nan)) for n, v in values.items()}
            q = f"log10 {q}"
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        if finite.size < 2:
            ax.set_title(f"{q} (not measured)", fontsize=9)
            continue
        lo, hi = np.percentile(finite, [1, 99])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
        for n, v in values.items():
            ax.hist(np.clip(v[np.isfinite(v)], lo, hi), bins=bins, density=True, histtype="step", lw=1.5, label=n)
        ax.set_title(q, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(quantities):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_stamp_montage(stamp_sets: Mapping[str, Any], path: str | os.PathLike, *, per_set: int = 8, seed: int = 0
                        ) -> Path:
    """A row of ``per_set`` stamps (a seeded sample) per set, each asinh-stretched at its own background rms;
    a PNG at ``path``."""
    from .field_plots import agg_pyplot

    plt = agg_pyplot()
    fig, axes = plt.subplots(len(stamp_sets), per_set, figsize=(1.6 * per_set, 1.75 * len(stamp_sets)),
                             squeeze=False)
    for row, (name, stamps) in zip(axes, stamp_sets.items()):
        rng = np.random.default_rng([int(seed), 0x4D4F4E])
        idx = np.sort(rng.choice(len(stamps), min(per_set, len(stamps)), replace=False))
        for ax, i in zip(row, idx):
            image = np.asarray(stamps.images[i], np.float64)
            background = np.asarray(stamps.segmaps[i]) == 0
            finite = image[background & np.isfinite(image) & (image != 0)]
            rms = float(np.std(finite)) if finite.size > 10 else float(np.nanstd(image)) or 1.0
            ax.imshow(np.arcsinh(np.nan_to_num(image) / (1.5 * rms)), origin="lower", cmap="gray", vmin=-1.5, vmax=7)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, fontsize=9)
    fig.tight_layout(pad=0.3)
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
