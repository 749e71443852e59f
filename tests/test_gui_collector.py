"""The app's garbage-collector settling: one full pass and a freeze once it has settled, again only when more code
was loaded, and data replaced afterwards is still freed."""

from __future__ import annotations

import gc
import sys
import weakref

from conftest import make_stampset
from candels_gui.gui.app import MainWindow
from candels_gui.gui.collector import CollectorSettler


def test_settles_after_the_data_shows_then_only_when_code_was_loaded(qtbot, tmp_path):
    from PyQt6.QtCore import QSettings

    settings = QSettings(str(tmp_path / "t.ini"), QSettings.Format.IniFormat)
    stamps = make_stampset(n=8, size=32, seed=2)
    win = MainWindow(stamps, settings=settings)
    qtbot.addWidget(win)
    win.show()
    collector = win.collector
    qtbot.waitUntil(lambda: collector.settles == 1, timeout=5000)
    assert gc.get_freeze_count() > 0   # what the app holds now is out of the full passes
    frozen = gc.get_freeze_count()

    collector.poke()                   # nothing new loaded: no second pass
    qtbot.wait(CollectorSettler.DELAY_MS + 300)
    assert collector.settles == 1

    sys.modules.pop("colorsys", None)
    import colorsys  # noqa: F401  (more code loaded, as a deblender's first run loads torch)
    collector.poke()
    qtbot.waitUntil(lambda: collector.settles == 2, timeout=5000)
    assert gc.get_freeze_count() >= frozen

    # data opened after a settle replaces the frozen data, which is freed (no cycle keeps it)
    old, old_engine = weakref.ref(stamps), weakref.ref(win.state.engine)
    del stamps
    win.set_stamps(make_stampset(n=8, size=32, seed=3))
    qtbot.waitUntil(lambda: collector._timer.isActive() is False, timeout=5000)
    gc.collect()
    assert old() is None and old_engine() is None
    win.tasks.cancel_all()
    win.tasks.wait(5000)
