"""Training never replaces weights it cannot load back and check finite: a run that diverges writes
nothing (the old weights stay, no .prev, no checkpoint, no temporary file) and says so in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile.harness import temp_files  # noqa: E402


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    from hostile.fixtures import build_good

    return build_good(tmp_path_factory.mktemp("train") / "good")


def test_diverging_training_writes_nothing(good, tmp_path, monkeypatch):
    from candels_gui.core.errors import TrainingError
    from candels_gui.core.jobs import run_job
    from candels_gui.deblend import training

    out = tmp_path / "w.pt"
    out.write_bytes(good["weights_unet-seg"].read_bytes())
    before = out.read_bytes()
    real_step = training.train_step

    def diverging_step(name, model, *args, **kwargs):  # what a too-large step does: NaN everywhere
        loss = real_step(name, model, *args, **kwargs)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
        return loss * float("nan")
    monkeypatch.setattr(training, "train_step", diverging_step)
    with pytest.raises(TrainingError, match="diverged"):
        run_job(training.train_model("unet-seg", good["out"] / "blends.h5", out, epochs=2, batch_size=4,
                                     model_kwargs={"base": 2, "depth": 1}, device="cpu"))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"] and temp_files(tmp_path) == []


def test_save_weights_refuses_non_finite(tmp_path):
    from candels_gui.core.errors import TrainingError
    from candels_gui.deblend.models import build_model
    from candels_gui.torch_common import save_weights

    model = build_model("unet-seg", base=2, depth=1)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingError, match="NaN or infinite"):
        save_weights(tmp_path / "w.pt", model, {"architecture": "unet-seg", "kwargs": {"base": 2, "depth": 1}})
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_outputs_it_would_destroy(good, tmp_path, capsys):
    from candels_gui.cli import main

    data = str(good["out"] / "blends.h5")
    base = ["train", "--model", "unet-seg", "--data", data, "--epochs", "1", "--base", "2", "--depth", "1"]
    (tmp_path / "folder").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for out, word in ((tmp_path / "folder", "folder"), (notes, "not a weights file"), (Path(data), "input")):
        capsys.readouterr()
        assert main([*base, "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert word in err and "\n" not in err and err.startswith("candels-gui train: error:")
    assert notes.read_text() == "mine" and (tmp_path / "folder").is_dir()
