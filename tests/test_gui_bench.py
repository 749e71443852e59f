"""``candels-gui bench``: the groups run and report their keys as positive numbers (timings never asserted)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candels_gui.bench import GROUPS, run_bench


def _positive(result: dict, keys: list[str]) -> None:
    for key in keys:
        assert key in result, f"{key} missing from {sorted(result)}"
        value = result[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value > 0, (key, value)


def test_engine_group():
    result = run_bench(n=200, groups=["engine"])
    _positive(result, ["engine_blends_per_s", "engine_subpixel_blends_per_s"])
    assert result["engine_n"] == 200
    assert not any(k.startswith(("preview", "ui_stall", "startup")) for k in result)  # only what ran


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="unknown bench group"):
        run_bench(n=10, groups=["no-such-group"])


def test_gui_groups_are_registered_and_report_their_keys(qapp):
    result = run_bench(n=200, groups=["preview", "export_ui"])
    assert {"preview", "export_ui", "startup"} <= set(GROUPS)
    _positive(result, ["preview_p50_ms_128", "preview_p95_ms_128", "preview_p95_ms_512",
                       "ui_stall_max_ms_export", "export_ui_blends_per_s"])
    assert result["preview_p95_ms_128"] >= result["preview_p50_ms_128"]
    assert result["export_ui_n"] == 200


def test_startup_group():
    result = run_bench(n=1, groups=["startup"])
    _positive(result, ["startup_s"])


def test_upsampled_stampset_keeps_labels_and_scales_radii(small_stamps):
    from candels_gui.gui.bench_gui import upsampled_stampset

    big = upsampled_stampset(small_stamps, 4)
    assert big.stamp_shape == (4 * small_stamps.stamp_shape[0], 4 * small_stamps.stamp_shape[1])
    assert big.images.dtype == np.float32 and big.segmaps.dtype == np.int32
    np.testing.assert_array_equal(big.images[:, ::4, ::4], small_stamps.images)
    np.testing.assert_array_equal(np.unique(big.segmaps), np.unique(small_stamps.segmaps))
    np.testing.assert_allclose(big.catalog["radius"], 4 * np.asarray(small_stamps.catalog["radius"]))
    with pytest.raises(ValueError, match="positive integer"):
        upsampled_stampset(small_stamps, 0)
