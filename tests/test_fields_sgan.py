"""The SGAN: scaling round trip, block noise, tessellation (tiled == one-shot), seeds, training steps, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from candels_gui.core.errors import Cancelled, DataError  # noqa: E402
from candels_gui.core.jobs import CancelToken, run_job  # noqa: E402
from candels_gui.fields.noise import noise_window  # noqa: E402
from candels_gui.fields.scaling import FieldScaling  # noqa: E402

TINY = {"nz": 4, "channels": [16, 8, 8, 4], "bands": 1, "disc_channels": [8, 8, 16]}


def _field(n: int = 160, seed: int = 0) -> np.ndarray:
    """Correlated noise with a few Gaussian 'galaxies' (a field-like image)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 0.01, (n, n))
    yy, xx = np.mgrid[:n, :n]
    for _ in range(12):
        y, x = rng.uniform(0, n, 2)
        img += rng.uniform(0.05, 1.0) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * rng.uniform(1, 4) ** 2))
    return img.astype(np.float32)


def _weights(tmp_path: Path, kwargs=TINY, seed: int = 0) -> Path:
    from candels_gui.fields.sgan import build_generator
    from candels_gui.torch_common import save_weights

    torch.manual_seed(seed)
    gen = build_generator(kwargs)
    scaling = FieldScaling.fit(_field())
    return save_weights(tmp_path / "sgan.pt", gen, {"architecture": "sgan", "kwargs": kwargs,
                                                   "scaling": scaling.to_card(), "pixel_scale": 0.06,
                                                   "zeropoint": 25.96, "bunit": "electron/s"})


@pytest.mark.parametrize("kind", ["asinh", "linear"])
def test_clip_and_inverse_round_trip(kind):
    img = _field()
    s = FieldScaling.fit(img, kind)
    y = s.forward(img)
    assert y.min() >= -1 and y.max() <= 1
    back = s.inverse(y)
    clipped = np.clip(img, s.lo[0], s.hi[0])
    np.testing.assert_allclose(back, clipped, rtol=1e-5, atol=1e-6 * float(s.hi[0] - s.lo[0]))
    assert (img > s.hi[0]).sum() >= 1           # the 99.99th percentile clip did clip something
    restored = FieldScaling.from_card(s.to_card())
    np.testing.assert_array_equal(restored.forward(img), y)


def test_scaling_rejects_nan_and_constant_images():
    img = _field()
    img[3, 4] = np.nan
    with pytest.raises(DataError, match="NaN"):
        FieldScaling.fit(img)
    with pytest.raises(DataError, match="dynamic range"):
        FieldScaling.fit(np.zeros((32, 32), np.float32))


def test_noise_window_independent_of_tiling():
    whole = noise_window(3, 1, 2, 0, 300, 0, 260)
    part = noise_window(3, 1, 2, 130, 201, 99, 250)
    np.testing.assert_array_equal(whole[:, 130:201, 99:250], part)
    assert not np.array_equal(noise_window(4, 1, 2, 0, 10, 0, 10), whole[:, :10, :10])


def test_receptive_margin_is_enough():
    """Changing the noise just beyond the margin leaves a pixel unchanged; just inside changes it."""
    from candels_gui.fields.sgan import build_generator

    gen = build_generator(TINY).eval()
    n, f, m = 24, gen.factor, gen.margin_cells()
    z = [torch.randn(1, c, n * 2 ** lvl, n * 2 ** lvl) for lvl, c in enumerate(gen.noise_channels())]
    with torch.no_grad():
        base = gen(z[0], z[1:])
    cell = n // 2
    py = px = cell * f + f - 1                      # the last pixel of a cell: the worst case on its right
    far = [t.clone() for t in z]
    far[0][..., cell + m + 1:, :] += 5.0            # beyond the margin (on the far side)
    far[0][..., :cell - m, :] += 5.0
    near = [t.clone() for t in z]
    near[0][..., cell + 1, cell] += 5.0
    with torch.no_grad():
        out_far, out_near = gen(far[0], far[1:]), gen(near[0], near[1:])
    assert out_far[0, 0, py, px] == base[0, 0, py, px]
    assert out_near[0, 0, py, px] != base[0, 0, py, px]


def test_tiled_generation_equals_one_shot(tmp_path):
    from astropy.io import fits

    from candels_gui.fields.generate import generate_array, generate_field, load_sgan

    model = load_sgan(_weights(tmp_path), device="cpu")
    shape = (203, 317)                    # not a multiple of the tile or of the up-sampling factor
    whole = generate_array(model, shape, seed=11)[0]
    for tile in (48, 64, 1024):
        out = tmp_path / f"t{tile}.fits"
        generate_field(model, out, shape, seed=11, tile=tile)
        tiled = fits.getdata(out)
        assert tiled.shape == shape
        np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-6 * float(np.ptp(whole)))
    # no seams: the rows across a tile boundary differ no more than rows inside a tile
    tiled = fits.getdata(tmp_path / "t48.fits").astype(float)
    jumps = np.abs(np.diff(tiled, axis=0)).mean(axis=1)
    assert jumps[47] < 3 * np.median(jumps)


def test_same_seed_same_bytes(tmp_path):
    """Same model, seed and settings: the same bytes (another tile size: the same field to float rounding,
    test_tiled_generation_equals_one_shot); another seed: another field."""
    from candels_gui.fields.generate import generate_field, load_sgan

    model = load_sgan(_weights(tmp_path), device="cpu")
    a, b, c = tmp_path / "a.fits", tmp_path / "b.fits", tmp_path / "c.fits"
    generate_field(model, a, 96, seed=5, tile=32)
    generate_field(load_sgan(tmp_path / "sgan.pt", device="cpu"), b, 96, seed=5, tile=32)
    generate_field(model, c, 96, seed=6, tile=32)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_generated_header_has_provenance(tmp_path):
    from astropy.io import fits

    from candels_gui.core.data.field_fits import file_sha256
    from candels_gui.fields.generate import generate_field

    w = _weights(tmp_path)
    generate_field(w, tmp_path / "g.fits", (40, 72), seed=9, device="cpu")
    hdr = fits.getheader(tmp_path / "g.fits")
    assert hdr["SGANSEED"] == 9 and hdr["SGANHASH"] == file_sha256(w)[:16]
    assert hdr["NAXIS1"] == 72 and hdr["NAXIS2"] == 40 and hdr["MAGZERO"] == 25.96
    assert hdr["PIXSCALE"] == 0.06 and hdr["CTYPE1"] == "RA---TAN"
    # a model that does not know its pixel scale (trained on a FITS without WCS, or --hdf): no made-up sky
    import torch

    blob = torch.load(w, weights_only=False)
    blob["card"]["pixel_scale"] = None
    torch.save(blob, tmp_path / "bare.pt")
    generate_field(tmp_path / "bare.pt", tmp_path / "b.fits", (40, 72), seed=9, device="cpu")
    bare = fits.getheader(tmp_path / "b.fits")
    assert "PIXSCALE" not in bare and "CTYPE1" not in bare and "CRVAL1" not in bare


def test_cancel_leaves_no_file(tmp_path):
    from candels_gui.fields.generate import generate_field_job

    token = CancelToken()
    job = generate_field_job(_weights(tmp_path), tmp_path / "big.fits", 256, tile=64, cancel=token)
    next(job)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(job)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sgan.pt"]


def test_model_of_another_kind_is_refused(tmp_path):
    from candels_gui.fields.generate import load_sgan
    from candels_gui.torch_common import save_weights

    path = save_weights(tmp_path / "unet.pt", torch.nn.Conv2d(1, 1, 3), {"architecture": "unet-seg", "kwargs": {}})
    with pytest.raises(DataError, match="not an SGAN"):
        load_sgan(path)
    (tmp_path / "junk.pt").write_bytes(b"not torch at all")
    with pytest.raises(DataError, match=r"not a torch weights file \(it is a text file\)"):
        load_sgan(tmp_path / "junk.pt")
    (tmp_path / "image.pt").write_bytes(b"SIMPLE  =                    T" + bytes(2850))
    with pytest.raises(DataError, match=r"\(it is a FITS file\)"):
        load_sgan(tmp_path / "image.pt")


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    """The file-size limit stands in for a full disk: the space is reserved up front, so it fails at once."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from candels_gui.cli import main\n"
        "sys.exit(main(['field', 'generate', '--model', sys.argv[1], '--size', '512', '-o', sys.argv[2]]))\n")
    res = subprocess.run([sys.executable, "-c", code, str(_weights(tmp_path)), str(tmp_path / "out.fits")],
                         capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[1]))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "disk" in lines[0] and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sgan.pt"]


@pytest.mark.parametrize("pool", [False, True])
def test_training_steps_change_the_generator_and_lower_the_discriminator_loss(pool):
    from candels_gui.fields.sgan import ragan_losses
    from candels_gui.fields.training import SGANTrainer

    scaled = FieldScaling.fit(_field(128)).forward(_field(128))[None]
    tr = SGANTrainer(scaled, {**TINY, "disc_pool": pool}, patch=32, batch_size=4, seed=0)
    before = [p.detach().clone() for p in tr.gen.parameters()]
    first = []
    for _ in range(3):
        real = tr.real_batch()
        with torch.no_grad():
            fake = tr.fake_batch()
            first.append(float(ragan_losses(tr.disc(real), tr.disc(fake))[0]))
    losses = [tr.step()[0] for _ in range(15)]
    assert np.mean(losses[-5:]) < np.mean(first)
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.gen.parameters()))


def test_train_resume_and_sample_images(tmp_path):
    from candels_gui.fields.training import TrainingImage, train_sgan_job

    img = TrainingImage(_field(128)[None], "test field", 0.06, 25.96, "electron/s")
    out = tmp_path / "m.pt"
    run_job(train_sgan_job(img, out, epochs=1, steps_per_epoch=2, batch_size=2, patch=32, model_kwargs=TINY,
                           device="cpu"))
    card = run_job(train_sgan_job(img, out, epochs=2, steps_per_epoch=2, batch_size=2, patch=32, resume=True,
                                  device="cpu"))
    assert [h["epoch"] for h in card["training"]["history"]] == [1, 2]
    assert (tmp_path / "m_samples" / "epoch_002.png").is_file()
    assert card["architecture"] == "sgan" and card["kwargs"]["channels"] == TINY["channels"]

    # resuming on another image, scaling or patch size is refused (it trained on the other image under the first
    # one's scaling, and the card named only the second)
    other = TrainingImage(_field(128)[None] * 5 + 1, "other field", 0.06, 25.96, "electron/s", sha256="b" * 64)
    img.sha256 = "a" * 64
    run_job(train_sgan_job(img, out, epochs=1, steps_per_epoch=1, batch_size=2, patch=32, model_kwargs=TINY,
                           device="cpu"))
    for image, opts, message in ((other, {}, "was trained on test field"),
                                 (img, {"scale": "linear"}, "give --scale asinh"),
                                 (img, {"patch": 48}, "give --patch 32")):
        with pytest.raises(DataError, match=message):
            run_job(train_sgan_job(image, out, epochs=3, steps_per_epoch=1, batch_size=2, resume=True, device="cpu",
                                   **{"patch": 32, **opts}))


def test_resume_refuses_what_it_would_ignore_and_files_that_are_no_checkpoint(tmp_path):
    """A junk or weights file as the checkpoint, other network options, an --epochs already reached: each a
    one-line error (they were a bare KeyError, a card that contradicted its command, a run that did nothing)."""
    from candels_gui.fields.training import TrainingImage, train_sgan_job

    img = TrainingImage(_field(96)[None], "test field", 0.06, 25.96, "electron/s")
    out = tmp_path / "m.pt"
    ckpt = tmp_path / "m.pt.ckpt"
    run_job(train_sgan_job(img, out, epochs=1, steps_per_epoch=1, batch_size=2, patch=32, model_kwargs=TINY,
                           device="cpu"))
    cases = ((dict(TINY, disc_pool=not TINY.get("disc_pool", False)), 3, "trained with disc_pool"),
             (None, 1, "already trained 1 epoch"))
    for kwargs, epochs, message in cases:
        with pytest.raises(DataError, match=message):
            run_job(train_sgan_job(img, out, epochs=epochs, steps_per_epoch=1, batch_size=2, patch=32, resume=True,
                                   model_kwargs=kwargs, device="cpu"))
    ckpt.write_bytes(out.read_bytes())         # the weights, not a checkpoint
    with pytest.raises(DataError, match="not an SGAN training checkpoint"):
        run_job(train_sgan_job(img, out, epochs=3, steps_per_epoch=1, batch_size=2, patch=32, resume=True,
                               device="cpu"))
    ckpt.write_text("junk\n")
    with pytest.raises(DataError, match="not a readable training checkpoint"):
        run_job(train_sgan_job(img, out, epochs=3, steps_per_epoch=1, batch_size=2, patch=32, resume=True,
                               device="cpu"))


def test_training_image_smaller_than_the_patch(tmp_path):
    from candels_gui.fields.training import TrainingImage, train_sgan_job

    img = TrainingImage(_field(40)[None], "small", None, None)
    with pytest.raises(DataError, match="smaller than the 64 px training patch"):
        run_job(train_sgan_job(img, tmp_path / "m.pt", epochs=1, steps_per_epoch=1, model_kwargs=TINY, device="cpu"))
    assert not (tmp_path / "m.pt").exists()


def test_hdf_image_is_available_offline():
    from candels_gui.fields.training import hdf_image

    img = hdf_image()
    assert img.data.shape == (3, 872, 1000) and img.data.dtype == np.float32
    assert os.path.basename(img.source).startswith("skimage")
    green = hdf_image(1)                     # --band picks a plane (it was ignored with --hdf)
    assert green.data.shape == (1, 872, 1000) and green.band_names == ["G"]
    assert np.array_equal(green.data[0], img.data[1]) and green.sha256 != img.sha256
    with pytest.raises(DataError, match="has 3 bands"):
        hdf_image(5)


def test_shipped_sgan_makes_a_field_with_the_training_fields_noise(tmp_path):
    from candels_gui.fields.generate import generate_array, load_sgan
    from candels_gui.torch_common import weights_path

    path = weights_path("sgan-sim")
    if not path.is_file():
        pytest.skip("no resources/models/sgan-sim.pt")
    assert path.stat().st_size < 20e6
    model = load_sgan(path, device="cpu")
    card = model.card
    assert card["architecture"] == "sgan" and card["training"]["command"].startswith("candels-gui field train")
    field = generate_array(model, (256, 256), seed=3)[0]
    assert np.all(np.isfinite(field))
    assert field.min() >= model.scaling.lo[0] - 1e-6 and field.max() <= model.scaling.hi[0] * (1 + 1e-6)
    sky = 1.4826 * np.median(np.abs(field - np.median(field)))
    train_sky = model.scaling.softening[0] / 3.0             # the training field's sky noise (1.4826 MAD)
    assert 0.5 < sky / train_sky < 2.0
