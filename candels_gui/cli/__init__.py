"""The ``candels-gui`` command: the app, and every pipeline step as a subcommand.

``candels-gui [PATH]`` opens the app (default: the bundled sample data). Subcommands follow
candels-blender's names and defaults (``produce``, ``concatenate``, ``convert``) plus ``download``,
``make-sample-data``, ``bench`` and ``screenshot``. Long work shows a progress bar; Ctrl-C stops it
cleanly and leaves no partial output; so does SIGTERM. Bad input of any kind ends in a one-line
error (``candels-gui CMD: error: ...``, exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from typing import Any, Callable, Iterator, NoReturn, Sequence

from . import blends, data, fields, models, morphology, tools
from .common import default_data

__all__ = ["main", "build_parser"]

#: Every subcommand's parser builder, in the order ``--help`` lists them.
ADDERS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    *blends.ADDERS, *data.ADDERS, *models.ADDERS, *morphology.ADDERS, *fields.ADDERS, *tools.ADDERS)


class UsageError(SystemExit):
    """A command line argparse refused (exit status 2); :func:`main` returns 2 for it."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``candels-gui CMD: error: ... (see 'candels-gui CMD -h')``."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} -h')\n")
        raise UsageError(2)


def build_parser() -> argparse.ArgumentParser:
    """The ``candels-gui`` argument parser (subcommands only; a bare PATH opens the app)."""
    parser = _Parser(
        prog="candels-gui",
        description="Blended-galaxy training sets from real stamps, and deblender comparison. "
                    "'candels-gui [PATH]' opens the app on PATH (default: bundled sample data).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in ADDERS:
        add(sub)
    return parser


def _open_app(argv: Sequence[str]) -> int:
    p = _Parser(prog="candels-gui", description="Open the app on PATH.")
    p.add_argument("path", nargs="?", default=None,
                   help="data folder or file, or a blend export (produce's folder or its blends.h5: its blends "
                        "fill the queue) (default: sample data)")
    p.add_argument("--session", default=None, help="session file to open")
    args = p.parse_args(argv)
    from ..gui.launch import run_app

    return run_app(args.path or default_data(), session=args.session)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as Ctrl-C; the exit status is then 128 + the signal's number (143, 129)."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = int(signum)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a batch system's time limit) and SIGHUP (the terminal closed) stop the command as
    Ctrl-C does: the work is cancelled cleanly and no partial output is left."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if _in_finaliser(frame):  # an exception raised there is printed and dropped: deliver it again shortly
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        raise _Terminated(signum)

    signals = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])  # kill; terminal closed
    old = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _in_finaliser(frame: Any) -> bool:
    """True when ``frame`` runs a ``__del__`` or a weakref callback, where Python prints and drops an exception
    (a signal arriving there would be lost)."""
    code = getattr(frame, "f_code", None)
    return code is not None and (code.co_name == "__del__" or code.co_filename.endswith("weakref.py"))


def _os_error_text(exc: OSError, output: Any = None) -> str:
    """The error with the file it concerns; a write error that names none (astropy's 'N requested and M
    written', 'File too large') is said of the command's output, with what usually causes it."""
    import errno

    where = exc.filename if exc.filename is not None else ""
    text = exc.strerror or str(exc)
    if where:
        return f"{where}: {text}"
    written = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "written" in text
    if written and output:
        return f"{output}: could not be written ({text}): the disk is full or a file-size limit was reached"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``candels-gui`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        return _open_app(argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return int(exc.code)
    args.argv = list(argv)  # the command as given, for the provenance records (model cards)
    from ..core.errors import Cancelled, DataError, DataWarning, one_line

    def show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ARG001
        print(f"candels-gui {name}: warning: {one_line(message)}", file=sys.stderr)

    name = " ".join(str(n) for n in (args.command, getattr(args, "field_command", None)) if n)
    prefix = f"candels-gui {name}: error:"
    try:
        with _sigterm_as_interrupt(), warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except (KeyboardInterrupt, Cancelled) as exc:
        word = "\nInterrupted" if isinstance(exc, KeyboardInterrupt) else "Cancelled"
        kept = getattr(args, "partial_kept", None)
        said = f"only the unfinished {kept} was kept (above)." if kept else "no partial output was left."
        print(f"{word}: {said}", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, _Terminated) else 130
    except (DataError, FileNotFoundError, ValueError, KeyError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{prefix} {one_line(text, 1000)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{prefix} out of memory; ask for less (fewer blends, a smaller --batch_size)", file=sys.stderr)
        return 2
    except OSError as exc:  # the environment: disk full, permission denied, a file where a folder is needed
        print(f"{prefix} {one_line(_os_error_text(exc, getattr(args, 'output', None)), 1000)}", file=sys.stderr)
        return 2
