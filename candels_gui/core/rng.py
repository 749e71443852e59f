"""Seeded random generators: one per blend and one per galaxy, derived from ``(seed, index)``.

A blend's draws depend only on the data set seed and the blend's index, so blend *i* is bit-identical
whether it is made alone, in a batch, in another process or on another machine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["blend_rng", "galaxy_rng", "split_rng"]

# Distinct streams so that blend i and galaxy i never share a generator.
_BLEND_STREAM = 0
_GALAXY_STREAM = 1
_SPLIT_STREAM = 2


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF,
                                                                       stream, int(index)])))


def blend_rng(seed: int, index: int) -> np.random.Generator:
    """Generator for the random draws of blend ``index`` of a data set made with ``seed``."""
    return _rng(seed, _BLEND_STREAM, index)


def galaxy_rng(seed: int, index: int) -> np.random.Generator:
    """Generator for the per-galaxy noise (neighbour cleaning, fill field) of stamp ``index``."""
    return _rng(seed, _GALAXY_STREAM, index)


def split_rng(seed: int) -> np.random.Generator:
    """Generator for the train/test split of galaxies."""
    return _rng(seed, _SPLIT_STREAM, 0)
