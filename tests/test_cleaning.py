"""Neighbour cleaning: candels-blender's rule, unbiased clipped noise, seeded, cached."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from candels_gui.core.blending.cleaning import CleanedCache, background_stats, clean_stamp
from conftest import make_stampset


def _stamp(seed=0, sigma=0.1):
    rng = np.random.default_rng(seed)
    img = rng.normal(0.0, sigma, (64, 64)).astype(np.float32)
    seg = np.zeros((64, 64), np.int32)
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    img += (20 * np.exp(-0.5 * (r / 2.5) ** 2)).astype(np.float32)
    seg[r < 8] = 4000
    rn = np.hypot(yy - 10, xx - 50)
    img += (50 * np.exp(-0.5 * (rn / 1.5) ** 2)).astype(np.float32)
    seg[rn < 6] = 17
    return img, seg


def test_neighbour_replaced_central_kept_and_rule_matches_candels_blender():
    img, seg = _stamp()
    g = clean_stamp(img, seg, np.random.default_rng(1))
    sources = binary_dilation(seg != 0, iterations=5)
    central = binary_dilation(seg == 4000, iterations=5)
    replaced = sources & ~central
    assert replaced[10, 50]
    np.testing.assert_array_equal(g.image[~replaced], img[~replaced])  # untouched elsewhere: no extra noise
    assert abs(g.image[replaced].mean()) < 0.05 and g.image[replaced].std() == pytest.approx(0.1, rel=0.2)
    np.testing.assert_array_equal(g.footprint, seg == 4000)
    assert g.flux == pytest.approx(float(img[seg == 4000].sum()), rel=1e-5)


def test_clipped_sigma_is_unbiased_and_candels_mode_differs():
    img, seg = _stamp(sigma=0.2)
    bkg, sigma = background_stats(img, seg)
    assert sigma == pytest.approx(0.2, rel=0.08) and abs(bkg) < 0.02
    g_old = clean_stamp(img, seg, np.random.default_rng(1), noise_model="candels-blender")
    far = np.zeros_like(seg, bool); far[40:, :20] = True
    # candels-blender added noise over the whole stamp: the background std grows by sqrt(2)
    assert g_old.image[far].std() == pytest.approx(0.2 * np.sqrt(2), rel=0.15)
    with pytest.raises(ValueError, match="noise_model"):
        background_stats(img, seg, noise_model="nope")


def test_same_seed_same_bytes_and_cache_is_per_galaxy():
    stamps = make_stampset(n=4)
    cache = CleanedCache(stamps)
    a = cache.get(2, seed=5)
    assert cache.get(2, seed=5) is a and len(cache) == 1
    b = CleanedCache(stamps).get(2, seed=5)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.fill, b.fill)
    c = cache.get(2, seed=6)
    assert not np.array_equal(a.fill, c.fill)


def test_cache_memory_cap_evicts_oldest():
    stamps = make_stampset(n=4)
    one = CleanedCache(stamps).get(0, 0).nbytes
    cache = CleanedCache(stamps, max_bytes=int(2.5 * one))
    for i in range(4):
        cache.get(i, 0)
    assert len(cache) == 2


@pytest.mark.parametrize("n_dilate", [1, 3, 5])
def test_grow_equals_scipy_binary_dilation_by_the_cross(n_dilate):
    from candels_gui.core.blending.cleaning import _grow

    rng = np.random.default_rng(n_dilate)
    for density in (0.001, 0.01, 0.05):
        mask = rng.random((64, 48)) < density
        mask[0, 5] = mask[63, 47] = True          # sources on the edges grow inwards only
        np.testing.assert_array_equal(_grow(mask, n_dilate), binary_dilation(mask, iterations=n_dilate))


def test_footprint_integral_of_the_raw_stamp_equals_the_cleaned_one():
    stamps = make_stampset(n=6)
    for noise_model in ("clipped", "candels-blender"):
        cache = CleanedCache(stamps, noise_model=noise_model)
        for i in range(len(stamps)):
            np.testing.assert_array_equal(cache.footprint_integral(i, 11), cache.get(i, 11).integral)
