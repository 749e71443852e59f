"""What every command module shares: the default data and the label-method names."""

from __future__ import annotations

__all__ = ["LABEL_CHOICES", "default_data"]

LABEL_CHOICES = ("gg_masks", "ogg_masks", "bogg_masks", "single_images")


def default_data() -> str:
    """The bundled sample data folder, which every command reads unless told otherwise."""
    from ..paths import sample_data_dir

    return str(sample_data_dir())
