"""``bench --only pipeline``: produce + concatenate to training arrays, timed from process start to exit
(tiny N; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / "sample_data" / "candels_img.npy").exists(),
                                reason="sample data not generated")


def test_pipeline_group_times_both_commands_and_concatenates_peak_memory(monkeypatch):
    from candels_gui import bench
    from candels_gui.bench_pipeline import BLENDER_SRC_ENV

    monkeypatch.delenv(BLENDER_SRC_ENV, raising=False)
    assert bench.GROUPS["pipeline"] is bench.bench_pipeline
    lines: list[str] = []
    out = bench.bench_pipeline(200, lines.append)
    assert out["pipeline_n"] == 200
    assert out["pipeline_to_arrays_blends_per_s"] > 0
    assert out["pipeline_produce_s"] > 0 and out["pipeline_concatenate_s"] > 0
    # a Python process with numpy and h5py holds tens of MB; 200 blends of arrays add a few more
    assert 20 < out["concatenate_peak_rss_mb"] < 2000
    assert "candels_blender_pipeline_blends_per_s" not in out     # not asked for: not measured, not faked
    assert lines and "pipeline_to_arrays_blends_per_s" in lines[-1]


def test_run_timed_reports_the_childs_own_peak_and_its_failure(tmp_path):
    import sys

    from candels_gui.bench_pipeline import run_timed

    seconds, mb = run_timed([sys.executable, "-c", "import numpy as np, time; a = np.ones(300 * 2**20 // 8); a += 1; time.sleep(0.3)"],
                            tmp_path)
    assert seconds > 0 and mb >= 300                     # the child's 300 MB array, not this process's peak
    small_s, small_mb = run_timed([sys.executable, "-c", "import time; time.sleep(0.3)"], tmp_path)
    assert 0 < small_mb < 100 < mb
    with pytest.raises(RuntimeError, match="exited with 3: boom"):
        run_timed([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], tmp_path)


def test_a_wrong_candels_blender_source_is_a_clear_error(monkeypatch, tmp_path):
    from candels_gui import bench
    from candels_gui.bench_pipeline import BLENDER_SRC_ENV

    monkeypatch.setenv(BLENDER_SRC_ENV, str(tmp_path / "not-candels-blender"))
    with pytest.raises(RuntimeError, match="blender.scripts.cli"):
        bench.bench_pipeline(50, None)
    np.testing.assert_equal(list(tmp_path.iterdir()), [])   # nothing left behind in the user's folders
