"""Label methods, fluxes and the blend catalogue (candels_gui.core.blending.labels)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from astropy.table import Table

from candels_gui.core.blending.engine import BlendSpec
from candels_gui.core.errors import DataError
from candels_gui.core.blending.labels import (CANDELS_BLENDER_COLUMNS, CATALOG_COLUMNS, LABEL_METHODS,
                                              blend_catalog, blend_fluxes, bogg_masks, catalog_record_dtype,
                                              catalog_to_records, flux_to_mag, gg_masks, label_dtype,
                                              label_shape, mag_to_flux, make_labels, masks_from_labels,
                                              ogg_masks, read_catalog_csv, records_to_catalog, single_images,
                                              write_catalog_csv)
from candels_gui.core.data.stampset import StampSet


def _hand_masks() -> np.ndarray:
    """Two blends of 3x4 pixels; blend 0 has every class, blend 1 has no companion."""
    m = np.zeros((2, 2, 3, 4), bool)
    m[0, 0, 0, 0:2] = True          # central at (0,0), (0,1)
    m[0, 1, 0, 1:3] = True          # companion at (0,1), (0,2) -> overlap at (0,1)
    m[0, 1, 2, 3] = True            # companion alone at (2,3)
    m[1, 0, 1, :] = True            # blend 1: central row 1 only
    return m


def _stamps() -> StampSet:
    n = 5
    imgs = np.zeros((n, 8, 8), np.float32)
    segs = np.zeros((n, 8, 8), np.int32)
    cat = Table({"id": [11, 12, 13, 14, 15], "ra": np.zeros(n), "dec": np.zeros(n),
                 "mag": [20.0, 21.5, 22.0, 23.25, 25.96], "radius": [1.0, 2.0, 3.0, 4.0, 5.0],
                 "z": [0.1, 0.2, 0.3, 0.4, 0.5], "galtype": ["irr", "disk", "sph", "sphd", "disk"],
                 "segval": np.ones(n, int)})
    return StampSet(imgs, segs, cat, source="labels-test")


# ------------------------------------------------------------------------------------ label methods
def test_gg_masks_channels_first_uint8():
    m = _hand_masks()
    out = gg_masks(m)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3, 4)
    assert np.array_equal(out, m.astype(np.uint8))
    assert out[0, 0, 0].tolist() == [1, 1, 0, 0]
    assert out[0, 1, 0].tolist() == [0, 1, 1, 0]


def test_ogg_masks_order_overlap_central_companion():
    out = ogg_masks(_hand_masks())
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4, 3)
    # row 0 of blend 0: pixels (0,0) central only, (0,1) both, (0,2) companion only, (0,3) none
    assert out[0, 0].tolist() == [[0, 1, 0], [1, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert out[0, 2, 3].tolist() == [0, 0, 1]
    assert out[1, 1].tolist() == [[0, 1, 0]] * 4
    assert out[1, ..., 0].sum() == 0 and out[1, ..., 2].sum() == 0


def test_bogg_masks_one_hot_order():
    m = _hand_masks()
    out = bogg_masks(m)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4, 4)
    assert np.array_equal(out.sum(axis=-1), np.ones((2, 3, 4)))          # exactly one class per pixel
    assert out[0, 0].tolist() == [[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    assert out[0, 2, 3].tolist() == [0, 0, 0, 1]
    assert out[0, 1, 1].tolist() == [1, 0, 0, 0]
    assert int(out[1, ..., 2].sum()) == 4 and int(out[1, ..., 0].sum()) == 8


def test_bogg_sums_to_one_on_random_masks():
    m = np.random.default_rng(1).random((6, 2, 9, 7)) > 0.4
    out = bogg_masks(m)
    assert np.array_equal(out.sum(axis=-1), np.ones((6, 9, 7)))
    assert np.array_equal(out[..., 1].astype(bool), m[:, 0] & m[:, 1])
    assert np.array_equal(out[..., 0].astype(bool), ~m[:, 0] & ~m[:, 1])


def test_single_images_channels_last_central_first():
    iso = np.random.default_rng(2).normal(size=(3, 2, 5, 6)).astype(np.float32)
    out = single_images(iso)
    assert out.dtype == np.float32 and out.shape == (3, 5, 6, 2)
    assert np.array_equal(out[..., 0], iso[:, 0]) and np.array_equal(out[..., 1], iso[:, 1])


@pytest.mark.parametrize("method", LABEL_METHODS)
def test_shapes_and_dtypes_of_every_method(method):
    rng = np.random.default_rng(3)
    masks = rng.random((4, 2, 10, 12)) > 0.5
    iso = rng.normal(size=(4, 2, 10, 12)).astype(np.float32)
    out = make_labels(method, masks=masks, isolated=iso)
    assert out.shape == label_shape(method, 4, 10, 12)
    assert out.dtype == label_dtype(method)
    # filling a preallocated array gives the same values
    buf = np.full(label_shape(method, 4, 10, 12), 7, label_dtype(method))
    make_labels(method, masks=masks, isolated=iso, out=buf)
    assert np.array_equal(buf, out)
    # one blend (2, H, W) in, one label out
    single = make_labels(method, masks=masks[1], isolated=iso[1])
    assert np.array_equal(single, out[1])


def test_label_shape_matches_candels_blender():
    assert label_shape("gg_masks", 5, 128, 128) == (5, 2, 128, 128)
    assert label_shape("ogg_masks", 5, 128, 128) == (5, 128, 128, 3)
    assert label_shape("bogg_masks", 5, 128, 128) == (5, 128, 128, 4)
    assert label_shape("single_images", 5, 128, 128) == (5, 128, 128, 2)
    assert label_dtype("single_images") == np.float32 and label_dtype("gg_masks") == np.uint8


@pytest.mark.parametrize("method", ["gg_masks", "ogg_masks", "bogg_masks"])
def test_masks_from_labels_inverts(method):
    m = np.random.default_rng(4).random((3, 2, 6, 5)) > 0.5
    assert np.array_equal(masks_from_labels(method, make_labels(method, masks=m)), m)
    assert masks_from_labels("single_images", np.zeros((1, 6, 5, 2), np.float32)) is None


def test_label_errors():
    m = np.zeros((1, 2, 4, 4), bool)
    with pytest.raises(ValueError, match="unknown label method"):
        make_labels("ggg_masks", masks=m)
    with pytest.raises(ValueError, match="needs the isolated images"):
        make_labels("single_images", masks=m)
    with pytest.raises(ValueError, match="needs the masks"):
        make_labels("ogg_masks", isolated=m.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        ogg_masks(np.zeros((1, 3, 4, 4), bool))
    with pytest.raises(ValueError, match="out must be"):
        ogg_masks(m, out=np.zeros((1, 4, 4, 4), np.uint8))


# ------------------------------------------------------------------------------------------ fluxes
def test_mag_flux_conversions():
    assert mag_to_flux(25.96) == pytest.approx(1.0)
    assert mag_to_flux(20.0, zeropoint=25.0) == pytest.approx(100.0)
    mags = np.array([18.0, 22.5, 27.1])
    assert np.allclose(flux_to_mag(mag_to_flux(mags, 26.0), 26.0), mags)
    assert np.isnan(flux_to_mag(np.array([0.0, -1.0]))).all()
    assert mag_to_flux(21.0) / mag_to_flux(23.5) == pytest.approx(10.0)


def test_blend_fluxes_from_catalog_mags_and_flux_scale():
    st = _stamps()
    specs = [BlendSpec(11, 12), BlendSpec(15, 13, flux_scale=2.5), BlendSpec(14, 11, flux_scale=0.1)]
    f = blend_fluxes(st, specs)
    assert f.shape == (3, 2) and f.dtype == np.float64
    assert f[1, 0] == pytest.approx(1.0)                           # mag 25.96 at zeropoint 25.96
    assert f[0, 0] == pytest.approx(10 ** (-0.4 * (20.0 - 25.96)))
    assert f[1, 1] == pytest.approx(2.5 * 10 ** (-0.4 * (22.0 - 25.96)))
    assert f[2, 1] == pytest.approx(0.1 * 10 ** (-0.4 * (20.0 - 25.96)))
    f30 = blend_fluxes(st, specs, zeropoint=30.0)
    assert np.allclose(f30 / f, 10 ** (0.4 * (30.0 - 25.96)))
    with pytest.raises(KeyError, match="no galaxy with id 99"):
        blend_fluxes(st, [BlendSpec(11, 99)])


# --------------------------------------------------------------------------------------- catalogue
def _specs() -> list[BlendSpec]:
    return [BlendSpec(11, 12, dx=3, dy=-4, seed=7),
            BlendSpec(13, 14, dx=-1.25, dy=2.5, rotation=33.3, flip=True, flux_scale=0.5, seed=7),
            BlendSpec(15, 11, dx=0, dy=6, flux_scale=10.0, seed=8)]


def test_blend_catalog_columns_and_values():
    st = _stamps()
    cat = blend_catalog(st, _specs(), start_id=100, flux_out_frac=[0.0, 0.25, 0.5])
    assert tuple(cat.colnames) == CATALOG_COLUMNS
    assert tuple(cat.colnames[:14]) == CANDELS_BLENDER_COLUMNS
    assert cat["id"].tolist() == [100, 101, 102]
    assert cat["distance"][0] == pytest.approx(5.0)
    assert cat["shift_x"].tolist() == [3.0, -1.25, 0.0] and cat["shift_y"].tolist() == [-4.0, 2.5, 6.0]
    assert cat["g1_id"].tolist() == [11, 13, 15] and cat["g2_id"].tolist() == [12, 14, 11]
    assert cat["g1_mag"][1] == 22.0 and cat["g1_rad"][1] == 3.0 and cat["g1_z"][1] == 0.3
    assert cat["g1_type"].tolist() == ["irr", "sph", "disk"]
    assert cat["g2_type"].tolist() == ["disk", "sphd", "irr"]
    # g2_mag is after flux scaling: half the flux = 0.7526 mag fainter, 10x = 2.5 mag brighter
    assert cat["g2_mag"][0] == 21.5
    assert cat["g2_mag"][1] == pytest.approx(23.25 + 2.5 * np.log10(2))
    assert cat["g2_mag"][2] == pytest.approx(20.0 - 2.5)
    assert cat["flip"].tolist() == [False, True, False]
    assert cat["rotation"][1] == 33.3 and cat["seed"].tolist() == [7, 7, 8]
    assert cat["flux_out_frac"].tolist() == [0.0, 0.25, 0.5]
    # without flux_out_frac the column is NaN, and g2 fluxes agree with blend_fluxes
    cat2 = blend_catalog(st, _specs())
    assert np.isnan(cat2["flux_out_frac"]).all() and cat2["id"].tolist() == [0, 1, 2]
    assert np.allclose(mag_to_flux(np.asarray(cat2["g2_mag"])), blend_fluxes(st, _specs())[:, 1])
    with pytest.raises(ValueError, match=r"flux_out_frac must have shape \(3,\)"):
        blend_catalog(st, _specs(), flux_out_frac=[0.0])


def test_catalog_csv_six_decimals_round_trip(tmp_path):
    st = _stamps()
    cat = blend_catalog(st, _specs(), flux_out_frac=np.array([0.0, 1 / 3, 0.5], np.float32))
    path = tmp_path / "cat.csv"
    write_catalog_csv(path, cat)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(CATALOG_COLUMNS)
    first = dict(zip(CATALOG_COLUMNS, lines[2].split(",")))
    assert first["distance"] == f"{np.hypot(1.25, 2.5):.6f}"
    assert re.fullmatch(r"-?\d+\.\d{6}", first["g2_mag"]) and first["flip"] == "True"
    assert first["g1_id"] == "13" and first["g2_type"] == "sphd" and first["seed"] == "7"
    back = read_catalog_csv(path)
    assert tuple(back.colnames) == CATALOG_COLUMNS and len(back) == 3
    for c in CATALOG_COLUMNS:
        if back[c].dtype.kind == "f":
            assert np.allclose(back[c], cat[c], atol=5e-7, rtol=0)
        else:
            assert back[c].tolist() == cat[c].tolist()
    again = tmp_path / "again.csv"
    write_catalog_csv(again, back)
    assert again.read_bytes() == path.read_bytes()


def test_read_catalog_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,distance\n0,1.0\n")
    with pytest.raises(DataError, match="bad.csv.*header"):
        read_catalog_csv(bad)
    good = tmp_path / "good.csv"
    write_catalog_csv(good, blend_catalog(_stamps(), _specs()))
    text = good.read_text().replace(",True,", ",maybe,")
    good.write_text(text)
    with pytest.raises(DataError, match="column 'flip'"):
        read_catalog_csv(good)


def test_catalog_records_round_trip_exactly():
    st = _stamps()
    cat = blend_catalog(st, _specs(), flux_out_frac=[0.1, 0.2, 0.3])
    dtype = catalog_record_dtype(st)
    assert dtype["g1_type"] == np.dtype("S4")
    rec = catalog_to_records(cat, dtype)
    back = records_to_catalog(rec)
    assert tuple(back.colnames) == CATALOG_COLUMNS
    for c in CATALOG_COLUMNS:
        assert back[c].tolist() == cat[c].tolist()
    assert back["flip"].dtype == bool and back["g1_type"].dtype.kind == "U"


@settings(max_examples=60, deadline=None)
@given(b=st.integers(0, 4), h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**16),
       strided=st.booleans())
def test_mask_labels_are_their_channel_definitions(b, h, w, seed, strided):
    """ogg/bogg written channel-interleaved (OpenCV's merge, or plain copies into a strided ``out``) hold exactly
    the per-pixel definitions: [overlap, central, companion] and one-hot [background, overlap, central only,
    companion only]."""
    from candels_gui.core.blending.labels import bogg_masks, ogg_masks

    m = np.random.default_rng(seed).random((b, 2, h, w)) > 0.5
    c, o = m[:, 0], m[:, 1]
    want = {ogg_masks: np.stack([c & o, c, o], axis=-1), bogg_masks: np.stack([~(c | o), c & o, c & ~o, o & ~c], -1)}
    for fn, expected in want.items():
        out = None
        if strided:
            out = np.zeros((b, h, 2 * w, expected.shape[-1]), np.uint8)[:, :, ::2]
        got = fn(m, out=out)
        assert got.dtype == np.uint8 and np.array_equal(got, expected.astype(np.uint8))
