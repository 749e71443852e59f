"""What every command module shares: the default data, the label-method names, and option types that
refuse non-finite, out-of-range or malformed values at parse time (one-line errors naming the option)."""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["LABEL_CHOICES", "default_data", "number", "whole", "seed"]

LABEL_CHOICES = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")


def default_data() -> str:
    """The bundled sample data folder, which every command reads unless told otherwise."""
    from ..paths import sample_data_dir

    return str(sample_data_dir())


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
