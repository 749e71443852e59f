"""Bad weights, sessions and special files (pipes, devices, loops of links)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .builder import (Builder, copy_input, garbage, session_dict, truncate)


def _special_file_cases(b: Builder) -> None:
    """Pipes, devices and loops of links where files are expected: refused at once, never a hang."""
    import os

    def fifo(f: Path, name: str) -> Path:
        p = f / name
        os.mkfifo(p)
        return p

    def loop(f: Path, name: str) -> Path:
        p = f / name
        os.symlink(p, p)
        return p

    def data_with(special):
        def make(f):
            d = b.bad_candels(f)
            (d / "candels_img.npy").unlink()
            special(d, "candels_img.npy")
            return d
        return make
    b.data_case("special-files", "special-fifo-images", data_with(fifo))
    b.data_case("special-files", "special-loop-images", data_with(loop))
    b.data_case("special-files", "special-devzero-images",
                data_with(lambda d, n: os.symlink("/dev/zero", d / n)))
    b.data_case("special-files", "special-fifo-catalog", lambda f: (
        (d := b.bad_candels(f)) / "candels_cat.csv").unlink() or fifo(d, "candels_cat.csv") and d)
    for name, make in (("fifo", fifo), ("loop", loop)):
        f = b.folder(f"special-{name}-session")
        p = make(f, "session.json")
        b.add("special-files", f"special-{name}-session", f, loader="session", target=p)
        f = b.folder(f"special-{name}-weights")
        p = make(f, "w.pt")
        b.add("special-files", f"special-{name}-weights", f, loader="weights", target=p)
        f = b.folder(f"special-{name}-manifest")
        d = copy_input(b.good["out"], f / "out")
        (d / "manifest.json").unlink()
        make(d, "manifest.json")
        b.add("special-files", f"special-{name}-manifest", f,
              ["evaluate", "--data", str(d), "--deblenders", "photutils", "-o", str(f / "m")], outputs=[f / "m"])
    for cmd in ("evaluate", "deblend", "train", "concatenate"):
        f = b.folder(f"special-fifo-export@{cmd}")
        p = fifo(f, "blends.h5")
        argv = {"evaluate": ["evaluate", "--data", str(p), "--deblenders", "photutils"],
                "deblend": ["deblend", "--model", "photutils", "--data", str(p), "-o", str(f / "r.h5")],
                "train": ["train", "--model", "unet-seg", "--data", str(p), "-o", str(f / "w.pt")],
                "concatenate": ["concatenate", "-d", str(f), "-m", "ogg_masks"]}[cmd]
        b.add("special-files", f"special-fifo-export@{cmd}", f, argv, outputs=[f / "r.h5", f / "w.pt"])
    b.option_case("special-files", "special-loop-output", "produce", ["-o", "{f}/loop"], mention="loop",
                  prepare=lambda f: os.symlink(f / "loop", f / "loop"))
    b.option_case("output-path", "produce-out-name-too-long", "produce", ["-o", "{f}/" + "x" * 300])
    # a training checkpoint that is garbage, or of another model, given to --resume
    for key, content in (("garbage", b"\x00" * 100), ("text", b"checkpoint")):
        c = b.option_case("train-resume", f"train-resume-{key}", "train", ["-o", "{f}/w.pt", "--epochs", "1",
                                                                           "--resume"], mention="w.pt.ckpt")
        (c.folder / "w.pt.ckpt").write_bytes(content)
        c.inputs.append(c.folder / "w.pt.ckpt")
    import torch
    c = b.option_case("train-resume", "train-resume-wrong-types", "train", ["-o", "{f}/w.pt", "--epochs", "1",
                                                                           "--resume"], mention="w.pt.ckpt")
    torch.save({"name": "unet-seg", "epoch": "three", "model": {}, "optim": {}, "rng": {}, "torch_rng": None,
                "history": [], "best_val": 1.0, "best_epoch": 0, "best_state": None, "bad": 0},
               c.folder / "w.pt.ckpt")
    # a catalog written by a spreadsheet: UTF-8 with a byte-order mark (read, not refused)
    f = b.folder("cat-bom")
    d = b.bad_candels(f)
    (d / "candels_cat.csv").write_bytes(b"\xef\xbb\xbf" + (d / "candels_cat.csv").read_bytes())
    b.add("cat-file", "cat-bom", f, ["produce", "-d", str(d), "-n", "6", "-t", "0.5", "-o", str(f / "out")],
          expect="ok", inputs=[d])


def _weights_cases(b: Builder) -> None:
    import torch

    good = b.good["weights_unet-seg"]

    def wfile(fn):
        def make(f):
            p = f / "w.pt"
            fn(p)
            return p
        return make

    def blob_edit(edit, replace=False):
        def fn(p):
            blob = torch.load(good, weights_only=True)
            r = edit(blob)          # edits the blob in place; ``replace``: the edit returns the new content
            torch.save(r if replace else blob, p)
        return fn
    b.weights_case("weights-garbage", "w-garbage", wfile(lambda p: garbage(p, 3000)))
    b.weights_case("weights-garbage", "w-empty", wfile(lambda p: p.write_bytes(b"")))
    b.weights_case("weights-garbage", "w-truncated", wfile(lambda p: (shutil.copy(good, p), truncate(p, 0.5))))
    b.weights_case("weights-garbage", "w-text", wfile(lambda p: p.write_text("these are not weights\n")))
    b.weights_case("weights-code", "w-pickled-module", wfile(lambda p: torch.save(torch.nn.Linear(2, 2), p)))

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))
    b.weights_case("weights-code", "w-pickle-reduce", wfile(lambda p: torch.save({"state_dict": {}, "card": Evil()}, p)))
    b.weights_case("weights-foreign", "w-bare-state-dict", wfile(lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p)))
    b.weights_case("weights-foreign", "w-tensor", wfile(lambda p: torch.save(torch.zeros(3), p)))
    b.weights_case("weights-foreign", "w-list", wfile(lambda p: torch.save([1, 2, 3], p)))
    b.weights_case("weights-foreign", "w-zip-not-torch", wfile(lambda p: __import__("zipfile").ZipFile(p, "w").writestr(
        "a.txt", "zip")))
    cards = {
        "card-not-dict": lambda bl: bl.__setitem__("card", [1, 2]),
        "card-no-arch": lambda bl: bl["card"].pop("architecture"),
        "card-arch-int": lambda bl: bl["card"].__setitem__("architecture", 7),
        "card-arch-unknown": lambda bl: bl["card"].__setitem__("architecture", "resnet-9000"),
        "card-kwargs-list": lambda bl: bl["card"].__setitem__("kwargs", [2, 1]),
        "card-kwargs-text": lambda bl: bl["card"]["kwargs"].__setitem__("base", "wide"),
        "card-kwargs-neg": lambda bl: bl["card"]["kwargs"].__setitem__("base", -2),
        "card-kwargs-huge": lambda bl: bl["card"]["kwargs"].__setitem__("base", 10**6),
        "card-kwargs-unknown": lambda bl: bl["card"]["kwargs"].__setitem__("colour", "red"),
        "card-norm-nan": lambda bl: bl["card"].__setitem__("normalisation", {"kind": "asinh", "scale": float("nan")}),
        "card-norm-zero": lambda bl: bl["card"].__setitem__("normalisation", {"kind": "asinh", "scale": 0.0}),
        "card-norm-kind": lambda bl: bl["card"].__setitem__("normalisation", {"kind": "log"}),
        "card-norm-list": lambda bl: bl["card"].__setitem__("normalisation", [1]),
        "card-version-text": lambda bl: bl["card"].__setitem__("format_version", "one"),
        "card-version-future": lambda bl: bl["card"].__setitem__("format_version", 99),
        "state-not-dict": lambda bl: bl.__setitem__("state_dict", [1]),
        "state-mismatch": lambda bl: bl.__setitem__("state_dict", torch.nn.Linear(2, 2).state_dict()),
        "state-nan": lambda bl: [t.fill_(float("nan")) for t in bl["state_dict"].values() if t.is_floating_point()],
        "state-inf": lambda bl: next(t for t in bl["state_dict"].values() if t.is_floating_point()).fill_(float("inf")),
        "state-int-tensors": lambda bl: bl.__setitem__("state_dict", {k: v.to(torch.int64)
                                                                     for k, v in bl["state_dict"].items()}),
        "other-tool": lambda bl: {"model": bl["state_dict"], "optimizer": {}, "epoch": 3},
    }
    for key, edit in cards.items():
        kind = "weights-card" if key.startswith("card") else "weights-state"
        b.weights_case(kind, f"w-{key}", wfile(blob_edit(edit, replace=key == "other-tool")),
                       commands=("deblend", "evaluate", "init", "load") if key in ("state-nan", "card-arch-int",
                                                                                   "other-tool")
                       else ("deblend", "load"))


def _session_cases(b: Builder) -> None:
    b.session_case("session-file", "s-garbage", text=bytes(range(256)) * 4)
    b.session_case("session-file", "s-empty", text="")
    b.session_case("session-file", "s-truncated", text=json.dumps(session_dict(b.good["session"]))[:200])
    b.session_case("session-file", "s-json-list", text="[1, 2, 3]")
    b.session_case("session-file", "s-json-null", text="null")
    b.session_case("session-file", "s-deep-nesting", text="[" * 100000 + "]" * 100000)
    b.session_case("session-file", "s-utf16", text=json.dumps(session_dict(b.good["session"])).encode("utf-16"))
    b.session_case("session-file", "s-folder", edit=None, text=None)
    sp = b.cases[-1].target
    sp.unlink()
    sp.mkdir()
    edits = {
        "format-wrong": lambda s: s.__setitem__("format", "glue-session"),
        "version-text": lambda s: s.__setitem__("version", "1"), "version-zero": lambda s: s.__setitem__("version", 0),
        "version-float": lambda s: s.__setitem__("version", 1.5), "version-bool": lambda s: s.__setitem__("version", True),
        "seed-text": lambda s: s.__setitem__("seed", "abc"), "seed-list": lambda s: s.__setitem__("seed", [1]),
        "seed-float": lambda s: s.__setitem__("seed", 4.7), "seed-huge": lambda s: s.__setitem__("seed", 10**40),
        "seed-negative": lambda s: s.__setitem__("seed", -5),
        "rules-list": lambda s: s.__setitem__("rules", [1]), "rules-text": lambda s: s.__setitem__("rules", "x"),
        "rules-field-text": lambda s: s["rules"].__setitem__("mag_diff", "abc"),
        "rules-field-nan": lambda s: s["rules"].__setitem__("rad_diff", float("nan")),
        "rules-field-unknown": lambda s: s["rules"].__setitem__("warp_speed", 9),
        "rules-flux-inf": lambda s: s["rules"].__setitem__("flux_ratio", [float("inf"), float("inf")]),
        "filter-list": lambda s: s.__setitem__("filter", [1]),
        "filter-field-text": lambda s: s["filter"].__setitem__("mag_low", "dim"),
        "filter-types-text": lambda s: s["filter"].__setitem__("excluded_types", "irr"),
        "display-list": lambda s: s.__setitem__("display", [1, 2]),
        "display-text": lambda s: s.__setitem__("display", "bright"),
        "current-list": lambda s: s.__setitem__("current", [1, 2]),
        "current-id-text": lambda s: s.__setitem__("current", {"id1": "a", "id2": 2}),
        "current-dx-inf": lambda s: s.__setitem__("current", {"id1": 1, "id2": 2, "dx": float("inf")}),
        "queue-dict": lambda s: s.__setitem__("queue", {"a": 1}), "queue-text": lambda s: s.__setitem__("queue", "abc"),
        "queue-item-int": lambda s: s.__setitem__("queue", [1]),
        "queue-status-bogus": lambda s: s["queue"][0].__setitem__("status", "maybe"),
        "queue-spec-missing": lambda s: s["queue"][0].pop("spec"),
        "queue-spec-dx-nan": lambda s: s["queue"][0]["spec"].__setitem__("dx", float("nan")),
        "queue-spec-rot-inf": lambda s: s["queue"][0]["spec"].__setitem__("rotation", float("inf")),
        "queue-spec-flux-neg": lambda s: s["queue"][0]["spec"].__setitem__("flux_scale", -1.0),
        "queue-spec-id-float": lambda s: s["queue"][0]["spec"].__setitem__("id1", 1.5),
        "queue-spec-seed-text": lambda s: s["queue"][0]["spec"].__setitem__("seed", "x"),
        "queue-note-dict": lambda s: s["queue"][0].__setitem__("note", {"a": 1}),
        "current-item-text": lambda s: s.__setitem__("current_item", "0"),
        "random-index-text": lambda s: s.__setitem__("random_index", "many"),
        "random-index-neg": lambda s: s.__setitem__("random_index", -4),
        "data-not-dict": lambda s: s.__setitem__("data", "data"),
        "data-path-int": lambda s: s["data"].__setitem__("path", 5),
        "data-hash-list": lambda s: s["data"].__setitem__("hash", [1]),
    }
    for key, edit in edits.items():
        b.session_case("session-field", f"s-{key}", edit=edit)
    # blends naming galaxies the data does not hold; another data hash
    b.session_case("session-data", "s-unknown-galaxy-queue", edit=lambda s: (s["data"].__setitem__("hash", None),
                   s["queue"][0]["spec"].__setitem__("id2", 987654321)))
    b.session_case("session-data", "s-unknown-galaxy-current", edit=lambda s: (s["data"].__setitem__("hash", None),
                   s.__setitem__("current", {"id1": 1, "id2": 2, "dx": 1.0})))
    b.session_case("session-data", "s-other-data-hash", edit=lambda s: s["data"].__setitem__("hash", "0" * 64))
    b.session_case("path-escape", "s-data-dotdot", edit=lambda s: s["data"].__setitem__("path", "../../../../../../etc"))
    b.session_case("path-escape", "s-data-absolute", edit=lambda s: s["data"].__setitem__("path", "/etc"))
