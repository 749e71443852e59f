"""``field stamps`` and ``field compare``: galaxies cut from a field, and real-vs-generated statistics."""

from __future__ import annotations

import argparse


def add_stamps(sub: argparse._SubParsersAction) -> None:
    pass


def add_compare(sub: argparse._SubParsersAction) -> None:
    pass
