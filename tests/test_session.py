"""Curation sessions (core, no Qt): commands, undo / redo, persistence, autosave and crash recovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from candels_gui.core.blending.engine import BlendSpec
from candels_gui.core.data.catalog import CatalogFilter
from candels_gui.core.curation.undo import UndoStack, describe_spec_change
from candels_gui.core.errors import DataError
from candels_gui.core.blending.sampling import SamplingRules, sample_specs
from candels_gui.core.curation.session import (SESSION_FORMAT, QueueItem, Session, SessionDataMismatch,
                                               autosave_path_for, find_autosave)
from conftest import ROOT, make_stampset


def _specs(n, start=0):
    return [BlendSpec(101 + k % 7, 102 + k % 5, dx=1.5 * k, dy=-0.25 * k, seed=3) for k in range(start, start + n)]


def test_commands_do_undo_redo_with_labels():
    s = Session()
    spec = BlendSpec(101, 105, dx=4.0, dy=2.0)
    s.set_current(spec)
    s.add_current()
    s.add_specs(_specs(3))
    s.set_status([0], "accepted")
    s.set_status([1, 2], "rejected")
    s.set_note(3, "tidal tail")
    s.set_current(spec.replace(dx=6.0))
    assert s.labels() == ["New pair 101 + 105", "Add blend 1", "Add 3 blends", "Accept blend 1",
                          "Reject 2 blends", "Edit note of blend 4", "Move companion"]
    assert [i.status for i in s.queue] == ["accepted", "rejected", "rejected", "pending"]
    assert s.undo_label == "Move companion" and not s.can_redo
    assert s.undo() == "Move companion" and s.current == spec
    assert s.undo() == "Edit note of blend 4" and s.queue[3].note == ""
    assert s.undo() == "Reject 2 blends"
    assert [i.status for i in s.queue] == ["accepted", "pending", "pending", "pending"]
    assert s.redo_label == "Reject 2 blends"
    assert s.redo() == "Reject 2 blends" and s.queue[2].status == "rejected"
    while s.can_undo:
        s.undo()
    assert s.queue == [] and s.current is None and s.undo() == ""
    while s.can_redo:
        s.redo()
    assert [i.status for i in s.queue] == ["accepted", "rejected", "rejected", "pending"]
    assert s.queue[3].note == "tidal tail" and s.current == spec.replace(dx=6.0)
    # a new edit forgets the redo branch
    s.undo()
    s.remove([1])
    assert not s.can_redo and len(s.queue) == 3 and s.undo_label == "Remove blend 2"
    s.undo()
    assert [i.status for i in s.queue] == ["accepted", "rejected", "rejected", "pending"]


def test_editing_a_loaded_item_changes_it_and_undo_restores_it():
    s = Session()
    s.add_specs(_specs(3))
    loaded = s.load_item(1)
    assert s.current == loaded and s.current_item == 1 and s.labels() == ["Add 3 blends"]
    s.set_current(loaded.replace(rotation=30.0), item=1)
    assert s.queue[1].spec.rotation == 30.0 and s.undo_label == "Rotate companion (blend 2)"
    s.remove([0])  # the loaded blend moves up one row
    assert s.current_item == 0
    s.undo()
    s.undo()
    assert s.queue[1].spec == loaded and s.current == loaded


def test_status_and_index_errors():
    s = Session()
    s.add_specs(_specs(2))
    with pytest.raises(ValueError, match="unknown status 'maybe'"):
        s.set_status([0], "maybe")
    with pytest.raises(IndexError, match="queue index 5 out of range"):
        s.set_status([5], "accepted")
    with pytest.raises(ValueError, match="no blend to add"):
        s.add_current()
    with pytest.raises(ValueError, match="unknown status"):
        QueueItem(_specs(1)[0], status="good")
    s.set_status([0], "accepted")
    s.set_status([0], "accepted")  # no change: no command
    assert s.labels() == ["Add 2 blends", "Accept blend 1"]


def test_undo_stack_is_capped():
    s = Session(cap=5)
    s.add_specs(_specs(1))
    for k in range(10):
        s.set_note(0, f"note {k}")
    assert len(s.stack) == 5 and s.labels() == ["Edit note of blend 1"] * 5
    for _ in range(5):
        s.undo()
    assert not s.can_undo and s.queue[0].note == "note 4"
    with pytest.raises(ValueError, match="cap"):
        UndoStack(cap=0)


def test_spec_change_labels():
    a = BlendSpec(1, 2, dx=3.0)
    assert describe_spec_change(a, a.replace(flip=True)) == "Flip companion"
    assert describe_spec_change(a, a.replace(flux_scale=2.0)) == "Change companion flux"
    assert describe_spec_change(a, a.replace(rotation=5.0, dx=1.0)) == "Edit companion"
    assert describe_spec_change(a, a.replace(id2=9)) == "Set galaxy 2 to 9"
    assert describe_spec_change(a, a.replace(id1=2, id2=1)) == "Swap galaxies"


def test_random_batch_is_the_core_sampling(small_stamps):
    rules = SamplingRules(uniform_area=True, subpixel=True)
    s = Session(seed=11, rules=rules)
    s.add_random(small_stamps, 5)
    s.add_random(small_stamps, 3)
    assert s.labels() == ["Add 5 random blends", "Add 3 random blends"] and s.random_index == 8
    expected = sample_specs(small_stamps, 8, rules, seed=11)
    assert [i.spec for i in s.queue] == expected
    s.undo()
    assert s.random_index == 5 and len(s.queue) == 5
    # filtered pool: the session's catalog filter
    s2 = Session(seed=11, catalog_filter=CatalogFilter(excluded_types=("irr", "sph")))
    s2.add_random(small_stamps, 6)
    types = dict(zip(small_stamps.ids, small_stamps.catalog["galtype"]))
    assert all(types[i.spec.id1] in ("disk", "sphd") and types[i.spec.id2] in ("disk", "sphd")
               for i in s2.queue)


def _filled_session(stamps, data_path):
    s = Session(data_path=data_path, data_hash=stamps.content_hash(), seed=9,
                rules=SamplingRules(mag_diff=1.5, random_flip=True),
                catalog_filter=CatalogFilter(mag_low=19.0, excluded_types=("irr",)),
                display={"stretch": "log", "levels": [0.1, 2.0], "mask_opacity": 0.5})
    s.add_random(stamps, 6)
    s.set_status([0, 2], "accepted")
    s.set_status([1], "flagged")
    s.set_note(1, "ünïcode note, \"quoted\"")
    s.load_item(2)
    s.set_current(s.queue[2].spec.replace(dx=2.75), item=2)
    return s


def test_save_and_load_round_trip_with_relative_paths(tmp_path, small_stamps):
    data = tmp_path / "data"
    data.mkdir()
    s = _filled_session(small_stamps, data)
    assert s.modified
    path = s.save(tmp_path / "work" / "curation.json")
    assert not s.modified and s.path == path
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["format"] == SESSION_FORMAT and raw["version"] == 1
    assert raw["data"] == {"path": "../data", "hash": small_stamps.content_hash()}
    back = Session.load(path, stamps=small_stamps)
    assert back.queue == s.queue and back.current == s.current and back.current_item == 2
    assert (back.seed, back.rules, back.filter, back.display, back.random_index) == \
        (s.seed, s.rules, s.filter, s.display, s.random_index)
    assert back.data_path == data.resolve() and not back.modified and back.labels() == []
    # moving both folders together keeps the link (the path is relative)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "work").rename(elsewhere / "work")
    data.rename(elsewhere / "data")
    moved = Session.load(elsewhere / "work" / "curation.json", stamps=small_stamps)
    assert moved.data_path == (elsewhere / "data").resolve() and moved.queue == s.queue
    # the save was atomic: no temporary files left beside it
    assert [p.name for p in (elsewhere / "work").iterdir()] == ["curation.json"]


def test_hash_mismatch_and_bad_files(tmp_path, small_stamps):
    s = _filled_session(small_stamps, tmp_path)
    path = s.save(tmp_path / "s.json")
    other = make_stampset(n=12, size=48, seed=5)
    with pytest.raises(SessionDataMismatch) as err:
        Session.load(path, stamps=other)
    assert small_stamps.content_hash() in str(err.value) and other.content_hash() in str(err.value)
    assert isinstance(err.value, DataError)
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    with pytest.raises(DataError, match="bad.json: not a candels-gui session file"):
        Session.load(tmp_path / "bad.json")
    raw = json.loads(path.read_text())
    raw["version"] = 99
    (tmp_path / "new.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match="version 99 is not supported"):
        Session.load(tmp_path / "new.json")
    raw["version"] = 1
    raw["queue"][3]["status"] = "great"
    (tmp_path / "item.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match="queue item 3 is invalid.*unknown status 'great'"):
        Session.load(tmp_path / "item.json")
    with pytest.raises(DataError, match="no such session file"):
        Session.load(tmp_path / "missing.json")


def test_autosave_after_each_change_and_removed_on_save(tmp_path, small_stamps):
    auto = tmp_path / "auto"
    s = Session(data_hash=small_stamps.content_hash(), autosave_dir=auto)
    assert s.autosave_path == autosave_path_for(data_hash=small_stamps.content_hash(), directory=auto)
    s.add_specs(_specs(2))
    for step in range(3):
        s.set_note(step % 2, f"n{step}")
        rec = Session.recover(s.autosave_path)
        assert rec.queue == s.queue and rec.modified and rec.path is None
    s.undo()
    assert Session.recover(s.autosave_path).queue == s.queue
    assert find_autosave(data_hash=small_stamps.content_hash(), directory=auto) == s.autosave_path
    path = s.save(tmp_path / "s.json")
    assert not any(auto.iterdir())  # saved: nothing to recover
    s.set_status([0], "flagged")  # now keyed by the session file
    found = find_autosave(session_path=path, directory=auto)
    assert found == s.autosave_path and found.name.startswith("session-")
    rec = Session.recover(found)
    assert rec.path == path and rec.queue[0].status == "flagged"
    s.save()
    assert find_autosave(session_path=path, directory=auto) is None



def test_quick_edits_autosave_once_per_interval_and_flush_writes_the_last(tmp_path, small_stamps):
    """Queue changes are written at once; the editor's blend moving quickly waits for the interval (or a flush)."""
    s = Session(data_hash=small_stamps.content_hash(), autosave_dir=tmp_path / "auto")
    s.autosave_interval = 3600.0                 # nothing comes due during the test
    s.add_specs(_specs(2))                       # first change: written
    assert Session.recover(s.autosave_path).queue == s.queue
    s.set_note(0, "n0")                          # a change to the queue: written at once
    assert Session.recover(s.autosave_path).queue[0].note == "n0"
    for step in range(5):                        # the editor's blend moving (a drag)
        s.set_current(BlendSpec(s.queue[0].spec.id1, s.queue[0].spec.id2, dx=float(step + 1)))
    assert Session.recover(s.autosave_path).current != s.current      # waiting, not lost
    assert s.flush_autosave() and Session.recover(s.autosave_path).current == s.current
    assert not s.flush_autosave()                # nothing waits any more
    s.set_current(BlendSpec(s.queue[0].spec.id1, s.queue[0].spec.id2, dx=9.0))
    s.remove_autosave()                          # the user discards: a later flush must not bring it back
    assert not s.flush_autosave() and not s.autosave_path.exists()


CHILD = textwrap.dedent("""
    import json, os, signal, sys
    sys.path.insert(0, {root!r})
    from candels_gui.core.blending.engine import BlendSpec
    from candels_gui.core.curation.session import Session
    s = Session(data_hash="feedc0de", autosave_dir={auto!r})
    edits = [lambda: s.add_specs([BlendSpec(1, 2, dx=3.0)]),
             lambda: s.add_specs([BlendSpec(3, 4, dy=-2.5), BlendSpec(5, 6)]),
             lambda: s.set_status([1], "accepted"),
             lambda: s.set_note(0, "keep"),
             lambda: s.set_status([2], "rejected"),
             lambda: s.set_current(BlendSpec(7, 8, rotation=45.0))]
    for edit in edits:
        edit()
        print(json.dumps([i.to_dict() for i in s.queue]
                         + [s.current.to_dict() if s.current else None]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_recovery_after_kill_9(tmp_path):
    auto = tmp_path / "auto"
    proc = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), auto=str(auto))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    states = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(states) == 6
    found = find_autosave(data_hash="feedc0de", directory=auto)
    assert found is not None
    rec = Session.recover(found)
    got = [i.to_dict() for i in rec.queue] + [rec.current.to_dict() if rec.current else None]
    assert got in (states[-1], states[-2])  # at most the last edit is lost
    assert rec.queue[1].status == "accepted" and rec.queue[0].note == "keep"
    assert not [p for p in auto.iterdir() if p.suffix == ".tmp"]


def test_export_specs_by_status():
    s = Session()
    s.add_specs(_specs(4))
    s.set_status([1, 3], "accepted")
    s.set_status([2], "flagged")
    assert s.specs() == [s.queue[1].spec, s.queue[3].spec]
    assert s.specs(("accepted", "flagged")) == [s.queue[i].spec for i in (1, 2, 3)]
    assert s.counts() == {"pending": 1, "accepted": 2, "rejected": 0, "flagged": 1}
    with pytest.raises(ValueError, match="unknown status"):
        s.specs(("good",))


def test_core_session_imports_no_qt():
    code = ("import sys; import candels_gui.core.curation.session, candels_gui.core.curation.undo; "
            "print(any(m.split('.')[0] in ('PyQt6', 'pyqtgraph', 'superqt', 'torch') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False", out.stderr


def test_an_autosave_without_queue_changes_is_not_offered(tmp_path):
    auto = tmp_path / "auto"
    s = Session(data_hash="abc123", autosave_dir=auto, current=BlendSpec(1, 2))
    s.set_current(BlendSpec(1, 2, dx=4.0))  # an editor change: written, but no unsaved queue work
    assert s.autosave_path.is_file()
    assert find_autosave(data_hash="abc123", directory=auto) is None
    assert find_autosave(data_hash="abc123", directory=auto, unsaved_only=False) == s.autosave_path
    s.add_specs(_specs(1))
    assert find_autosave(data_hash="abc123", directory=auto) == s.autosave_path
    s.undo()  # back to the saved (empty) queue
    assert find_autosave(data_hash="abc123", directory=auto) is None
