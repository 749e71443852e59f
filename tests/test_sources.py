"""Readers -> StampSet: candels-blender npy, FITS stamps, GalSim/COSMOS catalogs, and their errors."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from candels_gui.core.errors import Cancelled, DataError
from candels_gui.core.jobs import CancelToken, Progress
from candels_gui.core.data.stampset import GALTYPES, STANDARD_COLUMNS, StampSet
from candels_gui.core.data.load import (detect_kind, load_stampset, read_candels_blender, read_fits_stamps,
                                        read_galsim_catalog)

COSMOS = Path(__file__).resolve().parents[2] / "shared" / "real" / "cosmos_hst"
CANDELS_HEADER = ["ID", "RA", "DEC", "FIELD", "mag", "mag_err", "radius", "z", "galtype", "segval"]


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def blob(size: int, amp: float, cy: float, cx: float, s: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))


def disc(size: int, cy: int, cx: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def make_stamps(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stamps with a central blob and a neighbour; segmentation with labels above 255."""
    rng = np.random.default_rng(seed)
    c = size // 2
    imgs = rng.normal(0.0, 0.01, (n, size, size))
    segs = np.zeros((n, size, size), dtype=np.int32)
    labels = 300 + 700 * np.arange(n)
    for i in range(n):
        imgs[i] += blob(size, 1.0 + i, c, c) + blob(size, 0.5, 5, 5, 1.5)
        segs[i][disc(size, 5, 5, 3)] = 7
        segs[i][disc(size, c, c, 5)] = labels[i]
    return imgs.astype(np.float32), segs, labels


def write_candels(folder: Path, n: int = 4, size: int = 32, *, img_dtype=np.float32, seg_dtype=np.int32,
                  header=CANDELS_HEADER, rows=None) -> tuple[np.ndarray, np.ndarray, list[list]]:
    folder.mkdir(parents=True, exist_ok=True)
    imgs, segs, labels = make_stamps(n, size)
    np.save(folder / "candels_img.npy", imgs.astype(img_dtype))
    np.save(folder / "candels_seg.npy", segs.astype(seg_dtype))
    if rows is None:
        rows = [[1000 + i, 53.1 + i * 1e-3, -27.8, "GDS", 22.0 + 0.5 * i, 0.05, 3.0 + i, 1.2,
                 GALTYPES[i % 4], int(labels[i])] for i in range(n)]
    with open(folder / "candels_cat.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return imgs, segs, rows


# ------------------------------------------------------------------ candels-blender
def test_candels_blender_loads_memmapped_with_int32_labels_above_255(tmp_path):
    imgs, segs, rows = write_candels(tmp_path / "cb")
    st = read_candels_blender(tmp_path / "cb")
    assert isinstance(st, StampSet) and len(st) == 4
    assert isinstance(st.images, np.memmap) and st.images.dtype == np.float32
    assert st.segmaps.dtype == np.int32
    np.testing.assert_array_equal(st.images, imgs)
    np.testing.assert_array_equal(st.segmaps, segs)
    assert list(st.central_labels()) == [300, 1000, 1700, 2400]
    for col in (*STANDARD_COLUMNS, "field", "mag_err"):
        assert col in st.catalog.colnames
    assert list(st.catalog["id"]) == [1000, 1001, 1002, 1003]
    assert list(st.catalog["segval"]) == [300, 1000, 1700, 2400]
    assert list(st.catalog["galtype"]) == ["irr", "disk", "sph", "sphd"]
    assert st.catalog["field"][0] == "GDS"
    assert st.catalog["mag"][2] == pytest.approx(23.0)
    assert st.meta["input_hashes"] == {n: sha(tmp_path / "cb" / n)
                                       for n in ("candels_img.npy", "candels_seg.npy", "candels_cat.csv")}
    assert st.source == str(tmp_path / "cb")


def test_candels_float64_is_converted_and_mmap_off_loads_in_memory(tmp_path):
    imgs, _, _ = write_candels(tmp_path / "cb", img_dtype=np.float64, seg_dtype=np.int64)
    st = read_candels_blender(tmp_path / "cb")
    assert st.images.dtype == np.float32 and not isinstance(st.images, np.memmap)
    assert st.segmaps.dtype == np.int32
    np.testing.assert_allclose(st.images, imgs, rtol=1e-6)
    st2 = read_candels_blender(tmp_path / "cb", mmap=False)
    assert not isinstance(st2.segmaps, np.memmap)


def test_candels_uint8_segmentation_with_large_segval_is_refused(tmp_path):
    write_candels(tmp_path / "cb", seg_dtype=np.uint8)  # 300 -> 44, 1000 -> 232: wrapped
    with pytest.raises(DataError, match=r"uint8.*wrapped.*255") as err:
        read_candels_blender(tmp_path / "cb")
    assert "candels_seg.npy" in str(err.value) and "2400" in str(err.value)


def test_candels_uint8_segmentation_with_small_labels_becomes_int32(tmp_path):
    folder = tmp_path / "cb"
    imgs, segs, rows = write_candels(folder, n=2)
    segs = np.where(segs > 0, np.where(segs == 7, 7, 200), 0).astype(np.uint8)
    np.save(folder / "candels_seg.npy", segs)
    for r in rows:
        r[-1] = 200
    write_candels(folder, n=2, rows=rows)
    np.save(folder / "candels_seg.npy", segs)
    st = read_candels_blender(folder)
    assert st.segmaps.dtype == np.int32 and list(st.central_labels()) == [200, 200]


@pytest.mark.parametrize("name", ["candels_img.npy", "candels_seg.npy", "candels_cat.csv"])
def test_candels_missing_file_is_named(tmp_path, name):
    write_candels(tmp_path / "cb")
    (tmp_path / "cb" / name).unlink()
    with pytest.raises(DataError, match=name):
        load_stampset(tmp_path / "cb", kind="candels-blender")


def test_candels_length_mismatches(tmp_path):
    folder = tmp_path / "cb"
    imgs, segs, rows = write_candels(folder)
    np.save(folder / "candels_seg.npy", segs[:3])
    with pytest.raises(DataError, match=r"candels_seg.npy holds 3 .* holds 4"):
        read_candels_blender(folder)
    np.save(folder / "candels_seg.npy", segs)
    write_candels(folder, rows=rows[:2])
    with pytest.raises(DataError, match=r"candels_cat.csv has 2 rows .* 4 images"):
        read_candels_blender(folder)


def test_candels_wrong_ndim_and_shape(tmp_path):
    folder = tmp_path / "cb"
    imgs, segs, _ = write_candels(folder)
    np.save(folder / "candels_img.npy", imgs[0])
    with pytest.raises(DataError, match=r"candels_img.npy.*\(N, H, W\).*\(32, 32\)"):
        read_candels_blender(folder)
    np.save(folder / "candels_img.npy", imgs)
    np.save(folder / "candels_seg.npy", segs[:, :30, :30])
    with pytest.raises(DataError, match=r"shape \(4, 30, 30\).*\(4, 32, 32\)"):
        read_candels_blender(folder)


def test_candels_missing_required_column_lists_found(tmp_path):
    header = [h if h != "mag" else "flux" for h in CANDELS_HEADER]
    write_candels(tmp_path / "cb", header=header)
    with pytest.raises(DataError, match=r"lacks required column\(s\) \['mag'\]; found .*'flux'"):
        read_candels_blender(tmp_path / "cb")
    st = read_candels_blender(tmp_path / "cb", column_map={"flux": "mag"})  # any column can be mapped
    assert st.catalog["mag"][0] == pytest.approx(22.0)


def test_candels_nan_pixels_error_or_replace(tmp_path):
    folder = tmp_path / "cb"
    imgs, _, _ = write_candels(folder)
    imgs[1, 0, 0] = np.nan
    imgs[1, 3, 4] = np.inf
    imgs[3, 9, 9] = np.nan
    np.save(folder / "candels_img.npy", imgs)
    with pytest.raises(DataError, match=r"candels_img.npy: 3 NaN/inf pixel\(s\) in 2 stamp\(s\).*1, 3"):
        read_candels_blender(folder)
    st = read_candels_blender(folder, nan_policy="replace")
    assert st.meta["nonfinite_replaced"] == 3
    assert np.isfinite(st.images).all() and st.images[1, 0, 0] == 0 and st.images[3, 9, 9] == 0
    assert np.isnan(np.load(folder / "candels_img.npy")[1, 0, 0])  # the file is untouched
    with pytest.raises(ValueError, match="nan_policy"):
        read_candels_blender(folder, nan_policy="ignore")


def test_candels_unlabelled_centre_names_index_and_id(tmp_path):
    folder = tmp_path / "cb"
    _, segs, _ = write_candels(folder)
    segs[2][segs[2] == 1700] = 0
    np.save(folder / "candels_seg.npy", segs)
    with pytest.raises(DataError, match=r"unlabelled.*index 2 \(ID 1002\)"):
        read_candels_blender(folder)
    st = read_candels_blender(folder, allow_unlabelled=True)
    assert st.meta["unlabelled_centres"] == 1 and st.catalog["segval"][2] == 1700


def test_candels_duplicate_ids_are_named(tmp_path):
    folder = tmp_path / "cb"
    _, _, rows = write_candels(folder)
    rows[2][0] = rows[3][0] = 77
    write_candels(folder, rows=rows)
    with pytest.raises(DataError, match=r"duplicated ID.*77 \(x2\)"):
        read_candels_blender(folder)


def test_candels_corrupt_and_truncated_npy(tmp_path):
    folder = tmp_path / "cb"
    write_candels(folder)
    data = (folder / "candels_img.npy").read_bytes()
    (folder / "candels_img.npy").write_bytes(data[: len(data) // 2])
    for mmap in (True, False):
        with pytest.raises(DataError, match=r"cannot read image cube .*candels_img.npy.*truncated"):
            read_candels_blender(folder, mmap=mmap)
    (folder / "candels_img.npy").write_bytes(b"not a numpy file at all" * 10)
    with pytest.raises(DataError, match="candels_img.npy"):
        read_candels_blender(folder)


def test_candels_stamp_size_crops_as_view(tmp_path):
    imgs, segs, _ = write_candels(tmp_path / "cb", size=32)
    st = read_candels_blender(tmp_path / "cb", stamp_size=24)
    assert st.stamp_shape == (24, 24)
    np.testing.assert_array_equal(st.images, imgs[:, 4:28, 4:28])
    assert list(st.central_labels()) == [300, 1000, 1700, 2400]
    st = read_candels_blender(tmp_path / "cb", stamp_size=40)
    assert st.stamp_shape == (40, 40) and st.images[0, 0, 0] == 0
    np.testing.assert_array_equal(st.segmaps[:, 4:36, 4:36], segs)


# ------------------------------------------------------------------ FITS stamps
def write_cube(path: Path, data: np.ndarray) -> Path:
    fits.PrimaryHDU(data).writeto(path, overwrite=True)
    return path


def test_fits_cube_with_segmentation_catalog_and_column_map(tmp_path):
    imgs, segs, labels = make_stamps(3, 32)
    write_cube(tmp_path / "img.fits", imgs)
    write_cube(tmp_path / "seg.fits", segs)
    Table({"OBJNUM": [5, 6, 7], "F814W_TOT": [21.0, 22.0, 23.0], "CLASS": [0.1, 0.9, 0.5]}).write(
        tmp_path / "cat.fits")
    with pytest.raises(DataError, match=r"cat.fits: catalog lacks required column\(s\) \['id', 'mag'\]; "
                                        r"found \['OBJNUM', 'F814W_TOT', 'CLASS'\]"):
        read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg.fits", catalog=tmp_path / "cat.fits")
    st = read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg.fits", catalog=tmp_path / "cat.fits",
                          column_map={"OBJNUM": "id", "F814W_TOT": "mag"})
    assert st.images.dtype == np.float32 and st.segmaps.dtype == np.int32
    np.testing.assert_array_equal(st.images, imgs)
    np.testing.assert_array_equal(st.segmaps, segs)
    cat = st.catalog
    assert list(cat["id"]) == [5, 6, 7] and list(cat["mag"]) == [21.0, 22.0, 23.0]
    assert list(cat["CLASS"]) == [0.1, 0.9, 0.5]
    assert np.isnan(cat["ra"]).all() and np.isnan(cat["dec"]).all() and np.isnan(cat["z"]).all()
    assert list(cat["galtype"]) == ["unknown"] * 3
    assert list(cat["segval"]) == list(labels)
    assert np.all((cat["radius"] > 1.0) & (cat["radius"] < 5.0))  # half-light radius of a sigma=2 blob
    assert set(st.meta["input_hashes"]) == {"img.fits", "seg.fits", "cat.fits"}
    assert st.meta["segmentation"] == "file"
    with pytest.raises(DataError, match=r"column_map names column 'NOPE'.*found \['OBJNUM'"):
        read_fits_stamps(tmp_path / "img.fits", catalog=tmp_path / "cat.fits", column_map={"NOPE": "id"})


def test_fits_sextractor_names_are_recognised_and_csv_ecsv_catalogs(tmp_path):
    imgs, segs, _ = make_stamps(2, 32)
    write_cube(tmp_path / "img.fits", imgs)
    write_cube(tmp_path / "seg.fits", segs)
    t = Table({"NUMBER": [1, 2], "MAG_AUTO": [24.0, 25.0], "ALPHA_J2000": [150.1, 150.2],
               "FLUX_RADIUS": [2.5, 3.5]})
    for name, fmt in (("cat.csv", "ascii.csv"), ("cat.ecsv", "ascii.ecsv")):
        t.write(tmp_path / name, format=fmt)
        st = read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg.fits", catalog=tmp_path / name)
        assert list(st.catalog["id"]) == [1, 2] and list(st.catalog["mag"]) == [24.0, 25.0]
        assert list(st.catalog["ra"]) == [150.1, 150.2] and list(st.catalog["radius"]) == [2.5, 3.5]
        assert name in st.meta["input_hashes"]


def test_fits_folder_without_segmentation_or_catalog(tmp_path):
    folder = tmp_path / "stamps"
    folder.mkdir()
    rng = np.random.default_rng(3)
    amps = {"s_b.fits": 2.0, "s_a.fits": 1.0, "s_c.fits": 3.0}  # written out of order
    for name, amp in amps.items():
        img = blob(40, amp, 20, 20, 1.5) + rng.normal(0, 0.005, (40, 40))
        fits.PrimaryHDU(img.astype(np.float64)).writeto(folder / name)
    st = read_fits_stamps(folder, zeropoint=25.0)
    assert len(st) == 3 and st.stamp_shape == (40, 40)
    np.testing.assert_allclose(st.images[:, 20, 20], [1.0, 2.0, 3.0], atol=0.03)  # sorted by file name
    assert (st.central_labels() > 0).all()
    assert st.meta["segmentation"] == "photutils" and list(st.meta["seg_centre_fix"]) == ["detected"] * 3
    assert list(st.catalog["id"]) == [1, 2, 3]
    total = np.array([amp * 2 * np.pi * 1.5 ** 2 for amp in (1.0, 2.0, 3.0)])
    np.testing.assert_allclose(st.catalog["mag"], 25.0 - 2.5 * np.log10(total), atol=0.05)
    assert list(st.catalog["segval"]) == list(st.central_labels())
    assert set(st.meta["input_hashes"]) == set(amps)


def test_fits_stamps_stored_as_scaled_integers_are_read(tmp_path):
    """BSCALE/BZERO integer stamps (a common archive form) were refused as 'corrupt or truncated FITS': astropy
    cannot memory-map them."""
    folder = tmp_path / "scaled"
    folder.mkdir()
    rng = np.random.default_rng(4)
    truth = []
    for k, amp in enumerate((1.0, 2.0)):
        img = blob(40, amp, 20, 20, 1.5) + rng.normal(0, 0.005, (40, 40))
        hdu = fits.PrimaryHDU(img.astype(np.float64))
        hdu.scale("int16", bscale=1e-4)
        hdu.writeto(folder / f"s{k}.fits")
        truth.append(img)
    st = read_fits_stamps(folder, zeropoint=25.0)
    np.testing.assert_allclose(st.images, np.array(truth), atol=1e-4)   # the scaled values, to the quantum


def test_fits_errors(tmp_path):
    imgs, segs, _ = make_stamps(3, 32)
    cube = write_cube(tmp_path / "img.fits", imgs)
    data = cube.read_bytes()
    (tmp_path / "trunc.fits").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"trunc.fits: corrupt or truncated FITS"):
        read_fits_stamps(tmp_path / "trunc.fits")
    (tmp_path / "junk.fits").write_bytes(b"garbage " * 500)
    with pytest.raises(DataError, match=r"junk.fits: corrupt or truncated FITS"):
        read_fits_stamps(tmp_path / "junk.fits")
    with pytest.raises(DataError, match=r"not found.*missing.fits"):
        read_fits_stamps(tmp_path / "missing.fits")
    write_cube(tmp_path / "seg2.fits", segs[:2])
    with pytest.raises(DataError, match=r"seg2.fits holds 2 segmentation maps but .*img.fits holds 3"):
        read_fits_stamps(cube, segmaps=tmp_path / "seg2.fits")
    write_cube(tmp_path / "flat.fits", imgs.ravel())
    with pytest.raises(DataError, match=r"flat.fits must be a \(N, H, W\) cube.*\(3072,\)"):
        read_fits_stamps(tmp_path / "flat.fits")
    Table({"id": [1, 2, 3], "RA": [1.0, 2.0, 3.0]}).write(tmp_path / "nomag.fits")
    with pytest.raises(DataError, match=r"lacks required column\(s\) \['mag'\]; found \['id', 'RA'\]"):
        read_fits_stamps(cube, catalog=tmp_path / "nomag.fits")
    Table({"id": [1, 2], "mag": [1.0, 2.0]}).write(tmp_path / "short.csv", format="ascii.csv")
    with pytest.raises(DataError, match=r"short.csv has 2 rows but .*img.fits holds 3"):
        read_fits_stamps(cube, catalog=tmp_path / "short.csv")
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_cube(folder / "a.fits", imgs[0])
    write_cube(folder / "b.fits", imgs[1, :30, :30])
    with pytest.raises(DataError, match=r"b.fits has shape \(30, 30\) but a.fits has \(32, 32\)"):
        read_fits_stamps(folder)


def test_fits_uint8_segmentation_wrapped_labels(tmp_path):
    imgs, segs, labels = make_stamps(2, 32)
    write_cube(tmp_path / "img.fits", imgs)
    write_cube(tmp_path / "seg8.fits", (segs % 256).astype(np.uint8))
    Table({"id": [1, 2], "mag": [20.0, 21.0], "segval": labels}).write(tmp_path / "cat.fits")
    with pytest.raises(DataError, match=r"seg8.fits: segmentation is uint8 .* up to 1000.*wrapped"):
        read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg8.fits", catalog=tmp_path / "cat.fits")


def test_fits_nan_replaced_by_background(tmp_path):
    imgs, segs, _ = make_stamps(2, 32)
    imgs[0] += 5.0
    imgs[0, 1, 1] = np.nan
    write_cube(tmp_path / "img.fits", imgs)
    write_cube(tmp_path / "seg.fits", segs)
    with pytest.raises(DataError, match=r"img.fits: 1 NaN/inf pixel"):
        read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg.fits")
    st = read_fits_stamps(tmp_path / "img.fits", segmaps=tmp_path / "seg.fits", nan_policy="replace")
    assert st.images[0, 1, 1] == pytest.approx(5.0, abs=0.02) and st.meta["nonfinite_replaced"] == 1


# ------------------------------------------------------------------ GalSim catalogs
def write_galsim(folder: Path, *, variance: float = 1e-4, gal_hdus=(0, 1, 2)) -> dict:
    """Three galaxies: 21 px (blob 2 px right and 3 up of centre), 40 px, 80 px; two PSF sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    sig = np.sqrt(variance)
    stamps = [blob(21, 1.0, 10 - 3, 10 + 2, 1.5) + rng.normal(0, sig, (21, 21)),
              blob(40, 0.5, 20, 20, 3.0) + rng.normal(0, sig, (40, 40)),
              blob(80, 2.0, 40, 40, 4.0) + rng.normal(0, sig, (80, 80))]
    hdus = [fits.PrimaryHDU(stamps[0])] + [fits.ImageHDU(s) for s in stamps[1:]]
    fits.HDUList(hdus).writeto(folder / "gal_images.fits", overwrite=True)
    psfs = [blob(15, 1.0, 7, 7, 1.0), blob(11, 1.0, 5, 5, 1.0), blob(15, 1.0, 7, 7, 1.2)]
    fits.HDUList([fits.PrimaryHDU(psfs[0])] + [fits.ImageHDU(p) for p in psfs[1:]]).writeto(
        folder / "psf_images.fits", overwrite=True)
    cat = Table({"IDENT": [101, 205, 309], "RA": [150.0, 150.1, 150.2], "DEC": [2.1, 2.2, 2.3],
                 "MAG": [24.5, 23.0, 21.5], "BAND": ["F814W"] * 3, "GAL_FILENAME": ["gal_images.fits"] * 3,
                 "GAL_HDU": list(gal_hdus), "PSF_FILENAME": ["psf_images.fits"] * 3, "PSF_HDU": [0, 1, 2],
                 "PIXEL_SCALE": [0.03] * 3, "NOISE_VARIANCE": [variance] * 3})
    cat.write(folder / "real_galaxy_catalog_test.fits", overwrite=True)
    comp = Table({"IDENT": [309, 101, 205], "flux_radius": [5.0, 1.8, 3.4], "ZPHOT": [0.3, 1.1, 0.7]})
    comp.write(folder / "real_galaxy_catalog_test_fits.fits", overwrite=True)
    return {"stamps": stamps, "psfs": psfs}


def test_galsim_catalog_pads_crops_recentres_and_segments(tmp_path):
    folder = tmp_path / "gs"
    made = write_galsim(folder)
    st = read_galsim_catalog(folder / "real_galaxy_catalog_test.fits", stamp_size=48, seed=5)
    assert st.images.shape == (3, 48, 48) and st.images.dtype == np.float32
    assert st.segmaps.dtype == np.int32 and (st.central_labels() > 0).all()
    assert st.psfs.shape == (3, 15, 15) and st.psfs.dtype == np.float32
    np.testing.assert_allclose(st.psfs[1, 2:13, 2:13], made["psfs"][1], rtol=1e-6)
    assert st.pixel_scale == 0.03
    cat = st.catalog
    assert list(cat["id"]) == [101, 205, 309] and list(cat["mag"]) == [24.5, 23.0, 21.5]
    assert list(cat["radius"]) == [1.8, 3.4, 5.0] and list(cat["z"]) == pytest.approx([1.1, 0.7, 0.3])
    assert list(cat["galtype"]) == ["unknown"] * 3 and list(cat["segval"]) == list(st.central_labels())
    assert list(cat["BAND"]) == ["F814W"] * 3 and "NOISE_VARIANCE" in cat.colnames
    # the off-centre blob's light centre is moved onto the stamp centre
    assert np.unravel_index(np.argmax(st.images[0]), (48, 48)) == (24, 24)
    assert tuple(st.meta["centre_shift"][0]) == (-3, 2)
    # 21 px stamp padded with noise of the catalogued variance; 80 px stamp cropped
    pad = np.ones((48, 48), bool)
    pad[24 - 7:24 + 14, 24 - 12:24 + 9] = False
    assert np.std(st.images[0][pad]) == pytest.approx(1e-2, rel=0.1)
    assert list(st.meta["cropped"]) == [False, False, True]
    np.testing.assert_allclose(st.images[2], made["stamps"][2][16:64, 16:64], rtol=1e-6)
    # seeded padding: same seed -> same pixels, another seed -> other noise, same galaxy pixels
    again = read_galsim_catalog(folder, stamp_size=48, seed=5)
    np.testing.assert_array_equal(again.images, st.images)
    other = read_galsim_catalog(folder, stamp_size=48, seed=6)
    assert not np.array_equal(other.images[0][pad], st.images[0][pad])
    np.testing.assert_array_equal(other.images[0][~pad], st.images[0][~pad])
    assert st.meta["input_hashes"] == {n: sha(folder / n) for n in (
        "real_galaxy_catalog_test.fits", "real_galaxy_catalog_test_fits.fits", "gal_images.fits",
        "psf_images.fits")}


def test_galsim_errors(tmp_path):
    folder = tmp_path / "gs"
    write_galsim(folder, gal_hdus=(0, 1, 7))
    with pytest.raises(DataError, match=r"gal_images.fits: galaxy 309 \(row 2\) asks for image HDU 7 .* 3 HDUs"):
        read_galsim_catalog(folder, stamp_size=48)
    write_galsim(folder)
    (folder / "psf_images.fits").unlink()
    with pytest.raises(DataError, match=r"PSF file .*not found.*psf_images.fits"):
        read_galsim_catalog(folder, stamp_size=48)
    write_galsim(folder)
    data = (folder / "gal_images.fits").read_bytes()
    (folder / "gal_images.fits").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"gal_images.fits.*corrupt or truncated"):
        read_galsim_catalog(folder, stamp_size=48)
    write_galsim(folder)
    t = Table.read(folder / "real_galaxy_catalog_test.fits")
    t.remove_column("GAL_HDU")
    t.write(folder / "real_galaxy_catalog_test.fits", overwrite=True)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['GAL_HDU'\]; found \['IDENT'"):
        read_galsim_catalog(folder, stamp_size=48)
    write_galsim(folder)
    Table({"IDENT": [101, 205, 999], "flux_radius": [1.0, 2.0, 3.0]}).write(
        folder / "real_galaxy_catalog_test_fits.fits", overwrite=True)
    with pytest.raises(DataError, match=r"real_galaxy_catalog_test_fits.fits lacks IDENT \[309\]"):
        read_galsim_catalog(folder, stamp_size=48)
    (folder / "real_galaxy_catalog_test_fits.fits").unlink()  # the companion is optional
    t = Table.read(folder / "real_galaxy_catalog_test.fits")
    t["IDENT"] = [101, 205, 101]
    t.write(folder / "real_galaxy_catalog_test.fits", overwrite=True)
    with pytest.raises(DataError, match=r"real_galaxy_catalog_test.fits: 1 duplicated ID.*101 \(x2\)"):
        read_galsim_catalog(folder, stamp_size=48)
    t["IDENT"] = [101, 205, 309]
    t.write(folder / "real_galaxy_catalog_test.fits", overwrite=True)
    st = read_galsim_catalog(folder, stamp_size=48)
    assert np.isnan(st.catalog["z"]).all() and (st.catalog["radius"] > 0).all()


def test_galsim_nan_pixels(tmp_path):
    folder = tmp_path / "gs"
    made = write_galsim(folder)
    bad = made["stamps"][1].copy()
    bad[0, :4] = np.nan
    with fits.open(folder / "gal_images.fits", mode="update") as hdul:
        hdul[1].data = bad
    with pytest.raises(DataError, match=r"gal_images.fits: 4 NaN/inf pixel\(s\) in galaxy 205"):
        read_galsim_catalog(folder, stamp_size=48)
    st = read_galsim_catalog(folder, stamp_size=48, nan_policy="replace")
    assert st.meta["nonfinite_replaced"] == 4 and np.isfinite(st.images).all()


# ------------------------------------------------------------------ dispatch, progress, cancel
def test_auto_detection_and_dispatch(tmp_path):
    write_candels(tmp_path / "cb")
    write_galsim(tmp_path / "gs")
    imgs, segs, _ = make_stamps(2, 32)
    write_cube(tmp_path / "cube.fits", imgs)
    (tmp_path / "fitsdir").mkdir()
    write_cube(tmp_path / "fitsdir" / "a.fits", imgs[0])
    assert detect_kind(tmp_path / "cb") == "candels-blender"
    assert detect_kind(tmp_path / "cb" / "candels_img.npy") == "candels-blender"
    assert detect_kind(tmp_path / "gs") == "galsim"
    assert detect_kind(tmp_path / "gs" / "real_galaxy_catalog_test.fits") == "galsim"
    assert detect_kind(tmp_path / "cube.fits") == "fits" and detect_kind(tmp_path / "fitsdir") == "fits"
    assert load_stampset(tmp_path / "cb").meta["reader"] == "candels-blender"
    gs = load_stampset(tmp_path / "gs", stamp_size=40)
    assert gs.meta["reader"] == "galsim" and gs.stamp_shape == (40, 40) and gs.source == str(tmp_path / "gs")
    fs = load_stampset(tmp_path / "cube.fits", segmaps=write_cube(tmp_path / "seg.fits", segs))
    assert fs.meta["reader"] == "fits" and list(fs.central_labels()) == [300, 1000]
    assert len(load_stampset(tmp_path / "fitsdir")) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot tell"):
        load_stampset(tmp_path / "empty")
    with pytest.raises(DataError, match="no such file"):
        load_stampset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_stampset(tmp_path / "cb", kind="hdf5")


def test_progress_reported_and_cancel_stops(tmp_path):
    write_galsim(tmp_path / "gs")
    seen: list[Progress] = []
    load_stampset(tmp_path / "gs", stamp_size=40, progress=seen.append)
    assert seen and all(isinstance(p, Progress) for p in seen)
    assert seen[-1].done == seen[-1].total and any("galax" in p.message for p in seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load_stampset(tmp_path / "gs", cancel=token)


# ------------------------------------------------------------------ real COSMOS data
def test_a_file_of_a_galsim_catalogue_points_to_the_catalogue(tmp_path):
    """Given the images file of a GalSim catalogue, the FITS reader made one stamp of its first HDU ('1 galaxies')."""
    folder = tmp_path / "cosmos"
    folder.mkdir()
    fits.PrimaryHDU(np.zeros((40, 40))).writeto(folder / "real_galaxy_images_x.fits")
    (folder / "real_galaxy_catalog_x.fits").write_bytes(b"")
    with pytest.raises(DataError, match="a file of the GalSim catalogue real_galaxy_catalog_x.fits beside it"):
        detect_kind(folder / "real_galaxy_images_x.fits")


@pytest.mark.skipif(not COSMOS.is_dir(), reason="real COSMOS stamps not available")
def test_real_cosmos_catalog_loads():
    st = load_stampset(COSMOS, stamp_size=64, seed=0)
    assert st.meta["reader"] == "galsim"
    assert st.images.shape == (100, 64, 64) and st.segmaps.shape == (100, 64, 64)
    assert np.isfinite(st.images).all()
    assert st.psfs is not None and st.psfs.shape == (100, 65, 51)
    assert (st.central_labels() > 0).all()
    for col in STANDARD_COLUMNS:
        assert col in st.catalog.colnames
    mags = np.asarray(st.catalog["mag"])
    assert mags.min() >= 20.0 and mags.max() <= 26.0
    assert np.all(np.asarray(st.catalog["radius"]) > 0) and np.isfinite(st.catalog["z"]).all()
    assert list(st.catalog["segval"]) == list(st.central_labels())
    assert st.pixel_scale == pytest.approx(0.03)
    assert len(np.unique(st.catalog["id"])) == 100
    assert st.meta["zeropoint_from_stamp_flux"] == pytest.approx(25.94, abs=0.05)
    # the catalogue's own zeropoint (ACS F814W), not CANDELS F160W's 25.96: catalogue fluxes were 2 % high
    assert st.zeropoint == st.meta["zeropoint_from_stamp_flux"]
    assert "real_galaxy_images_extension.fits" in st.meta["input_hashes"]
