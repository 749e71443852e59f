"""The ``candels-gui`` command: the app, and every pipeline step as a subcommand.

``candels-gui [PATH]`` opens the app (default: the bundled sample data). Subcommands follow
candels-blender's names and defaults (``produce``, ``concatenate``, ``convert``) plus ``download``,
``make-sample-data``, ``bench`` and ``screenshot``. Long work shows a progress bar; Ctrl-C stops it
cleanly and leaves no partial output.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from . import blends, data, fields, models, tools
from .common import default_data

__all__ = ["main", "build_parser"]

#: Every subcommand's parser builder, in the order ``--help`` lists them.
ADDERS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    *blends.ADDERS, *data.ADDERS, *models.ADDERS, *fields.ADDERS, *tools.ADDERS)


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
    from ..gui.launch import run_app

    return run_app(args.path or default_data(), session=args.session)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``candels-gui`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        return _open_app(argv)
    args = parser.parse_args(argv)
    from ..core.errors import Cancelled, DataError

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
