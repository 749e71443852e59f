"""statmorph's morphology (Gini, M20, Sérsic index) of a sample of a field's detected sources, for
``field compare`` (:func:`~.field_stats.morphology_quantities` calls :func:`field_morphology`).

Each sampled source is cut as ``field stamps`` cuts it (:func:`~candels_gui.core.data.field_stamps.stamps_at`: SEP
on the square around it, its segment labelled, the others masked) and measured by
:func:`~.morphology.measure_stamp`; measurements statmorph flags as bad (flag >= 2) are dropped, and the Sérsic
index of a fit it flags as bad (flag_sersic >= 2). The sample is
drawn from a generator seeded by ``seed``: the same field gives the same values.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from astropy.table import Table

from ..data.field_detect import DetectionSettings
from ..errors import DataError

__all__ = ["field_morphology", "MORPH_QUANTITIES", "MORPH_SAMPLE"]

#: statmorph's quantities compared between fields (MORPH_COLUMNS names).
MORPH_QUANTITIES = ("gini", "m20", "sersic_n")
#: Sources measured per field at most (statmorph with its Sérsic fit: about 0.25 s of CPU a source).
MORPH_SAMPLE = 100


def field_morphology(image: np.ndarray, catalog: Table, *, n_max: int = MORPH_SAMPLE, size: int = 64,
                     seed: int = 0, settings: Optional[DetectionSettings] = None) -> dict[str, np.ndarray]:
    """Gini, M20 and Sérsic n of up to ``n_max`` sources of ``catalog`` (columns ``x``, ``y``: pixel positions
    in ``image``), those far enough from the edges for a ``size`` px stamp; one value per measured source."""
    from ..data.field_stamps import stamps_at
    from .morphology import measure_stamp

    h, w = image.shape
    x, y = np.asarray(catalog["x"], float), np.asarray(catalog["y"], float)
    ok = np.flatnonzero((x >= size + 1) & (y >= size + 1) & (x < w - size - 1) & (y < h - size - 1))
    if len(ok) > n_max:
        ok = np.sort(np.random.default_rng(seed).choice(ok, n_max, replace=False))
    values: dict[str, list[float]] = {q: [] for q in MORPH_QUANTITIES}
    for i in ok:
        try:
            st = stamps_at(image, [(float(x[i]), float(y[i]))], size=size,
                           settings=settings or DetectionSettings())
        except DataError:
            continue
        row = measure_stamp(st.images[0], st.segmaps[0])
        if int(row.get("flag", 4)) >= 2:
            continue
        for q in MORPH_QUANTITIES:
            if q == "sersic_n" and int(row.get("flag_sersic", 4)) >= 2:
                continue   # a failed Sérsic fit (n of 100s) would set the distance by itself
            values[q].append(float(row.get(q, np.nan)))
    return {q: np.asarray(v, float) for q, v in values.items()}
