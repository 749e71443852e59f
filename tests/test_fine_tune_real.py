"""Issue 19, item 6: fine-tuning the shipped unet-seg beats training it from scratch on a small set of galaxies it
never saw (a real, seeded measurement: same blends, same epochs, same seed; IoU on blends of other galaxies)."""

from __future__ import annotations

import pytest

from candels_gui.core.data.load import load_stampset
from candels_gui.core.data.sky_variety import sky_variety_job
from candels_gui.core.jobs import run_job
from candels_gui.core.store.produce import ProduceOptions, produce
from candels_gui.core.blending.sampling import SamplingRules
from candels_gui.deblend import get
from candels_gui.deblend.torch_deblender import weights_path
from candels_gui.deblend.training import train_model
from candels_gui.evaluation.evaluate import evaluate

pytestmark = pytest.mark.skipif(not weights_path("unet-seg").is_file(), reason="no shipped unet-seg weights")


def _iou_after(h5, out, *, init) -> float:
    run_job(train_model("unet-seg", h5, out, epochs=2, batch_size=16, lr=3e-4 if init else 1e-3, seed=0,
                        device="cpu", patience=5, init=init))
    result = run_job(evaluate(h5, [get("unet-seg", weights=str(out))], split="test", limit=80))
    return float(result.summaries["unet-seg"]["iou_mean"])


def _compare(stamps, tmp_path) -> tuple[float, float]:
    # half the galaxies train, the other half test (produce splits by galaxy)
    options = ProduceOptions(n_blends=240, test_ratio=0.4, seed=3,
                             rules=SamplingRules(random_rotation=True, random_flip=True))
    run_job(produce(stamps, tmp_path / "blends", options))
    h5 = tmp_path / "blends" / "blends.h5"
    tuned = _iou_after(h5, tmp_path / "tuned.pt", init=weights_path("unet-seg"))
    scratch = _iou_after(h5, tmp_path / "scratch.pt", init=None)
    print(f"IoU on the test galaxies' blends: fine-tuned {tuned:.3f}, from scratch {scratch:.3f}")
    return tuned, scratch


def test_fine_tuning_beats_scratch_on_unseen_sky_variety_galaxies(tmp_path):
    stamps = load_stampset(run_job(sky_variety_job(tmp_path / "sky", n_stamps=40, seed=19)))
    tuned, scratch = _compare(stamps, tmp_path)
    assert tuned > scratch + 0.05, (tuned, scratch)


def test_fine_tuning_beats_scratch_on_real_cosmos_galaxies(cosmos_dir, tmp_path):
    tuned, scratch = _compare(load_stampset(cosmos_dir), tmp_path)
    assert tuned > scratch + 0.05, (tuned, scratch)
