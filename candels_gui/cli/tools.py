"""``bench`` (performance figures) and ``screenshot`` (the app rendered to a PNG)."""

from __future__ import annotations

import argparse
import json

from .common import default_data, whole

#: bench's groups, as its --help lists them (the bench module is imported when bench runs; a test keeps
#: this list equal to its GROUPS)
BENCH_GROUPS = ("engine", "hdf5", "produce_command", "pipeline", "dask", "morphology", "fields", "preview",
                "export_ui", "startup", "infer", "train")

def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance figures (one JSON object with --json)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-n", type=whole(low=1, high=100_000), default=10_000,
                   help="blends per engine figure (10000)")
    p.add_argument("--only", default=None,
                   help="comma-separated groups to run: " + ", ".join(BENCH_GROUPS))
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import run_bench

    from ..bench import GROUPS, _load_optional_groups
    from ..core.errors import OptionError

    _load_optional_groups()
    groups = [g.strip() for g in args.only.split(",") if g.strip()] if args.only else None
    unknown = sorted(set(groups or ()) - set(GROUPS))
    if groups is not None and (unknown or not groups):
        raise OptionError(f"--only: unknown group(s) {unknown or args.only!r}; choose from {', '.join(GROUPS)}")
    if groups is None or {"hdf5", "produce_command"} & set(groups):  # they write the blends to disk
        import tempfile

        from ..core.store.produce import check_produce_size

        check_produce_size(args.n, tempfile.gettempdir(), storage="arrays", stamp_size=(128, 128))
    result = run_bench(n=args.n, groups=groups, log=None if args.json else print)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v}")
    return 0


def _window_size(text: str) -> tuple[int, int]:
    """argparse type of ``--size``: ``WxH``, each side 320 to 8000 pixels."""
    parts = text.lower().split("x")
    try:
        w, h = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (e.g. 1600x1000), got {text!r}") from None
    if not (320 <= w <= 8000 and 320 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"each side must be 320 to 8000 pixels, got {w}x{h}")
    return w, h


def _add_screenshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screenshot", help="open the app offscreen on the sample data and save a picture")
    p.add_argument("output", help="PNG file to write")
    p.add_argument("--view", choices=("editor", "review", "compare", "deblend", "labelling", "field"),
                   default="editor")
    p.add_argument("--field", default=None, metavar="FIELD.fits",
                   help="the field --view field shows (default: sample_data/field/mock_field.fits)")
    p.add_argument("--data", default=None, help="data to open (default: sample data)")
    p.add_argument("--size", type=_window_size, default=(1600, 1000),
                   help="window size WxH, each 320 to 8000 (1600x1000)")
    p.add_argument("--fill", action="store_true", help="hatch the padded pixels (the data's fill masks)")
    p.set_defaults(func=_cmd_screenshot)


def _cmd_screenshot(args: argparse.Namespace) -> int:
    from ..gui.screenshot import take_screenshot

    from ..core.validate import check_output

    check_output(args.output, "screenshot OUT.png", kind="file")
    w, h = args.size
    path = take_screenshot(args.output, view=args.view, data=args.data or default_data(), size=(w, h),
                           fill=args.fill, field=args.field)
    print(f"Screenshot saved to {path}")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_bench, _add_screenshot,)
