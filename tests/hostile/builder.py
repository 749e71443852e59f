"""The corpus builder's machinery: how files are damaged, and :class:`Builder`, which gives every case its
own folder and hands a bad input to each command that reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .fixtures import build_good, build_good_models, copy_input, sample_arrays, session_dict, write_candels
from .harness import Case

__all__ = ["Builder", "DEAD_PID", "truncate", "garbage", "flip_bytes", "copy_input", "sample_arrays",
           "session_dict", "write_candels"]

#: A process id above Linux's largest (4194304): the "killed run" that left stale temporaries.
DEAD_PID = 4_194_305 + 12_345


# ------------------------------------------------------------------------------------- mutilation
def truncate(path: Path, frac: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * frac)])


def garbage(path: Path, n: int = 4096, seed: int = 0) -> None:
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


def flip_bytes(path: Path, at: float, n: int = 64, seed: int = 1) -> None:
    data = bytearray(path.read_bytes())
    a = int(len(data) * at)
    data[a:a + n] = np.random.default_rng(seed).integers(0, 256, min(n, len(data) - a), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:  # a name too long for the file system
        return False


class Builder:
    """Collects cases; each gets its own folder under ``root/cases``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.good = build_good_models(root / "good", build_good(root / "good"))
        self.cases: list[Case] = []
        self.outside = root / "outside.secret"
        self.outside.write_text("a file outside every case folder\n")

    def folder(self, name: str) -> Path:
        f = self.root / "cases" / name
        f.mkdir(parents=True)
        return f

    def add(self, kind: str, name: str, folder: Path, argv: list[str] | None = None, **kw) -> Case:
        case = Case(kind=kind, name=name, folder=folder, argv=argv, **kw)
        self.cases.append(case)
        return case

    # ---- input families: make a bad input in a folder, then hand it to several commands
    def data_case(self, kind: str, name: str, make: Callable[[Path], Path], *, loader: bool = True,
                  mention: str | None = None, expect: str = "error") -> None:
        """A bad stamp set, given to ``produce`` and to ``load_stampset``."""
        f = self.folder(name)
        path = make(f)
        out = f / "out"
        self.add(kind, name, f, ["produce", "-d", str(path), "-n", "6", "-t", "0.5", "-o", str(out)],
                 outputs=[out], inputs=[path], mention=mention, expect=expect)
        if loader:
            self.add(kind, name + "@load", f, loader="stampset", target=path, inputs=[path], mention=mention,
                     expect=expect)

    def bad_candels(self, f: Path, *, images=None, segmaps=None, lines=None) -> Path:
        img, seg, cat = sample_arrays()
        return write_candels(f / "data", img if images is None else images, seg if segmaps is None else segmaps,
                             cat if lines is None else lines)

    def export_case(self, kind: str, name: str, make: Callable[[Path], Path], *,
                    commands: tuple[str, ...] = ("concatenate", "evaluate", "deblend", "train", "export"),
                    mention: str | None = None) -> None:
        """A bad produce output / export, given to every command that reads one."""
        for cmd in commands:
            f = self.folder(f"{name}@{cmd}")
            path = make(f)          # the export folder (or file)
            folder = path if path.is_dir() else path.parent
            h5 = folder / "blends.h5" if path.is_dir() else path
            if cmd == "concatenate":
                argv = ["concatenate", "-d", str(folder), "-m", "ogg_masks"]
                outputs = [folder / "train_images.npy", folder / "train_labels.npy"]
            elif cmd == "evaluate":
                argv = ["evaluate", "--data", str(path), "--deblenders", "photutils", "--split", "train",
                        "-o", str(f / "metrics")]
                outputs = [f / "metrics"]
            elif cmd == "deblend":
                argv = ["deblend", "--model", "unet-seg", "--weights", str(self.good["weights_unet-seg"]),
                        "--data", str(path), "--split", "train", "-o", str(f / "res.h5")]
                outputs = [f / "res.h5"]
            elif cmd == "train":
                argv = ["train", "--model", "unet-seg", "--data", str(h5), "-o", str(f / "w.pt"),
                        "--epochs", "1", "--base", "2", "--depth", "1", "--threads", "1"]
                outputs = [f / "w.pt"]
            else:
                self.add(kind, f"{name}@{cmd}", f, loader="export", target=path, inputs=[folder], mention=mention)
                continue
            self.add(kind, f"{name}@{cmd}", f, argv, outputs=outputs, inputs=[folder], mention=mention)

    def weights_case(self, kind: str, name: str, make: Callable[[Path], Path], *,
                     commands: tuple[str, ...] = ("deblend", "evaluate", "init", "load")) -> None:
        """A bad weights file, given to deblend --weights, evaluate --weights, train --init and the loader."""
        for cmd in commands:
            f = self.folder(f"{name}@{cmd}")
            w = make(f)
            data = copy_input(self.good["out"], f / "out")
            if cmd == "deblend":
                argv = ["deblend", "--model", "unet-seg", "--weights", str(w), "--data", str(data),
                        "-o", str(f / "res.h5")]
                outputs = [f / "res.h5"]
            elif cmd == "evaluate":
                argv = ["evaluate", "--data", str(data), "--weights", str(w), "-o", str(f / "metrics")]
                outputs = [f / "metrics"]
            elif cmd == "init":
                argv = ["train", "--model", "unet-seg", "--data", str(data / "blends.h5"), "--init", str(w),
                        "-o", str(f / "new.pt"), "--epochs", "1", "--threads", "1"]
                outputs = [f / "new.pt"]
            else:
                self.add(kind, f"{name}@{cmd}", f, loader="weights", target=w, inputs=[w])
                continue
            self.add(kind, f"{name}@{cmd}", f, argv, outputs=outputs, inputs=[w, data])

    def session_case(self, kind: str, name: str, edit: Callable[[dict], object] | None = None,
                     text: str | bytes | None = None) -> None:
        f = self.folder(name)
        data = copy_input(self.good["data"], f / "data")
        s = session_dict(self.good["session"])
        s["data"]["path"] = "data"
        if edit is not None:
            r = edit(s)              # edits in place; an edit may instead return a whole new object
            s = r if isinstance(r, dict) else s
        path = f / "session.json"
        if text is None:
            path.write_text(json.dumps(s))
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        self.add(kind, name, f, loader="session", target=path, inputs=[path, data])

    def option_case(self, kind: str, name: str, command: str, extra: list[str], *, mention: str | None = None,
                    expect: str = "error", timeout: float = 60.0, prepare: Callable[[Path], None] | None = None
                    ) -> Case:
        """``command`` with good inputs and the bad options ``extra`` (``{f}`` = the case folder)."""
        f = self.folder(name)
        if prepare is not None:
            prepare(f)
        extra = [a.replace("{f}", str(f)) for a in extra]
        inputs: list[Path] = []
        if command == "produce":
            data = copy_input(self.good["data"], f / "data")
            out = f / "out"
            argv = ["produce", "-d", str(data), "-n", "4", "-o", str(out), *extra]
            outputs, inputs = [out], [data]
        elif command in ("concatenate", "convert"):
            out = copy_input(self.good["out"], f / "out")
            argv = [command, "-d", str(out), *extra] + (["-m", "ogg_masks"] if command == "concatenate"
                                                       and "-m" not in extra else [])
            outputs = [out / "train_images.npy", out / "train_flux.npy"]
            # concatenate records its label method in manifest.json (by design): only blends.h5 is input
            inputs = [out / "blends.h5"] + ([out / "manifest.json"] if command == "convert" else [])
        elif command == "evaluate":
            data = copy_input(self.good["out"], f / "out")
            argv = ["evaluate", "--data", str(data), *extra]
            outputs, inputs = [], [data]
        elif command == "deblend":
            data = copy_input(self.good["out"], f / "out")
            argv = ["deblend", "--data", str(data), *extra]
            outputs, inputs = [f / "res.h5"], [data]
        elif command == "train":
            data = copy_input(self.good["out"], f / "out")
            argv = ["train", "--model", "unet-seg", "--data", str(data / "blends.h5"), "--base", "2",
                    "--depth", "1", "--threads", "1", *extra]
            outputs, inputs = [f / "w.pt"], [data]
        else:
            argv = [command, *extra]
            outputs = []
        outputs += [Path(a) for a in extra if a.startswith(str(f)) and not _exists(Path(a))]
        return self.add(kind, name, f, argv, outputs=outputs, inputs=inputs, mention=mention, expect=expect,
                        timeout=timeout)


