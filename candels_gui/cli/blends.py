"""``produce``, ``concatenate``, ``convert``: candels-blender's three commands, same names and defaults."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import LABEL_CHOICES, default_data

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
    p.add_argument("-e", "--excluded_type", action="append", default=[],
                   choices=("irr", "disk", "sph", "sphd", "ps", "unc"),
                   help="excluded galaxy type (repeatable; ps and unc with predicted types)")
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
    g.add_argument("--galtype", choices=("catalog", "predicted"), default=None,
                   help="galaxy types for -e and the catalogues: the catalog's (default), or the morphology "
                        "classifier's (default when -e is given and the catalog has no types)")
    g.add_argument("--morph_weights", default=None, metavar="W.pt",
                   help="with --galtype predicted: the classifier's weights (default: the shipped morph-cnn)")
    p.set_defaults(func=_cmd_produce)


def _cmd_produce(args: argparse.Namespace) -> int:
    from ..core.data.catalog import CatalogFilter
    from ..core.jobs import run_with_progress
    from ..core.store.produce import ProduceOptions, produce
    from ..core.blending.sampling import SamplingRules
    from ..core.data.load import load_stampset

    datapath = args.datapath or default_data()
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
    run_with_progress(produce(stamps, out, options, galtypes=galtypes, galtype_source=source), "producing",
                      unit="blend")
    print(f"Blends stored in {out}")
    return 0


def _galtypes_for(args: argparse.Namespace, stamps) -> tuple:
    """``produce --galtype``: ``(None, "catalog")``, or the classifier's types and where they came from."""
    import numpy as np

    from ..core.data.stampset import GALTYPES

    mode = args.galtype
    if mode is None:
        known = np.isin(np.char.lower(np.asarray(stamps.catalog["galtype"]).astype(str)), GALTYPES)
        mode = "predicted" if args.excluded_type and not known.any() else "catalog"
        if mode == "predicted":
            print("the catalog has no galaxy types: -e uses the morphology classifier's (--galtype predicted)",
                  file=sys.stderr)
    if mode == "catalog":
        return None, "catalog"
    from ..core.jobs import run_with_progress
    from ..morphology.classifier import MorphClassifier, classify_job

    clf = MorphClassifier.load(args.morph_weights)
    result = run_with_progress(classify_job(stamps, clf), "classifying", unit="stamp")
    return result.predicted, f"predicted ({clf.path.name})"


def _add_concatenate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("concatenate", help="turn a produce output into the npy layout for a label method",
                       description="Write {train,test}_images.npy and {train,test}_labels.npy (label METHOD) "
                                   "from a produce output folder, as candels-blender's concatenate.")
    p.add_argument("-d", "--image_dir", required=True, help="output folder of candels-gui produce")
    p.add_argument("-m", "--method", required=True, choices=LABEL_CHOICES, help="label method")
    p.add_argument("--delete", action="store_true", help="delete blends.h5 once finished")
    p.set_defaults(func=_cmd_concatenate)


def _cmd_concatenate(args: argparse.Namespace) -> int:
    from ..core.store.concatenate import concatenate
    from ..core.jobs import run_with_progress

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
    from ..core.store.concatenate import convert

    for path in convert(args.image_dir, zeropoint=args.zeropoint):
        print(f"=> {path} created")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_produce, _add_concatenate, _add_convert,)
