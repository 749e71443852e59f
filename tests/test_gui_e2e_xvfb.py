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

pytestmark = pytest.mark.skipif(XVFB is None, reason="no Xvfb binary (install xvfb to run this test)")


@pytest.fixture(scope="module")
def display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: ``-displayfd``)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(write_fd), "-screen", "0", "1920x1200x24",
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
