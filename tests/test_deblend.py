"""Deblenders: registry, classical baselines, torch models, training, cancellation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TRUE_POS = [(22.0, 30.0), (42.0, 35.0)]  # (x, y)


def _gauss(size: int, x: float, y: float, amp: float, sig: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sig ** 2))


def _blend(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = _gauss(size, *TRUE_POS[0], 60.0, 3.0) + _gauss(size, *TRUE_POS[1], 35.0, 2.5)
    return (img + rng.normal(0, 1.0, (size, size))).astype(np.float32)


def _write_h5(path: Path, n: int = 48, size: int = 32, seed: int = 1, grouped: bool = True) -> Path:
    """Tiny export with the core writer's dataset names: random pairs of Gaussians plus noise."""
    import h5py

    rng = np.random.default_rng(seed)
    iso = np.zeros((n, 2, size, size), np.float32)
    c = size // 2
    for i in range(n):
        iso[i, 0] = _gauss(size, c, c, rng.uniform(20, 60), rng.uniform(1.5, 3))
        dx, dy = rng.uniform(-9, 9, 2)
        iso[i, 1] = _gauss(size, c + dx, c + dy, rng.uniform(10, 40), rng.uniform(1.5, 3))
    masks = iso > 2.0
    iso += rng.normal(0, 0.5, iso.shape).astype(np.float32)
    blends = iso.sum(axis=1)
    fluxes = iso.astype(np.float64).sum(axis=(2, 3))
    with h5py.File(path, "w") as f:
        f.attrs["input_hashes"] = '{"synthetic": "%d"}' % seed
        f.attrs["options"] = "{}"
        g = f.create_group("train") if grouped else f
        g["blend_images"] = blends
        g["isolated_images"] = iso
        g["masks"] = masks
        g["fluxes"] = fluxes
    return path


# ---------------------------------------------------------------------------------------- registry
def test_registry_lists_seven_names_without_importing_torch_or_jax():
    code = ("import sys, candels_gui.deblend as d; print(','.join(d.available())); "
            "print(all(m.split('.')[0] not in {'torch', 'photutils', 'sep', 'jax', 'scarlet2'} "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(ROOT)).stdout.split()
    assert out[0].split(",") == ["photutils", "sep", "scarlet", "unet-seg", "unet-deblend", "cgan",
                                "blend2flux"]
    assert out[1] == "True"
    from candels_gui.deblend import descriptions
    assert all(descriptions()[k] for k in out[0].split(","))


def test_unknown_name_and_missing_weights_give_clear_errors(tmp_path):
    from candels_gui.deblend import get
    with pytest.raises(ValueError, match="unknown deblender 'nope'"):
        get("nope")
    with pytest.raises(FileNotFoundError, match="candels-gui train --model cgan"):
        get("cgan", weights=tmp_path / "missing.pt")


# --------------------------------------------------------------------------------------- classical
@pytest.mark.parametrize("name", ["photutils", "sep"])
def test_classical_finds_both_sources(name):
    from candels_gui.deblend import get

    images = np.stack([_blend(0), _blend(1)])
    results = get(name).run(images)
    assert len(results) == 2
    for r in results:
        assert r.name == name and r.device == "cpu"
        assert r.segmentation.dtype == bool and r.images.dtype == np.float32
        assert r.segmentation.shape == r.images.shape == (2, 64, 64)
        found = sorted(zip(r.catalog["x"], r.catalog["y"]))
        for (x, y), (tx, ty) in zip(found, sorted(TRUE_POS)):
            assert abs(x - tx) < 1.5 and abs(y - ty) < 1.5
        assert not (r.segmentation[0] & r.segmentation[1]).any()
        np.testing.assert_allclose(r.catalog["flux"], r.images.sum(axis=(1, 2)), rtol=1e-4)
        bright = int(np.argmin(np.hypot(r.catalog["x"] - 22, r.catalog["y"] - 30)))
        assert r.catalog["flux"][bright] > r.catalog["flux"][1 - bright]


def test_sep_falls_back_to_loose_config_and_photutils_smooth_split():
    from candels_gui.deblend import get

    faint = (_gauss(64, 32, 32, 5.0, 2.0) + np.random.default_rng(3).normal(0, 1, (64, 64))).astype(np.float32)
    r = get("sep").run(faint, noise_sigma=1.0)[0]
    assert r.params["config"] == "loose" and r.params["noise_sigma"] == 1.0
    hard = get("photutils").run(_blend(0))[0]
    soft = get("photutils", split="smooth").run(_blend(0))[0]
    np.testing.assert_array_equal(hard.segmentation, soft.segmentation)
    np.testing.assert_allclose(hard.images.sum(axis=0), soft.images.sum(axis=0), atol=1e-3)
    assert not np.allclose(hard.images, soft.images)


def test_empty_image_gives_zero_sources():
    from candels_gui.deblend import get

    noise = np.random.default_rng(5).normal(0, 1, (1, 48, 48)).astype(np.float32)
    for name in ("photutils", "sep"):
        r = get(name, **({"nsigma": 6.0} if name == "photutils" else {})).run(noise)[0]
        if r.n_sources:  # sep's loose pass may pick a noise peak, never more than a couple
            assert r.n_sources <= 2
        assert r.images.shape[1:] == (48, 48) and r.images.dtype == np.float32


def test_cancelled_iter_run_stops_within_one_batch():
    from candels_gui.core.errors import Cancelled
    from candels_gui.core.jobs import CancelToken, run_job
    from candels_gui.deblend import get

    images = np.stack([_blend(i) for i in range(12)])
    token, seen = CancelToken(), []

    def on_progress(p):
        seen.append(p.done)
        token.cancel()

    with pytest.raises(Cancelled):
        run_job(get("sep").iter_run(images, 3, token), on_progress)
    assert seen == [3]
    assert seen[-1] <= 3 + 3
    results = run_job(get("sep").iter_run(images[:5], 2))
    assert len(results) == 5


# ------------------------------------------------------------------------------------------ models
def test_model_forward_shapes_and_normalisation():
    import torch

    from candels_gui.deblend.models import (PatchDiscriminator, asinh_denormalise, asinh_normalise,
                                            build_model, count_parameters)

    x = torch.zeros(2, 1, 40, 36)
    expect = {"unet-seg": (2, 3, 40, 36), "unet-deblend": (2, 2, 40, 36), "cgan": (2, 2, 40, 36),
              "blend2flux": (2, 2)}
    for name, shape in expect.items():
        m = build_model(name).eval()
        assert tuple(m(x).shape) == shape
        assert 2e5 < count_parameters(m) < 2.5e6
    d = PatchDiscriminator()
    assert d(torch.zeros(2, 1, 64, 64), torch.zeros(2, 2, 64, 64)).shape[:2] == (2, 1)
    img = _blend(0)[None]
    z = asinh_normalise(img, np.array([1.0]), 2.0)
    np.testing.assert_allclose(asinh_denormalise(z, np.array([1.0]), 2.0), img, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------- training
def test_training_data_takes_a_produce_output_folder(tmp_path):
    """``train --data FOLDER`` reads FOLDER/blends.h5, as ``evaluate --data FOLDER`` does; a folder without
    blends says so."""
    from candels_gui.core.errors import DataError
    from candels_gui.deblend.training import TrainingData

    _write_h5(tmp_path / "blends.h5")
    by_folder = TrainingData(tmp_path, "blend2flux").batch(np.array([3, 1]))
    by_file = TrainingData(tmp_path / "blends.h5", "blend2flux").batch(np.array([3, 1]))
    for a, b in zip(by_folder, by_file):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder holds no blends.h5 or blends.zarr"):
        TrainingData(tmp_path / "empty", "unet-seg")
    from candels_gui.cli import main                     # the whole command, weights and model card included

    out = tmp_path / "b2f.pt"
    assert main(["train", "--model", "blend2flux", "--data", str(tmp_path), "-o", str(out), "--epochs", "1",
                 "--batch_size", "6", "--device", "cpu"]) == 0
    assert out.is_file()


def test_training_steps_lower_the_loss(tmp_path):
    import torch
    import torch.nn.functional as F

    from candels_gui.deblend.models import build_model
    from candels_gui.deblend.training import TrainingData, _seg_loss

    data = TrainingData(_write_h5(tmp_path / "blends.h5"), "unet-seg")
    x, y = (torch.from_numpy(a) for a in data.batch(np.arange(16)))
    torch.manual_seed(0)
    model = build_model("unet-seg", base=8, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = _seg_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]

    flux = TrainingData(tmp_path / "blends.h5", "blend2flux", memory_mb=0)  # read per batch
    assert not flux.in_memory
    xf, yf = (torch.from_numpy(a) for a in flux.batch(np.array([5, 2, 9, 0])))
    xm, ym = TrainingData(tmp_path / "blends.h5", "blend2flux").batch(np.array([5, 2, 9, 0]))
    np.testing.assert_allclose(yf.numpy(), ym, rtol=1e-6)
    reg = build_model("blend2flux", base=8, depth=2)
    opt = torch.optim.Adam(reg.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.l1_loss(reg(xf), yf)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_train_model_writes_loadable_weights_and_resumes(tmp_path):
    from candels_gui.core.errors import DataError
    from candels_gui.core.jobs import run_job
    from candels_gui.deblend import get
    from candels_gui.deblend.training import train_model

    h5 = _write_h5(tmp_path / "blends.h5", n=24)
    out = tmp_path / "unet-deblend.pt"
    kw = dict(batch_size=8, lr=2e-3, seed=0, device="cpu", model_kwargs={"base": 8, "depth": 2},
              patience=10, command="candels-gui train --model unet-deblend")
    msgs = []
    res = run_job(train_model("unet-deblend", h5, out, epochs=1, **kw), lambda p: msgs.append(p.message))
    assert out.is_file() and Path(str(out) + ".ckpt").is_file()
    assert res.epochs_run == 1 and any("val_loss" in m for m in msgs)
    (tmp_path / "other").mkdir()
    other = _write_h5(tmp_path / "other" / "blends.h5", n=30, seed=2)
    for data, change, message in ((h5, {"lr": 0.5}, "was trained with --lr 0.002"),
                                  (h5, {"seed": 1}, "was trained with --seed 0"),
                                  (other, {}, "was trained on other data")):
        # the card would describe a run that never happened (epochs of one export under another's name)
        with pytest.raises(DataError, match=message):
            run_job(train_model("unet-deblend", data, out, epochs=3, resume=True, **{**kw, **change}))
    res2 = run_job(train_model("unet-deblend", h5, out, epochs=3, resume=True, **kw),
                   lambda p: msgs.append(p.message))
    assert any("resuming unet-deblend.pt.ckpt after epoch 1" in m for m in msgs)
    assert [r["epoch"] for r in res2.history] == [1, 2, 3] and res2.epochs_run == 3
    assert res2.card["command"] == "candels-gui train --model unet-deblend"
    assert res2.card["options"]["augment"] is True and res2.card["options"]["schedule"] == "cosine"
    assert len(res2.card["data_hash"]) == 64

    deb = get("unet-deblend", weights=out, device="cpu")
    blends = np.stack([_blend(i, size=32) for i in range(3)])
    results = deb.run(blends)
    assert len(results) == 3 and deb.device == "cpu"
    from candels_gui.deblend.base import flux_region

    for blend, r in zip(blends, results):
        assert r.segmentation.shape == r.images.shape == (2, 32, 32)
        assert r.segmentation.dtype == bool and r.images.dtype == np.float32
        np.testing.assert_allclose(r.images.sum(axis=0), blend, rtol=1e-4, atol=1e-4)   # the blend, split
        region = flux_region(r.segmentation)
        region[~r.segmentation.any(axis=(1, 2))] = True
        np.testing.assert_allclose(r.catalog["flux"], (r.images * region).sum(axis=(1, 2)), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", ["unet-seg", "cgan", "blend2flux"])
def test_every_model_trains_one_epoch_and_runs(tmp_path, name):
    from candels_gui.core.jobs import run_job
    from candels_gui.deblend.torch_deblender import TorchDeblender
    from candels_gui.deblend.training import train_model

    h5 = _write_h5(tmp_path / "blends.h5", n=12, grouped=name != "cgan")
    out = tmp_path / f"{name}.pt"
    small = {"unet-seg": {"base": 8, "depth": 2}, "cgan": {"base": 8, "depth": 3},
             "blend2flux": {"base": 8, "depth": 2}}[name]
    res = run_job(train_model(name, h5, out, epochs=1, batch_size=6, device="cpu", model_kwargs=small))
    assert np.isfinite(res.best_val_loss)
    deb = TorchDeblender.from_file(out, device="cpu")
    r = deb.run(np.stack([_blend(0, size=32)]), noise_sigma=1.0)[0]
    assert r.name == name and r.images.shape == r.segmentation.shape == (2, 32, 32)
    assert r.images.dtype == np.float32 and len(r.catalog) == 2
    if name == "blend2flux":
        assert (r.catalog["flux"] > 0).all() and list(r.catalog["x"]) == [16.0, 16.0]
    if name == "unet-seg":
        covered = r.segmentation.any(axis=0)
        np.testing.assert_allclose(r.images.sum(axis=0)[covered], _blend(0, size=32)[covered], rtol=1e-5)


def test_train_command_logs_every_epoch_when_stderr_is_not_a_terminal(tmp_path, capsys):
    from candels_gui.cli import main

    h5 = _write_h5(tmp_path / "blends.h5", n=12)
    out = tmp_path / "b2f.pt"
    assert main(["train", "--model", "blend2flux", "--data", str(h5), "-o", str(out), "--epochs", "2",
                 "--batch_size", "6", "--device", "cpu"]) == 0
    cap = capsys.readouterr()
    epoch_lines = [ln for ln in cap.err.splitlines() if "val_loss" in ln]
    assert [ln.split(":")[0] for ln in epoch_lines] == ["blend2flux epoch 1/2", "blend2flux epoch 2/2"]
    assert f"weights written to {out} (best epoch" in cap.out and "val_flux_mape" in cap.out
    assert "replace" not in cap.out and not (tmp_path / "b2f.prev.pt").exists()
    first = out.read_bytes()
    assert main(["train", "--model", "blend2flux", "--data", str(h5), "-o", str(out), "--epochs", "1",
                 "--batch_size", "6", "--device", "cpu", "--seed", "1"]) == 0
    assert f"the weights they replace are kept as {tmp_path / 'b2f.prev.pt'}" in capsys.readouterr().out
    assert (tmp_path / "b2f.prev.pt").read_bytes() == first and out.read_bytes() != first
    assert not (tmp_path / "b2f.shipped.pt").exists()           # not a shipped file: no shipped copy


def test_two_trainings_in_a_row_keep_a_copy_of_the_shipped_weights(tmp_path, monkeypatch):
    """Without -o, train writes over resources/models/MODEL.pt keeping the one before as MODEL.prev.pt; a second
    run made the first run's weights the .prev.pt, and the shipped ones were gone."""
    from candels_gui.torch_common import keep_replaced

    models = tmp_path / "resources" / "models"
    models.mkdir(parents=True)
    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path / "resources"))
    weights = models / "unet-seg.pt"
    weights.write_bytes(b"shipped")
    for run in (b"first run", b"second run"):
        assert keep_replaced(weights) == models / "unet-seg.prev.pt"
        weights.write_bytes(run)
    assert (models / "unet-seg.shipped.pt").read_bytes() == b"shipped"
    assert (models / "unet-seg.prev.pt").read_bytes() == b"first run"
    assert keep_replaced(tmp_path / "absent.pt") is None


def test_train_command_sets_the_width_depth_and_threads_of_the_network(tmp_path, capsys):
    import torch

    from candels_gui.cli import main
    from candels_gui.deblend.models import count_parameters
    from candels_gui.deblend.torch_deblender import TorchDeblender, load_weights

    h5 = _write_h5(tmp_path / "blends.h5", n=12)
    base = ["train", "--model", "unet-seg", "--data", str(h5), "--epochs", "1", "--batch_size", "6",
            "--device", "cpu"]
    wide, narrow = tmp_path / "wide.pt", tmp_path / "narrow.pt"
    before = torch.get_num_threads()
    assert main([*base, "-o", str(wide), "--base", "12", "--depth", "2", "--threads", "1"]) == 0
    assert torch.get_num_threads() == before                      # the run's thread count is restored
    assert main([*base, "-o", str(narrow), "--base", "4"]) == 0     # depth: the default's
    (wm, wcard), (nm, ncard) = load_weights(wide), load_weights(narrow)
    assert wcard["kwargs"] == {"base": 12, "depth": 2} and ncard["kwargs"] == {"base": 4, "depth": 3}
    assert wm.down[0][0].weight.shape[0] == 12 and len(wm.down) == 3 and len(nm.down) == 4
    assert count_parameters(wm) > 2 * count_parameters(nm)     # 66,039 against 30,479
    r = TorchDeblender.from_file(wide, device="cpu").run(np.stack([_blend(0, size=32)]), noise_sigma=1.0)[0]
    assert r.segmentation.shape == (2, 32, 32)                    # the deblender builds the card's network
    # resuming keeps the checkpoint's size; a size given must agree with it (the depth is the checkpoint's)
    assert main([*base, "-o", str(wide), "--epochs", "2", "--resume", "--base", "12"]) == 0
    card = load_weights(wide)[1]
    assert card["kwargs"] == {"base": 12, "depth": 2} and len(card["history"]) == 2
    capsys.readouterr()
    assert main([*base, "-o", str(wide), "--epochs", "3", "--resume", "--base", "16"]) == 2
    assert "architecture options are {'base': 12, 'depth': 2}" in capsys.readouterr().err
    # fine-tuning keeps the init's size unless told otherwise; a size the init's weights do not fit is an error
    tuned = tmp_path / "tuned.pt"
    assert main([*base, "-o", str(tuned), "--init", str(wide), "--lr", "0"]) == 0
    assert load_weights(tuned)[1]["kwargs"] == {"base": 12, "depth": 2}
    assert main([*base, "-o", str(tuned), "--init", str(wide), "--depth", "3"]) == 2
    assert "its network has --depth 2; fine-tuning keeps the network's shape: drop --depth" in capsys.readouterr().err
    deb = ["train", "--model", "unet-deblend", "--data", str(h5), "--epochs", "1", "--batch_size", "6",
           "--device", "cpu", "-o", str(tmp_path / "deb.pt"), "--init", str(wide)]
    assert main([*deb, "--base", "8"]) == 2                         # the other U-Net's body must fit too
    assert "drop --base" in capsys.readouterr().err
    for flag, value in (("--base", "0"), ("--depth", "7"), ("--threads", "0")):
        assert main([*base, "-o", str(tmp_path / "bad.pt"), flag, value]) == 2
        err = capsys.readouterr().err
        assert flag in err and "must be" in err
    assert not (tmp_path / "bad.pt").exists()


def test_cosine_schedule_decays_to_five_percent_and_constant_stays():
    from candels_gui.deblend.training import epoch_lr

    rates = [epoch_lr(1e-3, e, 10) for e in range(1, 11)]
    assert rates[0] == 1e-3 and all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 5e-5
    assert {epoch_lr(1e-3, e, 10, "constant") for e in range(1, 11)} == {1e-3}


def test_augmentation_turns_input_and_target_alike():
    from candels_gui.deblend.training import augment_batch

    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
    masks = np.concatenate([x > 0, x > 1, x > 2], axis=1).astype(np.float32)
    xa, ma = augment_batch(x, masks, np.random.default_rng(7))
    # each target follows its own input through the same symmetry
    np.testing.assert_array_equal(ma, np.concatenate([xa > 0, xa > 1, xa > 2], axis=1).astype(np.float32))
    assert not np.array_equal(xa, x)
    for a, b in zip(xa, x):      # every sample is one of the 8 grid symmetries of its original
        cands = [np.rot90(c, k, axes=(-2, -1)) for c in (b, b[..., ::-1]) for k in range(4)]
        assert any(np.array_equal(a, c) for c in cands)
    flux = rng.normal(size=(16, 2)).astype(np.float32)
    _, fa = augment_batch(x, flux, np.random.default_rng(7))
    assert fa is flux                                   # fluxes do not change under turns and flips
    again, _ = augment_batch(x, masks, np.random.default_rng(7))
    np.testing.assert_array_equal(again, xa)            # seeded
    wide = rng.normal(size=(4, 1, 6, 10)).astype(np.float32)
    assert augment_batch(wide, wide.copy(), np.random.default_rng(0))[0].shape == wide.shape


def _fixed_image_model(pred: np.ndarray, **kw):
    """An image-model deblender whose network always predicts ``pred`` (2,H,W) at noise sigma 1."""
    import torch

    from candels_gui.deblend.models import asinh_normalise
    from candels_gui.deblend.torch_deblender import TorchDeblender

    class Fixed(torch.nn.Module):
        def forward(self, x):       # the normalised images of a noise sigma of 1, whatever the input
            return torch.from_numpy(asinh_normalise(pred[None], np.ones(1))).expand(len(x), -1, -1, -1)

    return TorchDeblender(Fixed(), {"architecture": "unet-deblend", "normalisation": {"kind": "asinh"}},
                          device="cpu", **kw)


def _gaussian(x0: float, y0: float, amp: float, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (amp * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 18.0)).astype(np.float32)


def test_image_model_raw_outputs_are_its_predicted_images_and_their_isophotes():
    from candels_gui.core.data.autoseg import smooth
    from candels_gui.deblend.base import flux_region

    galaxy = _gaussian(16, 16, 40.0)
    deb = _fixed_image_model(np.stack([galaxy, np.zeros_like(galaxy)]), split_blend=False)
    r = deb.run(np.zeros((1, 32, 32), np.float32) + galaxy, noise_sigma=1.0)[0]
    np.testing.assert_array_equal(r.segmentation[0], smooth(galaxy, 3.0) > 1.5)
    assert 0 < r.segmentation[0].sum() < galaxy.size and not r.segmentation[1].any()
    region = flux_region(r.segmentation[:1])[0]
    assert region.sum() > r.segmentation[0].sum()               # grown by 4 px: the wings count
    np.testing.assert_allclose(r.catalog["flux"][0], galaxy[region].sum(), rtol=1e-4)
    assert galaxy[region].sum() > 0.99 * galaxy.sum()
    assert deb.params["footprint_nsigma"] == 1.5 and deb.params["footprint_fwhm"] == 3.0
    assert deb.params["split_blend"] is False


def test_image_model_splits_the_blend_in_proportion_to_its_predictions_by_default():
    from candels_gui.core.data.autoseg import smooth

    g1, g2 = _gaussian(12, 16, 40.0), _gaussian(21, 15, 20.0)
    blend = g1 + g2 + np.random.default_rng(0).normal(0, 1, g1.shape).astype(np.float32)
    deb = _fixed_image_model(0.8 * np.stack([g1, g2]))           # right shapes, wrong total flux
    assert deb.params["split_blend"] is True
    r = deb.run(blend[None], noise_sigma=1.0)[0]
    np.testing.assert_allclose(r.images.sum(axis=0), blend, rtol=1e-5, atol=1e-5)   # flux conserved
    detected = smooth(blend, 3.0) > 1.5
    seg = r.segmentation
    assert not (seg[0] & seg[1]).any()
    np.testing.assert_array_equal(seg[0] | seg[1], detected)     # the blend's isophote, partitioned
    assert seg[0][16, 10] and seg[1][15, 23]                     # each galaxy's side to it
    w1, w2 = smooth(0.8 * g1, 3.0), smooth(0.8 * g2, 3.0)
    assert (seg[0] == (detected & (w1 >= w2))).mean() > 0.99    # the larger predicted share wins
    # fluxes come from the blend, not from the predictions' (too low) normalisation
    assert r.catalog["flux"][0] == pytest.approx(g1.sum(), rel=0.1)
    assert r.catalog["flux"][1] == pytest.approx(g2.sum(), rel=0.15)


def test_flux_term_of_image_models_compares_predicted_image_sums_with_catalogue_fluxes():
    import torch

    from candels_gui.deblend.training import _metrics, _task_loss

    images = torch.zeros(1, 2, 8, 8)
    images[0, 0, 3:5, 3:5] = 25.0                    # galaxy 1: 100 (noise units), galaxy 2: 40
    images[0, 1, 0, 0:4] = 10.0
    pred = torch.asinh(images)
    target = torch.cat([pred, torch.ones_like(pred)], dim=1)      # images, then flux regions (all)
    exact = torch.log(torch.tensor([[100.0, 40.0]]))
    l1 = float(_task_loss("unet-deblend", pred, target))
    assert l1 == 0.0
    assert float(_task_loss("unet-deblend", pred, target, exact, 1.0)) == pytest.approx(0.0, abs=1e-5)
    off = exact + torch.log(torch.tensor([[2.0, 1.0]]))   # catalogue says galaxy 1 is twice as bright
    # inside the regions and over the whole image: both sums are off by log 2 for galaxy 1
    assert float(_task_loss("cgan", pred, target, off, 0.5)) == pytest.approx(0.5 * np.log(2), rel=1e-5)
    assert _metrics("unet-deblend", pred, target, off)["flux_mape"] == pytest.approx(25.0, rel=1e-4)
    # only the flux regions count: galaxy 2's pixels left out of its region halve nothing but its sum
    half = target.clone()
    half[0, 3, 0, 2:4] = 0.0
    assert _metrics("unet-deblend", pred, half, exact)["flux_mape"] == pytest.approx(25.0, rel=1e-4)
    # light outside the region (leaked into the companion or the background) costs in the whole-image sum
    assert float(_task_loss("unet-deblend", pred, half, exact, 1.0)) == pytest.approx(np.log(2) / 2, rel=1e-4)
    assert float(_task_loss("blend2flux", exact, off, off, 1.0)) == pytest.approx(np.log(2) / 2, rel=1e-5)


def test_init_fine_tunes_from_weights_and_records_them(tmp_path):
    import torch

    from candels_gui.core.errors import DataError
    from candels_gui.core.jobs import run_job
    from candels_gui.deblend.torch_deblender import load_weights
    from candels_gui.deblend.training import train_model

    h5 = _write_h5(tmp_path / "blends.h5", n=12)
    first = tmp_path / "first.pt"
    kw = dict(batch_size=6, device="cpu", patience=10)
    run_job(train_model("unet-deblend", h5, first, epochs=1, model_kwargs={"base": 8, "depth": 2},
                        command="first run", **kw))
    tuned = tmp_path / "tuned.pt"
    res = run_job(train_model("unet-deblend", h5, tuned, epochs=1, init=first, lr=0.0, **kw))
    assert res.card["kwargs"] == {"base": 8, "depth": 2}          # the init's architecture
    assert res.card["init"]["weights"] == "first.pt" and res.card["init"]["command"] == "first run"
    a, b = load_weights(first)[0].state_dict(), load_weights(tuned)[0].state_dict()
    # lr 0: the weights are those of the init (batch-norm running statistics still move)
    assert all(torch.equal(a[k], b[k]) for k in a if "running" not in k and "num_batches" not in k)
    with pytest.raises(DataError, match="architecture options"):
        run_job(train_model("unet-deblend", h5, tuned, epochs=2, resume=True, model_kwargs={"base": 4}, lr=0.0,
                            **kw))
    # no architecture options given: the checkpoint's (the init's), not the default U-Net; its run options
    # (lr 0) must be given again
    resumed = run_job(train_model("unet-deblend", h5, tuned, epochs=2, resume=True, lr=0.0, **kw))
    assert resumed.epochs_run == 2 and resumed.card["init"]["weights"] == "first.pt"   # kept through --resume
    assert resumed.card["kwargs"] == {"base": 8, "depth": 2}
    with pytest.raises(DataError, match="not 'blend2flux'"):
        run_job(train_model("blend2flux", h5, tmp_path / "x.pt", epochs=1, init=first, **kw))
    seg = run_job(train_model("unet-seg", h5, tmp_path / "seg.pt", epochs=1, init=first, lr=0.0, **kw))
    assert seg.card["init"]["architecture"] == "unet-deblend"      # the same body, a fresh output layer
    assert seg.card["init"]["not_loaded"] == ["head.weight", "head.bias"]
    s, d = load_weights(tmp_path / "seg.pt")[0].state_dict(), load_weights(first)[0].state_dict()
    assert torch.equal(s["down.0.0.weight"], d["down.0.0.weight"]) and s["head.weight"].shape[0] == 3
    with pytest.raises(ValueError, match="not both"):
        run_job(train_model("unet-deblend", h5, tuned, epochs=1, init=first, resume=True, **kw))


def test_centre_channel_init_starts_from_the_same_model_and_learns_it(tmp_path):
    import torch

    from candels_gui.core.jobs import run_job
    from candels_gui.deblend.models import add_centre_channel, build_model
    from candels_gui.deblend.torch_deblender import load_weights
    from candels_gui.deblend.training import train_model

    r = add_centre_channel(torch.zeros(2, 1, 6, 8))[:, 1]
    assert r.shape == (2, 6, 8) and r[0, 3, 4] == 0 and r[0, 3, 0] == pytest.approx(1.0)   # 4 px: half of 8
    h5 = _write_h5(tmp_path / "blends.h5", n=12)
    first = tmp_path / "first.pt"
    kw = dict(batch_size=6, device="cpu", patience=10)
    run_job(train_model("unet-deblend", h5, first, epochs=1, model_kwargs={"base": 8, "depth": 2}, **kw))
    widened = tmp_path / "widened.pt"
    res = run_job(train_model("unet-deblend", h5, widened, epochs=1, init=first, coords=True, lr=0.0, **kw))
    assert res.card["kwargs"] == {"base": 8, "depth": 2, "coords": True}
    old, new = load_weights(first)[0], load_weights(widened)[0]
    assert new.down[0][0].weight.shape[1] == 2 and not new.down[0][0].weight[:, 1].any()   # zero at lr 0
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():   # the same function as the init model (batch-norm statistics aside: eval both)
        old.load_state_dict({k: v for k, v in new.state_dict().items() if k != "down.0.0.weight"}, strict=False)
        torch.testing.assert_close(old(x), new(x))
    tuned = run_job(train_model("unet-deblend", h5, tmp_path / "tuned.pt", epochs=1, init=first, coords=True,
                                lr=1e-2, **kw))
    assert load_weights(tmp_path / "tuned.pt")[0].down[0][0].weight[:, 1].abs().sum() > 0   # the channel is used
    assert tuned.card["kwargs"]["coords"] is True
    assert build_model("blend2flux", base=4, depth=2, coords=True)(torch.zeros(2, 1, 16, 16)).shape == (2, 2)


def test_a_mix_of_exports_reads_every_blend_of_each_once_per_epoch(tmp_path):
    from candels_gui.core.errors import DataError
    from candels_gui.deblend.training_data import MixedTrainingData, TrainingData, open_training_data

    a = _write_h5(tmp_path / "generated.h5", n=20, seed=1)
    b = _write_h5(tmp_path / "real.h5", n=7, seed=2, grouped=False)
    for memory_mb in (0, 1024):          # read per batch, and held in memory
        mix = open_training_data([a, b], "blend2flux", memory_mb=memory_mb)
        assert isinstance(mix, MixedTrainingData) and mix.n == 27
        alone = [TrainingData(p, "blend2flux", memory_mb=memory_mb) for p in (a, b)]
        order = np.random.default_rng(0).permutation(mix.n)     # one epoch's order over the mix
        x, y, lf = mix.batch(order, with_flux=True)
        for row, i in enumerate(order):                         # each sample is its export's own
            k = int(mix.source([i])[0])
            ex, ey, elf = alone[k].batch(np.array([i - mix.offsets[k]]), with_flux=True)
            np.testing.assert_array_equal(x[row], ex[0])
            np.testing.assert_array_equal(y[row], ey[0])
        assert np.bincount(mix.source(order)).tolist() == [20, 7]
    assert isinstance(open_training_data([a], "unet-seg"), TrainingData)
    with pytest.raises(DataError, match="twice"):
        open_training_data([a, a], "unet-seg")
    with pytest.raises(DataError, match="stamp sizes"):
        open_training_data([a, _write_h5(tmp_path / "big.h5", n=4, size=48)], "unet-seg")


def test_train_command_takes_several_exports(tmp_path, capsys):
    import torch

    from candels_gui.cli import main

    a = _write_h5(tmp_path / "generated.h5", n=20, seed=1)
    b = _write_h5(tmp_path / "real.h5", n=12, seed=2)
    out = tmp_path / "mix.pt"
    assert main(["train", "--model", "blend2flux", "--data", str(a), "--data", str(b), "-o", str(out),
                 "--epochs", "1", "--batch_size", "8", "--base", "4", "--depth", "2", "--threads", "1"]) == 0
    card = torch.load(out, weights_only=True)["card"]
    # each export named with its folder: produce names every file blends.h5
    assert card["data_file"] == f"{tmp_path.name}/generated.h5,{tmp_path.name}/real.h5" and len(card["data_hash"]) == 2
    assert card["n_train"] + card["n_val"] == 32


def test_train_and_sample_options_that_cannot_work_are_one_line_errors(tmp_path, capsys):
    """cgan with one stage crashed in its decoder; --init with another network shape listed 35 tensor names;
    make-sample-data replaced a user's stamp set without a word and wrote stamps into a blend export."""
    from candels_gui.cli import main

    h5 = _write_h5(tmp_path / "blends.h5", n=24)
    argv = ["train", "--data", str(h5), "--epochs", "1", "--threads", "1", "-o", str(tmp_path / "w.pt")]
    assert main([*argv, "--model", "cgan", "--depth", "1"]) == 2
    assert "cgan needs --depth 2 or more" in capsys.readouterr().err
    assert main([*argv, "--model", "unet-seg", "--init", "shipped", "--base", "4"]) == 2
    assert "drop --base" in capsys.readouterr().err
    stamps = tmp_path / "mine"
    assert main(["make-sample-data", "-n", "2", "--workers", "1", "-o", str(stamps)]) == 0
    before = (stamps / "candels_img.npy").read_bytes()
    assert main(["make-sample-data", "-n", "3", "--workers", "1", "-o", str(stamps)]) == 2
    assert "pass --force" in capsys.readouterr().err and (stamps / "candels_img.npy").read_bytes() == before
    assert main(["make-sample-data", "-n", "3", "--workers", "1", "-o", str(stamps), "--force"]) == 0
    assert main(["make-sample-data", "-n", "2", "--workers", "1", "-o", str(tmp_path)]) == 2   # beside blends.h5
