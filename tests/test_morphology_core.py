"""Morphology, headless: statmorph diagnostics, the Lotz et al. rule, label files, votes, labelled sample stamps."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import fftconvolve

from candels_gui.core.curation.morph_votes import MorphVotes
from candels_gui.core.curation.session import Session
from candels_gui.core.data.galaxy_models import SersicComponent, f160w_psf, render
from candels_gui.core.data.load import load_stampset
from candels_gui.core.data.morph_labels import (MORPH_CLASSES, PROB_COLUMNS, main_class_fractions, one_hot,
                                                read_labels_csv, write_labels_csv)
from candels_gui.core.data.morph_samples import LABELS_FILE, make_morphology_stamp, morphology_sample_job
from candels_gui.core.data.samplegen import DEFAULT_SEED, make_sample_stamp
from candels_gui.core.errors import DataError
from candels_gui.core.jobs import run_job
from candels_gui.core.measure.morph_rules import lotz_classes, psf_fwhm_px
from candels_gui.core.measure.morphology import cache_path, measure_stamp, morphology_job

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _sersic_stamp(n: float, *, seed: int = 0, size: int = 96, r_e: float = 6.0, flux: float = 200.0,
                  sigma: float = 0.01):
    psf = f160w_psf(41)
    c = size // 2
    model = fftconvolve(render([SersicComponent(flux, c, c, r_e, n, 0.8, 0.3)], (size, size)), psf, mode="same")
    image = model + np.random.default_rng(seed).normal(0, sigma, (size, size))
    seg = (fftconvolve(image, np.ones((3, 3)) / 9, mode="same") > 2 * sigma).astype(np.int32)
    from scipy import ndimage

    lab, _ = ndimage.label(seg)
    seg = (lab == lab[c, c]).astype(np.int32) * 7
    return image.astype(np.float32), seg, psf


def test_statmorph_recovers_the_sersic_index_of_sersic_stamps():
    disk = measure_stamp(*_sersic_stamp(1.0)[:2], psf=_sersic_stamp(1.0)[2])
    assert disk["morph_error"] == "" and disk["flag"] <= 1 and disk["flag_sersic"] == 0
    assert disk["sersic_n"] == pytest.approx(1.0, rel=0.1)
    assert 2.2 < disk["concentration"] < 3.0                 # Conselice 2003: C ~ 2.7 for an exponential disk
    # a de Vaucouleurs profile of r_e = 6 px: statmorph's Sérsic model is sampled at pixel centres (not
    # integrated over them) and its sky box takes up some of the wings, so n comes out low (~2.4 here);
    # the figures still separate it from the disk clearly
    image, seg, psf = _sersic_stamp(4.0)
    bulge = measure_stamp(image, seg, psf=psf)
    assert bulge["morph_error"] == "" and bulge["flag"] <= 1
    assert 2.0 < bulge["sersic_n"] < 4.5 and bulge["sersic_n"] > disk["sersic_n"] + 1.0
    assert bulge["concentration"] > disk["concentration"] + 0.5
    assert bulge["gini"] > disk["gini"] and bulge["m20"] < disk["m20"]


def test_failures_are_recorded_per_galaxy_not_raised():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, (64, 64)).astype(np.float32)
    no_centre = measure_stamp(noise, np.zeros((64, 64), np.int32))
    assert no_centre["flag"] == 4 and "no segment at the stamp centre" in no_centre["morph_error"]
    assert np.isnan(no_centre["gini"])
    seg = np.zeros((64, 64), np.int32)
    seg[28:36, 28:36] = 3                                  # a segment over pure noise
    all_noise = measure_stamp(noise, seg)
    assert all_noise["flag"] >= 1 or np.isfinite(all_noise["gini"])   # measured or flagged, never raised
    constant = measure_stamp(np.zeros((64, 64), np.float32), seg)
    assert constant["flag"] == 4 and constant["morph_error"]
    image, seg, psf = _sersic_stamp(1.0, size=64)
    image[10, 10] = np.nan
    with_nan = measure_stamp(image, seg)
    assert "non-finite" in with_nan["morph_error"] and with_nan["flag"] >= 1 and np.isfinite(with_nan["gini"])


def test_morphology_job_caches_per_data_set(tmp_path, small_stamps):
    stamps = small_stamps.subset(np.arange(2))
    first = run_job(morphology_job(stamps, workers=1, cache_dir=tmp_path))
    assert first.colnames[:3] == ["id", "gini", "m20"] and len(first) == 2
    path = cache_path(stamps, tmp_path)
    assert path.is_file() and stamps.content_hash() in path.name
    progress = []
    again = run_job(morphology_job(stamps, workers=1, cache_dir=tmp_path), progress.append)
    assert [p.message for p in progress] == ["statmorph (cached)"]
    assert np.array_equal(np.asarray(again["gini"]), np.asarray(first["gini"]), equal_nan=True)
    path.write_text("damaged")                             # a damaged cache is measured again, not an error
    assert len(run_job(morphology_job(stamps, workers=1, cache_dir=tmp_path))) == 2


def test_morphology_job_reports_the_galaxies_measured_so_far(tmp_path, small_stamps):
    """An app shows the first galaxies' diagnostics while the rest are measured (a minute for 100 COSMOS stamps
    on one core): reports carry the table so far, its unmeasured rows blank and flagged pending."""
    from candels_gui.core.measure.morphology import PENDING_FLAG

    stamps = small_stamps.subset(np.arange(6))
    progress = []
    table = run_job(morphology_job(stamps, workers=1, use_cache=False, partial_every=0.0), progress.append)
    partial = [p for p in progress if p.partial is not None]
    assert [p.done for p in partial] == [4]              # after the first chunk of 4; the last report is the result
    first = partial[0].partial
    assert len(first) == 6 and first["id"].tolist() == table["id"].tolist()
    assert first["flag"].tolist()[4:] == [PENDING_FLAG] * 2 and np.isnan(first["gini"][4:]).all()
    assert np.array_equal(first["gini"][:4], table["gini"][:4], equal_nan=True)
    quiet = []
    run_job(morphology_job(stamps, workers=1, use_cache=False), quiet.append)
    assert all(p.partial is None for p in quiet)       # none unless asked


def test_morphology_job_on_two_processes_gives_each_stamps_figures(small_stamps):
    stamps = small_stamps.subset(np.arange(6))
    two = run_job(morphology_job(stamps, workers=2, use_cache=False))
    assert np.asarray(two["id"]).tolist() == np.asarray(stamps.ids).tolist()
    for i in (0, 5):                                       # rows in stamp order, as measured alone
        alone = measure_stamp(stamps.images[i], stamps.segmaps[i])
        assert two["gini"][i] == pytest.approx(alone["gini"]) and two["flag"][i] == alone["flag"]


def _nice_of_child() -> int:
    import os

    return os.nice(0)


def test_background_measuring_runs_in_a_lower_priority_child_with_the_same_figures(small_stamps):
    """The app's mode: one worker, yet in a child process (statmorph in a thread of the window's process
    takes the interpreter lock from it), niced; the table equals the in-process one."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from candels_gui.core.parallel import BACKGROUND_NICE, lower_priority

    stamps = small_stamps.subset(np.arange(3))
    here = run_job(morphology_job(stamps, workers=1, use_cache=False))
    child = run_job(morphology_job(stamps, workers=1, use_cache=False, background=True))
    assert here.colnames == child.colnames
    for col in here.colnames:
        np.testing.assert_array_equal(np.asarray(here[col]), np.asarray(child[col]), err_msg=col)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=lower_priority) as pool:
        assert pool.submit(_nice_of_child).result() == min(19, os.nice(0) + BACKGROUND_NICE)


def test_lotz_rule_regions_and_flags():
    classes = lotz_classes(gini=[0.62, 0.60, 0.45, 0.45, 0.45, 0.5, 0.55],
                           m20=[-2.3, -1.0, -1.9, -2.2, -1.9, -2.0, -2.4],
                           asymmetry=[0.02, 0.1, 0.05, 0.05, 0.5, 0.05, 0.05],
                           sersic_n=[4.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0],
                           flag=[0, 0, 0, 0, 0, 2, 0], sn_per_pixel=[20, 20, 20, 20, 20, 20, 1.0])
    assert classes.tolist() == ["sph", "irr", "disk", "sphd", "irr", "unc", "unc"]
    tiny = lotz_classes(gini=[0.5], m20=[-2.0], asymmetry=[0.0], sersic_n=[1.0], flag=[0], sn_per_pixel=[30],
                        rhalf=[1.0], psf_fwhm=3.0)
    assert tiny.tolist() == ["ps"]
    assert psf_fwhm_px(f160w_psf(41)) == pytest.approx(3.0, abs=0.6)


def test_label_files_round_trip_and_bad_files_are_one_line_errors(tmp_path):
    ids = [11, 12, 13]
    fr = one_hot(["disk", "sphd", "unc"])
    fr[0] = [0, 0, 0.75, 0.25, 0, 0]
    path = write_labels_csv(tmp_path / "l.csv", ids, fr, extra={"n_votes": [4, 1, 1]})
    labels = read_labels_csv(path, known_ids=[10, 11, 12, 13])
    assert labels.ids.tolist() == ids and np.allclose(labels.fractions, fr, atol=1e-4)
    assert labels.classes.tolist() == ["disk", "sphd", "unc"]
    assert main_class_fractions(fr)[1].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]
    with pytest.raises(DataError, match=r"line 4: ID 13 is not in the data"):
        read_labels_csv(path, known_ids=[11, 12])
    header = "ID," + ",".join(PROB_COLUMNS)
    cases = {
        "missing class column(s) p_unc": "ID," + ",".join(PROB_COLUMNS[:-1]) + "\n1,1,0,0,0,0\n",
        "sum to 1.5": header + "\n1,0.5,0.5,0.5,0,0,0\n",
        "not a number": header + "\n1,a,0,0,0,0,1\n",
        "not a fraction": header + "\n1,2,0,0,0,0,-1\n",
        "ID 1 appears more than once, on lines 2, 3": header + "\n1,1,0,0,0,0,0\n1,1,0,0,0,0,0\n",
        "no ID column": ",".join(PROB_COLUMNS) + "\n1,0,0,0,0,0\n",
        "only a header": header + "\n",
    }
    for message, text in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(DataError, match=re.escape(message)):
            read_labels_csv(bad)
    with pytest.raises(DataError, match="no such label file"):
        read_labels_csv(tmp_path / "absent.csv")


def test_votes_are_undoable_session_edits_saved_with_the_session(tmp_path):
    s = Session()
    s.set_vote(5, "ana", "disk")
    s.set_vote(5, "ben", "irr")
    s.set_vote(6, "ana", "sph")
    s.set_vote(5, "ana", "sphd")                           # a labeller votes again: replaces
    assert s.morph_votes.get(5, "ana") == "sphd" and s.modified
    assert s.undo().startswith("Label galaxy 5 sphd") and s.morph_votes.get(5, "ana") == "disk"
    path = s.save(tmp_path / "s.json")
    back = Session.load(path)
    assert back.morph_votes == s.morph_votes and not back.modified
    with pytest.raises(ValueError, match="unknown class"):
        s.set_vote(5, "ana", "spiral")
    with pytest.raises(ValueError, match="labeller"):
        s.set_vote(5, " ", "disk")
    out = s.morph_votes.write_csv(tmp_path / "votes.csv")
    labels = read_labels_csv(out)
    assert labels.ids.tolist() == [5, 6]
    assert labels.fractions[0].tolist() == [0, 0, 0.5, 0.5, 0, 0]
    with pytest.raises(DataError, match="no galaxy has a vote"):
        MorphVotes().write_csv(tmp_path / "none.csv")


def test_labelled_stamps_are_seeded_and_cover_every_class(tmp_path):
    out = run_job(morphology_sample_job(tmp_path / "m", n_stamps=14, seed=3, stamp_size=64))
    stamps = load_stampset(out)
    labels = read_labels_csv(out / LABELS_FILE, known_ids=stamps.ids)
    assert labels.classes.tolist() == list(np.char.lower(np.asarray(stamps.catalog["galtype"]).astype(str)))
    assert set(labels.classes) <= set(MORPH_CLASSES) and len(set(labels.classes)) >= 4
    alone = make_morphology_stamp(3, 9, stamp_size=64)
    assert np.array_equal(alone.image, stamps.images[9]) and alone.row["ID"] == stamps.ids[9]
    again = run_job(morphology_sample_job(tmp_path / "m2", n_stamps=14, seed=3, stamp_size=64))
    for name in ("candels_img.npy", "candels_seg.npy", "candels_cat.csv", LABELS_FILE):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_the_bundled_sample_data_did_not_change():
    # the labelled stamps are a new code path: the bundled files stay what the generator made
    stamps = load_stampset(SAMPLE)
    for i in (0, 7):
        st = make_sample_stamp(DEFAULT_SEED, i)
        assert np.array_equal(st.image, stamps.images[i]) and st.row["ID"] == stamps.ids[i]
    import subprocess

    for name in ("candels_img.npy", "candels_seg.npy", "candels_cat.csv"):
        committed = subprocess.run(["git", "show", f"HEAD:sample_data/{name}"], cwd=SAMPLE.parent,
                                   capture_output=True)
        if committed.returncode != 0:
            pytest.skip("not a git checkout")
        assert hashlib.sha256(committed.stdout).digest() == hashlib.sha256((SAMPLE / name).read_bytes()).digest()


def test_produce_takes_predicted_types_as_data(tmp_path, small_stamps):
    from candels_gui.core.data.catalog import CatalogFilter
    from candels_gui.core.blending.sampling import SamplingRules
    from candels_gui.core.store.produce import ProduceOptions, produce, with_galtypes

    predicted = np.array(["irr", "disk"] * 6)
    swapped = with_galtypes(small_stamps, predicted)
    assert swapped.catalog["galtype"].tolist() == predicted.tolist()
    assert swapped.catalog["galtype_catalog"].tolist() == small_stamps.catalog["galtype"].tolist()
    assert swapped.images is small_stamps.images
    opts = ProduceOptions(n_blends=20, test_ratio=0.0, catalog_filter=CatalogFilter(excluded_types=("irr",)),
                          rules=SamplingRules(mag_diff=10, rad_diff=10))
    out = run_job(produce(small_stamps, tmp_path / "p", opts, galtypes=predicted, galtype_source="predicted"))
    import json

    from astropy.table import Table

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["galtype_source"] == "predicted"
    cat = Table.read(out / "train_catalogue.csv")
    used = set(np.asarray(cat["g1_id"]).tolist()) | set(np.asarray(cat["g2_id"]).tolist())
    irr_ids = set(np.asarray(small_stamps.ids)[predicted == "irr"].tolist())
    assert used and not used & irr_ids
    with pytest.raises(DataError, match="3 galaxy types given for 12 stamps"):
        with_galtypes(small_stamps, ["irr"] * 3)


def test_catalog_filter_accepts_the_classifier_types():
    from astropy.table import Table

    from candels_gui.core.data.catalog import CatalogFilter

    t = Table({"galtype": ["ps", "disk", "unc"], "mag": [20.0, 21, 22], "id": [1, 2, 3]})
    assert CatalogFilter(excluded_types=("ps", "unc")).mask(t).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="unknown galaxy type"):
        CatalogFilter(excluded_types=("star",))


def test_cancelling_background_statmorph_terminates_its_worker_processes(tmp_path):
    """A cancelled measurement (the app's data replaced, the window closed) stops its children at once: they are
    terminated, not left to finish their chunks on the cores while the pool's threads run in the app's process."""
    import multiprocessing
    import time

    from candels_gui.core.errors import Cancelled
    from candels_gui.core.jobs import CancelToken
    from candels_gui.core.measure.morphology import morphology_job
    from conftest import make_stampset

    token = CancelToken()
    others = set(multiprocessing.active_children())      # earlier tests' processes, maybe still ending
    job = morphology_job(make_stampset(n=48, size=48, seed=5), workers=2, background=True, use_cache=False,
                         cancel=token)
    children: list = []
    deadline = time.monotonic() + 120
    while not children and time.monotonic() < deadline:   # the pool's workers have started
        next(job)
        children = [p for p in multiprocessing.active_children() if p not in others]
    assert children, "the measurement started no worker process"
    token.cancel()
    with pytest.raises(Cancelled):
        for _ in job:
            pass
    for proc in children:
        proc.join(30)
        end = time.monotonic() + 30    # the pool's own thread may reap the process first: its status lands shortly
        while proc.exitcode is None and time.monotonic() < end:
            time.sleep(0.05)
        assert proc.exitcode is not None and proc.exitcode < 0, (proc, proc.exitcode)   # terminated


def test_pixels_without_data_are_masked_and_noted_not_measured_as_galaxy():
    """Half a stamp zeroed by a cut-out tool (its fill mask says so) read as an asymmetric galaxy, flag 0 (A 0.96
    against 0.14 whole); masked, the galaxy is flagged as suspect and the note says why."""
    stamps = load_stampset(Path(__file__).resolve().parents[1] / "sample_data")
    img, seg = np.array(stamps.images[2]), np.array(stamps.segmaps[2])
    cut = img.copy()
    cut[:, :66] = 0
    fill = np.zeros(img.shape, bool)
    fill[:, :66] = True
    blind = measure_stamp(cut, seg)
    masked = measure_stamp(cut, seg, fill=fill)
    assert blind["flag"] == 0 and blind["asymmetry"] > 0.5
    assert masked["flag"] >= 1 and "pixel(s) without data" in masked["morph_error"]
    assert masked["asymmetry"] < blind["asymmetry"]
    noise_padded = img.copy()
    assert measure_stamp(noise_padded, seg, fill=fill) == measure_stamp(noise_padded, seg)   # noise pasted in: sky
