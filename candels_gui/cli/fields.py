"""``field simulate|train|generate|stamps|compare``: deep fields (mock field, SGAN, tessellated generation,
stamps cut from a field, real-vs-generated statistics). See docs/fields.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import CHECKPOINT_KEPT, add_scheduler_options, number, say_kept, scheduler_client, seed, whole

#: The largest field side a command accepts (a 10^5 x 10^5 float32 field is 40 GB).
MAX_SIDE = 100_000


def _add_field(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("field", help="deep fields: simulate, train an SGAN, generate, cut stamps, compare",
                       description="Deep fields: a mock HST field, a spatial GAN trained on a field, fields of any "
                                   "size generated tile by tile, stamps cut around detected galaxies, and "
                                   "real-vs-generated statistics. See docs/fields.md.")
    fsub = p.add_subparsers(dest="field_command", metavar="STEP", required=True)
    _add_simulate(fsub)
    _add_train(fsub)
    _add_generate(fsub)
    _add_stamps(fsub)
    _add_compare(fsub)


# --------------------------------------------------------------------------- simulate
def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="a mock HST F160W deep field (FITS) and its truth catalog (ECSV)")
    p.add_argument("-o", "--output", required=True, metavar="FIELD.fits", help="FITS file to write")
    p.add_argument("--size", type=whole(low=1, high=MAX_SIDE), default=2048,
                   help="side in pixels at 0.06\"/px (2048)")
    p.add_argument("--seed", type=seed, default=None,  # (fieldsim, imported only to run: scipy.signal is slow)
                   help="random seed (default: the mock field's, DEFAULT_FIELD_SEED of core/data/fieldsim.py)")
    p.add_argument("--mag_bright", type=number(low=0, high=35), default=18.0, help="brightest galaxy, AB (18)")
    p.add_argument("--mag_faint", type=number(low=0, high=35), default=28.0,
                   help="faintest galaxy, AB (28; at most 35: the deepest fields reach ~30, and fainter counts "
                        "draw millions of invisible galaxies)")
    p.add_argument("--sky_sigma", type=number(low=0, low_open=True, high=1e6), default=0.0075,
                   help="per-pixel sky noise rms, e-/s (0.0075)")
    p.add_argument("--exptime", type=number(low=0, low_open=True, high=1e9), default=6000.0,
                   help="exposure time for Poisson noise, s (6000)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ..core.data.fieldsim import DEFAULT_FIELD_SEED, simulate_field_job, truth_path, write_mock_field
    from ..core.errors import DataError
    from ..core.jobs import run_with_progress

    from ..core.errors import OptionError
    from ..core.validate import check_fits_on_disk, check_output

    if not args.mag_bright < args.mag_faint:
        raise OptionError(f"--mag_bright {args.mag_bright} must be brighter (smaller) than --mag_faint "
                          f"{args.mag_faint}")
    out = check_output(_uncompressed_fits(args.output), "-o", kind="file")
    check_fits_on_disk(out, 4.0 * args.size ** 2, "--size", f"a {args.size}x{args.size} field",
                       memory=16.0 * args.size ** 2)
    for path in (out, truth_path(out)):
        if path.exists() and not args.force:
            raise DataError(f"{path} exists; pass --force to replace it")
    field = run_with_progress(simulate_field_job(args.size, seed=DEFAULT_FIELD_SEED if args.seed is None else args.seed,
                                                 mag_bright=args.mag_bright,
                                                 mag_faint=args.mag_faint, sky_sigma=args.sky_sigma,
                                                 exptime=args.exptime), "simulating", unit="obj")
    fits_path, cat_path = write_mock_field(field, out)
    n_in = int(field.truth["in_field"].sum()) if len(field.truth) else 0
    print(f"{args.size}x{args.size} mock field with {n_in} objects -> {fits_path} (truth: {cat_path})")
    return 0


# --------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a spatial GAN on a field image",
                       description="Train an SGAN (fully convolutional generator fed spatial noise) on one field: "
                                   "a FITS image (--image) or scikit-image's Hubble Deep Field (--hdf).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", metavar="FIELD.fits", help="the field to learn from (one 2-D image)")
    src.add_argument("--hdf", action="store_true",
                     help="scikit-image's Hubble Deep Field (skimage.data.hubble_deep_field(): a real HST image, "
                          "3 bands, 8-bit)")
    p.add_argument("--hdu", type=whole(low=0), default=None, help="HDU of --image (default: the first image)")
    p.add_argument("--band", type=whole(low=0), default=None,
                   help="plane of a cube to learn from (with --hdf: 0 R, 1 G, 2 B)")
    p.add_argument("-o", "--output", required=True, metavar="SGAN.pt", help="weights file to write")
    p.add_argument("--epochs", type=whole(low=1, high=100_000), default=30, help="epochs (30)")
    p.add_argument("--steps", type=whole(low=1, high=10_000_000), default=100,
                   help="training steps per epoch (100)")
    p.add_argument("--batch_size", type=whole(low=1, high=4096), default=8, help="crops per step (8)")
    p.add_argument("--patch", type=whole(low=16, high=4096), default=64,
                   help="crop side in pixels, a multiple of 8 (64)")
    p.add_argument("--lr", type=number(low=0, low_open=True, high=10), default=2e-4,
                   help="generator's Adam learning rate (2e-4)")
    p.add_argument("--lr_d", type=number(low=0, low_open=True, high=10), default=2e-4,
                   help="discriminator's Adam learning rate (2e-4)")
    p.add_argument("--d_steps", type=whole(low=1, high=100), default=3,
                   help="discriminator updates per generator update (3)")
    p.add_argument("--scale", choices=("asinh", "linear"), default="asinh",
                   help="map of the clipped field onto [-1, 1] (asinh; linear is Smith & Geach's)")
    p.add_argument("--disc_pool", action="store_true",
                   help="the discriminator judges each crop as a whole (the mean of its logit map, as Smith & "
                        "Geach's global pooling) instead of every 8x8 block of it")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--threads", type=whole(low=1, high=1024), default=None, metavar="N",
                   help="CPU threads for torch")
    p.add_argument("--samples", default=None, metavar="DIR",
                   help="where the sample image of each epoch goes (default: OUTPUT_samples/)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt")
    p.add_argument("--force", action="store_true", help="replace an existing OUTPUT (and start a new OUTPUT.ckpt)")
    p.set_defaults(func=_cmd_train)


def _uncompressed_fits(path: str) -> str:
    """``path``, refused when its name asks for compression that the field writer does not do (it wrote a plain
    FITS named .fits.gz, and its truth table as NAME.fits_truth.ecsv)."""
    from ..core.errors import OptionError

    if str(path).lower().endswith((".gz", ".fz", ".bz2", ".zip")):
        raise OptionError(f"-o {path}: fields are written uncompressed (tile by tile, memory-mapped readers): "
                          f"name it .fits and compress it afterwards if needed")
    if not str(path).lower().endswith((".fits", ".fit", ".fts")):
        raise OptionError(f"-o {path}: a field is written as FITS: name it .fits")
    return path


def _cmd_train(args: argparse.Namespace) -> int:
    from ..core.jobs import run_with_progress
    from ..fields.training import hdf_image, load_training_image, train_sgan_job

    from ..core.errors import Cancelled, OptionError
    from ..core.validate import check_output

    if args.patch % 8:
        raise OptionError(f"--patch must be a multiple of 8, got {args.patch}")
    check_output(args.output, "-o", kind="file", inputs=[args.image])
    if Path(args.output).exists() and not (args.force or args.resume):
        raise OptionError(f"-o {args.output}: exists; pass --force to replace it (or --resume to go on training it)")
    ckpt = Path(str(args.output) + ".ckpt")      # written after every epoch: a folder there would fail the first
    if ckpt.is_dir():
        raise OptionError(f"-o {args.output}: {ckpt} (its checkpoint, written after every epoch) is a folder; "
                          f"move it or choose another -o")
    if args.samples is not None:
        check_output(args.samples, "--samples", kind="folder", inputs=[args.image, args.output])
    if args.hdf and args.hdu is not None:
        raise ValueError("--hdu picks the HDU of a FITS --image; the Hubble Deep Field (--hdf) has none")
    image = hdf_image(args.band) if args.hdf else load_training_image(args.image, hdu=args.hdu, band=args.band)
    command = "candels-gui " + " ".join(sys.argv[1:])
    job = train_sgan_job(
        image, args.output, epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch_size,
        patch=args.patch, lr=args.lr, lr_d=args.lr_d, d_steps=args.d_steps, seed=args.seed, device=args.device,
        resume=args.resume, scale=args.scale, samples=args.samples, threads=args.threads, command=command,
        model_kwargs={"disc_pool": True} if args.disc_pool else None)
    try:
        card = run_with_progress(job, "training SGAN", unit="step", log=True)
    except (KeyboardInterrupt, Cancelled):
        say_kept(args, str(ckpt), CHECKPOINT_KEPT, "goes on from it")
        raise
    last = card["training"]["history"][-1]
    print(f"SGAN weights -> {args.output} ({card['parameters']:,} parameters, {card['training']['device']}; "
          f"last epoch: D {last['d_loss']:.3f}, G {last['g_loss']:.3f})")
    return 0


# --------------------------------------------------------------------------- generate
def _parse_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must be N or HxW, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1 or max(parts) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"--size must be N or HxW with sides 1 to {MAX_SIDE}, got {text!r}")
    return parts[0], parts[1]


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a field of any size with a trained SGAN, tile by tile",
                       description="Generate a field tile by tile straight into a FITS file: memory does not grow "
                                   "with the field; the same seed gives the same field whatever --tile.")
    p.add_argument("--model", default=None, metavar="SGAN.pt",
                   help="weights from 'field train' (default: the shipped resources/models/sgan-sim.pt)")
    p.add_argument("--size", type=_parse_size, default=(4096, 4096), metavar="N|HxW", help="field size (4096)")
    p.add_argument("-o", "--output", required=True, metavar="FIELD.fits")
    p.add_argument("--seed", type=seed, default=0, help="seed of the spatial noise (0)")
    p.add_argument("--tile", type=whole(low=8, high=65536), default=None,
                   help="tile side in pixels (CPU 1024, GPU 4096)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    add_scheduler_options(p, partition_default=None)  # a task is a tile (--tile)
    p.set_defaults(func=_cmd_generate)


def default_model() -> Path:
    """The shipped SGAN trained on the mock field."""
    from ..torch_common import weights_path

    return weights_path("sgan-sim")


def _cmd_generate(args: argparse.Namespace) -> int:
    from ..core.jobs import run_with_progress
    from ..fields.generate import generate_field_job

    from ..core.validate import check_fits_on_disk, check_output

    model = Path(args.model) if args.model else default_model()
    out = check_output(_uncompressed_fits(args.output), "-o", kind="file", inputs=[model])
    check_fits_on_disk(out, 4.0 * args.size[0] * args.size[1], "--size",
                       f"a {args.size[0]}x{args.size[1]} field")
    with scheduler_client(args) as client:
        res = run_with_progress(generate_field_job(model, args.output, args.size, seed=args.seed, tile=args.tile,
                                                   overwrite=args.force, device=args.device, client=client),
                                "generating", unit="px")
    shape = "x".join(str(v) for v in res["shape"])
    print(f"{shape} field -> {res['path']} in {res['seconds']:.1f} s ({res['mpix_per_s']:.2f} Mpix/s on "
          f"{res['device']}, tiles of {res['tile']} px)")
    return 0


# --------------------------------------------------------------------------- stamps, compare
def _add_stamps(sub: argparse._SubParsersAction) -> None:
    from .fields_measure import add_stamps

    add_stamps(sub)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    from .fields_measure import add_compare

    add_compare(sub)


#: The subcommands of this module.
ADDERS = (_add_field,)
