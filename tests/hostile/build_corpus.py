"""Build the hostile corpus: >= 300 bad inputs of >= 40 kinds, each with the command that gets it.

``build(root)`` writes the good inputs (:mod:`.fixtures`), then one folder per case under
``root/cases``, and returns the list of :class:`~.harness.Case`. Nothing here is committed as data:
every file is made at test time from the bundled sample data.

Think as an attacker and as a careless user: truncated, corrupted and foreign files in every format,
values that are NaN, infinite, negative, huge or of the wrong type in every option and every file field,
outputs that are files, under files, not writable, or the input itself, paths in files that point
outside their folder, wrapped labels, degenerate stamps, stale temporaries of killed runs.
"""


from __future__ import annotations

from pathlib import Path

from .builder import DEAD_PID, Builder, copy_input
from .cases_data import _data_cases
from .cases_exports import _export_cases
from .cases_files import _session_cases, _special_file_cases, _weights_cases
from .cases_models import _field_cases, _label_cases, _model_kind_cases, _model_option_cases, _zarr_cases
from .cases_options import _command_option_cases, _produce_option_cases
from .harness import Case

__all__ = ["build", "DEAD_PID"]


def build(root: str | Path) -> list[Case]:
    """Write the corpus under ``root`` (which must not exist or be empty) and return its cases."""
    root = Path(root)
    b = Builder(root)
    _data_cases(b)
    _produce_option_cases(b)
    _export_cases(b)
    _command_option_cases(b)
    _weights_cases(b)
    _session_cases(b)
    _special_file_cases(b)
    _label_cases(b)
    _field_cases(b)
    _zarr_cases(b)
    _model_kind_cases(b)
    _model_option_cases(b)
    # controls: good inputs must still work (guards the corpus against a harness that fails everything)
    f = b.folder("control-produce")
    b.add("control", "control-produce", f, ["produce", "-d", str(b.good["data"]), "-n", "4", "-o", str(f / "out")],
          expect="ok")
    f = b.folder("control-concatenate")
    d = copy_input(b.good["out"], f / "out")
    b.add("control", "control-concatenate", f, ["concatenate", "-d", str(d), "-m", "bogg_masks"], expect="ok")
    f = b.folder("control-session")
    b.add("control", "control-session", f, loader="session", target=b.good["session"], expect="ok")
    f = b.folder("control-weights")
    b.add("control", "control-weights", f, loader="weights", target=b.good["weights_unet-seg"], expect="ok")
    f = b.folder("control-fits")
    b.add("control", "control-fits", f, ["produce", "-d", str(b.good["fits"]), "-n", "4", "-o", str(f / "out")],
          expect="ok")
    f = b.folder("control-galsim")
    b.add("control", "control-galsim", f, ["produce", "-d", str(b.good["galsim"]), "-n", "4", "-t", "0.5",
                                           "-o", str(f / "out")], expect="ok")
    f = b.folder("control-classify")
    d = copy_input(b.good["data"], f / "data")
    b.add("control", "control-classify", f, ["classify", "-d", str(d), "--weights", str(b.good["weights_morph"]),
                                             "-o", str(f / "p.csv"), "--score", str(d / "labels.csv"),
                                             "--device", "cpu"], expect="ok")
    f = b.folder("control-morph-train")
    d = copy_input(b.good["data"], f / "data")
    b.add("control", "control-morph-train", f, ["train", "--model", "morph-cnn", "--data", str(d / "labels.csv"),
                                                "--stamps", str(d), "-o", str(f / "w.pt"), "--epochs", "1",
                                                "--base", "2", "--threads", "1"], expect="ok")
    f = b.folder("control-field-stamps")
    b.add("control", "control-field-stamps", f, ["field", "stamps", str(b.good["field"]), "-o", str(f / "st"),
                                                 "--size", "32"], expect="ok")
    f = b.folder("control-field-generate")
    b.add("control", "control-field-generate", f, ["field", "generate", "--model", str(b.good["weights_sgan"]),
                                                   "--size", "64", "-o", str(f / "g.fits"), "--device", "cpu"],
          expect="ok")
    f = b.folder("control-zarr")
    d = copy_input(b.good["out_zarr"], f / "out")
    b.add("control", "control-zarr", f, ["evaluate", "--data", str(d), "--deblenders", "photutils",
                                         "--split", "train", "-o", str(f / "m")], expect="ok")
    names = [c.name for c in b.cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return b.cases