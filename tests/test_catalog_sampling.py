"""Catalog filters, split by galaxy, and candels-blender's sampling rules."""

import numpy as np
import pytest

from candels_gui.core.data.catalog import CatalogFilter, apply_filter, split_by_galaxy
from candels_gui.core.errors import DataError
from candels_gui.core.blending.sampling import SamplingRules, offset_bounds, sample_specs
from conftest import make_stampset


def test_filters_are_strict_on_magnitude_and_exclude_types():
    s = make_stampset(n=40)
    mags = np.asarray(s.catalog["mag"])
    f = CatalogFilter(mag_low=float(mags[0]), mag_high=23.0, excluded_types=("irr", "sph"))
    keep = f.mask(s.catalog)
    assert not keep[0]  # strict lower bound
    assert np.all(mags[keep] < 23.0) and np.all(mags[keep] > mags[0])
    assert set(np.asarray(s.catalog["galtype"])[keep]) <= {"disk", "sphd"}
    assert CatalogFilter.from_dict(f.to_dict()) == f
    assert apply_filter(s, CatalogFilter(id_search="10")).tolist() == [i for i, g in enumerate(s.ids) if "10" in str(g)]
    z = CatalogFilter(z_min=1.0, z_max=2.0, radius_min=3.0).mask(s.catalog)
    assert np.all(np.asarray(s.catalog["z"])[z] >= 1) and np.all(np.asarray(s.catalog["radius"])[z] >= 3)
    with pytest.raises(ValueError, match="unknown galaxy type"):
        CatalogFilter(excluded_types=("spiral",))
    with pytest.raises(ValueError, match="above"):
        CatalogFilter(mag_low=25, mag_high=20)


def test_split_has_no_galaxy_in_both_and_is_seeded():
    train, test = split_by_galaxy(np.arange(100), 0.2, seed=42)
    assert len(test) == 20 and len(train) == 80 and not set(train) & set(test)
    again = split_by_galaxy(np.arange(100), 0.2, seed=42)
    assert train.tolist() == again[0].tolist()
    assert split_by_galaxy(np.arange(100), 0.2, seed=1)[1].tolist() != test.tolist()


def test_offset_bounds_follow_candels_blender():
    rules = SamplingRules()
    assert offset_bounds(3, 5, rules, 128) == (5, 12)
    assert offset_bounds(30, 40, rules, 128) == (40, 64)
    rmin, rmax = offset_bounds(2, 10, rules, 128)  # rmin 10 >= rmax 8 -> 0.8 rmax
    assert rmax == 8 and rmin == pytest.approx(6.4)


def test_sampled_specs_obey_rules_and_are_reproducible():
    s = make_stampset(n=30)
    rules = SamplingRules(mag_diff=1.5)
    specs = sample_specs(s, 200, rules, seed=9)
    mags = dict(zip(s.ids.tolist(), np.asarray(s.catalog["mag"]).tolist()))
    rad = dict(zip(s.ids.tolist(), np.asarray(s.catalog["radius"]).tolist()))
    for sp in specs:
        assert sp.id1 != sp.id2
        assert abs(mags[sp.id1] - mags[sp.id2]) < 1.5
        rmin, rmax = offset_bounds(rad[sp.id1], rad[sp.id2], rules, 48)
        assert rmin - 1e-9 <= sp.separation <= rmax + 1e-9
        assert sp.dx.is_integer() and sp.dy.is_integer() and sp.rotation == 0 and sp.seed == 9
    assert sample_specs(s, 200, rules, seed=9) == specs
    # spec k depends only on (seed, k): drawing from index 50 on gives the same tail
    assert sample_specs(s, 150, rules, seed=9, start_index=50) == specs[50:]


def test_new_options_rotation_flip_flux_and_area():
    s = make_stampset(n=30)
    rules = SamplingRules(uniform_area=True, subpixel=True, random_rotation=True, random_flip=True,
                          flux_ratio=(0.5, 2.0))
    specs = sample_specs(s, 300, rules, seed=1)
    assert any(not sp.dx.is_integer() for sp in specs)
    assert {sp.flip for sp in specs} == {True, False}
    assert all(0.5 <= sp.flux_scale <= 2.0 for sp in specs)
    assert len({round(sp.rotation) for sp in specs}) > 100


def test_pool_too_small_is_an_error():
    s = make_stampset(n=5)
    with pytest.raises(DataError, match="pool of 1"):
        sample_specs(s, 1, seed=0, pool=[2])


def test_id_list_filter_keeps_only_those_galaxies_and_round_trips():
    from candels_gui.core.errors import DataError, OptionError

    s = make_stampset(n=12, seed=5)
    pick = [int(s.ids[3]), str(int(s.ids[7])), float(s.ids[1])]        # IDs as a user may type them
    f = CatalogFilter(ids=pick)
    assert f.ids == tuple(sorted(int(float(v)) for v in pick))
    assert apply_filter(s, f).tolist() == [1, 3, 7]
    assert CatalogFilter.from_dict(f.to_dict()) == f
    assert "ids" not in CatalogFilter().to_dict()                       # manifests without a list read as before
    with pytest.raises(DataError, match="1 of the 2 requested IDs"):
        CatalogFilter(ids=[int(s.ids[0]), 10**12]).mask(s.catalog)
    for bad in ("3,4", [], [1.5], [True]):
        with pytest.raises(OptionError):
            CatalogFilter(ids=bad)
