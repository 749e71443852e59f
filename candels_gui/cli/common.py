"""What every command module shares: the default data and the label-method names."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any, Iterator

__all__ = ["LABEL_CHOICES", "default_data", "add_scheduler_options", "scheduler_client"]

LABEL_CHOICES = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")


def default_data() -> str:
    """The bundled sample data folder, which every command reads unless told otherwise."""
    from ..paths import sample_data_dir

    return str(sample_data_dir())


def add_scheduler_options(parser: argparse.ArgumentParser, *, partition_default: str, resume: str | None = None
                          ) -> None:
    """``--scheduler``, ``--partition-size`` (and ``--resume``): running a long command on Dask."""
    g = parser.add_argument_group("more than one machine (Dask; see docs/dask.md)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the work's partitions on Dask: local:N starts N worker processes on this machine for "
                        "the run; tcp://HOST:PORT joins a running scheduler ('dask scheduler', 'dask worker "
                        "tcp://HOST:PORT'). The output is the same bytes as without it")
    g.add_argument("--partition-size", "--partition_size", dest="partition_size", type=int, default=None,
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
