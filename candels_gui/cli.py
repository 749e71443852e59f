"""The ``candels-gui`` command: the app, and every pipeline step as a subcommand.

``candels-gui [PATH]`` opens the app (default: the bundled sample data). Subcommands follow
candels-blender's names and defaults (``produce``, ``concatenate``, ``convert``) plus ``download``,
``make-sample-data``, ``bench`` and ``screenshot``. Long work shows a progress bar; Ctrl-C stops it
cleanly and leaves no partial output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["main", "build_parser"]

LABEL_CHOICES = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")


def _default_data() -> str:
    from .paths import sample_data_dir

    return str(sample_data_dir())


def _add_produce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="make blends (candels-blender's produce, same options and defaults)",
                       description="Produce stamps of blended galaxies with their masks, isolated images and "
                                   "a catalogue, split into train and test by galaxy.")
    p.add_argument("-n", "--n_blends", type=int, default=100, help="number of blends to produce (default 100)")
    p.add_argument("--mag_low", type=float, default=0.0, help="lowest galaxy magnitude, strict (default 0)")
    p.add_argument("--mag_high", type=float, default=100.0, help="highest galaxy magnitude, strict (default 100)")
    p.add_argument("--mag_diff", type=float, default=2.0, help="top magnitude difference between galaxies (2)")
    p.add_argument("--rad_diff", type=float, default=4.0,
                   help="top distance between galaxies as a multiple of the smaller radius (4)")
    p.add_argument("-t", "--test_ratio", type=float, default=0.2,
                   help="fraction of the galaxies used only for the test set (0.2)")
    p.add_argument("-e", "--excluded_type", action="append", default=[], choices=("irr", "disk", "sph", "sphd"),
                   help="excluded galaxy type (repeatable)")
    p.add_argument("-d", "--datapath", default=None,
                   help="input data: candels-blender folder, FITS stamps or a GalSim real-galaxy catalog "
                        "(default: the bundled sample data)")
    p.add_argument("-s", "--seed", type=int, default=42, help="random seed (42)")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: output-s_SEED-n_N, as candels-blender)")
    g = p.add_argument_group("options candels-blender lacked")
    g.add_argument("--radius_min", type=float, default=None, help="smallest half-light radius, px")
    g.add_argument("--radius_max", type=float, default=None, help="largest half-light radius, px")
    g.add_argument("--z_min", type=float, default=None, help="lowest redshift")
    g.add_argument("--z_max", type=float, default=None, help="highest redshift")
    g.add_argument("--max_separation", type=float, default=None, help="separation cap, px (half the stamp)")
    g.add_argument("--uniform_area", action="store_true", help="separation uniform in area, not in a square")
    g.add_argument("--subpixel", action="store_true", help="sub-pixel offsets (implies --uniform_area)")
    g.add_argument("--rotate", action="store_true", help="random rotation of galaxy 2")
    g.add_argument("--flip", action="store_true", help="random left-right flip of galaxy 2")
    g.add_argument("--flux_ratio", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="range of galaxy 2's flux scale, drawn log-uniformly")
    g.add_argument("--allow_self", action="store_true", help="allow a galaxy to be blended with itself")
    g.add_argument("--noise_model", choices=("clipped", "candels-blender"), default="clipped",
                   help="neighbour-cleaning noise: clipped background sigma (default) or candels-blender's")
    g.add_argument("--compression", choices=("none", "lzf", "gzip"), default="none", help="HDF5 compression")
    g.add_argument("--storage", choices=("compact", "arrays"), default="compact",
                   help="compact (default): write each blend's spec and, once, the stamps the specs use; "
                        "concatenate, train, evaluate and deblend render the arrays on read, bit-identically "
                        "(~300 bytes per blend plus the stamps). arrays: also write every blend's images "
                        "and masks (224 kB per 128 px blend) for tools that read blends.h5 directly")
    g.add_argument("--batch_size", type=int, default=256, help="blends per chunk (bounds memory)")
    g.add_argument("--force", action="store_true", help="replace an existing output folder's files")
    p.set_defaults(func=_cmd_produce)


def _cmd_produce(args: argparse.Namespace) -> int:
    from .core.catalog import CatalogFilter
    from .core.jobs import run_with_progress
    from .core.produce import ProduceOptions, produce
    from .core.sampling import SamplingRules
    from .core.sources import load_stampset

    datapath = args.datapath or _default_data()
    out = Path(args.output or f"output-s_{args.seed}-n_{args.n_blends}")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SystemExit(f"candels-gui produce: {out} exists and is not empty; use --force to replace it")
    stamps = load_stampset(datapath)
    options = ProduceOptions(
        n_blends=args.n_blends, test_ratio=args.test_ratio, seed=args.seed,
        catalog_filter=CatalogFilter(mag_low=args.mag_low, mag_high=args.mag_high,
                                     excluded_types=tuple(args.excluded_type),
                                     radius_min=args.radius_min, radius_max=args.radius_max,
                                     z_min=args.z_min, z_max=args.z_max),
        rules=SamplingRules(mag_diff=args.mag_diff, rad_diff=args.rad_diff,
                            max_separation=args.max_separation,
                            uniform_area=args.uniform_area or args.subpixel, subpixel=args.subpixel,
                            random_rotation=args.rotate, random_flip=args.flip,
                            flux_ratio=tuple(args.flux_ratio) if args.flux_ratio else None,
                            allow_self=args.allow_self),
        noise_model=args.noise_model,
        compression=None if args.compression == "none" else args.compression,
        storage=args.storage, batch_size=args.batch_size,
    )
    n_pass = int(options.catalog_filter.mask(stamps.catalog).sum())
    print(f"{len(stamps)} galaxies read from {datapath}; {n_pass} pass the cuts", file=sys.stderr)
    run_with_progress(produce(stamps, out, options), "producing", unit="blend")
    print(f"Blends stored in {out}")
    return 0


def _add_concatenate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("concatenate", help="turn a produce output into the npy layout for a label method",
                       description="Write {train,test}_images.npy and {train,test}_labels.npy (label METHOD) "
                                   "from a produce output folder, as candels-blender's concatenate.")
    p.add_argument("-d", "--image_dir", required=True, help="output folder of candels-gui produce")
    p.add_argument("-m", "--method", required=True, choices=LABEL_CHOICES, help="label method")
    p.add_argument("--delete", action="store_true", help="delete blends.h5 once finished")
    p.set_defaults(func=_cmd_concatenate)


def _cmd_concatenate(args: argparse.Namespace) -> int:
    from .core.concatenate import concatenate
    from .core.jobs import run_with_progress

    written = run_with_progress(concatenate(args.image_dir, args.method, delete=args.delete),
                                "concatenating", unit="blend")
    for path in written:
        print(f"=> {path} created")
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="flux arrays from the blend catalogues (candels-blender's convert)")
    p.add_argument("-d", "--image_dir", required=True, help="output folder of candels-gui produce")
    p.add_argument("--zeropoint", type=float, default=25.96, help="magnitude zeropoint (25.96)")
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from .core.concatenate import convert

    for path in convert(args.image_dir, zeropoint=args.zeropoint):
        print(f"=> {path} created")
    return 0


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download the public CANDELS stamp set (Zenodo 2604740)")
    p.add_argument("-o", "--output_dir", default="data", help="destination folder (data)")
    p.add_argument("--keep_archive", action="store_true", help="keep the archive after extraction")
    p.add_argument("--base_url", default="https://zenodo.org", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_download)


def _cmd_download(args: argparse.Namespace) -> int:
    from .core.download import download_dataset
    from .core.jobs import run_with_progress

    out = run_with_progress(download_dataset(args.output_dir, base_url=args.base_url,
                                             keep_archive=args.keep_archive), "downloading", unit="B")
    print(f"Data in {out}")
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-sample-data", help="regenerate the bundled synthetic CANDELS-like sample set")
    p.add_argument("-o", "--output", default="sample_data", help="output folder (sample_data)")
    p.add_argument("-n", "--n_stamps", type=int, default=150, help="number of stamps (150)")
    p.add_argument("-s", "--seed", type=int, default=2604740, help="random seed (2604740)")
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from .core.samplegen import generate_sample_data

    out = generate_sample_data(args.output, n_stamps=args.n_stamps, seed=args.seed)
    print(f"Sample data written to {out}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance figures (one JSON object with --json)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-n", type=int, default=10_000, help="blends per engine figure (10000)")
    p.add_argument("--only", default=None,
                   help="comma-separated groups to run: engine,hdf5,preview,export_ui,infer,train,startup")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    groups = args.only.split(",") if args.only else None
    result = run_bench(n=args.n, groups=groups, log=None if args.json else print)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v}")
    return 0


def _add_screenshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screenshot", help="open the app offscreen on the sample data and save a picture")
    p.add_argument("output", help="PNG file to write")
    p.add_argument("--view", choices=("editor", "review", "compare"), default="editor")
    p.add_argument("--data", default=None, help="data to open (default: sample data)")
    p.add_argument("--size", default="1600x1000", help="window size WxH (1600x1000)")
    p.set_defaults(func=_cmd_screenshot)


def _cmd_screenshot(args: argparse.Namespace) -> int:
    from .gui.screenshot import take_screenshot

    w, h = (int(v) for v in args.size.lower().split("x"))
    path = take_screenshot(args.output, view=args.view, data=args.data or _default_data(), size=(w, h))
    print(f"Screenshot saved to {path}")
    return 0


def _add_deblend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deblend", help="run a deblender on an export (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the deblenders and exit")
    p.add_argument("--model", help="deblender name (see --list; NAME+tta for a torch model's test-time "
                                   "augmentation)")
    p.add_argument("--data", help="export or produce output (folder, HDF5 or FITS)")
    p.add_argument("--split", default=None, help="split to read (train/test; default: test when present)")
    p.add_argument("--weights", default=None, help="weights file for a torch model (default: shipped)")
    p.add_argument("--batch_size", type=int, default=32, help="blends per batch (32)")
    p.add_argument("-o", "--output", help="HDF5 file for the results")
    p.set_defaults(func=_cmd_deblend)


def _cmd_deblend(args: argparse.Namespace) -> int:
    from .deblend import descriptions, get
    from .deblend.base import TTA_SUFFIX

    if args.list:
        for name, text in descriptions().items():
            print(f"{name:14s} {text}")
        print(f"\nThe torch models also run as NAME{TTA_SUFFIX} (e.g. unet-seg{TTA_SUFFIX}): outputs averaged over "
              "the 8 turns and flips of each blend, 8 times slower.")
        return 0
    if not (args.model and args.data and args.output):
        raise ValueError("deblend needs --model, --data and -o (or --list)")
    from .core.export import export_splits, read_export
    from .core.jobs import run_with_progress
    from .deblend.results_io import write_results

    deblender = get(args.model, **({"weights": args.weights} if args.weights else {}))
    splits = export_splits(args.data)
    split = args.split or ("test" if "test" in splits else splits[0])
    data = read_export(args.data, split=split)
    results = run_with_progress(deblender.iter_run(data.images, batch_size=args.batch_size),
                                f"{args.model} on {split or 'blends'}", unit="blend")
    out = write_results(args.output, results, data_path=str(args.data))
    print(f"{len(results)} blends deblended by {args.model} ({deblender.device}) -> {out}")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a torch deblender on an HDF5 export")
    p.add_argument("--model", required=True, choices=("unet-seg", "unet-deblend", "cgan", "blend2flux"))
    p.add_argument("--data", required=True, help="HDF5 file from produce (blends.h5) or an HDF5 export")
    p.add_argument("-o", "--output", default=None, help="weights file (default: resources/models/MODEL.pt)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--val_fraction", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt")
    p.add_argument("--memory_mb", type=float, default=1024,
                   help="hold the training data in memory up to this size, else read batches from the file")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: one per core; 1 lets two trainings share two cores)")
    p.add_argument("--base", type=int, default=None, metavar="N",
                   help="width (channels) of the network's first stage, doubled at each stage below (default: "
                        "unet-seg, unet-deblend, blend2flux 16; cgan 32; with --init or --resume: theirs)")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="number of down-sampling stages (default: unet-seg, unet-deblend 3; cgan, blend2flux 4; "
                        "with --init or --resume: theirs)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning rate over the epochs: cosine decay from --lr to 5%% of it (default), or constant")
    p.add_argument("--flux_weight", type=float, default=1.0,
                   help="unet-deblend, cgan: weight of the loss term on each predicted image's total flux (1; 0: off)")
    p.add_argument("--init", default=None, metavar="WEIGHTS.pt",
                   help="start from these weights (fine-tuning: a new run, recorded in the model card); "
                        "unet-deblend may start from unet-seg's weights and the reverse (the output layer "
                        "starts fresh)")
    p.add_argument("--coords", action="store_true",
                   help="give the network each pixel's distance from the stamp centre as a second input "
                        "channel, so it knows which galaxy is the central one (with --init, the new channel's "
                        "weights start at zero)")
    p.add_argument("--no_augment", action="store_true",
                   help="do not turn and flip the training samples at random (augmentation is on by default)")
    p.set_defaults(func=_cmd_train)


def _train_kwargs(arch: dict[str, int]) -> dict[str, int] | None:
    """``train``'s ``--base``/``--depth``, checked (``None`` when neither is given: the defaults, or the sizes of
    ``--init`` and ``--resume``; one given replaces that value only)."""
    if arch.get("base", 1) < 1:
        raise ValueError(f"--base must be >= 1, got {arch['base']}")
    if not 1 <= arch.get("depth", 1) <= 6:
        raise ValueError(f"--depth must be 1 to 6, got {arch['depth']}")
    return arch or None


def _cmd_train(args: argparse.Namespace) -> int:
    from .core.jobs import run_with_progress
    from .deblend.torch_deblender import weights_path
    from .deblend.training import train_model

    out = args.output or weights_path(args.model)
    command = "candels-gui " + " ".join(sys.argv[1:])
    arch = {k: v for k, v in (("base", args.base), ("depth", args.depth)) if v is not None}
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    result = run_with_progress(train_model(
        args.model, args.data, out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        val_fraction=args.val_fraction, patience=args.patience, seed=args.seed, device=args.device,
        resume=args.resume, memory_mb=args.memory_mb, augment=not args.no_augment, schedule=args.schedule,
        num_threads=args.threads, flux_weight=args.flux_weight, init=args.init,
        coords=True if args.coords else None, model_kwargs=_train_kwargs(arch),
        command=command), f"train {args.model}", unit="batch", log=True)
    best = ", ".join(f"{k} {v:.4g}" for k, v in result.card.get("metrics", {}).items() if k != "epoch")
    stop = "early stop" if result.stopped_early else "all epochs run"
    print(f"weights written to {out} (best epoch {result.best_epoch} of {result.epochs_run}, {stop}: {best})")
    if result.replaced is not None:
        print(f"the weights they replace are kept as {result.replaced}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="metrics of deblenders on an export: table, ECSV + JSON, plots",
                       description="Run deblenders on one split of an export (a produce output folder, an "
                                   "export folder, HDF5 or FITS file) and measure them against the truth: "
                                   "detection, segmentation, photometry and reconstruction metrics.")
    p.add_argument("--data", default=None, metavar="EXPORT", help="export to evaluate on (required)")
    p.add_argument("--deblenders", default=None, metavar="A,B,C",
                   help="comma-separated deblender names (default: every registered one that can be built; "
                        "see 'candels-gui deblend --list'); NAME+tta: a torch model averaged over the 8 turns "
                        "and flips of each blend")
    p.add_argument("--weights", action="append", default=[], metavar="WEIGHTS.pt[+tta]",
                   help="also evaluate the torch model in this weights file (from 'candels-gui train -o'), as a "
                        "row named after the file (wide.pt: 'wide'; wide.pt+tta: 'wide+tta'); repeatable. "
                        "With --weights and no --deblenders, only these rows")
    p.add_argument("--split", default=None, metavar="NAME", help="split to read (default: test when present)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate the first N blends only")
    p.add_argument("--max_separation", type=float, default=None, metavar="PX",
                   help="largest detection-to-galaxy distance that counts as a match, px (default: none)")
    p.add_argument("--mag_high", type=float, default=None, metavar="MAG",
                   help="evaluate only blends whose two galaxies are brighter than MAG (true AB magnitude)")
    p.add_argument("--reference", choices=("catalogue", "isolated"), default="catalogue",
                   help="true fluxes: the catalogue's (default), or measured on the true isolated images over "
                        "their footprints grown by 4 px (the error of deblending alone)")
    p.add_argument("--oracle", action="store_true",
                   help="also measure the truth as deblenders are measured: truth-footprints (the blend split "
                        "over the true footprints, unet-seg's photometry), truth-isolated (the true isolated "
                        "images, the image models' aperture): the floor of each photometry; truth-relabelled "
                        "(the sample data's labeller re-run on each isolated galaxy with the companion's sky "
                        "noise added): how far the labels move under the blend's noise, a reference for IoU")
    p.add_argument("--batch_size", type=int, default=32, metavar="N", help="blends per batch (32)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: deblender -> summary metrics (nothing else on stdout)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write the PNG figures into DIR")
    p.add_argument("-o", "--output", default=None, metavar="OUTDIR",
                   help="write metrics.ecsv, metrics.json and per_blend_NAME.ecsv into OUTDIR")
    p.set_defaults(func=_cmd_evaluate)


def _weights_deblenders(items: Sequence[str]) -> list[Any]:
    """The torch deblenders of ``evaluate --weights`` (``PATH`` or ``PATH+tta``), each named after its file."""
    from .deblend.base import TTA_SUFFIX
    from .deblend.torch_deblender import TorchDeblender

    out = []
    for item in items:
        tta = item.endswith(TTA_SUFFIX)
        path = Path(item[:-len(TTA_SUFFIX)] if tta else item)
        if not path.is_file():
            raise FileNotFoundError(f"--weights {item}: no such file")
        deb = TorchDeblender.from_file(path, tta=tta)
        deb.name = path.stem + (TTA_SUFFIX if tta else "")
        out.append(deb)
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if not args.data:
        raise ValueError("no data to evaluate on: pass --data EXPORT (a produce output folder, an export "
                         "folder, HDF5 or FITS file)")
    from .core.jobs import run_with_progress
    from .evaluation import evaluate, format_summary, resolve_deblenders, write_plots, write_report

    built, skipped = resolve_deblenders(args.deblenders) if args.deblenders or not args.weights else ({}, {})
    for name, reason in skipped.items():
        print(f"evaluate: skipping {name}: {reason}", file=sys.stderr)
    for deb in _weights_deblenders(args.weights):
        if deb.name in built:
            raise ValueError(f"--weights: a row named {deb.name!r} is evaluated already; rename the file")
        built[deb.name] = deb
    result = run_with_progress(
        evaluate(args.data, list(built.values()) if built else args.deblenders, split=args.split,
                 limit=args.limit, max_separation=args.max_separation, mag_high=args.mag_high,
                 reference=args.reference, oracle=args.oracle, batch_size=args.batch_size),
        "evaluating", unit="blend")
    result.skipped.update(skipped)
    for note in result.notes:
        print(f"evaluate: note: {note}", file=sys.stderr)
    written = write_report(result, args.output) if args.output else []
    if args.plots:
        written += write_plots(result, args.plots)
    if args.json:
        print(json.dumps(result.to_json(), allow_nan=False))
    else:
        print(format_summary(result))
    for path in written:
        print(f"=> {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


ADDERS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_produce, _add_concatenate, _add_convert, _add_download, _add_sample, _add_deblend, _add_train,
    _add_evaluate, _add_bench, _add_screenshot)


def build_parser() -> argparse.ArgumentParser:
    """The ``candels-gui`` argument parser (subcommands only; a bare PATH opens the app)."""
    parser = argparse.ArgumentParser(
        prog="candels-gui",
        description="Blended-galaxy training sets from real stamps, and deblender comparison. "
                    "'candels-gui [PATH]' opens the app on PATH (default: bundled sample data).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in ADDERS:
        add(sub)
    return parser


def _open_app(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="candels-gui", description="Open the app on PATH.")
    p.add_argument("path", nargs="?", default=None, help="data folder or file (default: sample data)")
    p.add_argument("--session", default=None, help="session file to open")
    args = p.parse_args(argv)
    from .gui.app import run_app

    return run_app(args.path or _default_data(), session=args.session)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``candels-gui`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        return _open_app(argv)
    args = parser.parse_args(argv)
    from .core.errors import Cancelled, DataError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\nInterrupted: no partial output was left.", file=sys.stderr)
        return 130
    except Cancelled:
        print("Cancelled: no partial output was left.", file=sys.stderr)
        return 130
    except (DataError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"candels-gui {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
