"""``download`` (the public CANDELS stamps) and ``make-sample-data``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

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
    p.add_argument("--variety", choices=("sample", "sky"), default="sample",
                   help="'sky': domain-randomised stamps for training deblenders that hold up on real data "
                        "(instruments, pixel scales, PSFs, noise correlation and depth, bars, asymmetric "
                        "galaxies, cleaned neighbours, masked pixels), plus variety.csv of each stamp's draws; "
                        "see resources/models/README.md, 'Domain-randomised training data'")
    p.add_argument("--workers", type=whole(low=1, high=1024), default=None,
                   help="processes making the stamps (default: one per core); the same bytes for any number")
    p.add_argument("--force", action="store_true",
                   help="replace the stamp set -o holds (the bundled sample_data is remade without it)")
    p.set_defaults(func=_cmd_sample)


def _check_sample_output(out: Path, force: bool) -> None:
    """Never write stamps into a blend export; replace a stamp set only with ``--force`` (a user's own stamps were
    replaced without a word), but for the bundled sample data, whose README says how this command remakes it."""
    from ..core.errors import OutputError

    if not out.is_dir():
        return
    export = [n for n in ("manifest.json", "blends.h5", "blends.zarr") if (out / n).exists()]
    if export:
        raise OutputError(f"-o {out}: holds a blend export ({', '.join(export)}); make the stamps in another folder")
    readme = out / "README.md"
    ours = readme.is_file() and "make-sample-data" in readme.read_text(errors="replace")
    if (out / "candels_img.npy").exists() and not ours and not force:
        raise OutputError(f"-o {out}: holds a stamp set; pass --force to replace it")


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..core.data.samplegen import generate_sample_data
    from ..core.validate import check_fits_on_disk, check_output

    check_output(args.output, "-o", kind="folder")
    _check_sample_output(Path(args.output), args.force)
    check_fits_on_disk(args.output, args.n_stamps * (128 * 128 * 8 + 200), "-n",
                       f"{args.n_stamps:,} stamps of 128x128")
    if args.morphology and args.variety != "sample":
        raise ValueError("--morphology and --variety sky are two different sets: choose one")
    workers = args.workers or os.cpu_count() or 1
    if args.variety == "sky":
        from ..core.data.sky_variety import VARIETY_FILE, sky_variety_job
        from ..core.jobs import run_with_progress

        out = run_with_progress(sky_variety_job(args.output, n_stamps=args.n_stamps, seed=args.seed,
                                                workers=workers),
                                "sky-variety stamps", unit="stamp")
        print(f"Sky-variety stamps written to {out} (each stamp's draws in {out}/{VARIETY_FILE})")
        return 0
    if args.morphology:
        from ..core.data.morph_samples import morphology_sample_job
        from ..core.jobs import run_with_progress

        out = run_with_progress(morphology_sample_job(args.output, n_stamps=args.n_stamps, seed=args.seed,
                                                      workers=workers),
                                "labelled stamps", unit="stamp")
        print(f"Labelled stamps written to {out} (labels in {out}/labels.csv)")
        return 0
    out = generate_sample_data(args.output, n_stamps=args.n_stamps, seed=args.seed, workers=workers)
    print(f"Sample data written to {out}")
    return 0


def _add_compare_stamps(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare-stamps", help="distributions of magnitude, size, S/N, noise and morphology of "
                                              "stamp sets against a reference set (real against generated)",
                       description="Measure the central galaxy of every stamp of each set (or a seeded sample of "
                                   "--limit stamps): magnitude, half-light radius in arcsec, S/N, the background's "
                                   "rms and lag-1 noise correlation, and with statmorph Gini, M20 and asymmetry; "
                                   "write each set's table, the percentiles and KS distances to the first set "
                                   "(summary.md, summary.json), the histograms (distributions.png) and a row of "
                                   "stamps of each set (stamps.png).")
    p.add_argument("sets", nargs="+", metavar="DATA", help="stamp sets (any folder the app opens); the first is the "
                                                            "reference. NAME=DATA names a set")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--limit", type=whole(low=1), default=300, help="stamps measured per set, a seeded sample (300)")
    p.add_argument("-s", "--seed", type=seed, default=0, help="seed of the sample (0)")
    p.add_argument("--no_morphology", action="store_true", help="skip statmorph (Gini, M20, asymmetry): much faster")
    p.add_argument("--workers", type=whole(low=1, high=256), default=None, help="statmorph processes (one per core)")
    p.set_defaults(func=_cmd_compare_stamps)


def _named_sets(values: list[str]) -> dict[str, str]:
    from pathlib import Path

    sets: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or Path(value).exists():
            name, path = Path(value.rstrip("/")).name or value, value
        if name in sets:
            raise ValueError(f"two sets are named {name!r}: name them NAME=DATA")
        if not path.strip():
            raise ValueError(f"set {name!r} names no data (NAME=DATA with DATA a stamp folder or file)")
        if any(c in name for c in '/\\\0') or name in (".", ".."):
            raise ValueError(f"set name {name!r} cannot be part of a file name (stamps_{name}.csv): "
                             f"name it without '/' or '\\'")
        sets[name] = path
    return sets


def _cmd_compare_stamps(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..core.measure.json_out import dumps_strict
    from ..core.data.load import load_stampset
    from ..core.jobs import run_with_progress
    from ..core.measure.stamp_stats import (compare_stamp_sets, pixel_scales_of, stamp_quantities_job,
                                            summary_markdown, write_stamp_montage, write_stamp_plots)
    from ..core.validate import check_output

    sets = _named_sets(args.sets)
    check_output(args.output, "-o", kind="folder", inputs=list(sets.values()))
    out = Path(args.output)
    tables, loaded = {}, {}
    for name, path in sets.items():
        stamps = loaded[name] = load_stampset(path)
        tables[name] = run_with_progress(
            stamp_quantities_job(stamps, pixel_scales=pixel_scales_of(stamps, path), limit=args.limit, seed=args.seed,
                                 morphology=not args.no_morphology, workers=args.workers), name, unit="stamp")
    comparison = compare_stamp_sets(tables, next(iter(sets)))
    comparison["paths"] = sets
    out.mkdir(parents=True, exist_ok=True)      # written once everything is measured: a failure leaves nothing
    for name, table in tables.items():
        table.write(out / f"stamps_{name}.csv", format="ascii.csv", overwrite=True)
    (out / "summary.json").write_text(dumps_strict(comparison, indent=1) + "\n", encoding="utf-8")
    text = summary_markdown(comparison)
    (out / "summary.md").write_text(text, encoding="utf-8")
    write_stamp_plots(tables, out / "distributions.png")
    write_stamp_montage(loaded, out / "stamps.png", seed=args.seed)
    print(text, end="")
    print(f"Tables, summary.md, summary.json, distributions.png and stamps.png in {out}")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_download, _add_sample, _add_compare_stamps)
