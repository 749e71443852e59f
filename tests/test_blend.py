"""Blend engine: spec round trips, invariants (hypothesis), determinism, fill noise, flux pushed out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from candels_gui.core.blending.engine import BlendBatch, BlendEngine, BlendSpec, affine_matrix
from conftest import make_stampset

STAMPS = make_stampset(n=8, size=48, seed=3)
ENGINE = BlendEngine(STAMPS)
IDS = [int(i) for i in STAMPS.ids]

spec_strategy = st.builds(
    BlendSpec,
    id1=st.sampled_from(IDS), id2=st.sampled_from(IDS),
    dx=st.one_of(st.integers(-30, 30).map(float), st.floats(-30, 30, allow_nan=False)),
    dy=st.one_of(st.integers(-30, 30).map(float), st.floats(-30, 30, allow_nan=False)),
    rotation=st.one_of(st.just(0.0), st.floats(-360, 360, allow_nan=False)),
    flip=st.booleans(), flux_scale=st.floats(0.1, 10.0), seed=st.integers(0, 3),
)
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_spec_json_round_trip_and_validation():
    spec = BlendSpec(101, 102, dx=3.5, dy=-2, rotation=45, flip=True, flux_scale=0.5, seed=7)
    assert BlendSpec.from_json(spec.to_json()) == spec
    assert list(spec.to_dict()) == [f.name for f in dataclasses.fields(BlendSpec)]
    assert hash(spec) == hash(BlendSpec.from_dict(spec.to_dict()))
    assert spec.separation == pytest.approx(np.hypot(3.5, 2))
    assert not spec.is_integer_shift and BlendSpec(1, 2, dx=3, dy=-4).is_integer_shift
    with pytest.raises(ValueError, match="flux_scale"):
        BlendSpec(1, 2, flux_scale=0)
    with pytest.raises(ValueError, match="finite"):
        BlendSpec(1, 2, dx=float("nan"))
    with pytest.raises(ValueError, match="unknown"):
        BlendSpec.from_dict({"id1": 1, "id2": 2, "bogus": 1})


@HYP
@given(spec_strategy)
@example(BlendSpec(IDS[1], IDS[1], dx=27.0, dy=30.0))       # galaxy 2 pushed off the stamp
def test_blend_is_sum_of_isolated_and_masks_are_transformed_footprints(spec):
    blend = ENGINE.render(spec)
    h, w = STAMPS.stamp_shape
    assert blend.image.shape == (h, w) and blend.image.dtype == np.float32
    assert blend.isolated.shape == (2, h, w) and blend.masks.dtype == bool
    np.testing.assert_array_equal(blend.image, blend.isolated[0] + blend.isolated[1])
    g1, g2 = ENGINE.cleaned(spec.id1, spec.seed), ENGINE.cleaned(spec.id2, spec.seed)
    np.testing.assert_array_equal(blend.isolated[0], g1.image)
    np.testing.assert_array_equal(blend.masks[0], g1.footprint)
    assert np.isfinite(blend.image).all()
    assert 0.0 <= blend.flux_out_frac <= 1.0
    # the mask of galaxy 2 is its footprint moved by the transform: check every mask pixel maps back
    m = affine_matrix(spec, (h, w))
    ys, xs = np.nonzero(blend.masks[1])
    if ys.size == 0:            # galaxy 2 moved off the stamp: its footprint must land outside
        inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))
        fy, fx = np.nonzero(g2.footprint)
        dst = inv[:2, :2] @ np.vstack([fx, fy]) + inv[:2, 2:3]
        assert not ((dst[0] > 0.5) & (dst[0] < w - 1.5) & (dst[1] > 0.5) & (dst[1] < h - 1.5)).any()
        return
    src = m[:, :2] @ np.vstack([xs, ys]) + m[:, 2:3]
    # nearest sampling: at an exact .5 tie either neighbour is the nearest (OpenCV and numpy round ties
    # differently), so a mask pixel maps back onto the footprint when either candidate does
    hits = np.zeros(len(xs), bool)
    inside = np.zeros(len(xs), bool)
    for cx, cy in (np.ceil(src - 0.5).astype(int), np.floor(src + 0.5).astype(int)):
        ok = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
        inside |= ok
        hits |= ok & g2.footprint[np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)]
    assert inside.all()
    assert hits.mean() > 0.97


@HYP
@given(st.lists(spec_strategy, min_size=1, max_size=6), st.integers(0, 5))
def test_batch_equals_alone_bit_for_bit(specs, pick):
    batch = ENGINE.render_batch(specs)
    i = pick % len(specs)
    alone = BlendEngine(STAMPS).render(specs[i])  # a fresh engine: nothing shared but the data
    np.testing.assert_array_equal(batch.images[i], alone.image)
    np.testing.assert_array_equal(batch.isolated[i], alone.isolated)
    np.testing.assert_array_equal(batch.masks[i], alone.masks)


def test_integer_shift_moves_the_stamp_and_fills_with_noise():
    spec = BlendSpec(IDS[0], IDS[1], dx=10, dy=-7)
    blend = ENGINE.render(spec)
    g2 = ENGINE.cleaned(IDS[1])
    np.testing.assert_array_equal(blend.isolated[1][0:41, 10:], g2.image[7:48, 0:38])
    np.testing.assert_array_equal(blend.masks[1][0:41, 10:], g2.footprint[7:48, 0:38])
    uncovered = blend.isolated[1][:, :10]
    assert np.all(uncovered != 0), "uncovered area must hold noise, not zeros"
    assert np.std(uncovered) == pytest.approx(g2.sigma, rel=0.3)


def test_subpixel_and_rotation_fill_noise_everywhere():
    blend = ENGINE.render(BlendSpec(IDS[0], IDS[2], dx=20.4, dy=13.7, rotation=33, flip=True))
    assert np.count_nonzero(blend.isolated[1] == 0) == 0
    near = ENGINE.render(BlendSpec(IDS[0], IDS[2], dx=3.4, dy=-2.7, rotation=33, flip=True))
    assert near.masks[1].sum() == pytest.approx(ENGINE.cleaned(IDS[2]).footprint.sum(), rel=0.1)
    assert near.flux_out_frac < 0.02


def test_flux_scale_scales_companion_only():
    a = ENGINE.render(BlendSpec(IDS[0], IDS[1], dx=5, dy=5))
    b = ENGINE.render(BlendSpec(IDS[0], IDS[1], dx=5, dy=5, flux_scale=2.0))
    np.testing.assert_array_equal(a.isolated[0], b.isolated[0])
    np.testing.assert_allclose(b.isolated[1], 2 * a.isolated[1], rtol=1e-6)


def test_flux_pushed_out_is_reported():
    near = ENGINE.render(BlendSpec(IDS[0], IDS[1], dx=3, dy=0))
    edge = ENGINE.render(BlendSpec(IDS[0], IDS[1], dx=24, dy=0))  # centre on the border: ~half out
    gone = ENGINE.render(BlendSpec(IDS[0], IDS[1], dx=60, dy=0))
    assert near.flux_out_frac == pytest.approx(0.0, abs=1e-6)
    assert 0.3 < edge.flux_out_frac < 0.7
    assert gone.flux_out_frac == 1.0 and not gone.masks[1].any()


def test_seed_changes_noise_but_not_the_galaxy():
    a = ENGINE.render(BlendSpec(IDS[0], IDS[3], dx=4, dy=4, seed=1))
    b = ENGINE.render(BlendSpec(IDS[0], IDS[3], dx=4, dy=4, seed=2))
    assert not np.array_equal(a.isolated[1], b.isolated[1])
    np.testing.assert_array_equal(a.masks, b.masks)


def test_iter_batches_streams_and_reuses_buffers():
    specs = [BlendSpec(IDS[k % 8], IDS[(k + 1) % 8], dx=k % 5, dy=-(k % 3)) for k in range(10)]
    seen = []
    gen = ENGINE.iter_batches(specs, batch_size=4, reuse_buffers=True)
    for item in gen:
        if isinstance(item, BlendBatch):
            seen.append((item.indices.copy(), item.images.copy(), id(item.images.base)))
    assert [len(s[0]) for s in seen] == [4, 4, 2]
    assert np.concatenate([s[0] for s in seen]).tolist() == list(range(10))
    full = ENGINE.render_batch(specs)
    np.testing.assert_array_equal(np.concatenate([s[1] for s in seen]), full.images)


def test_render_batch_rejects_small_output():
    out = BlendBatch.empty(1, STAMPS.stamp_shape)
    with pytest.raises(ValueError, match="need 2"):
        ENGINE.render_batch([BlendSpec(IDS[0], IDS[1])] * 2, out=out)


def test_unknown_id_is_a_clear_error():
    with pytest.raises(KeyError, match="no galaxy with id 99999"):
        ENGINE.render(BlendSpec(IDS[0], 99999))


@settings(max_examples=300, deadline=None)
@given(dx=st.floats(-200, 200, allow_nan=False), dy=st.floats(-200, 200, allow_nan=False),
       rotation=st.one_of(st.sampled_from([0.0, 90.0, -90.0, 180.0, 270.0, 360.0]),
                          st.floats(-720, 720, allow_nan=False)),
       flip=st.booleans(), h=st.integers(8, 600), w=st.integers(8, 600))
def test_affine_matrix_and_its_determinant_are_the_bits_of_the_matrix_products(dx, dy, rotation, flip, h, w):
    """The warp's matrix, written out term by term, holds the bits of the numpy products it replaced (F R^-1 and
    c - A (c + d)), and ``_abs_det`` those of ``abs(numpy.linalg.det)``: earlier versions' compact exports
    render to the same bytes (``flux_out_frac`` divides by the determinant)."""
    import math

    from candels_gui.core.blending.engine import _abs_det

    spec = BlendSpec(1, 2, dx=dx, dy=dy, rotation=rotation, flip=flip)
    c = np.array([w // 2, h // 2], dtype=np.float64)
    t = math.radians(rotation)
    r_inv = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    a = (np.diag([-1.0, 1.0]) if flip else np.eye(2)) @ r_inv
    expected = np.hstack([a, (c - a @ (c + np.array([dx, dy])))[:, None]])
    m = affine_matrix(spec, (h, w))
    assert m.tobytes() == expected.tobytes()
    assert _abs_det(m) == abs(np.linalg.det(expected[:, :2]))


@pytest.mark.parametrize("stamp", [128, 48, 1100])
def test_stream_batches_fit_the_cache_budget(stamp):
    from candels_gui.core.blending.engine import STREAM_BATCH_BYTES

    engine = BlendEngine(make_stampset(n=3, size=stamp, seed=1)) if stamp != 48 else ENGINE
    n = engine.stream_batch_size()
    assert 1 <= n <= 256
    assert n == 1 or n * 14 * stamp * stamp <= STREAM_BATCH_BYTES
    assert n == 256 or (n + 1) * 14 * stamp * stamp > STREAM_BATCH_BYTES
    specs = [BlendSpec(int(engine.stamps.ids[0]), int(engine.stamps.ids[1]), dx=k % 5, dy=0) for k in range(2 * n + 1)]
    sizes = [len(b) for b in engine.iter_batches(specs, reuse_buffers=True) if isinstance(b, BlendBatch)]
    assert sizes == [n, n, 1]
    with pytest.raises(ValueError, match="at least 1"):
        next(engine.iter_batches(specs, batch_size=0))


def test_rendered_bytes_are_those_of_earlier_versions():
    """A compact export written by an earlier version renders to the same bytes: the engine's output for
    fixed specs of the bundled sample data is pinned (integer shifts with flux scaling; sub-pixel shifts,
    rotations and flips through OpenCV's warp)."""
    import hashlib

    from candels_gui.core import BlendEngine, SamplingRules, load_stampset, sample_specs
    from candels_gui.paths import sample_data_dir

    stamps = load_stampset(sample_data_dir())
    pinned = {"int": ("63e6c5b83ab02784", SamplingRules(flux_ratio=(0.5, 2.0))),
              "sub": ("179276e92b4344dc", SamplingRules(subpixel=True, uniform_area=True, random_rotation=True,
                                                        random_flip=True))}
    for name, (digest, rules) in pinned.items():
        batch = BlendEngine(stamps).render_batch(sample_specs(stamps, 64, rules, seed=3))
        h = hashlib.sha256()
        for a in (batch.images, batch.isolated, batch.masks, batch.flux_out_frac):
            h.update(np.ascontiguousarray(a).tobytes())
        assert h.hexdigest()[:16] == digest, name


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_threads_render_the_same_bytes_as_one(threads):
    """A batch rendered by several threads (each its own rows) equals the one-thread batch, byte for byte,
    for whole-pixel, warped and mixed batches; the warped ones are many enough to be split."""
    from candels_gui.core.blending.engine import MIN_BLENDS_PER_THREAD
    from candels_gui.core.blending.sampling import SamplingRules, sample_specs

    n = MIN_BLENDS_PER_THREAD * threads + 7
    whole = sample_specs(STAMPS, n, SamplingRules(flux_ratio=(0.5, 2.0)), seed=11)
    warped = sample_specs(STAMPS, n, SamplingRules(subpixel=True, uniform_area=True, random_rotation=True,
                                                   random_flip=True), seed=11)
    mixed = [s for pair in zip(whole, warped) for s in pair]      # threads split rows of both kinds
    for specs in (whole, warped, mixed):
        one = BlendEngine(STAMPS, threads=1).render_batch(specs)
        many = BlendEngine(STAMPS, threads=threads).render_batch(specs)
        for a, b in ((one.images, many.images), (one.isolated, many.isolated), (one.masks, many.masks),
                     (one.flux_out_frac, many.flux_out_frac)):
            assert a.tobytes() == b.tobytes()


def test_render_threads_come_from_the_environment(monkeypatch):
    from candels_gui.core.blending.engine import default_render_threads

    monkeypatch.setenv("CANDELS_GUI_RENDER_THREADS", "3")
    assert default_render_threads() == 3 and BlendEngine(STAMPS).threads == 3
    monkeypatch.setenv("CANDELS_GUI_RENDER_THREADS", "two")
    with pytest.raises(ValueError, match="whole number"):
        default_render_threads()
    monkeypatch.delenv("CANDELS_GUI_RENDER_THREADS")
    assert 1 <= default_render_threads() <= 4
