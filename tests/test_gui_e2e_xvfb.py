"""End to end on a real X server (Xvfb, xcb platform): the app draws a real window.

Runs only where an ``Xvfb`` binary exists (CI installs xvfb and the xcb libraries); skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
XVFB = shutil.which("Xvfb")
XDOTOOL = shutil.which("xdotool")
DRIVER = ROOT / "tests" / "xvfb_flow_driver.py"

pytestmark = pytest.mark.skipif(XVFB is None, reason="no Xvfb binary (install xvfb to run this test)")


@pytest.fixture(scope="module")
def display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: ``-displayfd``)."""
    yield from _xvfb("1920x1200x24")


@pytest.fixture(scope="module")
def laptop_display():
    """An Xvfb screen of a 1280x800 laptop."""
    yield from _xvfb("1280x800x24")


def _xvfb(screen: str):
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(write_fd), "-screen", "0", screen,
                             "-nolisten", "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 20
    try:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
        if not number.strip():
            pytest.fail(f"Xvfb did not report a display number (exit code {proc.poll()})")
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env(display: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_RUNTIME_DIR=str(tmp_path / "runtime"), PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    (tmp_path / "runtime").mkdir(mode=0o700, exist_ok=True)
    return env


def test_screenshot_of_a_real_window(display, tmp_path):
    out = tmp_path / "shot.png"
    res = subprocess.run([sys.executable, "-m", "candels_gui.cli", "screenshot", str(out), "--size", "1600x1000"],
                         env=_env(display, tmp_path), cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    img = imread(str(out))
    assert img.shape[:2] == (1000, 1600)  # the window got the size asked for
    rgb = np.asarray(img[..., :3], float)
    assert rgb.std() > 0.03  # not one flat colour
    colours = np.unique((rgb[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100  # widgets, text and stretched galaxy pixels, not a blank frame
    # the blend view (upper middle) shows an image, not just the empty view background
    h, w = rgb.shape[:2]
    centre = rgb[h // 8: h // 2, w // 4: 3 * w // 4]
    assert centre.std() > 0.03


def test_app_window_is_shown_on_xcb(display, tmp_path):
    env = _env(display, tmp_path)
    env.update(CANDELS_GUI_EXIT_WHEN_SHOWN="1", CANDELS_GUI_T0=repr(time.perf_counter()))
    res = subprocess.run([sys.executable, "-m", "candels_gui.cli"], env=env, cwd=str(ROOT),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1])
    assert report["startup_s"] > 0


def test_a_first_launch_fits_a_laptop_screen(laptop_display, tmp_path):
    """No saved geometry, a 1280x800 screen: the window is shrunk to the screen, not the 1600x1000 default
    hanging off its edges."""
    env = _env(laptop_display, tmp_path)
    env.update(CANDELS_GUI_EXIT_WHEN_SHOWN="1", HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    res = subprocess.run([sys.executable, "-m", "candels_gui.cli"], env=env, cwd=str(ROOT),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1])
    width, height = report["window"]
    assert 1200 <= width <= 1280 and 600 <= height <= 800, report


def _write_data(folder: Path) -> None:
    """A small candels-blender folder (16 galaxies, 48 px; some redshifts missing)."""
    import csv

    from conftest import make_stampset

    stamps = make_stampset(n=16, size=48, seed=1)
    folder.mkdir(parents=True)
    np.save(folder / "candels_img.npy", stamps.images)
    np.save(folder / "candels_seg.npy", stamps.segmaps)
    with open(folder / "candels_cat.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "RA", "DEC", "FIELD", "mag", "mag_err", "radius", "z", "galtype", "segval"])
        for row in stamps.catalog:
            w.writerow([row["id"], row["ra"], row["dec"], "GDS", row["mag"], 0.05, row["radius"],
                        -1 if row["id"] % 5 == 0 else row["z"], row["galtype"], row["segval"]])


def _failure(work: Path, proc_err: str) -> str:
    note = work / "failure.txt"
    return (note.read_text() if note.is_file() else "") + "\n--- stderr ---\n" + proc_err[-3000:]


@pytest.mark.skipif(XDOTOOL is None, reason="no xdotool binary (install xdotool to send real X events)")
def test_keyboard_flow_crash_and_recovery_in_a_real_window(laptop_display, tmp_path):
    """The flow a curator repeats, in a real 1280x800 window with real mouse and key events: pick, drag,
    queue and decide 22 blends with the keyboard, review and undo, export, save; kill -9; a plain relaunch
    offers the work back at once and reopens its data."""
    from candels_gui.core.store.export import read_export

    data, work = tmp_path / "data", tmp_path / "work"
    _write_data(data)
    work.mkdir()
    env = _env(laptop_display, tmp_path)
    env.update(HOME=str(tmp_path / "home"), CANDELS_GUI_AUTOSAVE_DIR=str(tmp_path / "autosave"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    (tmp_path / "home").mkdir()
    curate = subprocess.Popen([sys.executable, str(DRIVER), "curate", str(work), str(data)], env=env,
                              cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and curate.poll() is None and not (work / "expected.json").is_file():
        time.sleep(0.2)
    if not (work / "expected.json").is_file():
        curate.kill()
        _out, err = curate.communicate()
        pytest.fail("the curation flow did not finish:\n" + _failure(work, err))
    time.sleep(0.3)
    curate.kill()  # SIGKILL: no clean close, no save
    curate.communicate()
    assert curate.returncode == -9
    expected = json.loads((work / "expected.json").read_text())
    statuses = [status for _spec, status in expected["queue"]]
    assert len(statuses) == 23 and statuses.count("pending") == 0
    exported = read_export(work / "export")
    assert expected["exported"] == expected["accepted_at_export"]  # the accepted blends, in queue order
    assert len(exported.images) == len(expected["exported"]) >= 5
    assert len(list((tmp_path / "autosave").glob("*.json"))) >= 1
    recover = subprocess.run([sys.executable, str(DRIVER), "recover", str(work)], env=env, cwd=str(ROOT),
                             capture_output=True, text=True, timeout=300)
    assert recover.returncode == 0, _failure(work, recover.stderr)
    got = json.loads((work / "recovered.json").read_text())
    assert got["n"] == 23 and Path(got["data"]).resolve() == data.resolve()
