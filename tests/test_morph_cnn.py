"""The morphology CNN: inputs, outputs, training, fine-tuning, the shipped weights and the commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from candels_gui.cli import main  # noqa: E402
from candels_gui.core.data.load import load_stampset  # noqa: E402
from candels_gui.core.data.morph_labels import (MORPH_CLASSES, LabelSet, one_hot, read_labels_csv,  # noqa: E402
                                                write_labels_csv)
from candels_gui.core.errors import DataError  # noqa: E402
from candels_gui.core.jobs import run_job  # noqa: E402
from candels_gui.morphology.classifier import MorphClassifier, classify_job, default_weights, load_network  # noqa: E402
from candels_gui.morphology.network import build_network, fold_batchnorm, freeze_blocks  # noqa: E402
from candels_gui.morphology.preprocess import prepare_inputs  # noqa: E402
from candels_gui.morphology.training import fit_job, prepare_stamps_job, scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
QUALITY = json.loads((ROOT / "resources" / "models" / "quality.json").read_text())
needs_weights = pytest.mark.skipif(not default_weights().is_file(), reason="no shipped morph-cnn weights")


@pytest.fixture(scope="module")
def sample():
    stamps = load_stampset(SAMPLE)
    x, _ = prepare_inputs(np.asarray(stamps.images), np.asarray(stamps.segmaps))
    return stamps, x, one_hot(stamps.catalog["galtype"])


def test_inputs_are_three_views_in_noise_units(sample):
    stamps, x, _ = sample
    assert x.shape == (len(stamps), 3, 64, 64) and x.dtype == np.float32
    centre = x[:, 2, 32, 32]
    assert (centre == 1).all()                             # the central segment's mask covers the centre
    assert np.all(np.isfinite(x))
    # background in noise units: asinh(noise / 3 sigma) / 3 has a spread of about 1/9
    assert 0.07 < float(np.median(x[:, 0, :4, :4].std(axis=(1, 2)))) < 0.2
    bad = np.asarray(stamps.images[:2]).copy()
    bad[0, 5, 5] = np.nan
    xb, flags = prepare_inputs(bad, np.asarray(stamps.segmaps[:2]))
    assert flags.tolist() == [True, False] and np.isfinite(xb).all()
    # stamps of another size and pixel scale still give 64 x 64 views
    xs, _ = prepare_inputs(np.asarray(stamps.images[:2, 20:100, 10:110]),
                           np.asarray(stamps.segmaps[:2, 20:100, 10:110]), pixel_scale=0.03)
    assert xs.shape == (2, 3, 64, 64) and np.isfinite(xs).all()


def test_output_is_a_probability_vector_per_stamp(sample):
    _, x, _ = sample
    model = build_network().eval()
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(x[:8])), 1).numpy()
    assert p.shape == (8, len(MORPH_CLASSES))
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5) and (p >= 0).all()
    with torch.no_grad():   # folding the batch norms changes nothing
        assert torch.allclose(fold_batchnorm(model)(torch.from_numpy(x[:8])), model(torch.from_numpy(x[:8])),
                              atol=1e-4)


def test_a_few_training_steps_lower_the_loss(sample):
    _, x, y = sample
    fit = run_job(fit_job(x[:64], y[:64], epochs=3, batch_size=32, lr=2e-3, seed=0, augment=False,
                          min_epoch_samples=0))
    losses = [h["loss"] for h in fit.history]
    assert losses[-1] < losses[0]


def test_freezing_keeps_the_first_blocks_fixed(sample):
    _, x, y = sample
    model = build_network()
    before = [p.detach().clone() for p in model.blocks[0].parameters()]
    head_before = [p.detach().clone() for p in model.head.parameters()]
    fit = run_job(fit_job(x[:32], y[:32], model=model, freeze=2, epochs=1, batch_size=32, seed=0,
                          min_epoch_samples=0))
    assert all(torch.equal(a, b) for a, b in zip(before, fit.model.blocks[0].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(head_before, fit.model.head.parameters()))
    with pytest.raises(ValueError, match="--freeze must be 0 to 4"):
        freeze_blocks(model, 5)


def test_weights_of_another_model_are_a_clear_error(tmp_path):
    other = ROOT / "resources" / "models" / "unet-seg.pt"
    if not other.is_file():
        pytest.skip("no unet-seg weights")
    with pytest.raises(DataError, match="weights of 'unet-seg', not of 'morph-cnn'"):
        load_network(other)
    with pytest.raises(DataError, match="no such weights file"):
        load_network(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError):
        load_network(junk)


@needs_weights
def test_classify_on_the_sample_data_agrees_with_the_catalog(sample):
    stamps, _, truth = sample
    result = run_job(classify_job(stamps, MorphClassifier.load(device="cpu")))
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)
    s = scores(result.probabilities, truth)
    expected = QUALITY["classifiers"]["morph-cnn"]["sample_data"]
    assert s["accuracy"] == pytest.approx(expected["accuracy"], abs=0.03)
    assert s["rmse"] == pytest.approx(expected["rmse"], abs=0.02)


@needs_weights
def test_fine_tuning_from_the_shipped_weights_beats_training_from_scratch(sample):
    # 40 labelled galaxies of the sample data (none of them in the shipped model's training set), the other
    # 110 to test on: the measurement the transfer table makes on real galaxies, here on a small seeded set
    stamps, x, y = sample
    perm = np.random.default_rng(7).permutation(len(stamps))
    train, test = perm[:40], perm[40:]
    tuned = run_job(fit_job(x[train], y[train], model=load_network(default_weights())[0], epochs=4, lr=5e-4,
                            seed=0, batch_size=20, min_epoch_samples=0))
    scratch = run_job(fit_job(x[train], y[train], epochs=4, lr=2e-3, seed=0, batch_size=20, min_epoch_samples=0))
    with torch.no_grad():
        p_tuned = torch.softmax(tuned.model.eval()(torch.from_numpy(x[test])), 1).numpy()
        p_scratch = torch.softmax(scratch.model.eval()(torch.from_numpy(x[test])), 1).numpy()
    s_tuned, s_scratch = scores(p_tuned, y[test]), scores(p_scratch, y[test])
    assert s_tuned["accuracy"] > s_scratch["accuracy"] + 0.1
    assert s_tuned["rmse"] < s_scratch["rmse"]


@needs_weights
def test_train_command_fine_tunes_on_a_label_file_and_records_it(tmp_path, capsys):
    stamps = load_stampset(SAMPLE)
    labels = write_labels_csv(tmp_path / "labels.csv", stamps.ids[:24], one_hot(stamps.catalog["galtype"][:24]))
    out = tmp_path / "tuned.pt"
    rc = main(["train", "--model", "morph-cnn", "--data", str(labels), "--stamps", str(SAMPLE), "--init",
               str(default_weights()), "--freeze", "2", "--epochs", "1", "-o", str(out)])
    assert rc == 0 and out.is_file()
    _, card = load_network(out)
    assert card["init"]["path"] == str(default_weights()) and card["training"]["freeze"] == 2
    assert card["training"]["n_train"] + card["training"]["n_val"] == 24
    assert "--freeze 2" in card["command"]


@needs_weights
def test_init_shipped_and_the_docs_relative_path_name_the_installed_weights(tmp_path, capsys, monkeypatch):
    """The documented fine-tune (``--init resources/models/morph-cnn.pt``) failed when run outside the checkout,
    with a hint to train a new model; ``--init shipped`` names the shipped weights from anywhere."""
    stamps = load_stampset(SAMPLE)
    labels = write_labels_csv(tmp_path / "labels.csv", stamps.ids[:12], one_hot(stamps.catalog["galtype"][:12]))
    monkeypatch.chdir(tmp_path)
    for init in ("shipped", "resources/models/morph-cnn.pt"):
        out = tmp_path / f"{init[:4]}.pt"
        assert main(["train", "--model", "morph-cnn", "--data", str(labels), "--stamps", str(SAMPLE), "--init", init,
                     "--epochs", "1", "--val_fraction", "0", "-o", str(out)]) == 0
        _, card = load_network(out)
        assert card["init"]["path"] == str(default_weights())
        assert card["training"]["n_train"] == 12 and card["training"]["n_val"] == 0      # every label trained on
        assert "no validation: the last epoch's weights" in capsys.readouterr().out
    assert main(["train", "--model", "morph-cnn", "--data", str(labels), "--stamps", str(SAMPLE), "--init",
                 "nowhere.pt", "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "--init nowhere.pt: no such weights file" in err and "--init shipped" in err
    assert not (tmp_path / "x.pt").exists()


def test_training_from_scratch_on_few_labels_says_how_to_fine_tune_and_what_it_replaced(tmp_path, capsys):
    stamps = load_stampset(SAMPLE)
    labels = write_labels_csv(tmp_path / "labels.csv", stamps.ids[:12], one_hot(stamps.catalog["galtype"][:12]))
    out = tmp_path / "mine.pt"
    for _ in range(2):
        assert main(["train", "--model", "morph-cnn", "--data", str(labels), "--stamps", str(SAMPLE),
                     "--epochs", "1", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "training from scratch on 12 labelled galaxies" in captured.err and "--init shipped" in captured.err
    assert f"the weights they replace are kept as {tmp_path / 'mine.prev.pt'}" in captured.out
    assert (tmp_path / "mine.prev.pt").is_file()


def test_val_fraction_zero_is_for_morph_cnn_only(tmp_path, capsys):
    assert main(["train", "--model", "unet-seg", "--data", str(SAMPLE), "--val_fraction", "0",
                 "-o", str(tmp_path / "u.pt")]) == 2
    assert "--val_fraction 0: a deblender's training needs validation blends" in capsys.readouterr().err


def test_train_command_rejects_bad_labels_before_training(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,p_sph,p_disk\n1,0.5,0.5\n")
    assert main(["train", "--model", "morph-cnn", "--data", str(bad), "--stamps", str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "missing class column(s) p_sphd" in err and "Traceback" not in err and err.count("\n") == 1
    unknown = write_labels_csv(tmp_path / "u.csv", [1, 2], one_hot(["disk", "irr"]))
    assert main(["train", "--model", "morph-cnn", "--data", str(unknown), "--stamps", str(SAMPLE)]) == 2
    assert "u.csv: line 2: ID 1 is not in the data's catalog (and 1 more: IDs [2])" in capsys.readouterr().err
    assert main(["train", "--model", "morph-cnn", "--data", str(unknown)]) == 2
    assert "--stamps DATA is needed" in capsys.readouterr().err


@needs_weights
def test_classify_command_writes_the_documented_columns(tmp_path, capsys):
    out = tmp_path / "types.csv"
    assert main(["classify", "-o", str(out), "--score", "catalog", "--json"]) == 0
    from astropy.table import Table

    t = Table.read(out)
    assert t.colnames[:3] == ["ID", "galtype_pred", "p_pred"]
    assert [c for c in t.colnames if c.startswith("p_") and c != "p_pred"] == [f"p_{c}" for c in MORPH_CLASSES]
    assert set(np.asarray(t["galtype_pred"]).astype(str)) <= set(MORPH_CLASSES) and len(t) == 150
    probs = np.stack([np.asarray(t[f"p_{c}"], float) for c in MORPH_CLASSES], 1)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-3)
    s = json.loads(capsys.readouterr().out)
    assert s["n"] == 150 and len(s["confusion"]) == len(MORPH_CLASSES)
    # the output is itself a label file
    assert len(read_labels_csv(out)) == 150


def test_classify_command_rejects_other_weights(tmp_path, capsys):
    other = ROOT / "resources" / "models" / "cgan.pt"
    if not other.is_file():
        pytest.skip("no cgan weights")
    assert main(["classify", "-o", str(tmp_path / "t.csv"), "--weights", str(other)]) == 2
    assert "not of 'morph-cnn'" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_transfer_job_scores_every_method_and_size(sample):
    from candels_gui.morphology.transfer import METHODS, transfer_job

    stamps, _, y = sample
    rows = np.arange(30)
    labels = LabelSet(np.asarray(stamps.ids)[rows], y[rows])
    if not default_weights().is_file():
        pytest.skip("no shipped morph-cnn weights")
    result = run_job(transfer_job(stamps, labels, init=default_weights(), sizes=(5, 10), folds=3, epochs=1,
                                  min_epoch_samples=0))
    assert {(r["method"], r["n_labelled"]) for r in result["rows"]} == {(m, s) for m in METHODS for s in (5, 10)}
    assert all(r["n_test"] == 30 and 0 <= r["accuracy"] <= 1 for r in result["rows"])
    with pytest.raises(ValueError, match="do not fit"):
        run_job(transfer_job(stamps, labels, init=default_weights(), sizes=(25,), folds=3))


def test_prepare_stamps_job_reports_progress(sample):
    stamps, x, _ = sample
    progress = []
    out = run_job(prepare_stamps_job(stamps, np.arange(10), chunk=4), progress.append)
    assert np.array_equal(out, x[:10]) and [p.done for p in progress] == [4, 8, 10]


@needs_weights
def test_produce_on_a_catalog_without_types_warns_that_exclusion_does_nothing(tmp_path, capsys):
    """``--galtype catalog -e irr`` on data whose catalog has no types left nothing out, silently; the
    classifier's types are recorded with the weights' path and hash (a file name alone names no model)."""
    import csv
    import shutil

    data = tmp_path / "untyped"
    data.mkdir()
    for name in ("candels_img.npy", "candels_seg.npy"):
        shutil.copy(SAMPLE / name, data / name)
    with open(SAMPLE / "candels_cat.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(data / "candels_cat.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "galtype": "unknown"} for r in rows)
    assert main(["produce", "-n", "10", "-d", str(data), "--galtype", "catalog", "-e", "irr",
                 "-o", str(tmp_path / "cat")]) == 0
    err = capsys.readouterr().err
    assert "the catalog has no galaxy types (galtype: unknown), so -e irr leaves out nothing" in err
    assert main(["produce", "-n", "10", "-d", str(data), "--galtype", "predicted", "-e", "irr",
                 "-o", str(tmp_path / "pred")]) == 0
    manifest = json.loads((tmp_path / "pred" / "manifest.json").read_text())
    source = manifest["options"]["galtype_source"]
    assert source.startswith(f"predicted ({default_weights().resolve()}, sha256 ") and len(source.split()[-1]) == 17


def test_stamps_too_small_for_the_classifier_are_said_to_be():
    from candels_gui.morphology.preprocess import small_stamp_note

    assert small_stamp_note((128, 128), 0.06) is None and small_stamp_note((200, 160), None) is None
    note = small_stamp_note((96, 96), None)
    assert note.startswith("stamps are 96x96 px, smaller than the 128 px") and "unclassifiable" in note
    assert "256 px" in small_stamp_note((128, 128), 0.03)         # COSMOS: half the widest view is padding
