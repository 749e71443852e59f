"""``bench`` (performance figures) and ``screenshot`` (the app rendered to a PNG)."""

from __future__ import annotations

import argparse
import json

from .common import default_data

def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance figures (one JSON object with --json)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-n", type=int, default=10_000, help="blends per engine figure (10000)")
    p.add_argument("--only", default=None,
                   help="comma-separated groups to run: engine,hdf5,preview,export_ui,infer,train,startup")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import run_bench

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
    p.add_argument("--view", choices=("editor", "review", "compare", "field"), default="editor")
    p.add_argument("--field", default=None, metavar="FIELD.fits",
                   help="the field --view field shows (default: sample_data/field/mock_field.fits)")
    p.add_argument("--data", default=None, help="data to open (default: sample data)")
    p.add_argument("--size", default="1600x1000", help="window size WxH (1600x1000)")
    p.set_defaults(func=_cmd_screenshot)


def _cmd_screenshot(args: argparse.Namespace) -> int:
    from ..gui.screenshot import take_screenshot

    w, h = (int(v) for v in args.size.lower().split("x"))
    path = take_screenshot(args.output, view=args.view, data=args.data or default_data(), size=(w, h),
                           field=args.field)
    print(f"Screenshot saved to {path}")
    return 0


#: The subcommands of this module, added to the parser in this order.
ADDERS = (_add_bench, _add_screenshot,)
