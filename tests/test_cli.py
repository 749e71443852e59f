"""The command line: produce -> concatenate -> convert on real files, help texts, errors, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from candels_gui.cli import main
from candels_gui.core.store.export import read_export
from candels_gui.paths import sample_data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_produce_concatenate_convert_give_documented_files(tmp_path, capsys):
    out = tmp_path / "OUT"
    assert main(["produce", "-n", "60", "-e", "irr", "--mag_high", "23.5", "-o", str(out), "-s", "7"]) == 0
    assert {p.name for p in out.iterdir()} == {"blends.h5", "manifest.json", "train_catalogue.csv",
                                                "test_catalogue.csv"}
    with h5py.File(out / "blends.h5") as f:   # compact storage: specs + the stamps they use
        assert f.attrs["storage"] == "compact" and "blend_images" not in f["train"]
        assert f["train/specs"].shape == (48,) and f["test/fluxes"].shape == (12, 2)
        assert 2 <= f["stamp_library/images"].shape[0] <= 49
    train = read_export(out / "blends.h5", split="train")
    assert train.images.shape == (48, 128, 128) and train.masks.shape == (48, 2, 128, 128)
    assert read_export(out / "blends.h5", split="test").isolated.shape == (12, 2, 128, 128)
    header = (out / "train_catalogue.csv").read_text().splitlines()[0].split(",")
    assert header[:14] == ["id", "distance", "shift_x", "shift_y", "g1_id", "g1_mag", "g1_rad", "g1_z",
                           "g1_type", "g2_id", "g2_mag", "g2_rad", "g2_z", "g2_type"]
    assert "irr" not in (out / "train_catalogue.csv").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7
    for method, shape, dtype in (("ogg_masks", (48, 128, 128, 3), np.uint8),
                                 ("bogg_masks", (48, 128, 128, 4), np.uint8),
                                 ("gg_masks", (48, 2, 128, 128), np.uint8),
                                 ("single_images", (48, 128, 128, 2), np.float32)):
        assert main(["concatenate", "-d", str(out), "-m", method]) == 0
        labels = np.load(out / "train_labels.npy")
        assert labels.shape == shape and labels.dtype == dtype
    images = np.load(out / "train_images.npy")
    assert images.shape == (48, 128, 128) and images.dtype == np.float32
    single = np.load(out / "train_labels.npy")
    np.testing.assert_allclose(images, single.sum(-1), rtol=1e-5, atol=1e-5)
    assert main(["convert", "-d", str(out), "--zeropoint", "25.96"]) == 0
    flux = np.load(out / "test_flux.npy")
    assert flux.shape == (12, 2) and np.all(flux > 0)
    assert "train_images.npy created" in capsys.readouterr().out


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert main(["produce", "-n", "20", "-o", str(tmp_path / name), "--rotate", "--subpixel"]) == 0
    a, b = (read_export(tmp_path / name / "blends.h5", split="train") for name in ("a", "b"))
    for key in ("images", "masks", "isolated", "fluxes"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_compact_and_arrays_storage_hold_the_same_blends(tmp_path):
    """produce's default compact file renders, on read, exactly the arrays --storage arrays writes."""
    args = ["produce", "-n", "40", "-s", "3", "--subpixel", "--rotate", "--flip", "--flux_ratio", "0.5", "2"]
    assert main(args + ["-o", str(tmp_path / "c")]) == 0
    assert main(args + ["--storage", "arrays", "-o", str(tmp_path / "a")]) == 0
    with h5py.File(tmp_path / "a" / "blends.h5") as f:
        assert f.attrs["storage"] == "arrays" and f["train/blend_images"].shape == (32, 128, 128)
    for split in ("train", "test"):
        c, a = (read_export(tmp_path / d / "blends.h5", split=split) for d in ("c", "a"))
        for key in ("images", "isolated", "masks", "fluxes", "flux_out_frac"):
            np.testing.assert_array_equal(getattr(c, key), getattr(a, key), err_msg=f"{split} {key}")
        assert c.specs == a.specs
    for d in ("c", "a"):
        assert main(["concatenate", "-d", str(tmp_path / d), "-m", "bogg_masks"]) == 0
    for name in ("train_images.npy", "train_labels.npy", "test_labels.npy"):
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["produce", "-n", "5", "-d", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "nowhere" in err and "Traceback" not in err
    assert main(["produce", "-n", "5", "--mag_high", "10", "-o", str(tmp_path / "o2")]) == 2
    assert "pass the cuts" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())
    assert main(["concatenate", "-d", str(tmp_path), "-m", "ogg_masks"]) == 2
    assert "produce" in capsys.readouterr().err


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["produce", "-n", "5", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["produce", "-n", "5", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["produce", "-n", "5", "-o", str(out), "--force"]) == 0


def test_help_lists_candels_blender_options(capsys):
    with pytest.raises(SystemExit):
        main(["produce", "--help"])
    text = capsys.readouterr().out
    for opt in ("--n_blends", "--mag_low", "--mag_high", "--mag_diff", "--rad_diff", "--test_ratio",
                "--excluded_type", "--datapath", "--seed", "--output"):
        assert opt in text


def test_real_cosmos_stamps_produce(tmp_path, cosmos_dir):
    out = tmp_path / "cosmos"
    assert main(["produce", "-n", "30", "--mag_high", "23.5", "-d", str(cosmos_dir), "-o", str(out)]) == 0
    assert main(["concatenate", "-d", str(out), "-m", "ogg_masks"]) == 0
    assert np.load(out / "train_labels.npy").shape == (24, 128, 128, 3)


def test_ctrl_c_leaves_no_partial_output(tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "candels_gui.cli", "produce", "-n", "20000", "--storage", "arrays",
         "-o", str(out)],  # arrays: long enough to be interrupted (compact finishes in about 2 s)
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and any(out.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert "no partial output" in err.decode()
    assert not out.exists() or not any(out.iterdir())


def test_sample_data_is_the_default():
    assert (sample_data_dir() / "candels_img.npy").is_file()
    assert os.path.samefile(sample_data_dir(), ROOT / "sample_data")


def test_produce_ids_blends_only_the_listed_galaxies_and_records_them(tmp_path, capsys):
    """``produce --ids``: a file of catalog IDs (comments, commas, several a line) or a list; only those
    galaxies enter blends, the manifest records them, and IDs the catalog lacks are a clear error."""
    import csv

    from candels_gui.core import load_stampset

    ids = [int(i) for i in load_stampset(sample_data_dir()).ids[:4]]
    listing = tmp_path / "ids.txt"
    listing.write_text(f"# the galaxies I curated\n{ids[0]}, {ids[1]}\n{ids[2]} {ids[3]}  # last two\n", encoding="utf-8")
    out = tmp_path / "OUT"
    assert main(["produce", "-n", "40", "-t", "0", "--ids", str(listing), "-o", str(out)]) == 0
    with open(out / "train_catalogue.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    used = {int(r["g1_id"]) for r in rows} | {int(r["g2_id"]) for r in rows}
    assert len(rows) == 40 and used <= set(ids) and len(used) >= 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["catalog_filter"]["ids"] == sorted(ids)
    capsys.readouterr()
    assert main(["produce", "-n", "5", "--ids", f"{ids[0]},12345678901", "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "1 of the 2 requested IDs are not in the catalog" in err and "12345678901" in err
    assert "Traceback" not in err and not (tmp_path / "bad" / "blends.h5").exists()
    assert main(["produce", "-n", "5", "--ids", "nothing-here", "-o", str(tmp_path / "bad2")]) == 2
    assert "neither a file nor a list of catalog IDs" in capsys.readouterr().err


def test_bench_help_lists_every_group():
    """`bench --help` names every group `--only` takes (pipeline, morphology and fields were missing)."""
    from candels_gui.bench import GROUPS, _load_optional_groups
    from candels_gui.cli.tools import BENCH_GROUPS

    _load_optional_groups()
    assert list(BENCH_GROUPS) == list(GROUPS)
