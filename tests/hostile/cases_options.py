"""Bad options and outputs of every command."""

from __future__ import annotations

from pathlib import Path

from .builder import (DEAD_PID, Builder, _exists, garbage)


def _produce_option_cases(b: Builder) -> None:
    opts = {
        "n-zero": (["-n", "0"], "-n"), "n-negative": (["-n", "-5"], "-n"),
        "n-runaway": (["-n", "1000000000000"], "-n"),
        "n-text": (["-n", "many"], "-n"),
        "mag-low-nan": (["--mag_low", "nan"], "--mag_low"), "mag-high-nan": (["--mag_high", "nan"], "--mag_high"),
        "mag-high-inf": (["--mag_high", "inf"], "--mag_high"),
        "mag-inverted": (["--mag_low", "30", "--mag_high", "20"], "--mag_"),
        "mag-diff-nan": (["--mag_diff", "nan"], "--mag_diff"), "mag-diff-neg": (["--mag_diff", "-1"], "--mag_diff"),
        "mag-diff-inf": (["--mag_diff", "inf"], "--mag_diff"),
        "rad-diff-nan": (["--rad_diff", "nan"], "--rad_diff"), "rad-diff-neg": (["--rad_diff", "-2"], "--rad_diff"),
        "rad-diff-inf": (["--rad_diff", "inf"], "--rad_diff"),
        "test-ratio-nan": (["-t", "nan"], "--test_ratio"), "test-ratio-neg": (["-t", "-0.1"], "--test_ratio"),
        "test-ratio-one": (["-t", "1"], "--test_ratio"), "test-ratio-big": (["-t", "1.5"], "--test_ratio"),
        "sep-nan": (["--max_separation", "nan"], "--max_separation"),
        "sep-neg": (["--max_separation", "-3"], "--max_separation"),
        "sep-inf": (["--max_separation", "inf"], "--max_separation"),
        "radius-min-nan": (["--radius_min", "nan"], "--radius_min"),
        "radius-inverted": (["--radius_min", "5", "--radius_max", "1"], "--radius_"),
        "z-nan": (["--z_min", "nan"], "--z_min"), "z-inverted": (["--z_min", "3", "--z_max", "1"], "--z_"),
        "flux-zero": (["--flux_ratio", "0", "1"], "--flux_ratio"),
        "flux-negative": (["--flux_ratio", "-1", "2"], "--flux_ratio"),
        "flux-inf": (["--flux_ratio", "inf", "inf"], "--flux_ratio"),
        "flux-nan": (["--flux_ratio", "nan", "1"], "--flux_ratio"),
        "flux-inverted": (["--flux_ratio", "2", "1"], "--flux_ratio"),
        "flux-overflow": (["--flux_ratio", "1e300", "1e300"], "--flux_ratio"),
        "flux-underflow": (["--flux_ratio", "1e-300", "1e-300"], "--flux_ratio"),
        "seed-negative": (["-s", "-1"], "--seed"), "seed-huge": (["-s", str(2**70)], "--seed"),
        "batch-zero": (["--batch_size", "0"], "--batch_size"), "batch-neg": (["--batch_size", "-4"], "--batch_size"),
        "batch-huge": (["--batch_size", "1000000"], "--batch_size"),
        "noise-model-bogus": (["--noise_model", "gauss"], "--noise_model"),
        "storage-bogus": (["--storage", "zip"], "--storage"),
    }
    for key, (extra, mention) in opts.items():
        b.option_case("opt-produce", f"produce-{key}", "produce", extra, mention=mention)
    # outputs
    b.option_case("output-path", "produce-out-is-file", "produce", ["-o", "{f}/afile"], mention="afile",
                  prepare=lambda f: (f / "afile").write_text("x"))
    b.option_case("output-path", "produce-out-under-file", "produce", ["-o", "{f}/afile/sub"], mention="afile",
                  prepare=lambda f: (f / "afile").write_text("x"))
    b.option_case("output-path", "produce-out-unwritable", "produce", ["-o", "/proc/candels-gui-hostile"])
    b.option_case("output-path", "produce-out-empty-name", "produce", ["-o", ""])
    b.option_case("output-path", "produce-out-exists", "produce", ["-o", "{f}/old"], mention="--force",
                  prepare=lambda f: (f / "old").mkdir() or (f / "old" / "keep.txt").write_text("k"))
    b.option_case("output-is-input", "produce-out-is-data", "produce", ["-o", "{f}/data", "--force"],
                  mention="-o")
    b.option_case("output-is-input", "produce-out-is-data-file", "produce",
                  ["-d", "{f}/data/candels_img.npy", "-o", "{f}/data/candels_img.npy", "--force"], mention="-o")
    # stale temporaries of a killed run: the next run (and --force) clears them and succeeds
    def stale(f: Path) -> None:
        (f / "out").mkdir()
        (f / "out" / f".candels-gui-tmp-{DEAD_PID}-deadbeef-blends.h5").write_bytes(b"\0" * 1000)
        (f / "out" / ".blends.h5.deadbeef.tmp").write_bytes(b"\0" * 1000)
    c = b.option_case("stale-temp", "produce-stale-temp-force", "produce", ["--force"], expect="ok", prepare=stale)
    c.outputs = []
    c = b.option_case("stale-temp", "produce-stale-temp-only", "produce", [], expect="ok", prepare=stale)
    c.outputs = []


def _command_option_cases(b: Builder) -> None:
    w = str(b.good["weights_unet-seg"])
    ev = {
        "out-is-file": (["--deblenders", "photutils", "-o", "{f}/afile"], "afile"),
        "out-under-file": (["--deblenders", "photutils", "-o", "{f}/afile/m"], "afile"),
        "plots-is-file": (["--deblenders", "photutils", "--plots", "{f}/afile"], "afile"),
        "limit-zero": (["--deblenders", "photutils", "--limit", "0"], "--limit"),
        "limit-neg": (["--deblenders", "photutils", "--limit", "-3"], "--limit"),
        "sep-nan": (["--deblenders", "photutils", "--max_separation", "nan"], "--max_separation"),
        "sep-neg": (["--deblenders", "photutils", "--max_separation", "-1"], "--max_separation"),
        "mag-high-nan": (["--deblenders", "photutils", "--mag_high", "nan"], "--mag_high"),
        "batch-zero": (["--deblenders", "photutils", "--batch_size", "0"], "--batch_size"),
        "deblender-bogus": (["--deblenders", "nonsense"], "nonsense"),
        "deblender-empty": (["--deblenders", ","], "--deblenders"),
        "split-bogus": (["--deblenders", "photutils", "--split", "validation"], "validation"),
        "weights-missing": (["--weights", "{f}/nope.pt"], "nope.pt"),
        "weights-folder": (["--weights", "{f}"], "--weights"),
        "no-data": (["--deblenders", "photutils", "--data", "{f}/nothing"], "nothing"),
    }
    for key, (extra, mention) in ev.items():
        b.option_case("opt-evaluate" if "out" not in key and "plots" not in key else "output-path",
                      f"evaluate-{key}", "evaluate", extra, mention=mention,
                      prepare=lambda f: (f / "afile").write_text("x"))
    de = {
        "out-is-data": (["--model", "unet-seg", "--weights", w, "-o", "{f}/out/blends.h5"], "-o"),
        "out-is-manifest": (["--model", "unet-seg", "--weights", w, "-o", "{f}/out/manifest.json"], "-o"),
        "out-is-folder": (["--model", "unet-seg", "--weights", w, "-o", "{f}"], "-o"),
        "out-under-file": (["--model", "unet-seg", "--weights", w, "-o", "{f}/afile/r.h5"], "afile"),
        "batch-zero": (["--model", "unet-seg", "--weights", w, "-o", "{f}/res.h5", "--batch_size", "0"], "--batch_size"),
        "batch-neg": (["--model", "photutils", "-o", "{f}/res.h5", "--batch_size", "-2"], "--batch_size"),
        "model-bogus": (["--model", "unet-segg", "-o", "{f}/res.h5"], "unet-segg"),
        "model-missing": (["-o", "{f}/res.h5"], "--model"),
        "split-bogus": (["--model", "photutils", "-o", "{f}/res.h5", "--split", "nope"], "nope"),
        "weights-for-classical": (["--model", "photutils", "--weights", w, "-o", "{f}/res.h5"], "--weights"),
        "weights-other-arch": (["--model", "blend2flux", "--weights", w, "-o", "{f}/res.h5"], "blend2flux"),
        "out-zarr-name-hdf5-format": (["--model", "photutils", "--format", "hdf5", "-o", "{f}/res.zarr"], "--format"),
        "out-h5-name-zarr-format": (["--model", "photutils", "--format", "zarr", "-o", "{f}/res.h5"], "--format"),
    }
    for key, (extra, mention) in de.items():
        b.option_case("opt-deblend" if "out" not in key else "output-path", f"deblend-{key}", "deblend", extra,
                      mention=mention, prepare=lambda f: (f / "afile").write_text("x"))
    tr = {
        "lr-nan": ["--lr", "nan"], "lr-inf": ["--lr", "inf"], "lr-neg": ["--lr", "-0.01"], "lr-huge": ["--lr", "1e300"],
        "epochs-zero": ["--epochs", "0"], "epochs-neg": ["--epochs", "-1"],
        "batch-zero": ["--batch_size", "0"], "batch-neg": ["--batch_size", "-8"], "batch-huge": ["--batch_size", "100000"],
        "val-nan": ["--val_fraction", "nan"], "val-big": ["--val_fraction", "1.5"], "val-one": ["--val_fraction", "1"],
        "val-neg": ["--val_fraction", "-0.1"],
        "patience-neg": ["--patience", "-1"], "memory-nan": ["--memory_mb", "nan"], "memory-neg": ["--memory_mb", "-5"],
        "flux-weight-nan": ["--flux_weight", "nan"], "flux-weight-neg": ["--flux_weight", "-1"],
        "threads-zero": ["--threads", "0"], "base-zero": ["--base", "0"], "depth-big": ["--depth", "9"],
        "device-cuda": ["--device", "cuda"], "device-cuda7": ["--device", "cuda:7"], "device-bogus": ["--device", "tpu"],
        "device-mps": ["--device", "mps"], "device-empty": ["--device", ""],
    }
    for key, extra in tr.items():
        mention = extra[0] if not key.startswith("device") else "--device"
        b.option_case("opt-train" if not key.startswith("device") else "device", f"train-{key}", "train",
                      [*extra, "-o", "{f}/w.pt", "--epochs" if "epochs" not in key else "--seed", "1"],
                      mention=mention)
    b.option_case("output-path", "train-out-is-folder", "train", ["-o", "{f}/wdir", "--epochs", "1"], mention="-o",
                  prepare=lambda f: (f / "wdir").mkdir() or (f / "wdir" / "keep.txt").write_text("k"))
    b.option_case("output-is-input", "train-out-is-data", "train", ["-o", "{f}/out/blends.h5", "--epochs", "1"],
                  mention="-o")
    b.option_case("output-path", "train-out-under-file", "train", ["-o", "{f}/afile/w.pt", "--epochs", "1"],
                  mention="afile", prepare=lambda f: (f / "afile").write_text("x"))
    b.option_case("output-path", "train-out-not-weights", "train", ["-o", "{f}/notes.txt", "--epochs", "1"],
                  mention="notes.txt", prepare=lambda f: (f / "notes.txt").write_text("my notes"))
    # diverging training (NaN weights never written, the old ones kept): tests/test_hostile_training.py
    # compare-stamps: set names become file names; nothing is written before everything is measured
    data = str(b.good["data"])
    for key, sets, mention in (("name-with-slash", [f"a={data}", f"b/c={data}"], "b/c"),
                               ("name-without-data", [f"a={data}", "x="], "'x'")):
        b.option_case("opt-compare-stamps", f"compare-stamps-{key}", "compare-stamps",
                      ["--no_morphology", "--limit", "8", *sets, "-o", "{f}/cmp"], mention=mention)
    # convert
    cv = {"zp-nan": ["--zeropoint", "nan"], "zp-inf": ["--zeropoint", "inf"], "zp-huge": ["--zeropoint", "1e308"],
          "zp-neg-huge": ["--zeropoint", "-1e5"]}
    for key, extra in cv.items():
        b.option_case("opt-convert", f"convert-{key}", "convert", extra, mention="--zeropoint")

    def cat_edit(col, value):
        def prep(f):
            pass
        return prep
    for key, value in (("mag-text", "bright"), ("mag-inf", "-inf"), ("mag-huge-neg", "-2000"), ("mag-nan", "nan")):
        c = b.option_case("convert-catalogue", f"convert-cat-{key}", "convert", [])
        cat = c.folder / "out" / "train_catalogue.csv"
        ls = cat.read_text().splitlines()
        k = ls[0].split(",").index("g1_mag")
        cells = ls[1].split(",")
        cells[k] = value
        ls[1] = ",".join(cells)
        cat.write_text("\n".join(ls) + "\n")
        c.inputs.append(cat)
        c.mention = "g1_mag"
    c = b.option_case("convert-catalogue", "convert-cat-garbage", "convert", [])
    garbage(c.folder / "out" / "train_catalogue.csv", 500)
    c = b.option_case("convert-catalogue", "convert-no-catalogue", "convert", [])
    for p in (c.folder / "out").glob("*_catalogue.csv"):
        p.unlink()
    b.option_case("opt-concatenate", "concat-method-bogus", "concatenate", ["-m", "xyz_masks"], mention="-m")
    b.option_case("opt-concatenate", "concat-dir-missing", "concatenate", ["-d", "{f}/none"], mention="none")
    b.option_case("opt-concatenate", "concat-dir-is-file", "concatenate", ["-d", "{f}/afile"], mention="afile",
                  prepare=lambda f: (f / "afile").write_text("x"))

    def stale_concat(f):
        pass
    c = b.option_case("stale-temp", "concat-stale-part", "concatenate", [], expect="ok")
    (c.folder / "out" / "train_images.npy.part").write_bytes(b"\0" * 5000)
    (c.folder / "out" / f".candels-gui-tmp-{DEAD_PID}-0badf00d-train_labels.npy").write_bytes(b"\0" * 5000)
    c.outputs = []
    # other commands
    for key, extra, mention in (
            ("sample-n-zero", ["make-sample-data", "-n", "0", "-o", "{f}/s"], "-n"),
            ("sample-n-neg", ["make-sample-data", "-n", "-4", "-o", "{f}/s"], "-n"),
            ("sample-out-file", ["make-sample-data", "-n", "2", "-o", "{f}/afile"], "afile"),
            ("sample-out-under-file", ["make-sample-data", "-n", "2", "-o", "{f}/afile/s"], "afile"),
            ("sample-seed-neg", ["make-sample-data", "-n", "2", "-s", "-3", "-o", "{f}/s"], "-s"),
            ("bench-n-zero", ["bench", "-n", "0", "--only", "engine"], "-n"),
            ("bench-n-neg", ["bench", "-n", "-10", "--only", "engine"], "-n"),
            ("bench-only-bogus", ["bench", "--only", "everything"], "--only"),
            ("screenshot-size-text", ["screenshot", "{f}/x.png", "--size", "bigxbig"], "--size"),
            ("screenshot-size-zero", ["screenshot", "{f}/x.png", "--size", "0x0"], "--size"),
            ("screenshot-size-neg", ["screenshot", "{f}/x.png", "--size", "-5x100"], "--size"),
            ("screenshot-size-huge", ["screenshot", "{f}/x.png", "--size", "100000x100000"], "--size"),
            ("screenshot-size-one", ["screenshot", "{f}/x.png", "--size", "800"], "--size"),
            ("screenshot-data-missing", ["screenshot", "{f}/x.png", "--data", "{f}/none"], "none"),
            ("download-out-under-file", ["download", "-o", "{f}/afile/d", "--base_url", "http://127.0.0.1:9"],
             "afile"),
    ):
        kind = "opt-" + key.split("-")[0]
        b.option_case(kind, key, key.split("-")[0], [], mention=mention,
                      prepare=lambda f: (f / "afile").write_text("x"))
        case = b.cases[-1]
        case.argv = [a.replace("{f}", str(case.folder)) for a in extra]
        case.outputs = [Path(a) for a in case.argv if a.startswith(str(case.folder)) and not _exists(Path(a))]
        case.inputs = [case.folder / "afile"]
        case.subprocess = key.startswith(("screenshot", "bench"))  # Qt windows, benchmarks: a real process
