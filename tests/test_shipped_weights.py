"""Shipped weights load by default and reproduce the README's quality figures on a small fixed set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from candels_gui.cli import main
from candels_gui.paths import models_dir

QUALITY = models_dir() / "quality.json"


def _shipped() -> dict:
    if not QUALITY.is_file():
        pytest.skip("no resources/models/quality.json")
    return json.loads(QUALITY.read_text())


def test_every_shipped_weight_file_has_a_quality_entry():
    quality = _shipped()
    # the SGAN field generators (sgan-*.pt) are no deblenders: tests/test_fields_sgan.py checks them
    shipped = sorted(p.stem for p in models_dir().glob("*.pt") if not p.stem.startswith("sgan-"))
    assert shipped, "quality.json exists but no weights ship"
    for name in shipped:
        # deblenders under "models"; the morphology classifier under "classifiers" (docs/morphology.md)
        assert name in quality["models"] or name in quality.get("classifiers", {}), \
            f"{name}.pt ships without README figures"


def test_shipped_models_reproduce_their_figures_on_held_out_blends(tmp_path, capsys):
    quality = _shipped()
    out = tmp_path / "held_out"
    # the same seed and options as the quality run: the test split holds galaxies never trained on
    assert main(["produce", "-n", "320", "-s", "1", "--rotate", "--flip", "-o", str(out)]) == 0
    capsys.readouterr()
    names = sorted(quality["models"])
    assert main(["evaluate", "--data", str(out), "--split", "test", "--deblenders", ",".join(names),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name in names:
        ref = quality["models"][name]
        got = result[name]
        assert got["n_blends"] == 64
        # 64 blends instead of 1,000: allow sampling noise, but a broken model or loader fails
        if ref["iou_mean"] is None:        # a flux-only model (blend2flux) makes no footprints
            assert got["iou_mean"] is None, name
        else:
            assert got["iou_mean"] == pytest.approx(ref["iou_mean"], abs=0.08), name
        assert np.isfinite(got["flux_mape"])
        assert got["flux_mape"] <= ref["flux_mape"] * 1.5 + 5, name
