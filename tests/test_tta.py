"""Test-time augmentation of the torch deblenders: ``NAME+tta`` averages over the 8 turns and flips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _two_galaxies(size: int = 64, seed: int = 0) -> np.ndarray:
    """An asymmetric blend: a bright galaxy off centre and a fainter one, with noise."""
    yy, xx = np.mgrid[:size, :size]
    img = (60 * np.exp(-((xx - 30) ** 2 + (yy - 33) ** 2) / 18.0)
           + 25 * np.exp(-((xx - 44) ** 2 + (yy - 24) ** 2) / 10.0))
    return (img + np.random.default_rng(seed).normal(0, 1.0, (size, size))).astype(np.float32)


def test_dihedral_mean_turns_image_outputs_back_and_averages_the_rest():
    from candels_gui.deblend.torch_deblender import dihedral_mean

    x = np.random.default_rng(1).normal(size=(2, 6, 6)).astype(np.float32)
    ramp = np.arange(6, dtype=np.float32)[None, None, None, :]          # depends on which way up the input is

    def images(b: np.ndarray) -> np.ndarray:
        return b[:, None] * np.array([1.0, 2.0], np.float32)[None, :, None, None] + ramp

    # the pixel-wise part comes back where it was; the ramp, seen from the 8 sides, averages to its mean
    np.testing.assert_allclose(dihedral_mean(images, x), images(x) - ramp + 2.5, atol=1e-5)

    def fluxes(b: np.ndarray) -> np.ndarray:
        return np.stack([b.sum(axis=(1, 2)), b[:, 0, 0]], axis=1)

    corners = (x[:, 0, 0] + x[:, 0, -1] + x[:, -1, 0] + x[:, -1, -1]) / 4
    np.testing.assert_allclose(dihedral_mean(fluxes, x), np.stack([x.sum(axis=(1, 2)), corners], 1), atol=1e-5)


def test_tta_variant_is_equivariant_and_named():
    from candels_gui.deblend import get

    plain, tta = get("unet-seg", device="cpu"), get("unet-seg+tta", device="cpu")
    assert tta.name == "unet-seg+tta" and tta.params["tta"] is True and plain.params["tta"] is False
    blend = _two_galaxies()[None]
    turned = np.ascontiguousarray(np.rot90(blend, 1, axes=(1, 2)))
    sigma = np.ones(1, np.float32)
    # the mean over the group does not depend on which way up the blend is; one pass does
    np.testing.assert_allclose(tta.predict(turned, sigma), np.rot90(tta.predict(blend, sigma), 1, axes=(2, 3)),
                               atol=1e-4)
    assert not np.allclose(plain.predict(turned, sigma), np.rot90(plain.predict(blend, sigma), 1, axes=(2, 3)),
                           atol=1e-4)
    r = tta.run(blend)[0]
    assert r.name == "unet-seg+tta" and r.segmentation.shape == (2, 64, 64) and r.segmentation.any()


def test_tta_of_a_deblender_without_it_is_a_clear_error():
    from candels_gui.deblend import get

    with pytest.raises(ValueError, match="'sep' has no test-time augmentation"):
        get("sep+tta")
    with pytest.raises(ValueError, match="unknown deblender 'nope'"):
        get("nope+tta")


def test_deblend_list_names_the_tta_variants():
    out = subprocess.run([sys.executable, "-m", "candels_gui.cli", "deblend", "--list"], capture_output=True,
                         text=True, check=True, cwd=str(ROOT)).stdout
    assert "unet-seg+tta" in out and out.splitlines()[0].startswith("photutils")
