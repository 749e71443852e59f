"""Photometry of the segmentation deblenders: the blend split over grown footprints keeps the wings."""

from __future__ import annotations

import numpy as np
import pytest

from candels_gui.deblend.base import flux_region, split_by_footprints


def _galaxy(x0: float, y0: float, amp: float, size: int = 48, scale: float = 3.0) -> np.ndarray:
    """An exponential-profile galaxy: much of its light lies in wings below a 1-sigma isophote."""
    yy, xx = np.mgrid[:size, :size]
    return (amp * np.exp(-np.hypot(xx - x0, yy - y0) / scale)).astype(np.float64)


def _pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g1, g2 = _galaxy(18, 24, 60.0), _galaxy(31, 24, 25.0)
    footprints = np.stack([(g1 > 1.0) & (g1 >= g2), (g2 > 1.0) & (g2 > g1)])
    return g1, g2, footprints


def test_split_adds_up_to_the_blend_on_the_grown_footprints_and_keeps_the_wings():
    g1, g2, fp = _pair()
    blend = g1 + g2
    images = split_by_footprints(blend, fp)
    grown = flux_region(fp).any(axis=0)
    np.testing.assert_allclose(images.sum(axis=0)[grown], blend[grown], rtol=1e-5)
    assert not images[:, ~grown].any()
    isophotal = (blend[None] * fp).sum(axis=(1, 2))
    truth = np.array([g1.sum(), g2.sum()])
    split = images.sum(axis=(1, 2))
    assert (np.abs(split / truth - 1) < np.abs(isophotal / truth - 1)).all()
    assert split == pytest.approx(truth, rel=0.1)


def test_split_with_radius_zero_shares_only_the_footprints():
    g1, g2, fp = _pair()
    images = split_by_footprints(g1 + g2, fp, radius=0)
    union = fp.any(axis=0)
    np.testing.assert_allclose(images.sum(axis=0)[union], (g1 + g2)[union], rtol=1e-5)
    assert not images[:, ~union].any()
    # a pixel of galaxy 1's footprint next to galaxy 2 gives galaxy 2 a share of it
    assert images[1][24, 24] > 0 and fp[0][24, 24]


def test_pixels_without_light_go_in_equal_parts_to_the_footprints_that_reach_them():
    blend = np.zeros((9, 9))
    fp = np.zeros((2, 9, 9), bool)
    fp[0, 4, 3] = fp[1, 4, 5] = True
    blend[4, 4] = 2.0                      # between the two footprints, outside both, no light in either
    images = split_by_footprints(blend, fp, radius=1)
    assert images[:, 4, 4].tolist() == [1.0, 1.0]


def test_unet_seg_fluxes_come_from_the_grown_split():
    import torch

    from candels_gui.deblend.torch_deblender import TorchDeblender

    g1, g2, fp = _pair()
    logits = np.where(np.stack([fp[0] & fp[1], fp[0], fp[1]]), 5.0, -5.0).astype(np.float32)

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(logits[None]).expand(len(x), -1, -1, -1)

    deb = TorchDeblender(Fixed(), {"architecture": "unet-seg", "normalisation": {"kind": "asinh"}}, device="cpu")
    blend = (g1 + g2).astype(np.float32)
    r = deb.run(blend[None], noise_sigma=1.0)[0]
    np.testing.assert_array_equal(r.segmentation, fp)
    np.testing.assert_allclose(r.catalog["flux"], split_by_footprints(blend, fp).sum(axis=(1, 2)), rtol=1e-5)
    assert np.asarray(r.catalog["flux"]) == pytest.approx([g1.sum(), g2.sum()], rel=0.1)
    assert deb.params["smooth_sigma"] == 2.0
