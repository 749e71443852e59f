"""Good inputs that the corpus mutilates: a small candels-blender folder, a FITS cube, a GalSim catalog,
a produce output (compact and arrays storage), tiny weights and a session file.

Everything is derived from the bundled sample data (real files in the real formats), cut down so that each
command runs in a fraction of a second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
N_STAMPS = 32
SIZE = 64


def write_candels(folder: Path, images: np.ndarray, segmaps: np.ndarray, catalog_lines: list[str]) -> Path:
    """A candels-blender folder from arrays and the catalog's CSV lines (header first)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "candels_img.npy", images)
    np.save(folder / "candels_seg.npy", segmaps)
    (folder / "candels_cat.csv").write_text("\n".join(catalog_lines) + "\n")
    return folder


def sample_arrays(n: int = N_STAMPS, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The first ``n`` sample stamps centre-cropped to ``size`` (images, int32 labels, catalog lines)."""
    img = np.load(SAMPLE / "candels_img.npy", mmap_mode="r")
    seg = np.load(SAMPLE / "candels_seg.npy", mmap_mode="r")
    c, h = img.shape[1] // 2, size // 2
    images = np.array(img[:n, c - h:c + h, c - h:c + h], dtype=np.float32)
    segmaps = np.array(seg[:n, c - h:c + h, c - h:c + h], dtype=np.int32)
    lines = (SAMPLE / "candels_cat.csv").read_text().splitlines()[:n + 1]
    return images, segmaps, lines


def build_good(base: Path) -> dict[str, Path]:
    """Write every good input under ``base``; returns name -> path."""
    from astropy.io import fits

    from candels_gui.core.data.load import load_stampset
    from candels_gui.core.jobs import run_job
    from candels_gui.core.store.produce import ProduceOptions, produce

    base.mkdir(parents=True, exist_ok=True)
    images, segmaps, lines = sample_arrays()
    good: dict[str, Path] = {}
    good["data"] = write_candels(base / "data", images, segmaps, lines)

    fits_dir = base / "fits"
    fits_dir.mkdir()
    fits.HDUList([fits.PrimaryHDU(images)]).writeto(fits_dir / "cube.fits")
    good["fits"] = fits_dir / "cube.fits"

    gs = base / "galsim"
    gs.mkdir()
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(images[i]) for i in range(8)]
    fits.HDUList(hdus).writeto(gs / "gal_images.fits")
    cols = [fits.Column("IDENT", "K", array=np.arange(1, 9)),
            fits.Column("MAG", "D", array=np.linspace(21, 23, 8)),
            fits.Column("GAL_FILENAME", "20A", array=np.array(["gal_images.fits"] * 8)),
            fits.Column("GAL_HDU", "K", array=np.arange(1, 9)),
            fits.Column("NOISE_VARIANCE", "D", array=np.full(8, 1e-4))]
    fits.BinTableHDU.from_columns(cols).writeto(gs / "real_galaxy_catalog_test.fits")
    good["galsim"] = gs

    stamps = load_stampset(good["data"])
    for name, storage in (("out", "compact"), ("out_arrays", "arrays")):
        run_job(produce(stamps, base / name, ProduceOptions(n_blends=12, seed=3, storage=storage)))
        good[name] = base / name

    from candels_gui.core.blending.engine import BlendEngine
    from candels_gui.core.store.export import export, read_export

    specs = read_export(good["out"], split="train").specs
    run_job(export(base / "fits_export.fits", BlendEngine(stamps), {"train": specs[:6], "test": specs[6:]},
                   fmt="fits", method="ogg_masks"))
    good["fits_export"] = base / "fits_export.fits"

    from candels_gui.deblend.models import build_model
    from candels_gui.torch_common import save_weights

    for arch in ("unet-seg", "blend2flux"):
        model = build_model(arch, base=2, depth=1)
        good[f"weights_{arch}"] = save_weights(
            base / f"{arch}.pt", model,
            {"architecture": arch, "kwargs": {"base": 2, "depth": 1},
             "normalisation": {"kind": "asinh", "scale": 1.0}})

    from candels_gui.core.blending.engine import BlendSpec
    from candels_gui.core.curation.session import Session

    ids = [int(line.split(",")[0]) for line in lines[1:5]]
    s = Session(data_path=good["data"], data_hash=stamps.content_hash(), seed=5)
    s.add_specs([BlendSpec(ids[0], ids[1], dx=5.0), BlendSpec(ids[2], ids[3], dy=-4.0)])
    good["session"] = s.save(base / "session.json")
    return good


def copy_input(src: Path, dest: Path) -> Path:
    """Copy a good input (file or folder) to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copy2(src, dest)
    return dest


def session_dict(path: Path) -> dict:
    """A session file's JSON."""
    return json.loads(Path(path).read_text())


def build_good_models(base: Path, good: dict[str, Path]) -> dict[str, Path]:
    """The newer boundaries' good inputs: a label file of the data, a morph-cnn and an SGAN weights file
    (tiny, built here), a FITS field and a Zarr produce output. Adds them to ``good`` and returns it."""
    from astropy.io import fits

    from candels_gui.cli import main
    from candels_gui.core.data.morph_labels import MORPH_CLASSES, one_hot, write_labels_csv
    from candels_gui.torch_common import save_weights

    rows = [line.split(",") for line in (good["data"] / "candels_cat.csv").read_text().splitlines()]
    header = rows[0]
    ids = [int(r[header.index("ID")]) for r in rows[1:]]
    types = [r[header.index("galtype")] for r in rows[1:]]
    good["labels"] = write_labels_csv(good["data"] / "labels.csv", ids, one_hot(types))

    from candels_gui.morphology.network import DEFAULT_KWARGS, build_network

    kwargs = {**DEFAULT_KWARGS, "base": 2}
    good["weights_morph"] = save_weights(base / "morph-cnn.pt", build_network(**kwargs), {
        "architecture": "morph-cnn", "kwargs": kwargs, "classes": list(MORPH_CLASSES),
        "normalisation": {"kind": "asinh", "scale": 1.0}})

    from candels_gui.fields.sgan import ARCHITECTURE, build_generator

    skw = {"nz": 2, "channels": [4, 4, 4, 4], "bands": 1}
    good["weights_sgan"] = save_weights(base / "sgan.pt", build_generator(skw), {
        "architecture": ARCHITECTURE, "kwargs": skw, "pixel_scale": 0.06, "zeropoint": 25.96,
        "scaling": {"kind": "asinh", "lo": [-0.03], "hi": [0.15], "softening": [0.02],
                    "clip_percentiles": [0.01, 99.99]}})

    # a 160x160 field: sky noise and a few round galaxies, with the header of a calibrated HST image
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:160, :160]
    img = rng.normal(0.0, 0.0075, (160, 160))
    for y, x, f in rng.uniform([10, 10, 0.5], [150, 150, 3.0], (14, 3)):
        img += f * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 2.5 ** 2))
    hdr = fits.Header()
    hdr["MAGZERO"], hdr["PIXSCALE"], hdr["BUNIT"] = 25.96, 0.06, "electron/s"
    fits_dir = base / "field"
    fits_dir.mkdir()
    fits.PrimaryHDU(img.astype(np.float32), header=hdr).writeto(fits_dir / "field.fits")
    good["field"] = fits_dir / "field.fits"

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["produce", "-d", str(good["data"]), "-n", "12", "-s", "3", "--format", "zarr",
                   "-o", str(base / "out_zarr")])
    assert rc in (0, None), "produce --format zarr failed on the good data"
    good["out_zarr"] = base / "out_zarr"
    return good
