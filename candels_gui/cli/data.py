"""``download`` (the public CANDELS stamps) and ``make-sample-data``."""

from __future__ import annotations

import argparse

from .common import seed, whole


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download the public CANDELS stamp set (Zenodo 2604740)")
    p.add_argument("-o", "--output_dir", default="data", help="destination folder (data)")
    p.add_argument("--keep_archive", action="store_true", help="keep the archive after extraction")
    p.add_argument("--base_url", default="https://zenodo.org", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_download)


def _cmd_download(args: argparse.Namespace) -> int:
    from ..core.data.download import download_dataset
    from ..core.jobs import run_with_progress
    from ..core.validate import check_output

    check_output(args.output_dir, "-o", kind="folder")
    out = run_with_progress(download_dataset(args.output_dir, base_url=args.base_url,
                                             keep_archive=args.keep_archive), "downloading", unit="B")
    print(f"Data in {out}")
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-sample-data", help="regenerate the bundled synthetic CANDELS-like sample set")
    p.add_argument("-o", "--output", default="sample_data", help="output folder (sample_data)")
    p.add_argument("-n", "--n_stamps", type=whole(low=1, high=1_000_000), default=150,
                   help="number of stamps (150)")
    p.add_argument("-s", "--seed", type=seed, default=2604740, help="random seed (2604740)")
    p.add_argument("--morphology", action="store_true",
                   help="labelled stamps for the morphology classifier instead: the six classes in equal "
                        "shares (sph, sphd, disk, irr, point sources, unclassifiable junk), galtype = class, "
                        "plus labels.csv (one-hot vote fractions); see docs/morphology.md")
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..core.data.samplegen import generate_sample_data
    from ..core.validate import check_fits_on_disk, check_output

    check_output(args.output, "-o", kind="folder")
    check_fits_on_disk(args.output, args.n_stamps * (128 * 128 * 8 + 200), "-n",
                       f"{args.n_stamps:,} stamps of 128x128")
    if args.morphology:
        from ..core.data.morph_samples import morphology_sample_job
        from ..core.jobs import run_with_progress

        out = run_with_progress(morphology_sample_job(args.output, n_stamps=args.n_stamps, seed=args.seed),
                                "labelled stamps", unit="stamp")
        print(f"Labelled stamps written to {out} (labels in {out}/labels.csv)")
        return 0
    out = generate_sample_data(args.output, n_stamps=args.n_stamps, seed=args.seed)
    print(f"Sample data written to {out}")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_download, _add_sample,)
