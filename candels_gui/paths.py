"""Where the bundled data live: ``sample_data/`` and ``resources/`` at the top of the checkout.

The project is installed in editable mode (``pip install -e .``), so both folders sit next to the
package. ``CANDELS_GUI_SAMPLE_DATA`` and ``CANDELS_GUI_RESOURCES`` override them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "sample_data_dir", "resources_dir", "models_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    """Return the folder of the bundled sample data set (candels-blender layout)."""
    return Path(os.environ.get("CANDELS_GUI_SAMPLE_DATA", REPO_ROOT / "sample_data"))


def resources_dir() -> Path:
    """Return the folder of icons, style sheet and trained model weights."""
    return Path(os.environ.get("CANDELS_GUI_RESOURCES", REPO_ROOT / "resources"))


def models_dir() -> Path:
    """Return the folder of the shipped model weights (``*.pt`` + model cards)."""
    return resources_dir() / "models"
