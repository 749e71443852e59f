"""Blend metrics: separation, delta-mag, overlap fraction, blendedness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candels_gui.core.blending.engine import BlendEngine, BlendSpec
from candels_gui.core.blending.blend_metrics import (
    blend_metrics, blendedness, delta_mag, overlap_fraction, separation)
from conftest import make_stampset


def _gauss(size, cx, cy, sigma, amp=1.0):
    yy, xx = np.mgrid[:size, :size]
    return amp * np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / sigma ** 2)


def test_separation_and_delta_mag():
    spec = BlendSpec(1, 2, dx=3.0, dy=-4.0, flux_scale=1.0)
    assert separation(spec) == 5.0
    assert separation(spec, pixel_scale=0.06) == pytest.approx(0.3)
    assert delta_mag(22.0, 23.0) == pytest.approx(1.0)
    assert delta_mag(22.0, 23.0, flux_scale=100.0) == pytest.approx(-4.0)
    with pytest.raises(ValueError, match="flux_scale"):
        delta_mag(1, 2, 0.0)


def test_overlap_fraction_uses_the_smaller_footprint():
    m = np.zeros((2, 20, 20), bool)
    m[0, 0:10, 0:10] = True      # 100 px
    m[1, 5:7, 5:15] = True       # 20 px, 10 of them inside galaxy 1
    assert overlap_fraction(m) == pytest.approx(10 / 20)
    m[1] = False
    assert overlap_fraction(m) == 0.0
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        overlap_fraction(m[0])


def test_blendedness_limits_and_symmetry():
    size = 64
    far = np.stack([_gauss(size, 10, 10, 2), _gauss(size, 50, 50, 2)])
    assert blendedness(far, masks=None) == pytest.approx([0.0, 0.0], abs=1e-12)
    same = np.stack([_gauss(size, 32, 32, 3), _gauss(size, 32, 32, 3)])
    assert blendedness(same, masks=None) == pytest.approx([0.5, 0.5])
    # a faint galaxy on top of a bright one is much more blended than the bright one
    faint = np.stack([_gauss(size, 32, 32, 4, amp=10.0), _gauss(size, 35, 32, 2, amp=1.0)])
    b = blendedness(faint, masks=None)
    assert b[1] > 0.8 and b[0] < 0.1


def test_blendedness_equals_btk_formula_on_noiseless_images():
    rng = np.random.default_rng(1)
    iso = np.stack([_gauss(32, 14, 15, 2.5, 4.0), _gauss(32, 19, 17, 3.0, 2.0)])
    scene = iso.sum(0)
    expected = [1 - (iso[i] * iso[i]).sum() / (iso[i] * scene).sum() for i in range(2)]
    assert blendedness(iso, masks=None) == pytest.approx(expected)
    # noise outside the footprints is suppressed by the masks
    masks = iso > 0.01
    noisy = iso + rng.normal(0, 0.05, iso.shape) * ~masks
    assert blendedness(noisy, masks=masks) == pytest.approx(
        blendedness(np.where(masks, iso, 0), masks=None))
    with pytest.raises(ValueError, match="masks have shape"):
        blendedness(iso, masks=masks[:1])


def test_blend_metrics_of_a_rendered_blend():
    stamps = make_stampset(n=6, size=48)
    engine = BlendEngine(stamps)
    ids = stamps.ids
    near = blend_metrics(engine.render(BlendSpec(ids[0], ids[1], dx=2.0, dy=1.0)), stamps)
    far = blend_metrics(engine.render(BlendSpec(ids[0], ids[1], dx=20.0, dy=15.0)), stamps)
    assert near.separation_px == pytest.approx(math.hypot(2, 1))
    assert near.separation_arcsec is None
    assert near.overlap_fraction > 0.5 and far.overlap_fraction == 0.0
    assert near.blendedness[0] > far.blendedness[0]
    assert far.blendedness == pytest.approx((0.0, 0.0), abs=1e-9)
    mags = stamps.catalog["mag"]
    assert near.delta_mag == pytest.approx(mags[1] - mags[0])
    d = near.to_dict()
    assert set(d) >= {"separation_px", "delta_mag", "overlap_fraction", "blendedness"}
    assert isinstance(d["blendedness"], list)
