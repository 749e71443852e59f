"""The newer boundaries: morphology label files, FITS deep fields, Zarr stores, and weights files of one
model family given to another (morph-cnn, the SGAN, the deblenders)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .builder import Builder, copy_input, flip_bytes, garbage, truncate

GOOD_HEADER = "ID,p_sph,p_sphd,p_disk,p_irr,p_ps,p_unc"


def _label_lines(b: Builder) -> list[str]:
    return b.good["labels"].read_text().splitlines()


def label_case(b: Builder, kind: str, name: str, make: Callable[[Path], Path], *, mention: str | None = None
               ) -> None:
    """A bad label file, given to ``train --model morph-cnn`` and to ``classify --score``."""
    for cmd in ("train", "classify"):
        f = b.folder(f"{name}@{cmd}")
        data = copy_input(b.good["data"], f / "data")
        labels = make(f)
        if cmd == "train":
            argv = ["train", "--model", "morph-cnn", "--data", str(labels), "--stamps", str(data),
                    "-o", str(f / "w.pt"), "--epochs", "1", "--base", "2", "--threads", "1"]
            outputs = [f / "w.pt"]
        else:
            argv = ["classify", "-d", str(data), "--weights", str(b.good["weights_morph"]), "-o",
                    str(f / "pred.csv"), "--score", str(labels), "--device", "cpu"]
            outputs = [f / "pred.csv"]
        b.add(kind, f"{name}@{cmd}", f, argv, outputs=outputs, inputs=[labels, data], mention=mention)


def _label_cases(b: Builder) -> None:
    lines = _label_lines(b)

    def text(body: str | bytes) -> Callable[[Path], Path]:
        def make(f: Path) -> Path:
            p = f / "labels.csv"
            p.write_bytes(body if isinstance(body, bytes) else body.encode())
            return p
        return make

    def edit_row(i: int, cells: dict[int, str]) -> Callable[[Path], Path]:
        rows = [ln.split(",") for ln in lines]
        for c, v in cells.items():
            rows[i][c] = v
        return text("\n".join(",".join(r) for r in rows) + "\n")

    def replace_header(new: str) -> Callable[[Path], Path]:
        return text("\n".join([new, *lines[1:]]) + "\n")

    hdr = lines[0].split(",")
    # classes: unknown, renamed, missing
    label_case(b, "labels-classes", "labels-unknown-class-column",
               text("\n".join([lines[0] + ",p_merger", *(ln + ",0.5" for ln in lines[1:])]) + "\n"),
               mention="p_merger")
    label_case(b, "labels-classes", "labels-class-renamed", replace_header(lines[0].replace("p_disk", "p_spiral")),
               mention="p_disk")
    label_case(b, "labels-classes", "labels-class-missing",
               text("\n".join(",".join(ln.split(",")[:-1]) for ln in lines) + "\n"))
    label_case(b, "labels-classes", "labels-no-id-column", replace_header(lines[0].replace("ID", "name", 1)))
    label_case(b, "labels-classes", "labels-class-names-in-cells",
               text("ID,class\n" + "\n".join(f"{ln.split(',')[0]},merger" for ln in lines[1:]) + "\n"))
    # rows that do not sum to 1
    col = {name: i for i, name in enumerate(hdr)}
    for key, cells in (("half", {col["p_sph"]: "0.25", col["p_sphd"]: "0.25", col["p_disk"]: "0",
                                 col["p_irr"]: "0", col["p_ps"]: "0", col["p_unc"]: "0"}),
                       ("double", {c: "0.4" for c in range(1, 6)}),
                       ("zero", {c: "0" for c in range(1, 7)}),
                       ("percent", {c: ("100" if c == 1 else "0") for c in range(1, 7)})):
        label_case(b, "labels-sums", f"labels-sum-{key}", edit_row(3, cells), mention="line 4")
    # values that are not fractions
    for key, value in (("nan", "nan"), ("inf", "inf"), ("negative", "-0.5"), ("above-one", "1.5"),
                       ("text", "disk"), ("empty", ""), ("comma", "0,5")):
        label_case(b, "labels-values", f"labels-value-{key}", edit_row(2, {col["p_disk"]: value}),
                   mention="line 3")
    # IDs
    first, second = lines[1].split(",")[0], lines[2].split(",")[0]
    label_case(b, "labels-ids", "labels-id-duplicate", edit_row(2, {0: first}), mention=first)
    label_case(b, "labels-ids", "labels-id-unknown", edit_row(2, {0: "999999999"}), mention="999999999")
    label_case(b, "labels-ids", "labels-id-negative", edit_row(2, {0: "-7"}), mention="-7")
    for key, value in (("fraction", f"{second}.5"), ("huge", "1e30"), ("nan", "nan"), ("text", "NGC-1"),
                       ("bool", "True")):
        label_case(b, "labels-ids", f"labels-id-{key}", edit_row(2, {0: value}), mention="line 3")
    # the file
    label_case(b, "labels-file", "labels-empty", text(b""))
    label_case(b, "labels-file", "labels-header-only", text(lines[0] + "\n"))
    label_case(b, "labels-file", "labels-garbage", lambda f: (garbage(f / "labels.csv", 3000, 5), f / "labels.csv")[1])
    label_case(b, "labels-file", "labels-utf16", text(("\n".join(lines) + "\n").encode("utf-16")))
    label_case(b, "labels-file", "labels-truncated-row", text("\n".join(lines[:6]) + "\n" + lines[6][:9] + "\n"),
               mention="line 7")
    label_case(b, "labels-file", "labels-semicolons", text("\n".join(ln.replace(",", ";") for ln in lines) + "\n"))
    label_case(b, "labels-file", "labels-is-folder", lambda f: (f / "labels.csv").mkdir() or f / "labels.csv")
    label_case(b, "labels-file", "labels-missing", lambda f: f / "labels.csv", mention="labels.csv")
    label_case(b, "labels-file", "labels-fifo", lambda f: os.mkfifo(f / "labels.csv") or f / "labels.csv")
    label_case(b, "labels-file", "labels-is-weights", lambda f: shutil.copy(b.good["weights_morph"], f / "l.csv")
               and f / "l.csv")
    # a column twice: the second p_disk replaced the first (a row then 'summed to 0.93'), a second ID column
    label_case(b, "labels-classes", "labels-class-column-twice",
               text("\n".join([lines[0] + ",p_disk", *(ln + ",0" for ln in lines[1:])]) + "\n"), mention="p_disk")
    label_case(b, "labels-classes", "labels-id-column-twice",
               text("\n".join([lines[0] + ",ID", *(ln + ",1" for ln in lines[1:])]) + "\n"), mention="ID")
    # outputs onto a pipe: renamed over it (as root, '-o /dev/null' replaced the system's /dev/null)
    for cmd in ("classify", "morphology"):
        f = b.folder(f"out-is-fifo@{cmd}")
        data = copy_input(b.good["data"], f / "data")
        os.mkfifo(f / "pipe")
        b.add("output-path", f"out-is-fifo@{cmd}", f, [cmd, "-d", str(data), "-o", str(f / "pipe")],
              outputs=[], inputs=[data], mention="pipe")
    # options that only act with --score, an output named for another format
    for key, extra, mention in (("plot-without-score", ["--plot", "p.png"], "--plot"),
                                ("output-named-json", [], "t.json")):
        f = b.folder(f"classify-{key}")
        data = copy_input(b.good["data"], f / "data")
        out = f / ("t.json" if key == "output-named-json" else "t.csv")
        b.add("output-path", f"classify-{key}", f,
              ["classify", "-d", str(data), "-o", str(out), *[str(f / a) if a.endswith(".png") else a for a in extra]],
              outputs=[out, f / "p.png"], inputs=[data], mention=mention)
    # an output that cannot be written: refused before the folds are fitted, not after them
    f = b.folder("transfer-out-under-file@morph-transfer")
    data = copy_input(b.good["data"], f / "data")
    (f / "afile").write_text("x")
    b.add("output-path", "transfer-out-under-file@morph-transfer", f,
          ["morph-transfer", "-d", str(data), "--labels", str(data / "labels.csv"), "--sizes", "2", "--folds", "2",
           "--epochs", "1", "-o", str(f / "afile" / "t.json")], outputs=[f / "afile" / "t.json"], inputs=[data],
          mention="afile")
    # a magnitude cut that leaves nothing to score: refused, not "accuracy nan over 0 galaxies"
    f = b.folder("labels-none-brighter@classify")
    data = copy_input(b.good["data"], f / "data")
    b.add("labels-values", "labels-none-brighter@classify", f,
          ["classify", "-d", str(data), "--weights", str(b.good["weights_morph"]), "-o", str(f / "pred.csv"),
           "--score", str(data / "labels.csv"), "--mag_high", "5", "--device", "cpu"],
          outputs=[f / "pred.csv"], inputs=[data], mention="--mag_high")


# ------------------------------------------------------------------------------------------ FITS fields
def field_case(b: Builder, kind: str, name: str, make: Callable[[Path], Path], *, extra: tuple[str, ...] = (),
               commands: tuple[str, ...] = ("train", "stamps", "compare"), mention: str | None = None) -> None:
    """A bad field image, given to ``field train``, ``field stamps`` and ``field compare``."""
    for cmd in commands:
        f = b.folder(f"{name}@{cmd}")
        img = make(f)
        if cmd == "train":
            argv = ["field", "train", "--image", str(img), "-o", str(f / "sg.pt"), "--epochs", "1", "--steps", "1",
                    "--batch_size", "1", "--patch", "32", "--threads", "1", "--device", "cpu"]
            outputs = [f / "sg.pt", f / "sg.pt.ckpt", f / "sg_samples"]
        elif cmd == "stamps":
            argv = ["field", "stamps", str(img), "-o", str(f / "st"), "--size", "32"]
            outputs = [f / "st"]
        else:
            argv = ["field", "compare", str(b.good["field"]), str(img), "--json", "--plots", str(f / "plots")]
            outputs = [f / "plots"]
        b.add(kind, f"{name}@{cmd}", f, [*argv, *extra], outputs=outputs, inputs=[img], mention=mention)


def _field_cases(b: Builder) -> None:
    from astropy.io import fits

    good = fits.getdata(b.good["field"]).astype(np.float32)

    def write(hdus_of: Callable[[], list]) -> Callable[[Path], Path]:
        def make(f: Path) -> Path:
            p = f / "field.fits"
            fits.HDUList(hdus_of()).writeto(p)
            return p
        return make

    def image(arr: np.ndarray) -> Callable[[Path], Path]:
        return write(lambda: [fits.PrimaryHDU(arr)])

    table = fits.BinTableHDU.from_columns([fits.Column("X", "D", array=np.arange(5.0))])
    field_case(b, "field-hdu", "field-table-only", write(lambda: [fits.PrimaryHDU(), table.copy()]),
               mention="image")
    field_case(b, "field-hdu", "field-header-only", write(lambda: [fits.PrimaryHDU()]))
    field_case(b, "field-hdu", "field-cube", image(np.stack([good, good, good])), mention="--band")
    field_case(b, "field-hdu", "field-4d", image(good[None, None].repeat(2, 0).repeat(2, 1)))
    field_case(b, "field-hdu", "field-band-out-of-range", image(np.stack([good, good])), extra=("--band", "5"),
               mention="--band")
    field_case(b, "field-hdu", "field-hdu-absent", image(good), extra=("--hdu", "7"), mention="--hdu")
    field_case(b, "field-hdu", "field-hdu-negative", image(good), extra=("--hdu", "-1"), mention="--hdu")
    field_case(b, "field-hdu", "field-hdu-is-table", write(lambda: [fits.PrimaryHDU(good), table.copy()]),
               extra=("--hdu", "1"), mention="HDU 1")
    # pixels
    nan = good.copy()
    nan[:] = np.nan
    field_case(b, "field-pixels", "field-all-nan", image(nan))
    part = good.copy()
    part[:30] = np.nan                      # no coverage there, as real mosaics have: masked, and said
    f = b.folder("field-some-nan@compare")
    img = image(part)(f)
    b.add("field-pixels", "field-some-nan@compare", f, ["field", "compare", str(b.good["field"]), str(img), "--json"],
          inputs=[img], expect="warn", mention="NaN pixels masked")
    inf = good.copy()
    inf[::7, ::5] = np.inf
    field_case(b, "field-pixels", "field-inf", image(inf))
    field_case(b, "field-pixels", "field-all-zero", image(np.zeros_like(good)))
    field_case(b, "field-pixels", "field-constant", image(np.full_like(good, 3.0)))
    field_case(b, "field-pixels", "field-huge", image(np.full_like(good, 3e38) * np.sign(good + 0.01)))
    field_case(b, "field-pixels", "field-smaller-than-patch", image(good[:24, :24]), commands=("train",),
               mention="32")
    field_case(b, "field-pixels", "field-tiny", image(good[:3, :3]))
    field_case(b, "field-pixels", "field-one-row", image(good[:1]))
    field_case(b, "field-pixels", "field-strings", write(lambda: [fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column("S", "20A", array=np.array(["x"] * 4))])]))
    # the file
    for frac in (0.0, 0.3, 0.9):
        field_case(b, "field-file", f"field-truncated-{frac}",
                   lambda f, fr=frac: (shutil.copy(b.good["field"], f / "field.fits"),
                                       truncate(f / "field.fits", fr), f / "field.fits")[2])
    field_case(b, "field-file", "field-garbage", lambda f: (garbage(f / "field.fits", 8640, 3), f / "field.fits")[1])
    field_case(b, "field-file", "field-header-flipped",
               lambda f: (shutil.copy(b.good["field"], f / "field.fits"), flip_bytes(f / "field.fits", 0.0, 80, 4),
                          f / "field.fits")[2])
    field_case(b, "field-file", "field-is-png", lambda f: ((f / "field.fits").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(2000)), f / "field.fits")[1])
    field_case(b, "field-file", "field-missing", lambda f: f / "field.fits", mention="field.fits")
    field_case(b, "field-file", "field-is-folder", lambda f: (f / "field.fits").mkdir() or f / "field.fits")
    field_case(b, "field-file", "field-fifo", lambda f: os.mkfifo(f / "field.fits") or f / "field.fits")


# ------------------------------------------------------------------------------------------ Zarr stores
def zarr_case(b: Builder, kind: str, name: str, op: Callable[[Path], object], *,
              commands: tuple[str, ...] = ("evaluate", "deblend", "train", "concatenate", "export"),
              mention: str | None = None) -> None:
    """A damaged ``produce --format zarr`` output, given to every command that reads one."""
    for cmd in commands:
        f = b.folder(f"{name}@{cmd}")
        d = copy_input(b.good["out_zarr"], f / "out")
        op(d / "blends.zarr")
        if cmd == "evaluate":
            argv = ["evaluate", "--data", str(d), "--deblenders", "photutils", "--split", "train",
                    "-o", str(f / "metrics")]
            outputs = [f / "metrics"]
        elif cmd == "deblend":
            argv = ["deblend", "--model", "unet-seg", "--weights", str(b.good["weights_unet-seg"]), "--data", str(d),
                    "--split", "train", "-o", str(f / "res.h5")]
            outputs = [f / "res.h5"]
        elif cmd == "train":
            argv = ["train", "--model", "unet-seg", "--data", str(d), "-o", str(f / "w.pt"), "--epochs", "1",
                    "--base", "2", "--depth", "1", "--threads", "1"]
            outputs = [f / "w.pt"]
        elif cmd == "concatenate":
            argv = ["concatenate", "-d", str(d), "-m", "ogg_masks"]
            outputs = [d / "train_images.npy", d / "train_labels.npy"]
        else:
            b.add(kind, f"{name}@{cmd}", f, loader="export", target=d, inputs=[d], mention=mention)
            continue
        # concatenate records its label method in the manifest (by design): the store is the input
        b.add(kind, f"{name}@{cmd}", f, argv, outputs=outputs, inputs=[d / "blends.zarr"], mention=mention)


def _zarr_cases(b: Builder) -> None:
    def root_json(body: bytes) -> Callable[[Path], object]:
        return lambda z: (z / "zarr.json").write_bytes(body)

    def edit_attrs(path: str = "zarr.json", **change) -> Callable[[Path], object]:
        def op(z: Path) -> None:
            meta = json.loads((z / path).read_text())
            meta["attributes"].update(change)
            (z / path).write_text(json.dumps(meta))
        return op

    zarr_case(b, "zarr-meta", "zarr-json-garbage", root_json(np.random.default_rng(2).bytes(600)))
    zarr_case(b, "zarr-meta", "zarr-json-empty", root_json(b""))
    zarr_case(b, "zarr-meta", "zarr-json-truncated", lambda z: truncate(z / "zarr.json", 0.5))
    zarr_case(b, "zarr-meta", "zarr-json-list", root_json(b"[1, 2, 3]"))
    zarr_case(b, "zarr-meta", "zarr-json-missing", lambda z: (z / "zarr.json").unlink())
    zarr_case(b, "zarr-meta", "zarr-json-is-array", lambda z: (z / "zarr.json").write_text(
        (z / "train" / "fluxes" / "zarr.json").read_text()))
    zarr_case(b, "zarr-meta", "zarr-split-json-garbage", lambda z: (z / "train" / "zarr.json").write_bytes(b"{{{"))
    zarr_case(b, "zarr-attrs", "zarr-incomplete", edit_attrs(complete=False), mention="complete")
    zarr_case(b, "zarr-attrs", "zarr-version-future", edit_attrs(format_version=99))
    zarr_case(b, "zarr-attrs", "zarr-format-foreign", edit_attrs(format="someone-else"))
    zarr_case(b, "zarr-attrs", "zarr-splits-escape", edit_attrs(splits=json.dumps(["../../train"])))
    zarr_case(b, "zarr-attrs", "zarr-splits-not-json", edit_attrs(splits="[train"))

    def array_json(arr: str, **change) -> Callable[[Path], object]:
        def op(z: Path) -> None:
            p = z / "train" / arr / "zarr.json"
            meta = json.loads(p.read_text())
            meta.update(change)
            p.write_text(json.dumps(meta))
        return op

    zarr_case(b, "zarr-arrays", "zarr-images-missing", lambda z: shutil.rmtree(z / "train" / "blend_images"))
    zarr_case(b, "zarr-arrays", "zarr-images-shape", array_json("blend_images", shape=[3, 64, 64]))
    zarr_case(b, "zarr-arrays", "zarr-images-dtype", array_json("blend_images", data_type="bool"))
    zarr_case(b, "zarr-arrays", "zarr-chunk-garbage", lambda z: [garbage(p, 500, 9) for p in
                                                                  (z / "train" / "blend_images" / "c").rglob("*")
                                                                  if p.is_file()][:1])
    zarr_case(b, "zarr-arrays", "zarr-chunk-missing", lambda z: [p.unlink() for p in
                                                                  sorted((z / "train" / "blend_images" / "c").rglob("*"))
                                                                  if p.is_file()])
    zarr_case(b, "zarr-arrays", "zarr-specs-garbage", lambda z: [garbage(p, 200, 10) for p in
                                                                  (z / "train" / "specs" / "c").rglob("*")
                                                                  if p.is_file()][:1])


# ------------------------------------------------------------------------------ weights of another kind
def _model_kind_cases(b: Builder) -> None:
    import torch

    morph, sgan, unet = b.good["weights_morph"], b.good["weights_sgan"], b.good["weights_unet-seg"]

    def cmd_case(kind: str, name: str, weights: Path | Callable[[Path], Path], argv_of: Callable[[Path, Path], list],
                 outputs_of: Callable[[Path], list], mention: str | None = None) -> None:
        f = b.folder(name)
        w = weights(f) if callable(weights) else copy_input(weights, f / weights.name)
        data = copy_input(b.good["data"], f / "data")
        b.add(kind, name, f, argv_of(w, data), outputs=outputs_of(f), inputs=[w, data], mention=mention)

    classify = (lambda w, d: ["classify", "-d", str(d), "--weights", str(w), "-o", str(d.parent / "p.csv"),
                              "--device", "cpu"], lambda f: [f / "p.csv"])
    generate = (lambda w, d: ["field", "generate", "--model", str(w), "--size", "64", "-o",
                              str(d.parent / "g.fits"), "--device", "cpu"], lambda f: [f / "g.fits"])
    init = (lambda w, d: ["train", "--model", "morph-cnn", "--data", str(d / "labels.csv"), "--stamps", str(d),
                          "--init", str(w), "-o", str(d.parent / "n.pt"), "--epochs", "1", "--threads", "1"],
            lambda f: [f / "n.pt"])
    deblend = (lambda w, d: ["deblend", "--model", "unet-seg", "--weights", str(w), "--data",
                             str(copy_input(b.good["out"], d.parent / "out")), "-o", str(d.parent / "r.h5")],
               lambda f: [f / "r.h5"])
    for tool, (argv_of, outputs_of) in (("classify", classify), ("generate", generate), ("init", init),
                                        ("deblend", deblend)):
        for wname, w in (("morph", morph), ("sgan", sgan), ("unet", unet)):
            if (tool, wname) in (("classify", "morph"), ("generate", "sgan"), ("init", "morph"),
                                 ("deblend", "unet")):
                continue
            cmd_case("weights-kind", f"weights-{wname}@{tool}", w, argv_of, outputs_of)
        for key, make in (
                ("garbage", lambda f: (garbage(f / "w.pt", 3000, 11), f / "w.pt")[1]),
                ("truncated", lambda f, w=(morph if tool in ("classify", "init") else
                                           sgan if tool == "generate" else unet):
                 (copy_input(w, f / "w.pt"), truncate(f / "w.pt", 0.6), f / "w.pt")[2]),
                ("nan", lambda f, w=(morph if tool in ("classify", "init") else
                                     sgan if tool == "generate" else unet): _nan_weights(w, f / "w.pt")),
                ("empty", lambda f: ((f / "w.pt").write_bytes(b""), f / "w.pt")[1])):
            if tool == "deblend" and key != "nan":
                continue  # the older weights-* kinds cover the deblenders
            cmd_case("weights-state" if key == "nan" else "weights-garbage", f"weights-{key}@{tool}", make,
                     argv_of, outputs_of)
    # a morph-cnn or SGAN card that lies
    for key, edit in (("morph-classes", lambda c: c.update(classes=["a", "b", "c", "d", "e", "f"])),
                      ("morph-base-zero", lambda c: c["kwargs"].update(base=0)),
                      ("morph-n-classes", lambda c: c["kwargs"].update(n_classes=4))):
        cmd_case("weights-card", f"weights-card-{key}@classify", lambda f, e=edit: _edit_card(morph, f / "w.pt", e),
                 *classify)
    for key, edit in (("sgan-no-scaling", lambda c: c.pop("scaling")),
                      ("sgan-scaling-nan", lambda c: c["scaling"].update(hi=[float("nan")])),
                      ("sgan-scaling-inverted", lambda c: c["scaling"].update(lo=[1.0], hi=[-1.0])),
                      ("sgan-scaling-kind", lambda c: c["scaling"].update(kind="log")),
                      ("sgan-channels-text", lambda c: c["kwargs"].update(channels="wide")),
                      ("sgan-bands-zero", lambda c: c["kwargs"].update(bands=0))):
        cmd_case("weights-card", f"weights-card-{key}@generate", lambda f, e=edit: _edit_card(sgan, f / "w.pt", e),
                 *generate)
    del torch


def _nan_weights(src: Path, dest: Path) -> Path:
    import torch

    d = torch.load(src, weights_only=True)
    key = next(k for k, v in d["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    d["state_dict"][key] = torch.full_like(d["state_dict"][key], float("nan"))
    torch.save(d, dest)
    return dest


def _edit_card(src: Path, dest: Path, edit: Callable[[dict], object]) -> Path:
    import torch

    d = torch.load(src, weights_only=True)
    edit(d["card"])
    torch.save(d, dest)
    return dest


# ----------------------------------------------------------------------- options of the newer commands
def _model_option_cases(b: Builder) -> None:
    data, field, sgan = str(b.good["data"]), str(b.good["field"]), str(b.good["weights_sgan"])
    morph = str(b.good["weights_morph"])

    def opt(kind: str, name: str, argv: list[str], mention: str | None = None,
            prepare: Callable[[Path], None] | None = None) -> None:
        c = b.option_case(kind, name, argv[0], argv[1:], mention=mention, prepare=prepare)
        c.inputs += [Path(p) for p in (data, field)]

    classify = ["classify", "-d", data, "--weights", morph, "--device", "cpu"]
    for key, extra, mention in (
            ("batch-zero", ["--batch_size", "0", "-o", "{f}/p.csv"], "--batch_size"),
            ("batch-nan", ["--batch_size", "nan", "-o", "{f}/p.csv"], "--batch_size"),
            ("mag-high-nan", ["--score", "catalog", "--mag_high", "nan", "-o", "{f}/p.csv"], "--mag_high"),
            ("score-missing", ["--score", "{f}/none.csv", "-o", "{f}/p.csv"], "none.csv"),
            ("device-absent", ["--device", "cuda", "-o", "{f}/p.csv"], "cuda"),
            ("out-folder", ["-o", "{f}"], "-o"),
            ("out-under-file", ["-o", "{f}/x.txt/p.csv"], "-o")):
        opt("opt-classify", f"classify-{key}", classify + extra, mention,
            prepare=(lambda f: (f / "x.txt").write_text("x")) if key == "out-under-file" else None)
    for key, extra, mention in (      # on a copy of the data: a command that overwrites it damages only that
            ("out-is-catalog", ["-o", "{f}/data/candels_cat.csv"], "-o"),
            ("workers-zero", ["-o", "{f}/m.csv", "--workers", "0"], "--workers"),
            ("workers-negative", ["-o", "{f}/m.csv", "--workers", "-3"], "--workers"),
            ("labels-is-catalog", ["-o", "{f}/m.csv", "--labels", "{f}/data/candels_cat.csv"], "--labels"),
            ("labels-is-output", ["-o", "{f}/m.csv", "--labels", "{f}/m.csv"], "--labels")):
        c = b.option_case("opt-morphology", f"morphology-{key}", "morphology", ["-d", "{f}/data", *extra],
                          mention=mention, prepare=lambda f: copy_input(b.good["data"], f / "data") and None)
        c.inputs.append(c.folder / "data")
    # outputs onto an input: each case works on its own copies (a command that overwrites one must not
    # damage the good inputs the other cases share)
    def copies(f: Path) -> None:
        copy_input(b.good["data"], f / "data")
        copy_input(b.good["weights_morph"], f / "morph.pt")
        copy_input(b.good["weights_sgan"], f / "sgan.pt")
        copy_input(b.good["field"], f / "field.fits")

    for name, argv in (
            ("classify-out-is-catalog", ["classify", "-d", "{f}/data", "--weights", "{f}/morph.pt", "--device", "cpu",
                                         "-o", "{f}/data/candels_cat.csv"]),
            ("classify-out-is-weights", ["classify", "-d", "{f}/data", "--weights", "{f}/morph.pt", "--device", "cpu",
                                         "-o", "{f}/morph.pt"]),
            ("classify-out-is-labels", ["classify", "-d", "{f}/data", "--weights", "{f}/morph.pt", "--device", "cpu",
                                        "--score", "{f}/data/labels.csv", "-o", "{f}/data/labels.csv"]),
            ("morph-train-out-is-labels", ["train", "--model", "morph-cnn", "--data", "{f}/data/labels.csv",
                                           "--stamps", "{f}/data", "-o", "{f}/data/labels.csv", "--epochs", "1"]),
            ("field-generate-out-is-model", ["field", "generate", "--model", "{f}/sgan.pt", "--size", "64",
                                             "-o", "{f}/sgan.pt", "--force"]),
            ("field-train-out-is-image", ["field", "train", "--image", "{f}/field.fits", "-o", "{f}/field.fits",
                                          "--epochs", "1", "--steps", "1"]),
            ("field-stamps-out-is-field", ["field", "stamps", "{f}/field.fits", "-o", "{f}/field.fits", "--force"])):
        f = b.folder(name)
        copies(f)
        b.add("output-is-input", name, f, [a.replace("{f}", str(f)) for a in argv], mention="-o",
              inputs=[f / "data", f / "morph.pt", f / "sgan.pt", f / "field.fits"])
    for key, extra, mention in (
            ("size-zero", ["--size", "0"], "--size"), ("size-negative", ["--size", "-64"], "--size"),
            ("size-huge", ["--size", "3000000"], "--size"), ("mags-inverted", ["--mag_bright", "29",
                                                                              "--mag_faint", "18"], "--mag"),
            ("sky-nan", ["--sky_sigma", "nan"], "--sky_sigma"), ("sky-negative", ["--sky_sigma", "-1"], "--sky_sigma"),
            ("exptime-zero", ["--exptime", "0"], "--exptime"), ("exptime-inf", ["--exptime", "inf"], "--exptime"),
            ("seed-negative", ["--seed", "-1"], "--seed"), ("mag-faint-50", ["--mag_faint", "50"], "--mag_faint")):
        opt("opt-field", f"field-simulate-{key}", ["field", "simulate", "-o", "{f}/f.fits", "--size", "64", *extra],
            mention)
    opt("output-path", "field-train-ckpt-is-folder", ["field", "train", "--image", field, "-o", "{f}/ck.pt",
                                                      "--epochs", "1", "--steps", "1", "--patch", "32"],
        "ck.pt.ckpt", prepare=lambda f: (f / "ck.pt.ckpt").mkdir())
    opt("output-path", "field-simulate-out-gz", ["field", "simulate", "-o", "{f}/f.fits.gz", "--size", "64"], "-o")
    opt("output-path", "field-generate-out-gz", ["field", "generate", "--model", sgan, "--size", "64",
                                                 "-o", "{f}/g.fits.gz", "--device", "cpu"], "-o")
    for key, extra, mention in (
            ("size-zero", ["--size", "0"], "--size"), ("size-malformed", ["--size", "64x"], "--size"),
            ("size-huge", ["--size", "3000000"], "--size"), ("tile-zero", ["--tile", "0"], "--tile"),
            ("seed-negative", ["--seed", "-5"], "--seed"), ("seed-nan", ["--seed", "nan"], "--seed")):
        opt("opt-field", f"field-generate-{key}", ["field", "generate", "--model", sgan, "--size", "64",
                                                   "-o", "{f}/g.fits", "--device", "cpu", *extra], mention)
    for key, extra, mention in (
            ("size-zero", ["--size", "0"], "--size"), ("size-huge", ["--size", "100000"], "--size"),
            ("thresh-nan", ["--thresh", "nan"], "--thresh"), ("thresh-negative", ["--thresh", "-1"], "--thresh"),
            ("minarea-zero", ["--minarea", "0"], "--minarea"), ("max-zero", ["--max", "0"], "--max"),
            ("zeropoint-inf", ["--zeropoint", "inf"], "--zeropoint"), ("mag-max-nan", ["--mag_max", "nan"],
                                                                      "--mag_max")):
        opt("opt-field", f"field-stamps-{key}", ["field", "stamps", field, "-o", "{f}/st", *extra], mention)
    for key, extra, mention in (
            ("patch-odd", ["--patch", "30"], "--patch"), ("patch-zero", ["--patch", "0"], "--patch"),
            ("patch-huge", ["--patch", "100000"], "--patch"), ("lr-inf", ["--lr", "inf"], "--lr"),
            ("lr-negative", ["--lr", "-1"], "--lr"), ("lr-d-nan", ["--lr_d", "nan"], "--lr_d"),
            ("epochs-zero", ["--epochs", "0"], "--epochs"), ("steps-zero", ["--steps", "0"], "--steps"),
            ("batch-zero", ["--batch_size", "0"], "--batch_size"), ("d-steps-zero", ["--d_steps", "0"], "--d_steps"),
            ("threads-zero", ["--threads", "0"], "--threads"), ("band-no-cube", ["--band", "2"], "--band"),
            ("image-and-hdf", ["--hdf"], "--hdf"), ("resume-nothing", ["--resume"], "ckpt")):
        opt("opt-field", f"field-train-{key}", ["field", "train", "--image", field, "-o", "{f}/sg.pt", "--epochs", "1",
                                                "--steps", "1", "--batch_size", "1", "--patch", "32", "--threads", "1",
                                                "--device", "cpu", *extra], mention)
    for key, extra, mention in (
            ("thresh-nan", ["--thresh", "nan"], "--thresh"), ("minarea-negative", ["--minarea", "-1"], "--minarea"),
            ("plots-onto-file", ["--plots", "{f}/field.fits"], "--plots")):
        opt("opt-field", f"field-compare-{key}", ["field", "compare", field, field, "--json", *extra], mention,
            prepare=lambda f: copy_input(b.good["field"], f / "field.fits") and None)
    for key, extra, mention in (
            ("n-zero", ["-n", "0"], "-n"), ("n-negative", ["-n", "-4"], "-n"), ("n-huge", ["-n", "1000000000000"], "-n")):
        opt("opt-sample", f"sample-morph-{key}", ["make-sample-data", "--morphology", "-o", "{f}/m", *extra], mention)
    _sweep10_cases(b, opt, field)


def _sweep10_cases(b: Builder, opt: Callable[..., None], field: str) -> None:
    """Cases the session-10 sweeps found: outputs that replaced what was not theirs, checkpoints that were not."""
    train = ["field", "train", "--image", field, "-o", "{f}/m.pt", "--epochs", "2", "--steps", "1", "--batch_size",
             "1", "--patch", "32", "--threads", "1", "--device", "cpu"]

    def keep_file(name: str, text: str) -> Callable[[Path], None]:
        return lambda f: (f / name).write_text(text) and None

    opt("output-path", "field-simulate-out-png", ["field", "simulate", "-o", "{f}/f.png", "--size", "64"], "-o")
    c = b.option_case("output-path", "field-train-out-exists", "field", train[1:], mention="--force",
                      prepare=keep_file("m.pt", "someone's notes\n"))
    c.inputs.append(c.folder / "m.pt")
    c = b.option_case("opt-field", "field-train-resume-junk-ckpt", "field", [*train[1:], "--resume"],
                      mention="checkpoint", prepare=keep_file("m.pt.ckpt", "junk\n"))
    c.inputs.append(c.folder / "m.pt.ckpt")

    def foreign_store(f: Path) -> None:
        (f / "notes.zarr" / "sub").mkdir(parents=True)
        (f / "notes.zarr" / "sub" / "thesis.txt").write_text("keep me\n")

    c = b.option_case("output-path", "deblend-out-foreign-store", "deblend",
                      ["--model", "sep", "-o", "{f}/notes.zarr"], mention="-o", prepare=foreign_store)
    c.inputs.append(c.folder / "notes.zarr")
    c = b.option_case("output-path", "deblend-out-foreign-h5", "deblend", ["--model", "sep", "-o", "{f}/other.h5"],
                      mention="-o", prepare=keep_file("other.h5", "not results\n"))
    c.inputs.append(c.folder / "other.h5")
    _sample_output_cases(b)


def _sample_output_cases(b: Builder) -> None:
    """make-sample-data onto a user's stamp set or into a blend export (both were written over without a word)."""
    def stamps_there(f: Path) -> None:
        copy_input(b.good["data"], f / "s")

    def export_there(f: Path) -> None:
        copy_input(b.good["out"], f / "out")

    for name, prepare, target in (("sample-over-stamp-set", stamps_there, "s"),
                                  ("sample-into-export", export_there, "out")):
        c = b.option_case("output-path", name, "make-sample-data", ["-n", "2", "--workers", "1", "-o",
                                                                    f"{{f}}/{target}"], mention="-o",
                          prepare=prepare)
        c.inputs.append(c.folder / target)
