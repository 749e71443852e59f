"""What every command module shares: the default data, the label-method names, and option types that
refuse non-finite, out-of-range or malformed values at parse time (one-line errors naming the option)."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any, Callable, Iterator

__all__ = ["LABEL_CHOICES", "default_data", "add_scheduler_options", "scheduler_client", "number", "whole", "seed",
           "weights_option", "add_threads_option", "torch_threads"]

LABEL_CHOICES = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")


def default_data() -> str:
    """The bundled sample data folder, which every command reads unless told otherwise."""
    from ..paths import sample_data_dir

    return str(sample_data_dir())


def weights_option(value: str | None, model: str, option: str = "--init") -> str | None:
    """A weights option's file: ``shipped`` names the shipped weights of ``model`` (``resources/models/MODEL.pt``
    of the installation), and a path under ``resources/models/`` that is not there from the current folder is the
    installation's file of that name (the docs' commands, run from another folder). ``None`` stays ``None``.

    Raises
    ------
    OptionError
        When the file does not exist (the message says how to name the shipped weights).
    """
    import sys
    from pathlib import Path

    from ..core.errors import OptionError
    from ..paths import models_dir

    if value is None:
        return None
    shipped = models_dir() / f"{model}.pt"
    if value.strip().lower() == "shipped":
        if not shipped.is_file():
            raise OptionError(f"{option} shipped: this installation has no shipped {model} weights ({shipped})")
        return str(shipped)
    path = Path(value)
    if path.exists():
        return value
    parts = path.parts
    if not path.is_absolute() and len(parts) == 3 and parts[:2] == ("resources", "models"):
        installed = models_dir() / parts[2]
        if installed.is_file():
            print(f"{option} {value}: the installation's {installed}", file=sys.stderr)
            return str(installed)
    hint = f"; the shipped {model} weights are '{option} shipped' ({shipped})" if shipped.is_file() else ""
    raise OptionError(f"{option} {value}: no such weights file{hint}")


def add_threads_option(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--threads N``: the CPU threads of the command's torch models (see :func:`torch_threads`)."""
    parser.add_argument("--threads", type=whole(low=1, high=1024), default=None, metavar="N",
                        help=f"CPU threads for the torch models (default: one per core{note})")


def torch_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` to torch in this process (torch is imported only when it is given)."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def add_scheduler_options(parser: argparse.ArgumentParser, *, partition_default: str | None,
                          resume: str | None = None) -> None:
    """``--scheduler``, ``--partition-size`` (unless ``partition_default`` is None) and ``--resume``: running a
    long command on Dask."""
    g = parser.add_argument_group("more than one machine (Dask; see docs/dask.md)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS", type=_scheduler_value,
                   help="run the work's partitions on Dask: local:N starts N worker processes on this machine for "
                        "the run; tcp://HOST:PORT joins a running scheduler ('dask scheduler', 'dask worker "
                        "tcp://HOST:PORT'). The output is the same bytes as without it")
    if partition_default is not None:   # None: the command's own unit of work is the task (a field's tile)
        g.add_argument("--partition-size", "--partition_size", dest="partition_size", type=whole(low=1), default=None,
                       metavar="K", help=f"blends per task ({partition_default})")
    if resume:
        g.add_argument("--resume", action="store_true", help=resume)


@contextlib.contextmanager
def scheduler_client(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask client of ``--scheduler`` for the command's duration (``None`` without the option: then
    nothing of Dask is imported)."""
    if getattr(args, "scheduler", None) is None:
        yield None
        return
    import sys

    from ..core.parallel import n_workers, open_client

    print(f"connecting to Dask ({args.scheduler})…", file=sys.stderr, flush=True)
    with open_client(args.scheduler) as client:
        print(f"Dask: {n_workers(client)} workers, scheduler {client.scheduler.address}", file=sys.stderr, flush=True)
        yield client


def _scheduler_value(text: str) -> str:
    """argparse ``type=`` of ``--scheduler``: checked when the command line is read (an empty value ran the work
    in this process without a word); nothing of Dask is imported."""
    from ..core.parallel import parse_scheduler

    try:
        parse_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--scheduler {text!r}: ")) from None
    return str(text).strip()


def say_kept(args: argparse.Namespace, path: str, what: str, resumes: str) -> None:
    """After an interrupted run: say that ``what`` (its partitions, its checkpoint) is kept at ``path`` and how
    ``--resume`` goes on, when something is there; ``main`` then does not claim that nothing was left."""
    import sys

    from ..core.store.zarr_store import is_local, local_path

    if is_local(path) and not local_path(path).exists():
        return
    args.partial_kept = path
    print(f"{what} {'are' if what.endswith('s') else 'is'} kept in {path}: the same command with --resume "
          f"{resumes}.", file=sys.stderr)


#: What the commands that write stores by partitions, and the trainings, say they keep after an interrupt.
PARTITIONS_KEPT = "The partitions written so far"
CHECKPOINT_KEPT = "The checkpoint of the last finished epoch"


def number(*, low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite float in the range (argparse names the option in its message)."""
    from ..core.errors import OptionError
    from ..core.validate import finite

    def parse(text: str) -> float:
        try:
            return finite(text, "value", low=low, high=high, low_open=low_open, high_open=high_open)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value ", "", 1)) from None
    parse.__name__ = "number"
    return parse


def whole(*, low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer in the range."""
    from ..core.errors import OptionError
    from ..core.validate import integer

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        try:
            return integer(value, "value", low=low, high=high)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value ", "", 1)) from None
    parse.__name__ = "whole number"
    return parse


#: Seeds: what numpy's and torch's generators and the exports' int64 fields accept.
seed = whole(low=0, high=2 ** 32 - 1)
