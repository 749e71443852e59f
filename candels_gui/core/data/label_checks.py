"""Checks that segmentation maps tell the truth: wrapped narrow labels, maps that do not match the images
or the catalog, stamps that hold no usable galaxy.

Labels stored in a narrow integer type (uint8, int8, uint16, int16) wrap around when the catalog numbers
exceed the type (CANDELS numbers run to tens of thousands: label 300 becomes 44 in uint8, 256 becomes 0).
A wrapped map is not always revealed by a ``segval`` column, so :func:`wrapped_label_evidence` looks at the
content, the way a person would:

1. *the catalog's numbers*: the catalog's ``segval`` (or, without one, its IDs or another integer column)
   exceed the type, and the label at each stamp's centre equals that number modulo the type's range;
2. *labels on other galaxies*: a source (>= 12 pixels above 5 sigma of the background) carries label
   0, i.e. a neighbour whose number wrapped to 0 and that neighbour cleaning would leave in place;
3. *the central label*: the label at the centre also covers a second, separate source far from the centre
   (a neighbour whose number wrapped onto the central one);
4. *the numbering*: each stamp holds a few labels spread over the whole range of the type, up to its top
   (field-wide numbers that wrapped), where per-stamp numbering would give 1, 2, 3, ...

Any evidence refuses the maps with a :class:`~candels_gui.core.errors.WrappedLabelsError` that names it
(``allow_narrow_labels=True`` in the readers skips evidence 2 to 4 for maps known to be right).

:func:`check_stamp_pixels` refuses constant stamps (all zero: nothing to blend) and pixel values so large
that blending overflows float32; :func:`check_light_matches_labels` refuses images whose light does not
sit in their central segments (axes in the wrong order, images and maps of different stamps).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..errors import DegenerateError, LabelError, NonFiniteError, ShapeError, WrappedLabelsError

__all__ = ["NARROW_KINDS", "is_narrow", "wrapped_label_evidence", "check_wrapped_labels", "check_stamp_pixels",
           "check_light_matches_labels", "check_segval_matches", "sample_indices", "HUGE_PIXEL", "background_level"]

#: Pixel values beyond this magnitude overflow float32 arithmetic once blended and scaled.
HUGE_PIXEL = 1e30
#: Stamps looked at by the statistical checks (evenly spaced through the set).
_SAMPLE = 256
_CHUNK_PIXELS = 1 << 24
#: Background statistics use at most about this many pixels of a stamp, evenly spread (a median of 16,000
#: pixels costs ~0.2 ms, and these checks run on up to 256 stamps at every data load).
_STAT_PIXELS = 4096


def is_narrow(dtype: np.dtype) -> bool:
    """True for integer types of 1 or 2 bytes (labels above 255 / 65535 wrap around in them)."""
    dtype = np.dtype(dtype)
    return dtype.kind in "ui" and dtype.itemsize <= 2


NARROW_KINDS = ("uint8", "int8", "uint16", "int16")


def sample_indices(n: int, k: int = _SAMPLE) -> np.ndarray:
    """At most ``k`` stamp indices evenly spaced over ``range(n)`` (all of them when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def background_level(image: np.ndarray, seg: np.ndarray) -> tuple[float, float]:
    """Median and MAD sigma of a stamp's unlabelled pixels (at most ~8,000 of them, evenly spread); (0, 0)
    when fewer than 16 pixels are unlabelled."""
    bg = image[seg == 0]
    bg = bg[np.isfinite(bg)]
    if bg.size < 16:
        return 0.0, 0.0
    bg = _spread_sample(bg)
    med = float(np.median(bg))
    return med, float(1.4826 * np.median(np.abs(bg - med)))


def _spread_sample(values: np.ndarray) -> np.ndarray:
    """At most ~2 x :data:`_STAT_PIXELS` of ``values`` (1-D), taken at an even stride: a median or MAD
    estimated from them is within ~2 % of a background sigma of the exact one."""
    step = values.size // _STAT_PIXELS
    return values[::step] if step > 1 else values


def _numbers_evidence(centre: np.ndarray, catalog: Any, modulus: int) -> Optional[str]:
    """Evidence 1: a catalog integer column beyond the type whose values modulo it are the centre labels."""
    names = [c for c in ("segval", "id", "number", "id_orig", "segval_orig") if c in catalog.colnames]
    names += [c for c in catalog.colnames if c not in names and c.lower() in ("number", "ident", "seg_id")]
    for name in names:
        try:
            v = np.asarray(catalog[name], dtype=np.float64)
        except (TypeError, ValueError):
            continue
        ok = np.isfinite(v) & (v == np.round(v)) & (v >= 0)
        big = ok & (v >= modulus)
        if big.sum() < 1:
            continue
        match = (np.mod(v[big], modulus) == centre[big]).mean()
        if name == "segval" or (big.sum() >= 3 and match >= 0.9):
            return (f"the catalog's {name!r} goes up to {int(np.nanmax(v[ok]))} and the labels at the stamp "
                    f"centres equal it modulo {modulus} ({100 * match:.0f} % of the stamps)")
    return None


def _bright_unlabelled(image: np.ndarray, seg: np.ndarray) -> bool:
    """Evidence 2: a source (>= 12 px above 5 sigma of the background) with label 0."""
    from scipy import ndimage

    med, sigma = background_level(image, seg)
    if sigma <= 0:
        return False
    hot = (seg == 0) & (image > med + 5 * sigma)
    if hot.sum() < 12:
        return False
    lab, n = ndimage.label(hot)
    return bool(n and np.bincount(lab.ravel())[1:].max() >= 12)


def _central_label_split(seg: np.ndarray) -> bool:
    """Evidence 3: the central label covers a second separate region of >= 12 px far from the centre."""
    from scipy import ndimage

    h, w = seg.shape
    c = seg[h // 2, w // 2]
    if c == 0:
        return False
    lab, n = ndimage.label(seg == c)
    if n < 2:
        return False
    sizes = np.bincount(lab.ravel())
    sizes[lab[h // 2, w // 2]] = 0
    sizes[0] = 0
    big = np.flatnonzero(sizes >= 12)
    for k in big:
        ys, xs = np.nonzero(lab == k)
        if np.hypot(ys.mean() - h // 2, xs.mean() - w // 2) > 0.15 * min(h, w):
            return True
    return False


def wrapped_label_evidence(segmaps: np.ndarray, dtype: np.dtype, *, images: Optional[np.ndarray] = None,
                           catalog: Any = None, content: bool = True) -> list[str]:
    """Reasons to believe that narrow-typed ``segmaps`` (stored as ``dtype``) wrapped around (see the module
    docstring); empty when nothing points that way or ``dtype`` is not narrow."""
    dtype = np.dtype(dtype)
    if not is_narrow(dtype):
        return []
    modulus = 1 << (8 * dtype.itemsize)
    n, h, w = segmaps.shape
    if n == 0:
        return []
    evidence = []
    if dtype.kind == "i":
        lo = min(int(np.asarray(segmaps[i:i + 256]).min()) for i in range(0, n, 256))
        if lo < 0:
            evidence.append(f"labels are {dtype.name} and go down to {lo}: numbers above "
                            f"{np.iinfo(dtype).max} wrapped to negative values")
            modulus //= 2
    centre = np.mod(np.asarray(segmaps[:, h // 2, w // 2], dtype=np.int64), modulus)
    if catalog is not None:
        found = _numbers_evidence(centre, catalog, modulus)
        if found:
            evidence.append(found)
    if not content:
        return evidence
    idx = sample_indices(n)
    segs = np.asarray(segmaps[idx], dtype=np.int64)
    if images is not None:
        imgs = np.asarray(images[idx], dtype=np.float32)
        bright = [int(i) for i, im, sg in zip(idx, imgs, segs) if _bright_unlabelled(im, sg)]
        if bright:
            evidence.append(f"bright sources carry label 0 (stamp index {', '.join(map(str, bright[:3]))}): "
                            f"neighbours whose numbers wrapped to 0")
    split = [int(i) for i, sg in zip(idx, segs) if _central_label_split(sg)]
    if split:
        evidence.append(f"the central label also covers a separate source far from the centre (stamp index "
                        f"{', '.join(map(str, split[:3]))}): a neighbour's number wrapped onto it")
    top = max(int(np.asarray(segmaps[i:i + 256]).max()) for i in range(0, n, 256))
    ratios = []
    for sg in segs:
        labels = np.unique(sg)
        labels = labels[labels > 0]
        if len(labels):
            ratios.append(labels.max() / len(labels))
    if top >= modulus - 16 and ratios and np.median(ratios) >= 8:
        evidence.append(f"each stamp holds a few labels spread up to {top}, the top of {dtype.name}: field-wide "
                        f"numbers that wrapped around")
    return evidence


def check_wrapped_labels(segmaps: np.ndarray, dtype: np.dtype, where: str, *, images: Optional[np.ndarray] = None,
                         catalog: Any = None, content: bool = True) -> None:
    """Raise :class:`WrappedLabelsError` when :func:`wrapped_label_evidence` finds any."""
    evidence = wrapped_label_evidence(segmaps, dtype, images=images, catalog=catalog, content=content)
    if evidence:
        raise WrappedLabelsError(
            f"{where}: segmentation stored as {np.dtype(dtype).name} looks wrapped around: {evidence[0]}"
            f"{f' (and {len(evidence) - 1} more sign(s))' if len(evidence) > 1 else ''}. Re-create the maps "
            f"as int32 (CANDELS numbers exceed 255)")


def check_stamp_pixels(images: np.ndarray, where: str) -> None:
    """Refuse an empty set, non-finite pixels, pixels beyond :data:`HUGE_PIXEL`, and constant stamps
    (all zero, or all one value: no galaxy), naming the first stamps."""
    n = len(images)
    if n == 0:
        raise DegenerateError(f"{where}: holds no stamps")
    step = max(1, _CHUNK_PIXELS // max(1, images[0].size))
    constant, huge, bad = [], [], []
    for a in range(0, n, step):
        block = np.asarray(images[a:a + step], dtype=np.float32)
        flat = block.reshape(len(block), -1)
        fin = np.isfinite(flat).all(axis=1)
        bad += [a + int(i) for i in np.flatnonzero(~fin)]
        with np.errstate(invalid="ignore"):
            hi, lo = np.nanmax(flat, axis=1), np.nanmin(flat, axis=1)
        huge += [a + int(i) for i in np.flatnonzero(np.maximum(np.abs(hi), np.abs(lo)) > HUGE_PIXEL)]
        constant += [a + int(i) for i in np.flatnonzero(fin & (hi == lo))]
    if bad:
        raise NonFiniteError(f"{where}: NaN or infinite pixels in {len(bad)} stamp(s) (index "
                             f"{', '.join(map(str, bad[:5]))})")
    if huge:
        raise NonFiniteError(f"{where}: pixel values beyond {HUGE_PIXEL:g} in {len(huge)} stamp(s) (index "
                             f"{', '.join(map(str, huge[:5]))}); they overflow float32 once blended")
    if constant:
        raise DegenerateError(f"{where}: {len(constant)} stamp(s) hold one constant value (e.g. all zero), no "
                              f"galaxy (index {', '.join(map(str, constant[:5]))}); remove them")


def check_light_matches_labels(images: np.ndarray, segmaps: np.ndarray, where: str, *,
                               max_bad_fraction: float = 0.2) -> None:
    """Refuse images whose light does not sit in the central segment of their maps.

    On stamps sampled through the set, the mean of the central segment must stand above the background
    (median of label 0) by at least one background sigma: true of any detection, false when the axes are
    in the wrong order (a channels-last cube, a Fortran-ordered array read as C) or images and maps
    belong to different stamps.
    """
    n, h, w = images.shape
    idx = sample_indices(n)
    bad, seen = [], 0
    for i in idx:
        seg = np.asarray(segmaps[i])
        c = seg[h // 2, w // 2]
        if c == 0:
            continue
        img = np.asarray(images[i], dtype=np.float64)
        inside = img[seg == c]
        med, sigma = background_level(img, seg)
        if sigma <= 0 or inside.size == 0:
            continue
        seen += 1
        if inside.mean() - med < sigma:
            bad.append(int(i))
    if seen >= 5 and len(bad) > max_bad_fraction * seen:
        raise ShapeError(f"{where}: in {len(bad)} of {seen} stamps looked at the central segment holds no "
                         f"more light than the background (index {', '.join(map(str, bad[:3]))}): images and "
                         f"segmentation maps do not match (axes in the wrong order? different stamps?)")


def check_segval_matches(segmaps: np.ndarray, segval: Sequence[Any], where: str) -> None:
    """Refuse maps whose centre labels disagree with the catalog's ``segval`` in most stamps."""
    n, h, w = segmaps.shape
    sv = np.asarray(segval, dtype=np.float64)
    centre = np.asarray(segmaps[:, h // 2, w // 2], dtype=np.float64)
    known = np.isfinite(sv) & (centre > 0)
    if known.sum() < 5:
        return
    wrong = np.flatnonzero(known & (centre != sv))
    if len(wrong) > 0.5 * known.sum():
        i = int(wrong[0])
        raise LabelError(f"{where}: the label at the stamp centre differs from the catalog's segval in "
                         f"{len(wrong)} of {int(known.sum())} stamps (index {i}: label {int(centre[i])}, segval "
                         f"{int(sv[i])}): maps and catalog do not match")


def _centre_profile_score(profile: np.ndarray) -> float:
    """How much a 1-D profile falls off away from its middle: the rank correlation of the profile with
    minus the distance from the middle (about 1 for a centred blob, about 0 for a flat profile or one in
    random order)."""
    dist = np.abs(np.arange(len(profile)) - len(profile) // 2)
    if np.ptp(profile) == 0:
        return 0.0
    # Spearman's rho, as scipy.stats.spearmanr (average ranks for ties), without importing scipy.stats
    # (~1 s of every data load)
    return float(np.corrcoef(_average_ranks(profile), _average_ranks(-dist))[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of ``x``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def _axis_score(profile: np.ndarray) -> float:
    """The centring score of one axis: the profile's over the whole stamp, or 1 when the stamp is 128 px or more
    and the inner eighth on each side of the middle falls off steeply (rank correlation >= 0.6, which 33 or more
    values in random order reach less than once in 2,500). Stamps cut from a crowded field are centred but their
    outer parts hold neighbours, which flatten the whole-stamp score; a misread cube has no such central fall-off along the axis that runs over the
    galaxies."""
    n = len(profile)
    r = n // 8
    if n >= 128 and _centre_profile_score(profile[n // 2 - r:n // 2 + r + 1]) >= 0.6:
        return 1.0
    if n >= 32 and _peaks_alone_in_the_middle(profile):
        return 1.0
    return _centre_profile_score(profile)


def _peaks_alone_in_the_middle(profile: np.ndarray) -> bool:
    """The profile's maximum lies within 2 px of the middle and is at least three times every value beyond n/16 of it:
    a few small, faint centred galaxies (a field's stamps) whose profile beyond their few pixels is noise, which the
    rank correlations cannot tell from a random order. Along the axis of a misread cube that runs over the
    galaxies, one value three times every other is not what galaxies of like brightness give."""
    n = len(profile)
    mid, r = n // 2, max(2, n // 16)
    peak = float(profile[mid - 2:mid + 3].max())
    outside = np.concatenate([profile[:mid - r], profile[mid + r + 1:]])
    return peak > 0 and int(np.argmax(profile)) in range(mid - 2, mid + 3) and peak >= 3.0 * float(outside.max())


def check_light_centred(images: np.ndarray, where: str) -> None:
    """Refuse a cube whose galaxies are not centred along both stamp axes (a channels-last cube read as
    channels-first, even when square: each "stamp" is then one row of every galaxy).

    The stamps sampled through the set are each scaled to their own peak and averaged; along each axis that
    mean must fall off away from the middle (rank correlation with minus the distance >= 0.3 over the stamp,
    or >= 0.6 over its inner quarter: :func:`_axis_score`). Centred galaxies make a central blob; a misread
    cube is centred along one axis only (the other runs over the galaxies in catalog order).
    """
    n, h, w = images.shape
    if n < 8 or h < 16:
        return
    idx = sample_indices(n)
    stack = np.zeros((h, w))
    for i in idx:
        img = np.asarray(images[i], dtype=np.float64)
        img = img - np.median(_spread_sample(img.ravel()))
        peak = np.abs(img).max()
        if peak > 0:
            stack += img / peak
    band = max(1, min(h, w) // 16)
    rows = stack[:, w // 2 - band:w // 2 + band + 1].mean(axis=1)
    cols = stack[h // 2 - band:h // 2 + band + 1, :].mean(axis=0)
    scores = _axis_score(rows), _axis_score(cols)
    if min(scores) < 0.3:
        axis = "rows (axis 1)" if scores[0] < scores[1] else "columns (axis 2)"
        raise ShapeError(f"{where}: the galaxies are not centred along the stamps' {axis} (the mean of "
                         f"{len(idx)} stamps peaks off the middle): a channels-last cube (H, W, N)? store it "
                         f"as (N, H, W)")
