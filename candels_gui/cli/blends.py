"""``produce``, ``concatenate``, ``convert``: candels-blender's three commands, same names and defaults."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from .common import (LABEL_CHOICES, PARTITIONS_KEPT, add_scheduler_options, default_data, number, say_kept,
                     scheduler_client, seed, whole)

def _add_produce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="make blends (candels-blender's produce, same options and defaults)",
                       description="Produce stamps of blended galaxies with their masks, isolated images and "
                                   "a catalogue, split into train and test by galaxy.")
    p.add_argument("-n", "--n_blends", type=whole(low=1), default=100, help="number of blends to produce (default 100)")
    p.add_argument("--mag_low", type=number(), default=0.0, help="lowest galaxy magnitude, strict (default 0)")
    p.add_argument("--mag_high", type=number(), default=100.0, help="highest galaxy magnitude, strict (default 100)")
    p.add_argument("--mag_diff", type=number(low=0, low_open=True), default=2.0, help="top magnitude difference between galaxies (2)")
    p.add_argument("--rad_diff", type=number(low=0, low_open=True), default=4.0,
                   help="top distance between galaxies as a multiple of the smaller radius (4)")
    p.add_argument("-t", "--test_ratio", type=number(low=0, high=1, high_open=True), default=0.2,
                   help="fraction of the galaxies used only for the test set (0.2)")
    p.add_argument("-e", "--excluded_type", action="append", default=[],
                   choices=("irr", "disk", "sph", "sphd", "ps", "unc"),
                   help="excluded galaxy type (repeatable; ps and unc with predicted types)")
    p.add_argument("-d", "--datapath", default=None,
                   help="input data: candels-blender folder, FITS stamps or a GalSim real-galaxy catalog "
                        "(default: the bundled sample data)")
    p.add_argument("-s", "--seed", type=seed, default=42, help="random seed (42)")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: output-s_SEED-n_N, as candels-blender)")
    g = p.add_argument_group("options candels-blender lacked")
    g.add_argument("--radius_min", type=number(low=0), default=None, help="smallest half-light radius, px")
    g.add_argument("--radius_max", type=number(low=0), default=None, help="largest half-light radius, px")
    g.add_argument("--z_min", type=number(), default=None, help="lowest redshift")
    g.add_argument("--z_max", type=number(), default=None, help="highest redshift")
    g.add_argument("--max_separation", type=number(low=0, low_open=True), default=None, help="separation cap, px (half the stamp)")
    g.add_argument("--uniform_area", action="store_true", help="separation uniform in area, not in a square")
    g.add_argument("--subpixel", action="store_true", help="sub-pixel offsets (implies --uniform_area)")
    g.add_argument("--rotate", action="store_true", help="random rotation of galaxy 2")
    g.add_argument("--flip", action="store_true", help="random left-right flip of galaxy 2")
    g.add_argument("--flux_ratio", type=number(low=1e-6, high=1e6), nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="range of galaxy 2's flux scale, drawn log-uniformly")
    g.add_argument("--allow_self", action="store_true", help="allow a galaxy to be blended with itself")
    g.add_argument("--ids", default=None, metavar="IDS",
                   help="only these catalog IDs: a comma-separated list, or a text file of IDs (one or more a line, "
                        "commas or spaces; # starts a comment), e.g. the real galaxies to fine-tune on")
    g.add_argument("--noise_model", choices=("clipped", "candels-blender"), default="clipped",
                   help="neighbour-cleaning noise: clipped background sigma (default) or candels-blender's")
    g.add_argument("--compression", choices=("none", "lzf", "gzip"), default="none", help="HDF5 compression")
    g.add_argument("--storage", choices=("compact", "arrays"), default=None,
                   help="compact (default; arrays with --format zarr): write each blend's spec and, once, the stamps the specs use; "
                        "concatenate, train, evaluate and deblend render the arrays on read, bit-identically "
                        "(~300 bytes per blend plus the stamps). arrays: also write every blend's images "
                        "and masks (224 kB per 128 px blend) for tools that read blends.h5 directly")
    g.add_argument("--batch_size", type=whole(low=1, high=1_000_000), default=256, help="blends per chunk (bounds memory)")
    g.add_argument("--nan_policy", choices=("error", "replace"), default="error",
                   help="NaN or infinite pixels in the input: refuse the data (default), or replace them by the "
                        "stamp's background, said in a warning")
    g.add_argument("--force", action="store_true", help="replace an existing output folder's files")
    g.add_argument("--format", choices=("hdf5", "zarr"), default="hdf5", dest="store_format",
                   help="hdf5 (default): blends.h5; zarr: blends.zarr, a Zarr store whose chunks the workers of "
                        "--scheduler write in parallel (every array stored; -o may be a URL fsspec opens)")
    add_scheduler_options(p, partition_default="default 256; with --format zarr also the chunk length",
                          resume="--format zarr: continue the unfinished store a stopped run left in the output "
                                 "folder (same data, options and seed), computing only the partitions it lacks")
    g.add_argument("--galtype", choices=("catalog", "predicted"), default=None,
                   help="galaxy types for -e and the catalogues: the catalog's (default), or the morphology "
                        "classifier's (default when -e is given and the catalog has no types)")
    g.add_argument("--morph_weights", default=None, metavar="W.pt",
                   help="with --galtype predicted: the classifier's weights (default: the shipped morph-cnn)")
    p.set_defaults(func=_cmd_produce)


def _read_ids(value: str | None) -> tuple[str, ...] | None:
    """``--ids``: the IDs of a comma-separated list or of a text file (commas, spaces, lines; ``#`` comments)."""
    if value is None:
        return None
    from ..core.errors import OptionError

    text = value
    if Path(value).is_file():
        try:
            text = "\n".join(line.split("#", 1)[0] for line in Path(value).read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as exc:
            raise OptionError(f"--ids {value}: cannot read it as text ({exc})") from None
    elif not any(ch.isdigit() for ch in value):
        raise OptionError(f"--ids {value}: neither a file nor a list of catalog IDs")
    items = tuple(t for t in text.replace(",", " ").split() if t)
    if not items:
        raise OptionError(f"--ids {value}: no catalog ID in it")
    return items


def _cmd_produce(args: argparse.Namespace) -> int:
    from ..core.data.catalog import CatalogFilter
    from ..core.jobs import run_with_progress
    from ..core.store.produce import ProduceOptions, produce
    from ..core.blending.sampling import SamplingRules
    from ..core.atomic import remove_stale_temps
    from ..core.data.load import load_stampset
    from ..core.errors import Cancelled, DataWarning, OptionError
    from ..core.store.distributed import ZARR_PRODUCE_NAME
    from ..core.store.produce import PRODUCE_FILE, check_produce_size
    from ..core.validate import check_output

    datapath = args.datapath or default_data()
    _check_ranges(args)
    zarr = args.store_format == "zarr"
    storage = args.storage or ("arrays" if zarr else "compact")
    if zarr and storage != "arrays":
        raise OptionError("--format zarr stores every blend's arrays: drop --storage compact (or use --format hdf5)")
    if args.resume and not zarr:
        raise OptionError("--resume continues an unfinished Zarr store: give --format zarr")
    from ..core.store.zarr_store import is_local, local_path

    remote = not is_local(str(args.output or ""))
    # a file:// URL is a local folder (Path() would make 'file:/…' of it, a folder under this one)
    out: Any = args.output if remote else Path(local_path(args.output) if args.output is not None
                                               else f"output-s_{args.seed}-n_{args.n_blends}")
    if not remote:
        check_output(out, "-o", kind="folder", inputs=[datapath])
        if out.is_dir():
            remove_stale_temps(out, force=args.force)  # left by a run that was killed (kill -9, power loss)
            _check_replace(out, args.force, args.resume)
        check_produce_size(args.n_blends, out, storage=storage, stamp_size=None)
    stamps = load_stampset(datapath, nan_policy=args.nan_policy)
    if stamps.meta.get("nonfinite_replaced"):
        warnings.warn(DataWarning(f"{stamps.meta['nonfinite_replaced']} NaN/inf pixel(s) of {datapath} replaced by "
                                  f"the background (--nan_policy replace)"))
    if not remote:
        check_produce_size(args.n_blends, out, storage=storage, stamp_size=stamps.stamp_shape)
    _check_batch_memory(args.batch_size, stamps.stamp_shape)
    options = ProduceOptions(
        n_blends=args.n_blends, test_ratio=args.test_ratio, seed=args.seed,
        catalog_filter=CatalogFilter(mag_low=args.mag_low, mag_high=args.mag_high,
                                     excluded_types=tuple(args.excluded_type),
                                     radius_min=args.radius_min, radius_max=args.radius_max,
                                     z_min=args.z_min, z_max=args.z_max, ids=_read_ids(args.ids)),
        rules=SamplingRules(mag_diff=args.mag_diff, rad_diff=args.rad_diff,
                            max_separation=args.max_separation,
                            uniform_area=args.uniform_area or args.subpixel, subpixel=args.subpixel,
                            random_rotation=args.rotate, random_flip=args.flip,
                            flux_ratio=tuple(args.flux_ratio) if args.flux_ratio else None,
                            allow_self=args.allow_self),
        noise_model=args.noise_model,
        compression=None if args.compression == "none" else args.compression,
        storage=storage, batch_size=args.batch_size,
    )
    galtypes, source = _galtypes_for(args, stamps)
    if galtypes is not None:
        from ..core.store.produce import with_galtypes

        counts = {str(t): int((galtypes == t).sum()) for t in sorted(set(galtypes))}
        print(f"galaxy types from the morphology classifier: {counts}", file=sys.stderr)
        stamps_cut = with_galtypes(stamps, galtypes)
    else:
        stamps_cut = stamps
    n_pass = int(options.catalog_filter.mask(stamps_cut.catalog).sum())
    print(f"{len(stamps)} galaxies read from {datapath}; {n_pass} pass the cuts", file=sys.stderr)
    if not (args.scheduler or zarr):
        run_with_progress(produce(stamps, out, options, galtypes=galtypes, galtype_source=source), "producing",
                          unit="blend")
        print(f"Blends stored in {out}")
        return 0
    from ..core.parallel import DEFAULT_PARTITION_SIZE
    from ..core.store.distributed import produce_partitioned

    with scheduler_client(args) as client:   # the predicted types only steer the draw: the stamps carry them
        job = produce_partitioned(stamps_cut, out, options, client=client, fmt=args.store_format,
                                  data_path=datapath, partition_size=args.partition_size or DEFAULT_PARTITION_SIZE,
                                  resume=args.resume)
        try:
            run_with_progress(job, "producing", unit="blend")
        except (KeyboardInterrupt, Cancelled):
            if zarr:
                say_kept(args, f"{out}/.blends.zarr.partial", PARTITIONS_KEPT,
                         "computes only the others; without --resume (and with --force) it starts over")
            raise
    if not remote:
        from ..core.store.produce import remove_derived_arrays

        remove_derived_arrays(out, produced=ZARR_PRODUCE_NAME if zarr else PRODUCE_FILE)
    print(f"Blends stored in {out}")
    return 0


def _check_replace(out: Path, force: bool, resume: bool) -> None:
    """A non-empty ``-o`` folder is replaced only with ``--force``; ``--resume`` only continues the unfinished
    store a stopped ``--format zarr`` run left there (it never replaces a finished export)."""
    from ..core.errors import OutputError

    if not any(out.iterdir()) or force:
        return
    if not resume:
        raise OutputError(f"-o {out}: exists and is not empty; use --force to replace its files")
    if not (out / ".blends.zarr.partial").is_dir():
        raise OutputError(f"-o {out}: --resume: nothing to resume here (no unfinished store .blends.zarr.partial); "
                          f"use --force to replace its files")


def _check_batch_memory(batch_size: int, shape: tuple[int, int]) -> None:
    """A batch (blend, two isolated images, two masks and the engine's work arrays, ~8 float32 images per
    blend) must fit in half this machine's memory."""
    from ..core.errors import OptionError
    from ..core.validate import available_memory, format_bytes

    need = batch_size * shape[0] * shape[1] * 4 * 8
    mem = available_memory()
    if mem is not None and need > mem / 2:
        raise OptionError(f"--batch_size {batch_size}: a batch of {shape[0]}x{shape[1]} blends needs about "
                          f"{format_bytes(need)}, more than half this machine's {format_bytes(mem)}; use a smaller one")


def _check_ranges(args: argparse.Namespace) -> None:
    """Bounds that come in pairs: low below high."""
    from ..core.validate import ordered

    ordered(args.mag_low, args.mag_high, "--mag_low", "--mag_high", strict=True)
    ordered(args.radius_min, args.radius_max, "--radius_min", "--radius_max")
    ordered(args.z_min, args.z_max, "--z_min", "--z_max")
    if args.flux_ratio:
        ordered(args.flux_ratio[0], args.flux_ratio[1], "--flux_ratio LOW", "HIGH")
def _galtypes_for(args: argparse.Namespace, stamps) -> tuple:
    """``produce --galtype``: ``(None, "catalog")``, or the classifier's types and where they came from."""
    import numpy as np

    from ..core.data.stampset import GALTYPES

    from ..core.errors import OptionError

    mode = args.galtype
    types = np.char.lower(np.asarray(stamps.catalog["galtype"]).astype(str))
    known = np.isin(types, GALTYPES)
    if mode == "catalog" and args.morph_weights:
        raise OptionError("--morph_weights: the classifier's weights, used with --galtype predicted")
    if mode is None:
        mode = "predicted" if args.morph_weights or (args.excluded_type and not known.any()) else "catalog"
        if mode == "predicted" and not args.morph_weights:
            print("the catalog has no galaxy types: -e uses the morphology classifier's (--galtype predicted)",
                  file=sys.stderr)
    if mode == "catalog":
        if args.excluded_type and not known.any():
            print(f"warning: the catalog has no galaxy types (galtype: {_some_values(types)}), so -e "
                  f"{' -e '.join(args.excluded_type)} leaves out nothing; --galtype predicted uses the morphology "
                  f"classifier's types", file=sys.stderr)
        else:
            _warn_absent_types(args.excluded_type, types, "the catalog's galtype")
        return None, "catalog"
    from ..core.data.readers_common import sha256_file
    from ..core.jobs import run_with_progress
    from ..morphology.classifier import MorphClassifier, classify_job
    from .common import weights_option
    from .morphology import warn_small_stamps

    warn_small_stamps(stamps)
    clf = MorphClassifier.load(weights_option(args.morph_weights, "morph-cnn", "--morph_weights"))
    result = run_with_progress(classify_job(stamps, clf), "classifying", unit="stamp")
    sha = sha256_file(clf.path)[:16]
    _warn_absent_types(args.excluded_type, np.asarray(result.predicted).astype(str), "the classifier's types")
    return result.predicted, f"predicted ({Path(clf.path).resolve()}, sha256 {sha})"


def _warn_absent_types(excluded, types, where: str) -> None:
    """``-e TYPE`` for a type no galaxy has leaves out nothing: say so (a typo, or types of another scheme)."""
    import numpy as np

    absent = [t for t in (excluded or []) if not np.isin(str(t).lower(), types)]
    if absent:
        present = ", ".join(sorted(set(types.tolist())))
        print(f"warning: no galaxy is of type {', '.join(absent)} in {where} ({present}): "
              f"-e {' -e '.join(absent)} leaves out nothing", file=sys.stderr)


def _some_values(types, n: int = 3) -> str:
    """A few distinct values of a galtype column, for a message."""
    values = sorted(set(types.tolist()))
    return ", ".join(values[:n]) + (", …" if len(values) > n else "")


def _add_concatenate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("concatenate", help="turn a produce output into the npy layout for a label method",
                       description="Write {train,test}_images.npy and {train,test}_labels.npy (label METHOD) "
                                   "from a produce output folder, as candels-blender's concatenate.")
    p.add_argument("-d", "--image_dir", required=True, help="output folder of candels-gui produce")
    p.add_argument("-m", "--method", required=True, choices=LABEL_CHOICES, help="label method")
    p.add_argument("--delete", action="store_true", help="delete blends.h5 once finished")
    p.add_argument("--format", choices=("npy", "zarr"), default="npy", dest="store_format",
                   help="npy (default): candels-blender's .npy files; zarr: the same arrays in one Zarr store, "
                        "concatenated.zarr, written by the workers of --scheduler in parallel")
    add_scheduler_options(p, partition_default="default 256; every worker writes into the output folder, so on a "
                                               "cluster it must be shared storage")
    p.set_defaults(func=_cmd_concatenate)


def _cmd_concatenate(args: argparse.Namespace) -> int:
    from ..core.store.concatenate import concatenate
    from ..core.jobs import run_with_progress

    if args.scheduler or args.store_format == "zarr" or (Path(args.image_dir) / "blends.zarr").exists():
        from ..core.parallel import DEFAULT_PARTITION_SIZE
        from ..core.store.distributed import concatenate_partitioned

        with scheduler_client(args) as client:
            written = run_with_progress(
                concatenate_partitioned(args.image_dir, args.method, client=client, delete=args.delete,
                                        partition_size=args.partition_size or DEFAULT_PARTITION_SIZE,
                                        fmt=args.store_format),
                "concatenating", unit="blend")
        for path in written:
            print(f"=> {path} created")
        return 0
    written = run_with_progress(concatenate(args.image_dir, args.method, delete=args.delete),
                                "concatenating", unit="blend")
    for path in written:
        print(f"=> {path} created")
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="flux arrays from the blend catalogues (candels-blender's convert)")
    p.add_argument("-d", "--image_dir", required=True, help="output folder of candels-gui produce")
    p.add_argument("--zeropoint", type=number(low=-100, high=100), default=25.96, help="magnitude zeropoint (25.96)")
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from ..core.store.concatenate import convert

    for path in convert(args.image_dir, zeropoint=args.zeropoint):
        print(f"=> {path} created")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_produce, _add_concatenate, _add_convert,)
