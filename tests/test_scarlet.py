"""The scarlet deblender (scarlet2 on SEP's detections) and the flux re-distribution it shares with the image
models."""

from __future__ import annotations

import numpy as np
import pytest
import sep

from candels_gui.deblend import get
from candels_gui.deblend.base import split_by_models

from test_deblend import TRUE_POS, _blend, _gauss

#: Total fluxes of the two Gaussians of ``_blend``: 2π A σ².
TRUE_FLUX = 2 * np.pi * np.array([60.0 * 3.0 ** 2, 35.0 * 2.5 ** 2])


def test_scarlet_separates_two_galaxies_and_conserves_the_blend():
    images = np.stack([_blend(0), _blend(1)])
    results = get("scarlet").run(images, noise_sigma=1.0)
    assert len(results) == 2
    for image, r in zip(images, results):
        assert r.name == "scarlet" and r.device == "cpu"
        assert r.images.dtype == np.float32 and r.segmentation.dtype == bool
        assert r.images.shape == r.segmentation.shape == (2, 64, 64)
        assert r.params["noise_sigma"] == 1.0 and r.params["config"] in ("strict", "loose")
        order = [int(np.argmin(np.hypot(r.catalog["x"] - x, r.catalog["y"] - y))) for x, y in TRUE_POS]
        assert sorted(order) == [0, 1]
        np.testing.assert_allclose(np.c_[r.catalog["x"], r.catalog["y"]][order], TRUE_POS, atol=0.5)
        # flux-conserving: the shares add up to the background-subtracted blend (SEP's map) everywhere
        background = sep.Background(image.astype(np.float64), bw=32, bh=32).back()
        np.testing.assert_allclose(r.images.sum(axis=0), image - background, atol=2e-3)
        np.testing.assert_allclose(r.catalog["flux"][order], TRUE_FLUX, rtol=0.05)
        assert not (r.segmentation[0] & r.segmentation[1]).any()
        # each footprint holds its own galaxy's centre, not the other's
        for k, (x, y) in zip(order, TRUE_POS):
            assert r.segmentation[k, int(y), int(x)]


def test_scarlet_models_fit_the_blend():
    image = _blend(0)
    r = get("scarlet", split_blend=False).run(image, noise_sigma=1.0)[0]
    assert (r.images >= 0).all()                       # scarlet's positivity constraint
    order = [int(np.argmin(np.hypot(r.catalog["x"] - x, r.catalog["y"] - y))) for x, y in TRUE_POS]
    np.testing.assert_allclose(r.images.sum(axis=(1, 2))[order], TRUE_FLUX, rtol=0.05)
    # the models explain the light: what is left is at most the noise (sigma 1), on the galaxies too
    residual = image - r.params["background"] - r.images.sum(axis=0)
    assert residual.std() < 1.1
    assert abs(residual[r.segmentation.any(axis=0)].mean()) < 0.3
    # the bright galaxy's model falls off from its centre: its light is not in the companion's model
    bright = r.images[order[0]]
    assert bright[30, 22] > 10 * bright[35, 42]


def test_scarlet_on_noise_and_bad_options():
    noise = np.random.default_rng(5).normal(0, 1, (1, 48, 48)).astype(np.float32)
    r = get("scarlet").run(noise, noise_sigma=1.0)[0]
    assert r.n_sources <= 2  # at most the loose pass's noise peaks
    assert r.images.shape == r.segmentation.shape == (r.n_sources, 48, 48)
    with pytest.raises(ValueError, match="max_iter"):
        get("scarlet", max_iter=0)
    with pytest.raises(ValueError, match="box_sizes"):
        get("scarlet", box_sizes=[])


def test_split_by_models_shares_every_pixel_and_gives_it_to_the_largest_share():
    rng = np.random.default_rng(2)
    models = np.stack([_gauss(40, 10, 20, 30.0, 2.5), _gauss(40, 20, 20, 20.0, 2.5), _gauss(40, 30, 20, 10.0, 2.5)])
    blend = models.sum(axis=0) + rng.normal(0, 0.5, (40, 40))
    images, footprints = split_by_models(blend, models, 0.5, fwhm=2.0)
    assert images.shape == footprints.shape == (3, 40, 40)
    np.testing.assert_allclose(images.sum(axis=0), blend, atol=1e-4)
    assert footprints.sum(axis=0).max() == 1                           # each pixel to one source at most
    assert [bool(footprints[k, 20, x]) for k, x in enumerate((10, 20, 30))] == [True, True, True]
    assert not footprints[:, 0, 0].any()                                # the sky goes to no source
    np.testing.assert_allclose(images.sum(axis=(1, 2)), models.sum(axis=(1, 2)), rtol=0.1)
    empty_images, empty_fp = split_by_models(blend, np.zeros((0, 40, 40)), 0.5)
    assert empty_images.shape == empty_fp.shape == (0, 40, 40)


def test_scarlet_keeps_no_compiled_step_nor_scene_per_blend():
    """scarlet2 compiles its optimiser step anew for every scene and registers every scene globally; a long
    run that kept them grew ~5 MB a blend until it crashed (1,000-blend evaluate, SIGSEGV)."""
    import scarlet2
    from scarlet2 import infer

    before = set(scarlet2.parameter_registry)
    get("scarlet").run(np.stack([_blend(i) for i in range(3)]), noise_sigma=1.0)
    assert set(scarlet2.parameter_registry) == before
    assert infer._make_step._cached._cache_size() == 0


def test_a_cancelled_run_stops_between_blends():
    """scarlet's fits take ~1 s each: a run checks its cancel token before every blend, not only between batches."""
    from candels_gui.core.errors import Cancelled
    from candels_gui.core.jobs import CancelToken, run_job

    deb = get("scarlet")
    token = CancelToken()
    token.cancel()
    images = np.stack([_blend(seed) for seed in range(3)])
    fitted = []
    deb._one = lambda image, sigma: fitted.append(1)          # what would fit one blend
    with pytest.raises(Cancelled):
        deb.run(images, cancel=token)
    assert fitted == [] and deb._cancel is None                # nothing fitted; the token is not kept

    token = CancelToken()
    deb._one = lambda image, sigma: (fitted.append(1), token.cancel() if len(fitted) == 2 else None)[0]
    with pytest.raises(Cancelled):
        run_job(deb.iter_run(images, batch_size=3, cancel=token))
    assert len(fitted) == 2                                    # the third blend of the batch was not started
