"""Export N random blends from the app (its Export dialog's worker), for the kill tests.

    python tests/hostile/app_export.py DATA DEST FORMAT N

Opens the main window offscreen on DATA, queues N random blends, runs the same export the Export dialog
runs (``gui.export_dialog.run_export``, in a background worker), prints ``exporting`` when it starts and
exits 0 when the files are written (143 when stopped by SIGTERM, 130 by SIGINT, as ``candels-gui`` is).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.environ.get("HOSTILE_PYTHONPATH", str(Path(__file__).resolve().parents[2])))


def main() -> int:
    data, dest, fmt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QMessageBox

    from candels_gui.core.blending.sampling import SamplingRules, sample_specs
    from candels_gui.core.data.load import load_stampset
    from candels_gui.gui.app import MainWindow
    from candels_gui.gui.export_dialog import run_export
    from candels_gui.gui.launch import make_app, quit_on_signals

    app = make_app()
    stamps = load_stampset(data)
    window = MainWindow(stamps)
    quit_on_signals(app, window)
    window.session_ctl.session.add_specs(sample_specs(stamps, n, SamplingRules(), seed=1, unique=True))
    status = {"code": 1}

    def finished(result: object) -> None:
        if result is not None:
            status["code"] = 0

    QMessageBox.information = staticmethod(lambda *a, **k: app.exit(status["code"]))  # "Export finished"
    QMessageBox.critical = staticmethod(lambda p, t, text, *a, **k: (print(text, file=sys.stderr), app.exit(2)))

    def start() -> None:
        run_export(window.session_ctl, window.services, on_exported=finished, dest=dest, fmt=fmt,
                   method="ogg_masks", statuses=("pending",), test_ratio=None)
        print("exporting", flush=True)
    QTimer.singleShot(0, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
