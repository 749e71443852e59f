"""The deblender benchmark groups (``infer``, ``train``) with tiny N (no timing is asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / "sample_data" / "candels_img.npy").exists(),
                                reason="sample data not generated")


def _positive(x) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_groups_are_registered_with_the_bench():
    from candels_gui import bench

    bench._load_optional_groups()
    assert {"infer", "train"} <= set(bench.GROUPS)


def test_infer_reports_every_deblender_per_device(tmp_path, monkeypatch):
    from candels_gui.deblend.bench_models import bench_infer
    from candels_gui.deblend.models import build_model
    from candels_gui.deblend.torch_deblender import save_weights

    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path))
    save_weights(tmp_path / "models" / "blend2flux.pt", build_model("blend2flux", base=16, depth=4),
                 {"architecture": "blend2flux", "kwargs": {"base": 16, "depth": 4},
                  "normalisation": {"kind": "asinh", "scale": 1.0}})
    lines = []
    out = bench_infer(3, lines.append, names=["photutils", "sep", "unet-seg", "blend2flux"], batch_size=2)
    json.dumps(out)  # machine-readable
    rates = out["infer_blends_per_s"]
    assert list(rates) == ["photutils", "sep", "unet-seg", "blend2flux"]
    assert rates["photutils"].keys() == rates["sep"].keys() == {"cpu"}
    assert all(_positive(v) for r in rates.values() for v in r.values())
    assert list(rates["blend2flux"]) == [out["device"]] == list(rates["unet-seg"])
    assert out["infer_untrained_weights"] == ["unet-seg"]  # blend2flux had weights
    assert out["infer_n"] == {"photutils": 3, "sep": 3, "unet-seg": 3, "blend2flux": 3}
    assert out["infer_blend_shape"] == [128, 128]
    assert len(lines) == 4 and "N=3" in lines[0]


def test_infer_stops_at_the_time_budget_and_reports_n():
    from candels_gui.deblend.bench_models import bench_infer

    out = bench_infer(6, names=["sep"], budget_s=0.0, batch_size=2)
    assert out["infer_n"] == {"sep": 2}  # one batch, then the budget was spent
    assert "device" not in out and "infer_untrained_weights" not in out  # no torch model ran


def test_train_reports_samples_per_s():
    from candels_gui.deblend.bench_models import bench_train

    out = bench_train(0, names=["blend2flux", "unet-seg"], steps=1, batch_size=2)
    assert set(out["train_samples_per_s"]) == {"blend2flux", "unet-seg"}
    assert all(_positive(v) for v in out["train_samples_per_s"].values())
    assert out["train_steps"] == 1 and out["train_batch_size"] == 2 and out["device"]
    with pytest.raises(ValueError, match="not a torch model"):
        bench_train(0, names=["sep"], steps=1, batch_size=2)
    with pytest.raises(ValueError, match="steps >= 1"):
        bench_train(0, steps=0)


def test_morphology_group_returns_its_figures(monkeypatch):
    """``bench --only morphology``: the classifier's and statmorph's stamps/s, with the device named."""
    from candels_gui import bench
    from candels_gui.core import load_stampset
    from candels_gui.paths import sample_data_dir

    small = load_stampset(sample_data_dir()).subset(slice(0, 4))
    monkeypatch.setattr(bench, "_stamps", lambda: small)
    lines = []
    out = bench.bench_morphology(8, lines.append)
    assert out["classify_stamps_per_s"] > 0 and out["classify_n"] == 8 and out["classify_device"]
    assert out["statmorph_stamps_per_s"] > 0 and out["statmorph_n"] == 4
    assert lines and "statmorph_stamps_per_s" in lines[-1]
