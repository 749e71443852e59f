"""Display transforms against astropy.visualization on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import visualization as av

from candels_gui.core.display.stretch import (
    INTERVALS, MASK_COLORS, STRETCHES, DisplaySettings, apply_display, build_lut, display_array,
    display_levels, get_interval, get_stretch, mask_outline, mask_overlay)


@pytest.fixture
def galaxy_image():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 30)
    img = rng.normal(0.0, 0.02, (64, 64)) + 3.0 * np.exp(-r / 4.0)
    img[5, 7] = 80.0  # a hot pixel
    return img.astype(np.float32)


ASTROPY_STRETCH = {
    ("linear", None): av.LinearStretch(),
    ("sqrt", None): av.SqrtStretch(),
    ("log", None): av.LogStretch(),
    ("log", 50.0): av.LogStretch(a=50.0),
    ("asinh", None): av.AsinhStretch(),
    ("asinh", 0.02): av.AsinhStretch(a=0.02),
    ("asinh", 1.0): av.AsinhStretch(a=1.0),
}


@pytest.mark.parametrize("name,a", list(ASTROPY_STRETCH))
def test_stretch_matches_astropy(name, a):
    x = np.linspace(-0.2, 1.2, 1001)
    ours = get_stretch(name, a=a)(x)
    theirs = ASTROPY_STRETCH[(name, a)](x.copy(), clip=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    inner = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(get_stretch(name, a=a).inverse(get_stretch(name, a=a)(inner)), inner,
                               atol=1e-9)


def test_stretch_keeps_float32_and_does_not_touch_input():
    x = np.linspace(0, 1, 10, dtype=np.float32)
    before = x.copy()
    y = get_stretch("asinh")(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(x, before)
    assert set(STRETCHES) == {"linear", "sqrt", "log", "asinh"}


def test_unknown_names_and_bad_parameters_are_clear():
    with pytest.raises(ValueError, match="unknown stretch 'gamma'"):
        get_stretch("gamma")
    with pytest.raises(ValueError, match="a must be"):
        get_stretch("asinh", a=0.0)
    with pytest.raises(ValueError, match="unknown interval 'auto'"):
        get_interval("auto")
    with pytest.raises(ValueError, match="percentile"):
        get_interval("percentile", percentile=0)


@pytest.mark.parametrize("p", [90.0, 99.0, 99.5, 100.0])
def test_percentile_interval_matches_astropy(galaxy_image, p):
    img = galaxy_image.copy()
    img[0, :3] = np.nan  # astropy drops non-finite pixels; so must we
    ours = get_interval("percentile", percentile=p).get_limits(img)
    theirs = av.PercentileInterval(p).get_limits(img)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_minmax_and_zscale_match_astropy(galaxy_image):
    np.testing.assert_allclose(get_interval("minmax").get_limits(galaxy_image),
                               av.MinMaxInterval().get_limits(galaxy_image))
    np.testing.assert_allclose(get_interval("zscale").get_limits(galaxy_image),
                               av.ZScaleInterval().get_limits(galaxy_image), rtol=1e-6)
    lo, hi = get_interval("zscale").get_limits(galaxy_image)
    assert hi < 80.0  # the hot pixel does not set the top level
    assert set(INTERVALS) == {"minmax", "percentile", "zscale"}


def test_display_levels_are_always_ordered():
    flat = np.full((8, 8), 2.0, np.float32)
    lo, hi = display_levels(flat, get_interval("minmax"))
    assert lo < 2.0 < hi
    assert display_levels(np.full((4, 4), np.nan), get_interval("percentile")) == (0.0, 1.0)


@pytest.mark.parametrize("name", ["linear", "sqrt", "log", "asinh"])
def test_lut_image_equals_astropy_normalize_then_colormap(galaxy_image, name):
    """Raw image + levels + LUT (what the viewer does) == astropy's interval+stretch, to 1 LUT step."""
    stretch = get_stretch(name)
    interval = get_interval("percentile", percentile=99.5)
    n = 4096
    lut = build_lut(stretch, n=n)  # grey
    rgba = apply_display(galaxy_image, display_levels(galaxy_image, interval), lut)
    norm = av.ImageNormalize(galaxy_image, interval=av.PercentileInterval(99.5),
                             stretch={"linear": av.LinearStretch(), "sqrt": av.SqrtStretch(),
                                      "log": av.LogStretch(), "asinh": av.AsinhStretch()}[name],
                             clip=True)
    expected = np.asarray(norm(galaxy_image)) * 255.0
    # one LUT step of linear x moves y by at most max slope / n (log: a / ln(a+1) ~ 145)
    slope = {"linear": 1.0, "sqrt": np.sqrt(n), "log": 1000 / np.log(1001), "asinh": 10 / np.arcsinh(10)}
    tol = 255.0 * slope[name] / n + 1.0
    assert np.abs(rgba[..., 0].astype(float) - expected).max() <= tol
    assert (rgba[..., 3] == 255).all()
    assert rgba.shape == galaxy_image.shape + (4,)


def test_lut_with_colormap_follows_stretch():
    colors = np.array([[0, 0, 0], [255, 0, 0], [255, 255, 255]], np.uint8)
    lut = build_lut(get_stretch("linear"), colors, n=5)
    assert lut.flags["C_CONTIGUOUS"] and lut.dtype == np.uint8
    np.testing.assert_array_equal(lut[2], [255, 0, 0, 255])  # x = 0.5 -> middle colour
    lut_sqrt = build_lut(get_stretch("sqrt"), colors, n=5)
    assert lut_sqrt[1, 0] > lut[1, 0]  # sqrt brightens faint values
    with pytest.raises(ValueError, match=r"shape \(M >= 2, 3 or 4\)"):
        build_lut(get_stretch("linear"), np.zeros((3, 2)))


def test_apply_display_levels_only_move_the_mapping():
    img = np.linspace(0, 10, 100, dtype=np.float32).reshape(10, 10)
    lut = build_lut(get_stretch("linear"), n=256)
    a = apply_display(img, (0, 10), lut)
    b = apply_display(img, (0, 5), lut)
    assert a[0, 0, 0] == 0 and a[-1, -1, 0] == 255
    assert (b[..., 0] >= a[..., 0]).all() and b[-1, -1, 0] == 255
    with pytest.raises(ValueError, match="lo < hi"):
        apply_display(img, (3, 3), lut)


def test_display_array_is_float32_c_contiguous():
    a = np.arange(12, dtype=np.float64).reshape(3, 4).T
    out = display_array(a)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    same = np.zeros((4, 4), np.float32)
    assert display_array(same) is same


def test_display_settings_round_trip_and_levels(galaxy_image):
    s = DisplaySettings(stretch="log", log_a=300.0, interval="zscale")
    assert s.stretch_obj() == get_stretch("log", a=300.0)
    assert DisplaySettings.from_dict(s.to_dict()) == s
    manual = s.replace(levels=(0.0, 2.0))
    assert manual.levels_for(galaxy_image) == (0.0, 2.0)
    assert s.levels_for(galaxy_image) == display_levels(galaxy_image, get_interval("zscale"))
    with pytest.raises(ValueError, match="unknown display setting"):
        DisplaySettings.from_dict({"gamma": 2})
    with pytest.raises(ValueError, match="lo < hi"):
        DisplaySettings(levels=(1.0, 1.0))


def test_mask_overlay_colours_each_region():
    masks = np.zeros((2, 10, 10), bool)
    masks[0, 2:6, 2:6] = True
    masks[1, 4:9, 4:9] = True
    rgba = mask_overlay(masks, opacity=0.5)
    assert tuple(rgba[3, 3, :3]) == MASK_COLORS[0]
    assert tuple(rgba[7, 7, :3]) == MASK_COLORS[1]
    assert tuple(rgba[5, 5, :3]) == MASK_COLORS[2]
    assert rgba[0, 0, 3] == 0 and rgba[3, 3, 3] == 128
    outline = mask_overlay(masks, outline=True)
    assert outline[3, 3, 3] == 0 and outline[2, 3, 3] > 0  # interior empty, edge drawn
    hidden = mask_overlay(masks, visible=(False, True, True))
    assert hidden[3, 3, 3] == 0
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        mask_overlay(masks[0])


def test_mask_outline_of_a_square():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    edge = mask_outline(m)
    assert edge.sum() == 16 and not edge[3, 3]
    full = np.ones((3, 3), bool)
    assert mask_outline(full).sum() == 8  # the stamp edge counts as outside


def test_display_histogram_ignores_a_hot_pixel_and_covers_levels(galaxy_image):
    from candels_gui.core.display.stretch import display_histogram

    edges, counts = display_histogram(galaxy_image, bins=64)
    assert len(edges) == 65 and counts.sum() <= galaxy_image.size
    assert edges[-1] < 80.0  # the hot pixel is past the 99.95th percentile
    edges, _ = display_histogram(galaxy_image, bins=64, levels=(-5.0, 100.0))
    assert edges[0] < -5.0 and edges[-1] > 100.0
    edges, counts = display_histogram(np.full((3, 3), np.nan))
    assert counts.sum() == 0
