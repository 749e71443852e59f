"""``candels-gui deblend --model NAME --data EXPORT -o OUT``: one deblender over an export, into one HDF5 file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from candels_gui.cli import main
from candels_gui.core.store.export import read_export
from candels_gui.deblend import get
from candels_gui.deblend.results_io import read_results, split_params


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("deblend_cli") / "o"
    assert main(["produce", "-n", "30", "-s", "3", "-o", str(out)]) == 0
    return out


def test_deblend_writes_every_blend_with_its_own_parameters(export_dir, tmp_path, capsys):
    out = tmp_path / "sep.h5"
    assert main(["deblend", "--model", "sep", "--data", str(export_dir), "-o", str(out)]) == 0
    assert "deblended by sep" in capsys.readouterr().out
    data = read_export(export_dir, split="test")
    attrs, blends = read_results(out)
    assert attrs["deblender"] == "sep" and attrs["n_blends"] == len(data.images) == len(blends)
    direct = get("sep").run(np.asarray(data.images))
    for got, want in zip(blends, direct):
        np.testing.assert_array_equal(got["segmentation"], want.segmentation)
        np.testing.assert_allclose(got["images"], want.images)
        np.testing.assert_allclose(got["catalog"]["flux"], np.asarray(want.catalog["flux"]))
        assert got["params"] == json.loads(json.dumps(want.params, default=str))
    shared = json.loads(attrs["params"])
    assert "noise_sigma" not in shared and "background" not in shared   # per blend, not the first blend's
    assert shared["strict"] == {"minarea": 10, "thresh": 5.0, "deblend_cont": 0.01, "deblend_nthresh": 64}
    assert len({b["params"]["noise_sigma"] for b in blends}) > 1
    assert not out.with_name(".sep.h5.part").exists()


def test_deblend_needs_its_options_and_refuses_a_tta_it_has_not(export_dir, tmp_path, capsys):
    assert main(["deblend", "--model", "sep", "--data", str(export_dir)]) == 2
    assert "needs --model, --data and -o" in capsys.readouterr().err
    assert main(["deblend", "--model", "sep+tta", "--data", str(export_dir), "-o", str(tmp_path / "x.h5")]) == 2
    assert "+tta" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()


def test_split_params_keeps_shared_values_once():
    common, varying = split_params([{"a": 1, "c": "strict", "n": 0.5}, {"a": 1, "c": "loose", "n": 0.7}, {"a": 1}])
    assert common == {"a": 1}
    assert varying == {"c": ["strict", "loose", None], "n": [0.5, 0.7, None]}
