"""``morphology`` (statmorph diagnostics), ``classify`` (the morphology CNN) and ``morph-transfer``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..core.atomic import temp_path
from .common import (add_scheduler_options, add_threads_option, default_data, number, scheduler_client,
                     torch_threads, weights_option, whole)

#: Below this many labelled galaxies, training morph-cnn from scratch is worth a note pointing at ``--init shipped``.
FEW_LABELS = 500


def _inputs(datapath: str | None, *files: str | None) -> list[str]:
    """The files a command reads: the data (a folder and the files in it, or a file) and ``files``."""
    data = Path(datapath or default_data())
    out = [str(data), *(str(f) for f in files if f)]
    if data.is_dir():
        out += [str(q) for q in data.iterdir() if q.is_file()]
    return out


def _check_suffix(path: str | None, option: str, allowed: tuple[str, ...], what: str) -> None:
    """Refuse an output whose suffix names another format than the one written (``-o m.fits`` got CSV text)."""
    from ..core.errors import OptionError

    if path and Path(path).suffix.lower() not in allowed:
        raise OptionError(f"{option} {path}: writes {what}; name it {' or '.join('*' + a for a in allowed)}")


def _write_table_atomic(table, path: str | os.PathLike) -> Path:
    """Write an astropy Table as CSV (or ECSV for .ecsv) under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "ascii.ecsv" if path.suffix.lower() == ".ecsv" else "ascii.csv"
    tmp = temp_path(path)
    try:
        table.write(tmp, format=fmt, overwrite=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _add_morphology(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("morphology", help="statmorph diagnostics of every stamp's central galaxy -> CSV",
                       description="Gini, M20, concentration, asymmetry, smoothness, Sérsic n, half-light radius, "
                                   "ellipticity and statmorph's flags of every stamp's central galaxy, on every "
                                   "core, cached per data set. See docs/morphology.md.")
    p.add_argument("-d", "--datapath", default=None, help="data (default: the bundled sample data)")
    p.add_argument("-o", "--output", required=True, help="CSV file to write (.ecsv: ECSV)")
    p.add_argument("--labels", default=None, metavar="LABELS.csv",
                   help="also write a label file (ID + p_<class>) from the diagnostics by the Lotz et al. "
                        "2008 rule of docs/morphology.md")
    p.add_argument("--workers", type=whole(low=1, high=1024), default=None,
                   help="processes (default: one per core)")
    p.add_argument("--no_cache", action="store_true", help="measure again, ignoring the per-data-set cache")
    _add_nan_policy(p)
    p.set_defaults(func=_cmd_morphology)


def _add_nan_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nan_policy", choices=("error", "replace"), default="error",
                   help="NaN or infinite pixels in the data: refuse it (default), or replace them by the stamp's "
                        "background (they then count as sky)")


def lotz_labels_for(stamps, table):
    """Lotz et al. 2008 classes of a measured table (PSF FWHM from the data's PSFs when it has them)."""
    import numpy as np

    from ..core.measure.morph_rules import lotz_classes, psf_fwhm_px

    fwhm = None
    if stamps.psfs is not None:
        fwhm = np.array([psf_fwhm_px(p) for p in stamps.psfs])     # PSFs share the stamps' pixels
    return lotz_classes(gini=table["gini"], m20=table["m20"], asymmetry=table["asymmetry"],
                        sersic_n=table["sersic_n"], flag=table["flag"], sn_per_pixel=table["sn_per_pixel"],
                        rhalf=table["rhalf"], psf_fwhm=fwhm)


def _cmd_morphology(args: argparse.Namespace) -> int:
    from ..core.data.load import load_stampset
    from ..core.data.morph_labels import one_hot, write_labels_csv
    from ..core.jobs import run_with_progress
    from ..core.measure.morphology import morphology_job

    from ..core.validate import check_output

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    _check_suffix(args.output, "-o", (".csv", ".ecsv"), "a CSV table (.ecsv: ECSV)")
    _check_suffix(args.labels, "--labels", (".csv",), "a CSV label file")
    out = check_output(args.output, "-o", kind="file", inputs=_inputs(args.datapath))
    if args.labels:
        check_output(args.labels, "--labels", kind="file", inputs=[*_inputs(args.datapath), str(out)])
    stamps = load_stampset(args.datapath or default_data(), nan_policy=args.nan_policy)
    table = run_with_progress(morphology_job(stamps, workers=args.workers, use_cache=not args.no_cache),
                              "statmorph", unit="stamp")
    out = _write_table_atomic(table, args.output)
    failed = int((table["flag"] >= 2).sum())
    print(f"{len(table)} galaxies measured -> {out} ({failed} flagged bad or failed: see flag, morph_error)")
    if args.labels:
        classes = lotz_labels_for(stamps, table)
        lab = write_labels_csv(args.labels, table["id"], one_hot(classes))
        counts = {str(c): int((classes == c).sum()) for c in sorted(set(classes))}
        print(f"Lotz et al. 2008 labels -> {lab} {counts}")
    return 0


def _add_classify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="the morphology CNN's class probabilities of every stamp -> CSV",
                       description="Columns ID, galtype_pred (sph, sphd, disk, irr, ps, unc), p_pred and one "
                                   "probability p_<class> per class. See docs/morphology.md.")
    p.add_argument("-d", "--datapath", default=None, help="data (default: the bundled sample data)")
    p.add_argument("-o", "--output", required=True, help="CSV file to write")
    p.add_argument("--weights", default=None, help="weights file (default: resources/models/morph-cnn.pt)")
    p.add_argument("--batch_size", type=whole(low=1, high=65536), default=256)
    p.add_argument("--tta", action="store_true", help="average over the 8 turns and flips (8x slower)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--score", default=None, metavar="TRUTH",
                   help="compare with true labels: a label file (ID + p_<class>), or 'catalog' for the "
                        "catalog's galtype; prints accuracy, RMSE and the confusion matrix")
    p.add_argument("--mag_high", type=number(low=-50, high=100), default=None, metavar="MAG",
                   help="with --score: score only the galaxies brighter than MAG (catalog magnitude)")
    p.add_argument("--json", action="store_true", help="with --score: print the scores as one JSON object")
    p.add_argument("--plot", default=None, metavar="PNG", help="with --score: draw the confusion matrix")
    _add_nan_policy(p)
    add_scheduler_options(p, partition_default="rounded up to whole batches; default: about four tasks per "
                                               "worker, 256 to 4,096 stamps")
    p.set_defaults(func=_cmd_classify)


def warn_small_stamps(stamps) -> None:
    """Say when the stamps are too small for the classifier's views (its predictions on them are not to trust)."""
    from ..morphology.preprocess import small_stamp_note

    note = small_stamp_note(stamps.stamp_shape, stamps.pixel_scale)
    if note:
        print(f"warning: {note}", file=sys.stderr)


def _truth_for(stamps, score: str, labels=None):
    """(rows of stamps, fractions) of the truth ``score`` names (``labels``: its label file, already read)."""
    import numpy as np

    from ..core.data.morph_labels import MORPH_CLASSES, one_hot, read_labels_csv
    from ..core.errors import DataError

    if score == "catalog":
        types = np.char.lower(np.asarray(stamps.catalog["galtype"]).astype(str))
        keep = np.isin(types, MORPH_CLASSES + ("star",))
        if not keep.any():
            raise DataError("--score catalog: the catalog's galtype column holds no class "
                            f"({', '.join(MORPH_CLASSES)}); found {', '.join(sorted(map(str, set(types)))[:5])}")
        return np.flatnonzero(keep), one_hot(types[keep])
    labels = (labels or read_labels_csv(score)).check_known(stamps.ids)
    return stamps.indices_of(labels.ids), labels.fractions


def _cmd_classify(args: argparse.Namespace) -> int:
    from ..core.data.load import load_stampset
    from ..core.errors import DataError
    from ..core.jobs import run_with_progress
    from ..morphology.classifier import MorphClassifier, classify_job

    from ..core.validate import check_output

    from ..core.errors import OptionError

    idle = [opt for opt, given in (("--plot", args.plot), ("--json", args.json),
                                   ("--mag_high", args.mag_high is not None)) if given]
    if idle and not args.score:
        raise OptionError(f"{', '.join(idle)}: work(s) on the scores, with --score TRUTH (a label file, or catalog)")
    _check_suffix(args.output, "-o", (".csv",), "a CSV label file (the form train --data reads)")
    _check_suffix(args.plot, "--plot", (".png",), "a PNG picture")
    args.weights = weights_option(args.weights, "morph-cnn", "--weights")
    check_output(args.output, "-o", kind="file", inputs=_inputs(
        args.datapath, args.weights, args.score if args.score != "catalog" else None))
    if args.plot:
        check_output(args.plot, "--plot", kind="file", inputs=[*_inputs(args.datapath), args.output])
    labels = None
    if args.score and args.score != "catalog":
        from ..core.data.morph_labels import read_labels_csv

        labels = read_labels_csv(args.score)     # the file's own faults, before the stamps load
    stamps = load_stampset(args.datapath or default_data(), nan_policy=args.nan_policy)
    warn_small_stamps(stamps)
    truth = _truth_for(stamps, args.score, labels) if args.score else None     # bad labels fail before the work
    if truth is not None and args.mag_high is not None:
        import numpy as np

        keep = np.asarray(stamps.catalog["mag"], float)[truth[0]] < args.mag_high
        truth = (truth[0][keep], truth[1][keep])
        if not keep.any():
            raise DataError(f"--score: no labelled galaxy is brighter than --mag_high {args.mag_high:g}: "
                            f"nothing to score")
    if args.scheduler:
        from ..morphology.classifier import default_weights
        from ..morphology.distributed import classify_partitioned

        with scheduler_client(args) as client:
            result = run_with_progress(classify_partitioned(
                stamps, args.weights or default_weights(), client=client, data_path=args.datapath or default_data(),
                device=args.device, batch_size=args.batch_size, partition_size=args.partition_size, tta=args.tta),
                f"classify (on {args.scheduler})", unit="stamp")
        clf_name = f"{result.device}, on {args.scheduler}"
    else:
        clf = MorphClassifier.load(args.weights, device=args.device)
        result = run_with_progress(classify_job(stamps, clf, batch_size=args.batch_size, tta=args.tta),
                                   f"classify ({clf.device_name})", unit="stamp")
        clf_name = clf.device_name
    out = _write_table_atomic(result.as_table(), args.output)
    counts = {str(c): int((result.predicted == c).sum()) for c in sorted(set(result.predicted))}
    print(f"{len(result.ids)} stamps classified ({clf_name}) -> {out} {counts}", file=sys.stderr)
    if truth is not None:
        _print_scores(result.probabilities[truth[0]], truth[1], as_json=args.json)
        if args.plot:
            from ..evaluation.morph_plots import plot_confusion
            from ..morphology.training import confusion_matrix

            name = Path(args.datapath or default_data()).name
            plot_confusion({name: confusion_matrix(result.probabilities[truth[0]], truth[1])}, args.plot)
    return 0


def _print_scores(probs, fractions, *, as_json: bool) -> None:
    from ..core.data.morph_labels import MORPH_CLASSES
    from ..morphology.training import confusion_matrix, scores

    s = scores(probs, fractions)
    cm = confusion_matrix(probs, fractions)
    if as_json:
        print(json.dumps({**s, "confusion": cm.tolist(), "classes": list(MORPH_CLASSES)}))
        return
    print(f"accuracy {s['accuracy']:.3f}, RMSE {s['rmse']:.4f} over {s['n']} galaxies")
    print("confusion (rows: truth, columns: predicted)")
    print("       " + "".join(f"{c:>6s}" for c in MORPH_CLASSES))
    for c, row in zip(MORPH_CLASSES, cm):
        print(f"{c:>6s} " + "".join(f"{v:6d}" for v in row))


def _stamps_for_labels(args: argparse.Namespace):
    from ..core.data.load import load_stampset
    from ..core.errors import DataError

    if args.stamps:
        return load_stampset(args.stamps)
    folder = Path(args.data).parent
    try:
        return load_stampset(folder)
    except (DataError, FileNotFoundError, ValueError) as exc:
        raise DataError(f"--stamps DATA is needed: the folder of {args.data} holds no stamps ({exc})") from None


def train_morph_cnn(args: argparse.Namespace) -> int:
    """``candels-gui train --model morph-cnn``: train or fine-tune the classifier on a label file."""
    from ..core.data.morph_labels import read_labels_csv
    from ..core.jobs import run_with_progress
    from ..morphology.classifier import default_weights
    from ..morphology.training import train_classifier_job

    unused = [opt for opt, given in (("--resume", args.resume), ("--coords", args.coords),
                                     ("--depth", args.depth is not None), ("--schedule", args.schedule != "cosine"),
                                     ("--flux_weight", args.flux_weight != 1.0), ("--memory_mb", args.memory_mb != 1024))
              if given]
    if unused:
        raise ValueError(f"{', '.join(unused)}: not an option of morph-cnn (see docs/morphology.md)")
    if args.lr == 0:
        raise ValueError("--lr 0 (a measuring run) is for the deblenders; to score morph-cnn weights on labels, "
                         "run 'candels-gui classify --weights W.pt --score LABELS.csv'")
    from ..core.validate import check_output

    out = Path(args.output) if args.output else default_weights()
    from ..torch_common import prev_weights_path

    replaced = prev_weights_path(out) if out.is_file() else None
    check_output(out, "-o", kind="file", inputs=[args.data, args.init,
                                                *_inputs(args.stamps or str(Path(args.data).parent))])
    labels = read_labels_csv(args.data)          # the file's own faults, before the stamps load
    stamps = _stamps_for_labels(args)
    labels.check_known(stamps.ids)
    if args.init is None and len(labels) < FEW_LABELS:
        print(f"note: training from scratch on {len(labels)} labelled galaxies; to fine-tune the shipped classifier "
              f"on them (as docs/morphology.md does), add --init shipped", file=sys.stderr)
    torch_threads(args)
    command = "candels-gui " + " ".join(getattr(args, "argv", None) or sys.argv[1:])
    card = run_with_progress(train_classifier_job(
        stamps, labels, out, init=args.init, freeze=args.freeze, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, val_fraction=args.val_fraction, patience=args.patience, seed=args.seed,
        augment=not args.no_augment, device=args.device, base=args.base, command=command),
        "train morph-cnn", unit="batch", log=True)
    tr = card["training"]
    best = ", ".join(f"{k} {v:.4g}" for k, v in card.get("metrics", {}).items())
    kept = (f"{tr['n_val']} validation galaxies; best epoch {tr['best_epoch']} of {tr['epochs_run']}" if tr["n_val"]
            else f"no validation: the last epoch's weights, {tr['epochs_run']} epochs")
    print(f"weights written to {out} ({tr['n_train']} training galaxies, {kept}: {best})")
    if replaced is not None:
        print(f"the weights they replace are kept as {replaced}")
    return 0


def _add_transfer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("morph-transfer", help="transfer learning: fine-tuned vs from scratch vs shipped classifier "
                                              "against the number of labelled galaxies",
                       description="Cross-validated by galaxy: each fold in turn is the test set; N labelled "
                                   "galaxies of the others train a fine-tuned and a from-scratch network. "
                                   "See docs/morphology.md.")
    p.add_argument("-d", "--datapath", required=True, help="the stamps")
    p.add_argument("--labels", required=True, metavar="LABELS.csv", help="vote fractions of (some of) the stamps")
    p.add_argument("--init", default=None, help="weights to fine-tune (default: the shipped resources/models/morph-cnn.pt)")
    p.add_argument("--sizes", default="10,25,50,75", help="numbers of labelled training galaxies (10,25,50,75)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20, help="epochs of each fit (each at least 256 samples)")
    p.add_argument("--freeze", type=int, default=0, help="blocks kept fixed when fine-tuning (0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default=None, metavar="JSON", help="write the result as JSON")
    p.add_argument("--plot", default=None, metavar="PNG", help="draw accuracy and RMSE against the number")
    add_threads_option(p)
    p.set_defaults(func=_cmd_transfer)


def _cmd_transfer(args: argparse.Namespace) -> int:
    from ..core.data.load import load_stampset
    from ..core.data.morph_labels import read_labels_csv
    from ..core.jobs import run_with_progress
    from ..morphology.classifier import default_weights
    from ..morphology.transfer import transfer_job

    try:
        sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--sizes must be integers separated by commas, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--sizes must be whole numbers of labelled galaxies, 1 or more, got {args.sizes!r}")
    _check_suffix(args.output, "-o", (".json",), "JSON")
    _check_suffix(args.plot, "--plot", (".png",), "a PNG picture")
    from ..core.validate import check_output

    args.init = weights_option(args.init, "morph-cnn")
    for path, option in ((args.output, "-o"), (args.plot, "--plot")):   # before the folds, not after them
        if path:
            check_output(path, option, kind="file", inputs=_inputs(args.datapath, args.labels, args.init))
    labels = read_labels_csv(args.labels)        # the file's own faults, before the stamps load
    stamps = load_stampset(args.datapath)
    labels.check_known(stamps.ids)
    torch_threads(args)
    result = run_with_progress(transfer_job(stamps, labels, init=args.init or default_weights(), sizes=sizes,
                                            folds=args.folds, epochs=args.epochs, freeze=args.freeze,
                                            seed=args.seed), "transfer", unit="fit", log=True)
    result["command"] = "candels-gui " + " ".join(getattr(args, "argv", None) or sys.argv[1:])
    print(f"{'method':<11s} {'labelled':>8s} {'accuracy':>9s} {'RMSE':>7s}   (over {labels.__len__()} galaxies, "
          f"{args.folds} folds)")
    for r in result["rows"]:
        print(f"{r['method']:<11s} {r['n_labelled']:8d} {r['accuracy']:9.3f} {r['rmse']:7.4f}")
    if args.plot:       # first: a plot that cannot be written leaves no JSON behind
        from ..evaluation.morph_plots import plot_transfer

        plot_transfer(result, args.plot)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(Path(args.output))
        try:
            tmp.write_text(json.dumps(result, indent=1))
            os.replace(tmp, args.output)
        finally:
            tmp.unlink(missing_ok=True)
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_morphology, _add_classify, _add_transfer)
