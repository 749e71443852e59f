"""Headless core of candels-gui: pure numpy / astropy / photutils / h5py.

Nothing here imports Qt or torch (a test checks it). Every action of the app is a function here first.
The core is a set of sub-packages by concern, each saying in its own docstring what lives there and what
it may import; between them imports go one way, ``curation -> store -> blending -> data -> root``, with
``measure`` and ``display`` beside them:

=================  ==========================================================================================
``data/``          :class:`StampSet`, catalogs and filters, one reader per input format, the CANDELS download,
                   automatic segmentation, the sample-data generator and its galaxy models
``blending/``      cleaning (neighbour replacement), :class:`BlendSpec` and the :class:`BlendEngine`, sampling
                   rules, label methods, blend metrics, the blend catalogue
``store/``         ``produce``, ``concatenate``, the writers and readers of exports (npy, HDF5, FITS, Zarr), the
                   stamp library of compact exports, the partitioned (Dask) paths of produce and concatenate
``curation/``      sessions, commands and the undo stack, queue items, session files, exporting a session
``measure/``       matching, detection / photometry / image metrics, binned metrics, shapes
``display/``       stretches and intervals
``jobs``           the progress / cancel protocol of long work
``parallel``       long work by partitions, here or on a Dask cluster (``--scheduler``; Dask imported only then)
``errors``         the error types
``rng``            seeding: one generator per blend and per galaxy
=================  ==========================================================================================

The names a script needs most are importable from here directly (loaded on first use, so importing a
sub-module stays cheap):

>>> from candels_gui.core import load_stampset, BlendEngine, BlendSpec    # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module (under ``candels_gui.core``) that defines it.
_EXPORTS = {
    "StampSet": "data.stampset",
    "load_stampset": "data.load",
    "CatalogFilter": "data.catalog",
    "generate_sample_data": "data.samplegen",
    "BlendSpec": "blending.engine",
    "Blend": "blending.engine",
    "BlendBatch": "blending.engine",
    "BlendEngine": "blending.engine",
    "SamplingRules": "blending.sampling",
    "sample_spec": "blending.sampling",
    "sample_specs": "blending.sampling",
    "make_labels": "blending.labels",
    "LABEL_METHODS": "blending.labels",
    "blend_metrics": "blending.blend_metrics",
    "ProduceOptions": "store.produce",
    "produce": "store.produce",
    "concatenate": "store.concatenate",
    "convert": "store.concatenate",
    "export": "store.export",
    "read_export": "store.export",
    "Session": "curation.session",
    "hsm_shapes": "measure.shapes",
    "match_detections": "measure.metrics",
    "per_blend_table": "measure.binned",
    "summarize_table": "measure.binned",
    "get_stretch": "display.stretch",
    "get_interval": "display.stretch",
    "DataError": "errors",
    "Cancelled": "errors",
    "CancelToken": "jobs",
    "blend_rng": "rng",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name from the sub-module that defines it, on first use (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'candels_gui.core' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
