"""Bad exports: HDF5, FITS and npy exports, manifests, their specs and arrays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .builder import (Builder, copy_input, flip_bytes, garbage, truncate)


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
    # another run's blends.h5 beside this run's manifest (its splits and specs describe other blends)
    b.export_case("manifest-mismatch", "manifest-of-another-run", from_good(
        op=lambda d: shutil.copy(b.good["out_arrays"] / "blends.h5", d / "blends.h5")), mention="manifest")
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
            from candels_gui.core.blending.engine import BlendEngine
            from candels_gui.core.data.load import load_stampset
            from candels_gui.core.jobs import run_job
            from candels_gui.core.store.export import export, read_export

            npy = f / "npyexp"
            specs = read_export(b.good["out"], split="train").specs
            run_job(export(npy, BlendEngine(load_stampset(b.good["data"])), {"train": specs[:6], "test": specs[6:]}))
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
