"""Property tests (hypothesis) at the boundaries: the option parser, the readers, the blend engine and the
session loader either accept an input and give a valid result, or refuse it with a one-line DataError;
nothing else ever escapes."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from candels_gui.cli import build_parser
from candels_gui.core.errors import DataError

# repairs said with a DataWarning (negative radii read as not measured) are expected here
pytestmark = pytest.mark.filterwarnings("ignore::candels_gui.core.errors.DataWarning")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

# ------------------------------------------------------------------------------------------ options
#: option -> (low, high, low_open, high_open) of what produce accepts
PRODUCE_FLOATS = {"--mag_diff": (0, None, True, False), "--rad_diff": (0, None, True, False),
                  "--test_ratio": (0, 1, False, True), "--max_separation": (0, None, True, False),
                  "--mag_low": (None, None, False, False), "--radius_min": (0, None, False, False),
                  "--z_max": (None, None, False, False)}
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10 ** 30, 10 ** 30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e-999", "0x10", "1_000", " 3", "", "abc", "1e", "--"]),
    st.text(max_size=8))


def _parse(argv: list[str]) -> tuple[object | None, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return build_parser().parse_args(argv), err.getvalue()
        except SystemExit as exc:
            assert exc.code == 2
            return None, err.getvalue()


@SETTINGS
@given(option=st.sampled_from(sorted(PRODUCE_FLOATS)), text=number_text)
def test_produce_float_options_are_finite_and_in_range_or_refused(option, text):
    args, err = _parse(["produce", option, text])
    low, high, low_open, high_open = PRODUCE_FLOATS[option]
    if args is None:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("candels-gui produce: error: "), err
        return
    value = getattr(args, option.lstrip("-"))
    assert math.isfinite(value)
    assert low is None or (value > low if low_open else value >= low)
    assert high is None or (value < high if high_open else value <= high)


@SETTINGS
@given(option=st.sampled_from(["-n", "--batch_size", "-s"]), value=st.one_of(st.integers(-10 ** 25, 10 ** 25),
                                                                          number_text))
def test_produce_integer_options(option, value):
    args, err = _parse(["produce", option, str(value)])
    if args is None:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
        return
    v = {"-n": args.n_blends, "--batch_size": args.batch_size, "-s": args.seed}[option]
    assert isinstance(v, int) and v >= (0 if option == "-s" else 1)


@SETTINGS
@given(lr=number_text, val=number_text)
def test_train_options(lr, val):
    args, err = _parse(["train", "--model", "unet-seg", "--data", "x.h5", "--lr", lr, "--val_fraction", val])
    if args is None:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
        return
    assert math.isfinite(args.lr) and 0 <= args.lr <= 10 and 0 <= args.val_fraction < 1   # 0: morph-cnn, every label


# ------------------------------------------------------------------------------------------ readers
@pytest.fixture(scope="module")
def sample_arrays():
    images = np.load(SAMPLE / "candels_img.npy", mmap_mode="r")[:12, 32:96, 32:96].astype(np.float32)
    segmaps = np.load(SAMPLE / "candels_seg.npy", mmap_mode="r")[:12, 32:96, 32:96].astype(np.int32)
    lines = (SAMPLE / "candels_cat.csv").read_text().splitlines()[:13]
    return images, segmaps, lines


def _load(images, segmaps, text: str | bytes):
    from candels_gui.core.data.load import load_stampset

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.save(d / "candels_img.npy", images)
        np.save(d / "candels_seg.npy", segmaps)
        (d / "candels_cat.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
        try:
            stamps = load_stampset(d, mmap=False)
        except DataError as exc:
            assert "\n" not in str(exc).strip() and str(exc)
            return None
        return stamps


def _valid(stamps) -> None:
    n, h, w = stamps.images.shape
    assert h == w and stamps.images.dtype == np.float32 and np.isfinite(stamps.images).all()
    assert stamps.segmaps.dtype == np.int32 and stamps.segmaps.shape == (n, h, w)
    assert (stamps.segmaps[:, h // 2, w // 2] > 0).all() and len(stamps.catalog) == n
    assert np.isfinite(np.asarray(stamps.catalog["mag"], float)).any()


@SETTINGS
@given(data=st.data())
def test_reader_on_damaged_pixels_and_labels(sample_arrays, data):
    images, segmaps, lines = sample_arrays
    images, segmaps = images.copy(), segmaps.copy()
    k = data.draw(st.integers(0, len(images) - 1))
    what = data.draw(st.sampled_from(["pixel", "stamp", "label", "dtype", "shape"]))
    if what == "pixel":
        y, x = data.draw(st.integers(0, 63)), data.draw(st.integers(0, 63))
        images[k, y, x] = data.draw(st.floats(width=32, allow_nan=True, allow_infinity=True))
    elif what == "stamp":
        images[k] = data.draw(st.floats(width=32, allow_nan=True, allow_infinity=True))
    elif what == "label":
        segmaps[k, data.draw(st.integers(0, 63)), data.draw(st.integers(0, 63))] = data.draw(
            st.integers(-2 ** 31, 2 ** 31 - 1))
    elif what == "dtype":
        segmaps = segmaps.astype(data.draw(st.sampled_from([np.uint8, np.int8, np.uint16, np.int16, np.int64,
                                                            np.float32, np.float64])))
    else:
        cut = data.draw(st.integers(1, 64))
        images = images[:, :cut]
    stamps = _load(images, segmaps, "\n".join(lines) + "\n")
    if stamps is not None:
        _valid(stamps)


@SETTINGS
@given(cells=st.lists(st.one_of(st.text(max_size=6), st.floats().map(repr), st.integers().map(str)),
                      min_size=1, max_size=4),
       column=st.sampled_from(["ID", "mag", "radius", "z", "galtype", "segval"]))
def test_reader_on_damaged_catalog_values(sample_arrays, cells, column):
    images, segmaps, lines = sample_arrays
    head = lines[0].split(",")
    j = head.index(column)
    rows = [ln.split(",") for ln in lines[1:]]
    for i, c in enumerate(cells):
        rows[i][j] = c.replace(",", ";").replace("\n", " ").replace("\r", " ").replace('"', "'")
    stamps = _load(images, segmaps, "\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    if stamps is not None:
        _valid(stamps)


@SETTINGS
@given(blob=st.binary(max_size=400))
def test_reader_on_random_catalog_bytes(sample_arrays, blob):
    images, segmaps, _ = sample_arrays
    stamps = _load(images, segmaps, blob)
    if stamps is not None:
        _valid(stamps)


# ------------------------------------------------------------------------------------------ engine
@pytest.fixture(scope="module")
def engine():
    from candels_gui.core.blending.engine import BlendEngine
    from candels_gui.core.data.load import load_stampset

    return BlendEngine(load_stampset(SAMPLE))


spec_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 6, 10 ** 6),
                         st.text(max_size=3), st.none(), st.booleans())


@SETTINGS
@given(dx=spec_numbers, dy=spec_numbers, rotation=spec_numbers, flux=spec_numbers, seed=spec_numbers)
def test_blend_spec_accepts_only_finite_numbers(dx, dy, rotation, flux, seed):
    from candels_gui.core.blending.engine import BlendSpec

    try:
        s = BlendSpec(1, 2, dx=dx, dy=dy, rotation=rotation, flux_scale=flux, seed=seed)
    except (ValueError, TypeError):
        return
    assert all(math.isfinite(v) for v in (s.dx, s.dy, s.rotation, s.flux_scale)) and s.flux_scale > 0
    assert isinstance(s.seed, int) and s.seed >= 0


@SETTINGS
@given(i=st.integers(0, 149), j=st.integers(0, 149), dx=st.floats(-60, 60), dy=st.floats(-60, 60),
       rotation=st.floats(0, 360), flip=st.booleans(), flux=st.floats(1e-6, 1e6), seed=st.integers(0, 2 ** 32))
def test_engine_renders_finite_consistent_blends(engine, i, j, dx, dy, rotation, flip, flux, seed):
    from candels_gui.core.blending.engine import BlendSpec

    ids = engine.stamps.catalog["id"]
    spec = BlendSpec(int(ids[i]), int(ids[j]), dx=dx, dy=dy, rotation=rotation, flip=flip, flux_scale=flux,
                     seed=seed)
    blend = engine.render(spec)
    h, w = engine.shape
    assert blend.image.shape == (h, w) and blend.isolated.shape == (2, h, w) and blend.masks.shape == (2, h, w)
    assert np.isfinite(blend.image).all() and np.isfinite(blend.isolated).all()
    np.testing.assert_allclose(blend.image, blend.isolated.sum(axis=0), rtol=1e-5, atol=1e-5 * max(1.0, flux))
    assert 0.0 <= blend.flux_out_frac <= 1.0
    again = engine.render(spec)
    assert np.array_equal(again.image, blend.image)  # same spec, same bytes


# ------------------------------------------------------------------------------------------ sessions
json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                           max_leaves=6)


@SETTINGS
@given(field=st.sampled_from(["version", "seed", "random_index", "rules", "filter", "display", "current",
                              "current_item", "queue", "data"]), value=json_values)
def test_session_loader_refuses_or_builds(field, value):
    from candels_gui.core.curation.session import Session

    base = {"format": "candels-gui-session", "version": 1, "seed": 3, "queue": [
        {"spec": {"id1": 1, "id2": 2, "dx": 4.0}, "status": "pending", "note": "", "added": ""}]}
    base[field] = value
    try:
        s = Session.from_text(json.dumps(base), base_dir=".", source="s.json")
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(s.seed, int) and s.seed >= 0 and all(q.status in
                                                           ("pending", "accepted", "rejected", "flagged")
                                                           for q in s.queue)


# ------------------------------------------------------------------------------------ label files
LABEL_HEADER = "ID,p_sph,p_sphd,p_disk,p_irr,p_ps,p_unc"


@SETTINGS
@given(rows=st.lists(st.lists(st.one_of(number_text, st.sampled_from(["0", "1", "0.5", "1.0", "0.25"])),
                              min_size=7, max_size=8), max_size=6),
       header=st.sampled_from([LABEL_HEADER, LABEL_HEADER + ",p_merger", LABEL_HEADER + ",p_pred",
                               "ID,p_sph,p_disk", "id,P_SPH,P_SPHD,P_DISK,P_IRR,P_PS,P_UNC"]))
def test_label_reader_refuses_or_gives_fractions(rows, header):
    """A label file is read into whole IDs within int64, each once, and rows of fractions summing to 1
    over the known classes, or refused with a one-line DataError."""
    from candels_gui.core.data.morph_labels import MORPH_CLASSES, read_labels_csv

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "labels.csv"
        path.write_text("\n".join([header, *(",".join(c.replace(",", ";").replace("\n", " ") for c in r)
                                              for r in rows)]) + "\n")
        try:
            labels = read_labels_csv(path)
        except DataError as exc:
            assert "\n" not in str(exc) and str(exc).strip()
            return
    assert "p_merger" not in header
    assert labels.fractions.shape == (len(labels), len(MORPH_CLASSES)) and len(labels) >= 1
    assert np.isfinite(labels.fractions).all() and (labels.fractions >= 0).all()
    np.testing.assert_allclose(labels.fractions.sum(axis=1), 1.0)
    assert len(np.unique(labels.ids)) == len(labels.ids)
