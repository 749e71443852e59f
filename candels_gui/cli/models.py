"""``deblend``, ``train``, ``evaluate``: the deblenders on exports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import OptionError
from .common import (CHECKPOINT_KEPT, PARTITIONS_KEPT, add_scheduler_options, add_threads_option, number, say_kept,
                     scheduler_client, seed, torch_threads, weights_option, whole)


def _add_deblend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deblend", help="run a deblender on an export (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the deblenders and exit")
    p.add_argument("--model", help="deblender name (see --list; NAME+tta for a torch model's test-time "
                                   "augmentation)")
    p.add_argument("--data", help="export or produce output (folder, HDF5 or FITS)")
    p.add_argument("--split", default=None, help="split to read (train/test; default: test when present)")
    p.add_argument("--weights", default=None, help="weights file for a torch model (default: shipped)")
    p.add_argument("--batch_size", type=whole(low=1, high=4096), default=32, help="blends per batch (32)")
    p.add_argument("-o", "--output", help="HDF5 file for the results")
    p.add_argument("--format", choices=("hdf5", "zarr"), default=None, dest="store_format",
                   help="hdf5 (default; zarr when -o ends in .zarr): one results file; zarr: a Zarr store "
                        "(-o RESULTS.zarr) whose partitions the workers of --scheduler write in parallel")
    add_threads_option(p)
    add_scheduler_options(p, partition_default="rounded up to whole batches; default: about four tasks per worker, "
                                               "32 to 512 blends",
                          resume="--format zarr: continue the unfinished store a stopped run left, deblending only "
                                 "the partitions it lacks")
    p.set_defaults(func=_cmd_deblend)


def _cmd_deblend(args: argparse.Namespace) -> int:
    torch_threads(args)
    from ..deblend import descriptions, get
    from ..deblend.base import TTA_SUFFIX

    if args.list:
        for name, text in descriptions().items():
            print(f"{name:14s} {text}")
        print(f"\nThe torch models also run as NAME{TTA_SUFFIX} (e.g. unet-seg{TTA_SUFFIX}): outputs averaged over "
              "the 8 turns and flips of each blend, 8 times slower.")
        return 0
    missing = [opt for opt, v in (("--model", args.model), ("--data", args.data), ("-o", args.output)) if not v]
    if missing:
        raise OptionError(f"deblend needs --model, --data and -o (or --list); missing {', '.join(missing)}")
    from ..core.errors import OptionError as _OptionError
    from ..core.jobs import run_with_progress
    from ..core.store.export import export_splits, read_export
    from ..core.validate import check_output
    from ..deblend import available as names
    from ..deblend.base import TTA_SUFFIX as _TTA
    from ..deblend.results_io import check_results_output, write_results

    if args.model not in names() and not (args.model.endswith(_TTA) and args.model[:-len(_TTA)] in names()):
        raise _OptionError(f"--model {args.model!r}: no such deblender; see 'candels-gui deblend --list'")
    zarr_name = str(args.output).rstrip("/\\").lower().endswith(".zarr")
    if args.store_format is None:
        args.store_format = "zarr" if zarr_name else "hdf5"
    elif args.store_format == "zarr" and not zarr_name:
        raise _OptionError(f"-o {args.output}: --format zarr writes a Zarr store: name it RESULTS.zarr")
    elif args.store_format == "hdf5" and zarr_name:
        raise _OptionError(f"-o {args.output}: --format hdf5 writes an HDF5 file: name it RESULTS.h5, or give "
                           f"--format zarr")
    check_output(args.output, "-o", kind="folder" if args.store_format == "zarr" else "file",
                 inputs=_export_files(args.data))
    check_results_output(args.output, args.store_format)
    base_name = args.model[:-len(_TTA)] if args.model.endswith(_TTA) else args.model
    if args.weights and base_name not in ("unet-seg", "unet-deblend", "cgan", "blend2flux"):
        raise _OptionError(f"--weights: {args.model} is not a torch model; it takes no weights file")
    splits = export_splits(args.data)
    split = args.split or ("test" if "test" in splits else splits[0])
    if args.scheduler or args.store_format == "zarr":
        return _deblend_on_dask(args, split)
    if args.resume:
        raise OptionError("--resume continues an unfinished Zarr results store: give --format zarr")
    deblender = get(args.model, **({"weights": args.weights} if args.weights else {}))
    data = read_export(args.data, split=split)
    results = run_with_progress(deblender.iter_run(data.images, batch_size=args.batch_size),
                                f"{args.model} on {split or 'blends'}", unit="blend")
    out = write_results(args.output, results, data_path=_data_path(args.data), split=split)
    print(f"{len(results)} blends deblended by {args.model} ({deblender.device}) -> {out}")
    return 0


def _deblend_on_dask(args: argparse.Namespace, split: str | None) -> int:
    """``deblend --scheduler``: each worker builds the deblender once and deblends its partitions."""
    from ..core.errors import Cancelled
    from ..core.jobs import run_with_progress
    from ..core.store.sources import open_split
    from ..core.store.zarr_store import partial_url
    from ..deblend import get
    from ..deblend.distributed import DeblenderRecipe, deblend_partitioned
    from ..deblend.results_io import write_results

    get(args.model, **({"weights": args.weights} if args.weights else {}))   # a bad name or file fails here, once
    recipe = DeblenderRecipe(args.model, weights=str(Path(args.weights).resolve()) if args.weights else None)
    source = open_split(args.data, split)
    where = f"on {args.scheduler}" if args.scheduler else "in this process"
    if args.store_format == "zarr":
        from ..deblend.results_zarr import deblend_to_zarr, read_results_zarr

        with scheduler_client(args) as client:
            job = deblend_to_zarr(source, recipe, args.output, client=client, batch_size=args.batch_size,
                                  partition_size=args.partition_size, resume=args.resume,
                                  data_path=_data_path(args.data), split=split)
            try:
                out = run_with_progress(job, f"{args.model} on {split or 'blends'}", unit="blend")
            except (KeyboardInterrupt, Cancelled):
                say_kept(args, partial_url(args.output), PARTITIONS_KEPT,
                         "deblends only the others; without --resume (and with --force) it starts over")
                raise
        attrs, _ = read_results_zarr(out)
        print(f"{attrs['n_blends']} blends deblended by {args.model} ({attrs['device']}, {where}) -> {out}")
        return 0
    with scheduler_client(args) as client:
        results = run_with_progress(deblend_partitioned(source, recipe, client=client, batch_size=args.batch_size,
                                                        partition_size=args.partition_size),
                                    f"{args.model} on {split or 'blends'}", unit="blend")
    out = write_results(args.output, results, data_path=_data_path(args.data), split=split)
    device = results[0].device if results else "?"
    print(f"{len(results)} blends deblended by {args.model} ({device}, {where}) -> {out}")
    return 0


def _data_path(data: str) -> str:
    """The input as the results record it: absolute when local (a relative path says nothing elsewhere)."""
    from ..core.store.zarr_store import is_local, local_path

    return str(local_path(data).resolve()) if is_local(data) else str(data)


def _export_files(data: str | None) -> list[Path]:
    """The files an export is read from (a folder's files and the folder, or a file and its manifest)."""
    if not data:
        return []
    p = Path(data)
    if p.is_dir():
        return [p, *p.iterdir()]   # files and stores (blends.zarr)
    return [p, p.with_name(p.name + ".manifest.json"), p.parent / "manifest.json"]


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a torch deblender on an HDF5 export, or the morphology CNN on labels")
    p.add_argument("--model", required=True, choices=("unet-seg", "unet-deblend", "cgan", "blend2flux", "morph-cnn"))
    p.add_argument("--data", required=True, nargs="+", action="extend", metavar="EXPORT.h5",
                   help="a produce output folder or its blends.h5, an HDF5 export, or a Zarr store (produce --format "
                        "zarr: the output folder or its blends.zarr); several (--data A.h5 B.h5, or --data "
                        "repeated) are trained on as one mix, every blend of each read once per epoch (e.g. blends "
                        "of real galaxies beside generated ones). morph-cnn: one label file (ID + p_<class> vote "
                        "fractions)")
    p.add_argument("-o", "--output", default=None,
                   help="weights file (default: resources/models/MODEL.pt; the file it replaces is kept as "
                        "MODEL.prev.pt, and the shipped one, the first time, as MODEL.shipped.pt)")
    p.add_argument("--epochs", type=whole(low=1, high=100_000), default=30)
    p.add_argument("--batch_size", type=whole(low=1, high=4096), default=32)
    p.add_argument("--lr", type=number(low=0, high=10), default=None,
                   help="Adam learning rate, 0 to 10 (1e-3; morph-cnn: 2e-3, or 5e-4 with --init; deblenders: 0 keeps "
                        "the starting weights, a measuring run)")
    p.add_argument("--val_fraction", type=number(low=0, high=1, high_open=True), default=0.1,
                   help="share of the data held out to pick the best epoch (0.1); morph-cnn: 0 trains on every "
                        "label and keeps the last epoch, as morph-transfer does (fewer than 10 labels: always 0)")
    p.add_argument("--patience", type=whole(low=1), default=5, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt")
    p.add_argument("--memory_mb", type=number(low=0), default=1024,
                   help="hold the training data in memory up to this size, else read batches from the file")
    add_threads_option(p, "; 1 lets two trainings share two cores")
    p.add_argument("--base", type=whole(low=1, high=512), default=None, metavar="N",
                   help="width (channels) of the network's first stage, doubled at each stage below (default: "
                        "unet-seg, unet-deblend, blend2flux 16; cgan 32; with --init or --resume: theirs)")
    p.add_argument("--depth", type=whole(low=1, high=6), default=None, metavar="N",
                   help="number of down-sampling stages (default: unet-seg, unet-deblend 3; cgan, blend2flux 4; "
                        "with --init or --resume: theirs)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning rate over the epochs: cosine decay from --lr to 5%% of it (default), or constant")
    p.add_argument("--flux_weight", type=number(low=0), default=1.0,
                   help="unet-deblend, cgan: weight of the loss term on each predicted image's total flux (1; 0: off)")
    p.add_argument("--init", default=None, metavar="WEIGHTS.pt",
                   help="start from these weights (fine-tuning: a new run, recorded in the model card); 'shipped': "
                        "the model's shipped weights (resources/models/MODEL.pt of the installation); "
                        "unet-deblend may start from unet-seg's weights and the reverse (the output layer "
                        "starts fresh)")
    p.add_argument("--coords", action="store_true",
                   help="give the network each pixel's distance from the stamp centre as a second input "
                        "channel, so it knows which galaxy is the central one (with --init, the new channel's "
                        "weights start at zero)")
    p.add_argument("--no_augment", action="store_true",
                   help="do not turn and flip the training samples at random (augmentation is on by default)")
    g = p.add_argument_group("morph-cnn (the morphology classifier; see docs/morphology.md)")
    g.add_argument("--stamps", default=None, metavar="DATA",
                   help="the stamps the label file's IDs name (default: the label file's folder when it holds "
                        "stamps)")
    g.add_argument("--freeze", type=int, default=0, metavar="N",
                   help="with --init: keep the first N of the 4 convolutional blocks fixed (0)")
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
    args.init = weights_option(args.init, args.model)
    if args.model == "morph-cnn":
        from .morphology import train_morph_cnn

        if len(args.data) != 1:
            raise OptionError(f"--model morph-cnn trains on one label file; --data got {len(args.data)}")
        args.data = args.data[0]
        return train_morph_cnn(args)
    from ..core.errors import Cancelled
    from ..core.jobs import run_with_progress
    from ..deblend.torch_deblender import weights_path
    from ..deblend.training import train_model

    from ..core.validate import check_output

    if args.val_fraction == 0:
        raise OptionError("--val_fraction 0: a deblender's training needs validation blends to pick its best "
                          "epoch (only morph-cnn trains on every label)")
    out = args.output or weights_path(args.model)
    check_output(out, "-o", kind="file", inputs=[*args.data, args.init])
    command = "candels-gui " + " ".join(sys.argv[1:])
    arch = {k: v for k, v in (("base", args.base), ("depth", args.depth)) if v is not None}
    job = train_model(
        args.model, args.data, out, epochs=args.epochs, batch_size=args.batch_size,
        lr=1e-3 if args.lr is None else args.lr,
        val_fraction=args.val_fraction, patience=args.patience, seed=args.seed, device=args.device,
        resume=args.resume, memory_mb=args.memory_mb, augment=not args.no_augment, schedule=args.schedule,
        num_threads=args.threads, flux_weight=args.flux_weight, init=args.init,
        coords=True if args.coords else None, model_kwargs=_train_kwargs(arch),
        command=command)
    try:
        result = run_with_progress(job, f"train {args.model}", unit="batch", log=True)
    except (KeyboardInterrupt, Cancelled):
        say_kept(args, f"{out}.ckpt", CHECKPOINT_KEPT, "goes on from it")
        raise
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
    p.add_argument("--limit", type=whole(low=1), default=None, metavar="N",
                   help="evaluate the first N blends only (with --mag_high: the first N of those that pass it)")
    p.add_argument("--max_separation", type=number(low=0), default=None, metavar="PX",
                   help="largest detection-to-galaxy distance that counts as a match, px (default: none)")
    p.add_argument("--mag_high", type=number(), default=None, metavar="MAG",
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
    p.add_argument("--batch_size", type=whole(low=1, high=4096), default=32, metavar="N",
                   help="blends per batch (32)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: deblender -> summary metrics (nothing else on stdout)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write the PNG figures into DIR")
    p.add_argument("-o", "--output", default=None, metavar="OUTDIR",
                   help="write metrics.ecsv, metrics.json and per_blend_NAME.ecsv into OUTDIR")
    add_threads_option(p)
    add_scheduler_options(p, partition_default="rounded up to whole batches; default: about four tasks per worker, "
                                               "32 to 512 blends; a task runs every deblender on its blends")
    p.set_defaults(func=_cmd_evaluate)


def _weights_deblenders(items: Sequence[str]) -> list[Any]:
    """The torch deblenders of ``evaluate --weights`` (``PATH`` or ``PATH+tta``), each named after its file."""
    from ..deblend.base import TTA_SUFFIX
    from ..deblend.torch_deblender import TorchDeblender

    out = []
    for item in items:
        tta = item.endswith(TTA_SUFFIX)
        path = Path(item[:-len(TTA_SUFFIX)] if tta else item)
        if not path.is_file():
            raise OptionError(f"--weights {item}: no such file")
        deb = TorchDeblender.from_file(path, tta=tta)
        deb.name = path.stem + (TTA_SUFFIX if tta else "")
        out.append(deb)
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    torch_threads(args)
    if not args.data:
        raise ValueError("no data to evaluate on: pass --data EXPORT (a produce output folder, an export "
                         "folder, HDF5 or FITS file)")
    from ..core.validate import check_output

    inputs = _export_files(args.data)
    for option, path in (("-o", args.output), ("--plots", args.plots)):
        if path is not None:  # checked now, not after the whole evaluation
            check_output(path, option, kind="folder", inputs=inputs)
    if args.deblenders is not None and not [n for n in args.deblenders.split(",") if n.strip()]:
        raise OptionError("--deblenders: no deblender named; see 'candels-gui deblend --list'")
    from ..core.jobs import run_with_progress
    from ..evaluation import evaluate, format_summary, resolve_deblenders, write_plots, write_report

    built, skipped = resolve_deblenders(args.deblenders) if args.deblenders or not args.weights else ({}, {})
    for name, reason in skipped.items():
        print(f"evaluate: skipping {name}: {reason}", file=sys.stderr)
    registered = set(built)
    for deb in _weights_deblenders(args.weights):
        if deb.name in built:
            raise ValueError(f"--weights: a row named {deb.name!r} is evaluated already; rename the file")
        built[deb.name] = deb
    common = dict(split=args.split, limit=args.limit, max_separation=args.max_separation, mag_high=args.mag_high,
                  reference=args.reference, oracle=args.oracle, batch_size=args.batch_size)
    if args.scheduler:
        from ..evaluation.distributed import evaluate_partitioned

        # registry deblenders go by name (each worker builds its own), --weights rows as their files
        items = [name if name in registered else deb for name, deb in built.items()]
        with scheduler_client(args) as client:
            result = run_with_progress(evaluate_partitioned(args.data, items, client=client,
                                                            partition_size=args.partition_size, **common),
                                       "evaluating", unit="blend")
    else:
        result = run_with_progress(evaluate(args.data, list(built.values()) if built else args.deblenders,
                                            **common), "evaluating", unit="blend")
    result.skipped.update(skipped)
    result.provenance.update(_provenance(args, result.params))
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


def _provenance(args: argparse.Namespace, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The command line, this program's version and each weights file's SHA-256 (a path alone does not say
    which weights: train replaces resources/models/MODEL.pt), for the report's metadata."""
    import shlex

    from .. import __version__
    from ..core.data.readers_common import sha256_file

    weights = {name: sha256_file(p["weights"]) for name, p in params.items()
               if isinstance(p.get("weights"), str) and Path(p["weights"]).is_file()}
    return {"command": shlex.join(["candels-gui", *getattr(args, "argv", [])]), "candels_gui_version": __version__,
            "weights_sha256": weights}


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_deblend, _add_train, _add_evaluate,)
