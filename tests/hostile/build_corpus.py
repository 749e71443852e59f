"""Build the hostile corpus: >= 300 bad inputs of >= 40 kinds, each with the command that gets it.

``build(root)`` writes the good inputs (:mod:`.fixtures`), then one folder per case under
``root/cases``, and returns the list of :class:`~.harness.Case`. Nothing here is committed as data:
every file is made at test time from the bundled sample data.

Think as an attacker and as a careless user: truncated, corrupted and foreign files in every format,
values that are NaN, infinite, negative, huge or of the wrong type in every option and every file field,
outputs that are files, under files, not writable, or the input itself, paths in files that point
outside their folder, wrapped labels, degenerate stamps, stale temporaries of killed runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .fixtures import build_good, copy_input, sample_arrays, session_dict, write_candels
from .harness import Case

__all__ = ["build", "DEAD_PID"]

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
        self.good = build_good(root / "good")
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
            r = edit(s)
            s = s if r is None else r
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


# ------------------------------------------------------------------------------------------- cases
def _data_cases(b: Builder) -> None:
    img, seg, lines = sample_arrays()
    b.data_case("data-missing", "data-nonexistent", lambda f: f / "nothing-here")
    b.data_case("data-missing", "data-empty-folder", lambda f: (f / "empty").mkdir() or f / "empty")
    b.data_case("data-missing", "data-text-file", lambda f: (f / "notes.txt").write_text("hi") and f / "notes.txt")
    b.data_case("data-missing", "data-only-images", lambda f: (b.bad_candels(f) / "candels_seg.npy").unlink()
                or f / "data")

    def trunc(which: str, frac: float):
        def make(f):
            d = b.bad_candels(f)
            truncate(d / which, frac)
            return d
        return make
    for which in ("candels_img.npy", "candels_seg.npy"):
        for frac in (0.0, 0.01, 0.3, 0.7, 0.999):
            b.data_case("npy-truncated", f"npy-trunc-{which[8:11]}-{frac}", trunc(which, frac))

    def garb(which: str, seed: int):
        def make(f):
            d = b.bad_candels(f)
            garbage(d / which, 5000, seed)
            return d
        return make
    for which in ("candels_img.npy", "candels_seg.npy"):
        for seed in (0, 1):
            b.data_case("npy-garbage", f"npy-garbage-{which[8:11]}-{seed}", garb(which, seed))

    def header(which: str, old: bytes, new: bytes):
        def make(f):
            d = b.bad_candels(f)
            data = (d / which).read_bytes()
            (d / which).write_bytes(data.replace(old, new, 1))
            return d
        return make
    b.data_case("npy-header", "npy-header-huge-shape", header("candels_img.npy", b"(32, 64, 64)", b"(32000000,64,64)"))
    b.data_case("npy-header", "npy-header-fortran", header("candels_img.npy", b"'fortran_order': False",
                                                           b"'fortran_order': True "))
    b.data_case("npy-header", "npy-header-dtype-object", header("candels_img.npy", b"'<f4'", b"'|O' "))
    b.data_case("npy-header", "npy-header-junk", header("candels_img.npy", b"'descr'", b"'dexcr'"))

    def arrays(images=None, segmaps=None, lines_=None):
        return lambda f: b.bad_candels(f, images=images, segmaps=segmaps, lines=lines_)
    b.data_case("npy-dtype", "npy-dtype-complex", arrays(images=img.astype(np.complex64)))
    b.data_case("npy-dtype", "npy-dtype-string", arrays(images=np.full(img.shape, "a", "U1")))
    b.data_case("npy-dtype", "npy-dtype-datetime", arrays(images=np.zeros(img.shape, "datetime64[s]")))
    b.data_case("npy-dtype", "npy-dtype-bool", arrays(images=img > 0))
    b.data_case("npy-dtype", "npy-dtype-structured",
                arrays(images=np.zeros(img.shape, dtype=[("a", "f4"), ("b", "f4")])))
    b.data_case("npy-shape", "npy-shape-2d", arrays(images=img[0]))
    b.data_case("npy-shape", "npy-shape-4d", arrays(images=img[:, None]))
    b.data_case("npy-shape", "npy-shape-seg-size", arrays(segmaps=seg[:, :32, :32]))
    b.data_case("npy-shape", "npy-shape-seg-count", arrays(segmaps=seg[:20]))
    b.data_case("npy-shape", "npy-shape-cat-rows", arrays(lines_=lines[:20]))
    b.data_case("npy-shape", "npy-shape-empty-cube", arrays(images=img[:0], segmaps=seg[:0], lines_=lines[:1]))
    b.data_case("npy-shape", "npy-shape-tiny-stamps", arrays(images=img[:, 31:33, 31:33], segmaps=seg[:, 31:33, 31:33]))
    b.data_case("npy-shape", "npy-shape-nonsquare", arrays(images=img[:, :, 8:56], segmaps=seg[:, :, 8:56]))
    b.data_case("npy-shape", "npy-shape-one-stamp", arrays(images=img[:1], segmaps=seg[:1], lines_=lines[:2]),
                loader=False)

    def with_pixels(fn):
        im = img.copy()
        fn(im)
        return arrays(images=im)
    b.data_case("pixels-nonfinite", "pix-one-nan", with_pixels(lambda a: a.__setitem__((3, 10, 10), np.nan)))
    b.data_case("pixels-nonfinite", "pix-stamp-nan", with_pixels(lambda a: a.__setitem__(5, np.nan)))
    b.data_case("pixels-nonfinite", "pix-posinf", with_pixels(lambda a: a.__setitem__((0, 32, 32), np.inf)))
    b.data_case("pixels-nonfinite", "pix-neginf", with_pixels(lambda a: a.__setitem__((7, 1, 1), -np.inf)))
    b.data_case("pixels-nonfinite", "pix-f64-overflow",
                arrays(images=np.where(np.arange(img.size).reshape(img.shape) == 100, 1e300, img.astype(np.float64))))
    b.data_case("pixels-degenerate", "pix-stamp-zero", with_pixels(lambda a: a.__setitem__(4, 0.0)))
    b.data_case("pixels-degenerate", "pix-all-zero", with_pixels(lambda a: a.__setitem__(slice(None), 0.0)))
    b.data_case("pixels-degenerate", "pix-stamp-constant", with_pixels(lambda a: a.__setitem__(2, 7.5)))
    b.data_case("pixels-degenerate", "pix-huge-values", with_pixels(lambda a: a.__setitem__(1, 3e38)))

    # segmentation
    wrapped = seg.astype(np.uint8)
    b.data_case("seg-wrapped", "seg-uint8-with-segval", arrays(segmaps=wrapped))
    no_segval = [",".join(ln.split(",")[:-1]) for ln in lines]
    b.data_case("seg-wrapped", "seg-uint8-no-segval", arrays(segmaps=wrapped, lines_=no_segval))
    b.data_case("seg-wrapped", "seg-int8-no-segval", arrays(segmaps=seg.astype(np.int8), lines_=no_segval))
    renamed = [no_segval[0].replace("ID,", "NUMBER,")] + no_segval[1:]
    b.data_case("seg-wrapped", "seg-uint8-number-col", arrays(segmaps=wrapped, lines_=renamed))
    b.data_case("seg-bad", "seg-float-nonint", arrays(segmaps=seg.astype(np.float32) + 0.5))
    b.data_case("seg-bad", "seg-float-nan", arrays(segmaps=np.where(seg == 0, np.nan, seg).astype(np.float32)))
    b.data_case("seg-bad", "seg-negative", arrays(segmaps=-seg))
    b.data_case("seg-bad", "seg-int64-huge", arrays(segmaps=seg.astype(np.int64) * 2**40))
    b.data_case("seg-bad", "seg-centre-zero", arrays(segmaps=np.where(np.arange(32)[:, None, None] == 3, 0, seg)))
    b.data_case("seg-bad", "seg-all-zero", arrays(segmaps=np.zeros_like(seg)))
    b.data_case("seg-bad", "seg-complex", arrays(segmaps=seg.astype(np.complex64)))

    # catalogs
    def cat(transform):
        return arrays(lines_=transform(list(lines)))
    head = lines[0].split(",")

    def drop_col(name):
        k = head.index(name)
        return lambda ls: [",".join(c for j, c in enumerate(ln.split(",")) if j != k) for ln in ls]

    def set_col(name, value, rows=None):
        k = head.index(name)

        def t(ls):
            out = [ls[0]]
            for r, ln in enumerate(ls[1:]):
                cells = ln.split(",")
                if rows is None or r in rows:
                    cells[k] = value
                out.append(",".join(cells))
            return out
        return t
    b.data_case("cat-columns", "cat-no-id", cat(drop_col("ID")))
    b.data_case("cat-columns", "cat-no-mag", cat(drop_col("mag")))
    b.data_case("cat-ids", "cat-dup-ids", cat(set_col("ID", "123", rows={0, 1})))
    b.data_case("cat-ids", "cat-id-float", cat(set_col("ID", "1.5", rows={2})))
    b.data_case("cat-ids", "cat-id-empty", cat(set_col("ID", "", rows={2})))
    b.data_case("cat-ids", "cat-id-text", cat(set_col("ID", "abc", rows={2})))
    b.data_case("cat-ids", "cat-id-huge", cat(set_col("ID", "99999999999999999999999", rows={2})))
    b.data_case("cat-values", "cat-mag-text", cat(set_col("mag", "bright", rows={1})))
    b.data_case("cat-values", "cat-mag-nan-all", cat(set_col("mag", "nan")))
    b.data_case("cat-values", "cat-mag-inf", cat(set_col("mag", "inf", rows={0, 4})))
    b.data_case("cat-values", "cat-mag-huge", cat(set_col("mag", "1e308", rows={0})))
    # "not measured" sentinels (-99): read as NaN with a warning, the galaxies left out of the pairs
    b.data_case("cat-values", "cat-radius-negative", cat(set_col("radius", "-99", rows={0, 1, 2})), expect="warn")
    b.data_case("cat-values", "cat-radius-some-nan", cat(set_col("radius", "nan", rows={0, 2, 4, 6})),
                expect="warn")
    b.data_case("cat-values", "cat-radius-inf", cat(set_col("radius", "inf", rows={0})))
    b.data_case("cat-values", "cat-z-text", cat(set_col("z", "high", rows={0})))
    b.data_case("cat-values", "cat-radius-all-nan", cat(set_col("radius", "nan")))
    b.data_case("cat-file", "cat-header-only", cat(lambda ls: ls[:1]))
    b.data_case("cat-file", "cat-empty", lambda f: (b.bad_candels(f) / "candels_cat.csv").write_text("") or f / "data")
    b.data_case("cat-file", "cat-binary", lambda f: garbage(b.bad_candels(f) / "candels_cat.csv", 3000) or f / "data")
    b.data_case("cat-file", "cat-ragged", cat(lambda ls: ls[:5] + [ls[5] + ",1,2,3"] + ls[6:]))
    b.data_case("cat-file", "cat-unbalanced-quote", cat(lambda ls: ls[:3] + ['"' + ls[3]] + ls[4:]))
    b.data_case("cat-file", "cat-latin1", lambda f: (b.bad_candels(f) / "candels_cat.csv").write_bytes(
        ("\n".join(lines).replace(",irr", ",irr\xe9", 2) + "\n").encode("latin-1")) and f / "data")
    b.data_case("cat-file", "cat-folder", lambda f: ((d := b.bad_candels(f)) / "candels_cat.csv").unlink()
                or (d / "candels_cat.csv").mkdir() or d)

    # FITS
    from astropy.io import fits

    def fits_file(make_hdul):
        def make(f):
            p = f / "stamps.fits"
            make_hdul().writeto(p)
            return p
        return make
    b.data_case("fits-layout", "fits-channels-last", fits_file(lambda: fits.HDUList([fits.PrimaryHDU(
        np.ascontiguousarray(np.moveaxis(img, 0, -1)))])))
    b.data_case("fits-layout", "fits-4d", fits_file(lambda: fits.HDUList([fits.PrimaryHDU(img[None])])))
    b.data_case("fits-layout", "fits-1d", fits_file(lambda: fits.HDUList([fits.PrimaryHDU(img[0, 0])])))
    b.data_case("fits-layout", "fits-no-data", fits_file(lambda: fits.HDUList([fits.PrimaryHDU()])))
    b.data_case("fits-layout", "fits-table-only", fits_file(lambda: fits.HDUList(
        [fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "D", array=np.ones(3))])])))
    b.data_case("pixels-nonfinite", "fits-nan-stamp", fits_file(lambda: fits.HDUList(
        [fits.PrimaryHDU(np.where(np.arange(32)[:, None, None] == 2, np.nan, img).astype(np.float32))])))
    b.data_case("pixels-degenerate", "fits-zero-stamp", fits_file(lambda: fits.HDUList(
        [fits.PrimaryHDU(np.where(np.arange(32)[:, None, None] == 2, 0, img).astype(np.float32))])))

    def fits_broken(op):
        def make(f):
            p = copy_input(b.good["fits"], f / "stamps.fits")
            op(p)
            return p
        return make
    for frac in (0.0, 0.002, 0.5, 0.9):
        b.data_case("fits-truncated", f"fits-trunc-{frac}", fits_broken(lambda p, fr=frac: truncate(p, fr)))
    b.data_case("fits-garbage", "fits-garbage", fits_broken(lambda p: garbage(p, 20000)))
    b.data_case("fits-garbage", "fits-header-flipped", fits_broken(lambda p: flip_bytes(p, 0.0002, 80)))
    b.data_case("fits-garbage", "fits-naxis-lie", fits_broken(
        lambda p: p.write_bytes(p.read_bytes().replace(b"NAXIS3  =                   32", b"NAXIS3  =                 3200", 1))))

    # GalSim catalogs
    def galsim(edit_table=None, edit_images=None):
        def make(f):
            d = copy_input(b.good["galsim"], f / "galsim")
            if edit_table is not None:
                with fits.open(d / "real_galaxy_catalog_test.fits") as h:
                    t = h[1].data.copy()
                    cols = h[1].columns
                t = edit_table(t, cols)
                if t is not None:
                    (d / "real_galaxy_catalog_test.fits").unlink()
                    t.writeto(d / "real_galaxy_catalog_test.fits")
            if edit_images is not None:
                edit_images(d / "gal_images.fits")
            return d
        return make

    def set_field(col, value, fmt="40A"):
        def edit(t, cols):
            arrays_ = {c.name: np.array(t[c.name]) for c in cols}
            v = arrays_[col].copy()
            if col.endswith("FILENAME"):
                v = np.array([value] * len(v))
                fmt_ = fmt
            else:
                v = v.astype(type(value)) if not isinstance(value, float) else v.astype(float)
                v[0] = value
                fmt_ = "D" if isinstance(value, float) else "K"
            new = [fits.Column(c.name, fmt_ if c.name == col else c.format, array=v if c.name == col
                               else arrays_[c.name]) for c in cols]
            return fits.BinTableHDU.from_columns(new)
        return edit
    outside = str(b.outside)
    b.data_case("path-escape", "galsim-dotdot", galsim(set_field("GAL_FILENAME", "../../../outside.secret")))
    b.data_case("path-escape", "galsim-absolute", galsim(set_field("GAL_FILENAME", outside, "200A")))
    b.data_case("path-escape", "galsim-dotdot-fits", lambda f: (copy_input(b.good["fits"], f / "elsewhere.fits"),
                                                               galsim(set_field("GAL_FILENAME", "../elsewhere.fits"))(f))[1])
    b.data_case("galsim-refs", "galsim-missing-file", galsim(set_field("GAL_FILENAME", "nope.fits")))
    b.data_case("galsim-refs", "galsim-hdu-huge", galsim(set_field("GAL_HDU", 99999)))
    b.data_case("galsim-refs", "galsim-hdu-negative", galsim(set_field("GAL_HDU", -1)))
    b.data_case("galsim-refs", "galsim-hdu-zero-empty", galsim(set_field("GAL_HDU", 0)))
    b.data_case("galsim-refs", "galsim-mag-inf", galsim(set_field("MAG", float("inf"))))
    b.data_case("galsim-refs", "galsim-images-truncated", galsim(edit_images=lambda p: truncate(p, 0.5)))
    b.data_case("galsim-refs", "galsim-images-garbage", galsim(edit_images=lambda p: garbage(p, 9000)))
    b.data_case("galsim-refs", "galsim-catalog-truncated", lambda f: (
        truncate((d := galsim()(f)) / "real_galaxy_catalog_test.fits", 0.6), d)[1])
    b.data_case("galsim-refs", "galsim-no-columns", galsim(lambda t, cols: fits.BinTableHDU.from_columns(
        [fits.Column("IDENT", "K", array=np.array(t["IDENT"]))])))


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


def _export_cases(b: Builder) -> None:
    import h5py

    def from_good(which="out", op=None):
        def make(f):
            d = copy_input(b.good[which], f / "out")
            if op is not None:
                r = op(d)
                if isinstance(r, Path):
                    return r
            return d
        return make
    for frac in (0.0, 0.05, 0.5, 0.95):
        b.export_case("h5-truncated", f"h5-trunc-{frac}", from_good(op=lambda d, fr=frac: truncate(d / "blends.h5", fr)))
    b.export_case("h5-garbage", "h5-garbage", from_good(op=lambda d: garbage(d / "blends.h5", 50000)))
    b.export_case("h5-garbage", "h5-magic-then-garbage", from_good(op=lambda d: (d / "blends.h5").write_bytes(
        b"\x89HDF\r\n\x1a\n" + bytes(4000))))
    b.export_case("h5-garbage", "h5-flipped-middle", from_good(op=lambda d: flip_bytes(d / "blends.h5", 0.5, 4096)))

    def h5_edit(fn, which="out"):
        def op(d):
            with h5py.File(d / "blends.h5", "r+") as h:
                fn(h)
        return from_good(which, op)
    b.export_case("h5-structure", "h5-empty-hdf5", from_good(op=lambda d: h5py.File(d / "blends.h5", "w").close()))
    b.export_case("h5-structure", "h5-no-specs", h5_edit(lambda h: h["train"].pop("specs")))
    b.export_case("h5-structure", "h5-no-library", h5_edit(lambda h: h.pop("stamp_library")))
    b.export_case("h5-structure", "h5-specs-not-json", h5_edit(lambda h: (h["train"].pop("specs"),
                  h["train"].create_dataset("specs", data=np.array([b"{not json"] * 10, dtype=object),
                                            dtype=h5py.string_dtype()))))
    b.export_case("h5-structure", "h5-specs-numbers", h5_edit(lambda h: (h["train"].pop("specs"),
                  h["train"].create_dataset("specs", data=np.arange(10.0)))))
    b.export_case("h5-structure", "h5-splits-attr-bad", h5_edit(lambda h: h.attrs.__setitem__("splits", "[1, {}")))
    b.export_case("h5-structure", "h5-splits-attr-escape", h5_edit(lambda h: h.attrs.__setitem__(
        "splits", json.dumps(["../train", "test"]))))
    b.export_case("h5-structure", "h5-library-shape", h5_edit(lambda h: (h["stamp_library"].pop("images"),
                  h["stamp_library"].create_dataset("images", data=np.zeros((18, 64), np.float32)))))
    b.export_case("h5-structure", "h5-arrays-masks-shape", h5_edit(lambda h: (h["train"].pop("masks"),
                  h["train"].create_dataset("masks", data=np.zeros((10, 64, 64), np.uint8))), "out_arrays"))
    b.export_case("h5-structure", "h5-version-future", h5_edit(lambda h: h.attrs.__setitem__("format_version", 99)))
    b.export_case("h5-structure", "h5-version-text", h5_edit(lambda h: h.attrs.__setitem__("format_version", "two")))

    def spec_edit(**change):
        def fn(h):
            specs = [json.loads(s) for s in h["train"]["specs"].asstr()[...]]
            specs[1].update(change)
            h["train"]["specs"][...] = np.array([json.dumps(s) for s in specs], dtype=object)
        return h5_edit(fn)
    b.export_case("h5-specs", "h5-spec-missing-galaxy", spec_edit(id2=123456789))
    b.export_case("h5-specs", "h5-spec-dx-inf", spec_edit(dx=float("inf")))
    b.export_case("h5-specs", "h5-spec-dx-nan", spec_edit(dx=float("nan")))
    b.export_case("h5-specs", "h5-spec-flux-scale-inf", spec_edit(flux_scale=1e308 * 10))
    b.export_case("h5-specs", "h5-spec-dx-huge", spec_edit(dx=1e12))
    b.export_case("h5-specs", "h5-spec-id-text", spec_edit(id1="galaxy"))

    def lib_pixels(fn):
        def edit(h):
            a = h["stamp_library"]["images"][...]
            fn(a)
            h["stamp_library"]["images"][...] = a
        return h5_edit(edit)
    b.export_case("h5-nonfinite", "h5-library-nan", lib_pixels(lambda a: a.__setitem__(0, np.nan)))
    b.export_case("h5-nonfinite", "h5-library-inf", lib_pixels(lambda a: a.__setitem__((1, 5, 5), np.inf)))
    b.export_case("h5-degenerate", "h5-library-zero", lib_pixels(lambda a: a.__setitem__(slice(None), 0)))

    def arr_pixels(name, fn):
        def edit(h):
            a = h["train"][name][...]
            fn(a)
            h["train"][name][...] = a
        return h5_edit(edit, "out_arrays")
    b.export_case("h5-nonfinite", "h5-arrays-images-nan", arr_pixels("blend_images", lambda a: a.__setitem__(0, np.nan)))
    b.export_case("h5-nonfinite", "h5-arrays-isolated-inf",   # concatenate's masks and unet-seg don't read them
                  arr_pixels("isolated_images", lambda a: a.__setitem__((2, 0, 3, 3), np.inf)),
                  commands=("evaluate", "deblend", "export"))
    b.export_case("h5-nonfinite", "h5-fluxes-nan", h5_edit(lambda h: h["train"]["fluxes"].__setitem__(
        (0, 0), np.nan)), commands=("evaluate", "train", "export"))

    # the manifest's data file pointing elsewhere
    def manifest_points(target_of):
        def make(f):
            d = copy_input(b.good["out"], f / "out")
            m = json.loads((d / "manifest.json").read_text())
            m["data_file"] = target_of(f)
            (d / "manifest.json").write_text(json.dumps(m))
            return d
        return make
    b.export_case("path-escape", "manifest-dotdot", manifest_points(
        lambda f: (copy_input(b.good["out"] / "blends.h5", f / "elsewhere.h5"), "../elsewhere.h5")[1]),
        commands=("evaluate", "deblend", "export"))
    b.export_case("path-escape", "manifest-absolute", manifest_points(lambda f: str(b.outside)),
                  commands=("evaluate", "deblend", "export"))
    b.export_case("export-manifest", "manifest-garbage", from_good(op=lambda d: garbage(d / "manifest.json", 300)),
                  commands=("evaluate", "deblend", "export"))
    b.export_case("export-manifest", "manifest-json-list", from_good(op=lambda d: (d / "manifest.json").write_text("[1]")),
                  commands=("evaluate", "deblend", "export"))
    # npy exports
    def npy_export(op):
        def make(f):
            d = copy_input(b.good["out"], f / "out")
            from candels_gui.cli import main
            import contextlib, io
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                main(["concatenate", "-d", str(d), "-m", "ogg_masks"])
            npy = f / "npyexp"
            from candels_gui.core.store.export import read_export  # noqa: F401
            from candels_gui.core.data.load import load_stampset
            from candels_gui.core.blending.engine import BlendEngine
            from candels_gui.core.store.export import export
            from candels_gui.core.jobs import run_job
            from candels_gui.core.store.export import read_export as _r
            specs = _r(d, split="train").specs
            run_job(export(npy, BlendEngine(load_stampset(b.good["data"])), {"train": specs[:6], "test": specs[6:]}))
            shutil.rmtree(d)
            op(npy)
            return npy
        return make
    b.export_case("npy-export", "npyexp-images-truncated", npy_export(lambda d: truncate(d / "train_images.npy", 0.5)),
                  commands=("evaluate", "export"))
    b.export_case("npy-export", "npyexp-labels-garbage", npy_export(lambda d: garbage(d / "train_labels.npy", 900)),
                  commands=("evaluate", "export"))
    b.export_case("npy-export", "npyexp-images-nan", npy_export(lambda d: np.save(
        d / "train_images.npy", np.full(np.load(d / "train_images.npy").shape, np.nan, np.float32))),
        commands=("evaluate", "export"))

    def npy_split_escape(d: Path) -> None:
        m = json.loads((d / "manifest.json").read_text())
        m["splits"][0]["name"] = "../../x"
        (d / "manifest.json").write_text(json.dumps(m))
    b.export_case("path-escape", "npyexp-split-escape", npy_export(npy_split_escape), commands=("evaluate", "export"))

    # FITS exports (evaluate, deblend and read_export read them)
    from astropy.io import fits as afits

    def fits_export(op):
        def make(f):
            p = copy_input(b.good["fits_export"], f / "exp" / "blends.fits")
            shutil.copy(b.good["fits_export"].with_name("fits_export.fits.manifest.json"),
                        p.with_name("blends.fits.manifest.json.orig"))  # not its manifest: names differ
            op(p)
            return p
        return make

    def fits_edit(fn):
        def op(p):
            with afits.open(p, mode="update") as h:
                fn(h)
        return fits_export(op)
    fcmds = ("evaluate", "deblend", "export")
    for frac in (0.0, 0.3, 0.9):
        b.export_case("fitsexp-truncated", f"fitsexp-trunc-{frac}", fits_export(lambda p, fr=frac: truncate(p, fr)),
                      commands=fcmds)
    b.export_case("fitsexp-garbage", "fitsexp-garbage", fits_export(lambda p: garbage(p, 30000)), commands=fcmds)
    b.export_case("fitsexp-structure", "fitsexp-no-format", fits_edit(lambda h: h[0].header.remove("CGFORMAT")),
                  commands=fcmds)
    b.export_case("fitsexp-structure", "fitsexp-splits-bad", fits_edit(lambda h: h[0].header.__setitem__(
        "SPLITS", "[1, 2")), commands=fcmds)
    b.export_case("fitsexp-structure", "fitsexp-blend-shape", fits_edit(lambda h: h.__setitem__(
        "TRAIN_BLEND", afits.ImageHDU(np.zeros((6, 10), np.float32), name="TRAIN_BLEND"))), commands=fcmds)
    b.export_case("fitsexp-structure", "fitsexp-no-isolated", fits_edit(lambda h: h.__delitem__("TRAIN_ISOLATED")),
                  commands=fcmds)
    b.export_case("fitsexp-nonfinite", "fitsexp-blend-nan", fits_edit(
        lambda h: h["TRAIN_BLEND"].data.__setitem__((0, 5, 5), np.nan)), commands=fcmds)
    b.export_case("fitsexp-nonfinite", "fitsexp-isolated-inf", fits_edit(
        lambda h: h["TRAIN_ISOLATED"].data.__setitem__((1, 0, 5, 5), np.inf)), commands=fcmds)

    # concatenate's own outputs blocked / stale
    def blocked(d: Path) -> None:
        (d / "train_images.npy").mkdir()
    b.export_case("output-path", "concat-output-is-folder", from_good(op=blocked), commands=("concatenate",))


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
    b.session_case("path-escape", "s-data-dotdot", edit=lambda s: s["data"].__setitem__("path", "../../../../../../etc"))
    b.session_case("path-escape", "s-data-absolute", edit=lambda s: s["data"].__setitem__("path", "/etc"))


def build(root: str | Path) -> list[Case]:
    """Write the corpus under ``root`` (which must not exist or be empty) and return its cases."""
    root = Path(root)
    b = Builder(root)
    _data_cases(b)
    _produce_option_cases(b)
    _export_cases(b)
    _command_option_cases(b)
    _weights_cases(b)
    _session_cases(b)
    _special_file_cases(b)
    # controls: good inputs must still work (guards the corpus against a harness that fails everything)
    f = b.folder("control-produce")
    b.add("control", "control-produce", f, ["produce", "-d", str(b.good["data"]), "-n", "4", "-o", str(f / "out")],
          expect="ok")
    f = b.folder("control-concatenate")
    d = copy_input(b.good["out"], f / "out")
    b.add("control", "control-concatenate", f, ["concatenate", "-d", str(d), "-m", "bogg_masks"], expect="ok")
    f = b.folder("control-session")
    b.add("control", "control-session", f, loader="session", target=b.good["session"], expect="ok")
    f = b.folder("control-weights")
    b.add("control", "control-weights", f, loader="weights", target=b.good["weights_unet-seg"], expect="ok")
    f = b.folder("control-fits")
    b.add("control", "control-fits", f, ["produce", "-d", str(b.good["fits"]), "-n", "4", "-o", str(f / "out")],
          expect="ok")
    f = b.folder("control-galsim")
    b.add("control", "control-galsim", f, ["produce", "-d", str(b.good["galsim"]), "-n", "4", "-t", "0.5",
                                           "-o", str(f / "out")], expect="ok")
    names = [c.name for c in b.cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return b.cases
