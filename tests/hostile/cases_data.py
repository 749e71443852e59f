"""Bad stamp sets: npy, FITS and GalSim inputs, pixels, labels and catalogs."""

from __future__ import annotations

import numpy as np

from .builder import (Builder, copy_input, flip_bytes, garbage, sample_arrays, truncate)


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
    # the documented repair: --nan_policy replace, said in a warning
    f = b.folder("pix-one-nan-replaced")
    d = with_pixels(lambda a: a.__setitem__((3, 10, 10), np.nan))(f)
    b.add("pixels-nonfinite", "pix-one-nan-replaced", f, ["produce", "-d", str(d), "-n", "6", "-t", "0.5",
                                                          "--nan_policy", "replace", "-o", str(f / "out")],
          expect="warn", inputs=[d])
    f = b.folder("pix-stamp-nan-replaced")   # a whole NaN stamp becomes constant: refused even so
    d = with_pixels(lambda a: a.__setitem__(5, np.nan))(f)
    b.add("pixels-nonfinite", "pix-stamp-nan-replaced", f, ["produce", "-d", str(d), "-n", "6", "-t", "0.5",
                                                            "--nan_policy", "replace", "-o", str(f / "out")],
          inputs=[d], outputs=[f / "out"])
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
    square = np.ascontiguousarray(np.moveaxis(img[:32, 16:48, 16:48], 0, -1))  # (H, W, N), all 32
    b.data_case("fits-layout", "fits-channels-last-square", fits_file(lambda: fits.HDUList([fits.PrimaryHDU(square)])))
    b.data_case("npy-shape", "npy-channels-last-square", arrays(
        images=np.ascontiguousarray(np.moveaxis(img[:, 16:48, 16:48], 0, -1)),
        segmaps=np.ascontiguousarray(np.moveaxis(seg[:, 16:48, 16:48], 0, -1)), lines_=lines))
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

    # stamps that are not galaxies, and rows that share one (each refused with the file and row named)
    def edit_hdu(k, fn):
        def op(p):
            with fits.open(p) as h:
                hdus = [hdu.copy() for hdu in h]
            hdus[k] = fits.ImageHDU(fn(np.asarray(hdus[k].data, dtype=np.float64)))
            p.unlink()
            fits.HDUList([fits.PrimaryHDU()] + hdus[1:]).writeto(p)
        return op
    b.data_case("galsim-stamps", "galsim-stamp-zero", galsim(edit_images=edit_hdu(4, lambda a: np.zeros_like(a))))
    b.data_case("galsim-stamps", "galsim-stamp-1x1", galsim(edit_images=edit_hdu(2, lambda a: np.ones((1, 1)))))
    b.data_case("galsim-stamps", "galsim-stamp-negated", galsim(edit_images=edit_hdu(4, lambda a: -a)))
    b.data_case("pixels-degenerate", "pix-stamp-negated", with_pixels(lambda a: a.__setitem__(5, -a[5])))

    def same_hdu(t, cols):
        return fits.BinTableHDU.from_columns([fits.Column(c.name, c.format, array=np.ones(len(t), np.int64)
                                                          if c.name == "GAL_HDU" else np.array(t[c.name]))
                                              for c in cols])
    b.data_case("galsim-refs", "galsim-rows-share-hdu", galsim(same_hdu))
    # unusable noise variances and pixel scales: measured / unknown instead, said in a warning
    b.data_case("galsim-values", "galsim-variance-negative", galsim(set_field("NOISE_VARIANCE", -1.0)), expect="warn")
    b.data_case("galsim-values", "galsim-variance-nan", galsim(set_field("NOISE_VARIANCE", float("nan"))),
                expect="warn")

    def with_scale(value):
        def edit(t, cols):
            return fits.BinTableHDU.from_columns([fits.Column(c.name, c.format, array=np.array(t[c.name]))
                                                  for c in cols]
                                                 + [fits.Column("PIXEL_SCALE", "D", array=np.full(len(t), value))])
        return edit
    b.data_case("galsim-values", "galsim-pixel-scale-zero", galsim(with_scale(0.0)), expect="warn")
