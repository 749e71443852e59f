"""Shapes of galaxies (GalSim HSM adaptive moments) and the shape metrics of deblended galaxies."""

import math

import numpy as np
import pytest

from candels_gui.core.measure import binned as MB
from candels_gui.core.measure.shapes import hsm_shapes, shape_errors

SIZE = 48


def _ellipse(q: float, theta: float, *, x0: float = SIZE / 2, y0: float = SIZE / 2, sigma: float = 4.0,
             flux: float = 100.0) -> np.ndarray:
    """An elliptical Gaussian of axis ratio ``q``, major axis at ``theta`` from the x axis (radians)."""
    y, x = np.mgrid[:SIZE, :SIZE].astype(float)
    dx, dy = x - x0, y - y0
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    img = np.exp(-0.5 * ((u / sigma) ** 2 + (v / (q * sigma)) ** 2))
    return flux * img / img.sum()


@pytest.mark.parametrize("q, theta", [(1.0, 0.0), (0.5, 0.0), (0.5, np.pi / 4), (0.3, np.pi / 2),
                                      (0.7, 2.0), (0.4, -0.6)])
def test_hsm_recovers_the_reduced_shear_of_elliptical_gaussians(q, theta):
    g = (1 - q) / (1 + q)
    got = hsm_shapes(_ellipse(q, theta)[None], [[SIZE / 2, SIZE / 2]])[0]
    np.testing.assert_allclose(got, [g * np.cos(2 * theta), g * np.sin(2 * theta)], atol=2e-3)


def test_off_centre_galaxy_and_noise():
    rng = np.random.default_rng(3)
    img = _ellipse(0.5, 0.3, x0=30.0, y0=17.0) + rng.normal(0.0, 0.01, (SIZE, SIZE))   # peak S/N ~ 120
    got = hsm_shapes(img[None], [[29.0, 18.0]])[0]        # the start need not be exact
    np.testing.assert_allclose(got, [np.cos(0.6) / 3, np.sin(0.6) / 3], atol=0.02)


def test_unmeasurable_images_are_nan_and_bad_shapes_raise():
    blank = np.zeros((SIZE, SIZE))
    got = hsm_shapes(np.stack([blank, -_ellipse(0.5, 0.0), _ellipse(0.5, 0.0)]), [[24.0, 24.0]] * 3)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2]).all()
    with pytest.raises(ValueError, match="centres"):
        hsm_shapes(blank[None], [[1.0, 2.0], [3.0, 4.0]])
    assert shape_errors(np.array([[0.1, 0.2]]), np.array([[np.nan, 0.0]])).tolist() == [pytest.approx(np.nan,
                                                                                                 nan_ok=True)]
    with pytest.raises(ValueError, match="same shape"):
        shape_errors(np.zeros((2, 2)), np.zeros((3, 2)))


def _truth() -> MB.Truth:
    iso = np.stack([[_ellipse(0.5, 0.0, x0=20, y0=24), _ellipse(0.8, 1.0, x0=30, y0=26, flux=50.0)],
                    [_ellipse(0.6, 0.5, x0=24, y0=24), _ellipse(1.0, 0.0, x0=14, y0=20, flux=80.0)]])
    pos = np.array([[[20, 24], [30, 26]], [[24, 24], [14, 20]]], float)
    return MB.Truth(pos, iso > 0.05, iso, iso.sum(axis=(2, 3)))


def test_per_blend_shape_columns_and_summary():
    truth = _truth()
    t = truth.galaxy_shapes
    assert t.shape == (2, 2, 2) and np.isfinite(t).all()
    # blend 0: galaxy 1 turned by 90 degrees (g -> -g), galaxy 2 exact; blend 1: galaxy 2 missed
    turned = _ellipse(0.5, np.pi / 2, x0=20, y0=24)
    preds = [MB.Prediction(truth.positions[0], truth.masks[0], np.stack([turned, truth.isolated[0, 1]]),
                           truth.fluxes[0]),
             MB.Prediction(truth.positions[1, :1], truth.masks[1, :1], truth.isolated[1, :1], truth.fluxes[1, :1])]
    table = MB.per_blend_table(truth, preds, max_separation=2)
    assert table["shape_err_1"][0] == pytest.approx(2 * math.hypot(*t[0, 0]), abs=2e-3)
    assert table["shape_err_2"][0] == pytest.approx(0.0, abs=1e-9)
    assert table["shape_err_1"][1] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(table["g1_pred_2"][1]) and np.isnan(table["shape_err_2"][1])     # missed
    np.testing.assert_allclose(table["g2_true_2"], t[:, 1, 1])
    s = MB.summarize_table(table)
    assert s["shape_err"] == pytest.approx(table["shape_err_1"][0] / 3)    # mean over the 3 measured
    assert s["shape_fail"] == pytest.approx(1 / 4)
    # a truth slice keeps the measured shapes; a deblender without images has no shape figures
    assert truth[1:].shapes is not None and np.array_equal(truth[[1]].galaxy_shapes, t[1:])
    no_images = [MB.Prediction(p.positions, p.segmentation, None, p.fluxes) for p in preds]
    s = MB.summarize_table(MB.per_blend_table(truth, no_images, max_separation=2))
    assert math.isnan(s["shape_err"]) and math.isnan(s["shape_fail"])
    with pytest.raises(ValueError, match="shapes"):
        MB.Truth(truth.positions, truth.masks, truth.isolated, truth.fluxes, np.zeros((2, 2)))
