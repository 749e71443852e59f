"""Temporary files that can be recognised and cleared, and the checks of options and output paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from candels_gui.core.atomic import is_temp_name, owner_pid, remove_stale_temps, stale_temps, temp_path
from candels_gui.core.errors import OptionError, OutputError, UnsafePathError
from candels_gui.core.validate import check_output, file_in_folder, finite, integer, ordered

DEAD = 4_194_305 + 7   # above Linux's largest process id


def test_temp_names_say_whose_they_are(tmp_path):
    tmp = temp_path(tmp_path / "blends.h5")
    assert tmp.parent == tmp_path and tmp.name.startswith(".candels-gui-tmp-") and tmp.name.endswith("-blends.h5")
    assert is_temp_name(tmp.name) and owner_pid(tmp.name) == os.getpid()
    long = temp_path(tmp_path / ("x" * 250))
    assert len(long.name.encode()) <= 255 and is_temp_name(long.name)
    for legacy in (".blends.h5.0123abcd.tmp", "train_images.npy.part", "w.pt.tmp", ".s.json.k3j_x9Qa.tmp"):
        assert is_temp_name(legacy) and owner_pid(legacy) is None
    for mine in ("blends.h5", "notes.tmp.txt", ".hidden", "data.part.npy"):
        assert not is_temp_name(mine)


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f".candels-gui-tmp-{DEAD}-deadbeef-blends.h5"
    alive = tmp_path / f".candels-gui-tmp-1-cafe0001-blends.h5"          # pid 1 always runs
    own = temp_path(tmp_path / "x.npy")
    legacy = tmp_path / "train_images.npy.part"
    keep = tmp_path / "blends.h5"
    for p in (dead, alive, own, legacy, keep):
        p.write_bytes(b"x")
    assert stale_temps(tmp_path) == sorted([dead, legacy])
    assert remove_stale_temps(tmp_path) == sorted([dead, legacy])
    assert remove_stale_temps(tmp_path, force=True) == [alive]            # --force: all but this process's
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([own.name, keep.name])


def test_export_writer_clears_what_a_killed_run_left(tmp_path, small_stamps):
    from candels_gui.core.blending.engine import BlendEngine, BlendSpec
    from candels_gui.core.jobs import run_job
    from candels_gui.core.store.export import export

    stale = tmp_path / "out" / f".candels-gui-tmp-{DEAD}-0badf00d-images.npy"
    stale.parent.mkdir()
    stale.write_bytes(b"\0" * 100)
    ids = [int(v) for v in small_stamps.catalog["id"][:2]]
    run_job(export(tmp_path / "out", BlendEngine(small_stamps), [BlendSpec(*ids, dx=4.0)]))
    assert not stale.exists() and (tmp_path / "out" / "images.npy").is_file()


@pytest.mark.parametrize("value,ok", [(0.5, True), ("0.5", True), (float("nan"), False), (float("inf"), False),
                                      ("abc", False), (None, False), (1.0, False), (-0.1, False)])
def test_finite_in_range(value, ok):
    if ok:
        assert finite(value, "--test_ratio", low=0, high=1, high_open=True) == 0.5
    else:
        with pytest.raises(OptionError, match="--test_ratio"):
            finite(value, "--test_ratio", low=0, high=1, high_open=True)


def test_integer_and_ordered():
    assert integer(3.0, "-n", low=1) == 3
    for bad in (3.5, True, "x", float("inf"), 0):
        with pytest.raises(OptionError, match="-n"):
            integer(bad, "-n", low=1)
    with pytest.raises(OptionError, match="--mag_low .* --mag_high"):
        ordered(25.0, 20.0, "--mag_low", "--mag_high")
    ordered(20.0, None, "--mag_low", "--mag_high")


def test_check_output(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    assert check_output(tmp_path / "new" / "deeper", "-o") == tmp_path / "new" / "deeper"
    for path, kind, word in ((f, "folder", "is a file"), (tmp_path, "file", "is a folder"),
                             (f / "sub", "folder", "is a file, not a folder"), ("", "folder", "empty"),
                             ("/proc/candels-gui-x", "folder", "cannot write"),
                             ("-", "folder", "not to standard output"), ("-", "file", "not to standard output")):
        with pytest.raises(OutputError, match=word):
            check_output(path, "-o", kind=kind)
    with pytest.raises(OutputError, match="input"):
        check_output(f, "-o", kind="file", inputs=[f])
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    with pytest.raises(OutputError):
        check_output(loop, "-o", kind="file")


def test_paths_from_files_stay_in_their_folder(tmp_path):
    (tmp_path / "a.fits").write_bytes(b"")
    assert file_in_folder(tmp_path, "a.fits", "image file", "cat.fits") == (tmp_path / "a.fits").resolve()
    os.symlink("/etc/hostname", tmp_path / "link.fits")
    for name in ("../a.fits", "/etc/passwd", "sub/../../x", "link.fits", "", 7, "a\0b"):
        with pytest.raises(UnsafePathError):
            file_in_folder(tmp_path, name, "image file", "cat.fits")


def test_an_output_onto_a_device_or_pipe_is_refused(tmp_path):
    """Outputs are renamed over their path: run as root, 'classify -o /dev/null' replaced the system's /dev/null
    with a CSV file, and a FIFO's reader waited forever."""
    import os

    from candels_gui.core.errors import OutputError
    from candels_gui.core.validate import check_output

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, Path(os.devnull)):
        with pytest.raises(OutputError, match="is a device, pipe or socket, not a regular file"):
            check_output(path, "-o", kind="file")
    assert check_output(tmp_path / "fine.csv", "-o", kind="file") == tmp_path / "fine.csv"


def test_an_interrupt_waits_for_a_commit_of_several_files(tmp_path):
    """Ctrl-C between the renames of 'field stamps --force' left new images beside old segmentation maps."""
    import signal

    from candels_gui.core.atomic import interrupts_deferred

    renamed = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            for name in ("a", "b", "c"):
                if name == "b":
                    os.kill(os.getpid(), signal.SIGINT)   # delivered now, raised only after the block
                    for _ in range(1000):
                        pass
                renamed.append(name)
    assert renamed == ["a", "b", "c"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
