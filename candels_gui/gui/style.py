"""The app's look: a dark Fusion palette, one style sheet, pyqtgraph defaults (row-major images)."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import QApplication

__all__ = ["apply_theme", "configure_pyqtgraph", "COLORS", "monospace_font"]

#: Theme colours (hex) shared by widgets and plots.
COLORS = {
    "window": "#202225",
    "base": "#17181a",
    "panel": "#26282c",
    "border": "#3a3d42",
    "text": "#d7dadf",
    "muted": "#8b9099",
    "accent": "#4ea1e0",
    "view": "#0d0e10",
}

_STYLE = """
QMainWindow::separator {{ background: {border}; width: 1px; height: 1px; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: 600; }}
QDockWidget::title {{ background: {panel}; padding: 5px 8px; border-bottom: 1px solid {border}; }}
QGroupBox {{ border: 1px solid {border}; border-radius: 5px; margin-top: 14px; padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {muted}; }}
QTableView {{ gridline-color: {border}; selection-background-color: #2f5f8a;
              alternate-background-color: #1c1d20; }}
QHeaderView::section {{ background: {panel}; border: 0; border-right: 1px solid {border};
                        border-bottom: 1px solid {border}; padding: 3px 6px; color: {muted}; }}
QStatusBar {{ border-top: 1px solid {border}; }}
QStatusBar QLabel {{ color: {text}; }}
QLabel#metricValue {{ font-family: "DejaVu Sans Mono", monospace; color: {text}; }}
QLabel#caption {{ color: {muted}; }}
QLabel#thumbnail {{ background: {view}; border: 1px solid {border}; }}
QPushButton {{ padding: 4px 10px; }}
QToolTip {{ color: {text}; background: {panel}; border: 1px solid {border}; }}
"""


def monospace_font(point_size: int = 9) -> QFont:
    """A fixed-pitch font for numeric readouts."""
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSize(point_size)
    return font


def configure_pyqtgraph() -> None:
    """Row-major float images (``image[row, col]``), dark plot backgrounds, antialiased lines."""
    pg.setConfigOptions(imageAxisOrder="row-major", background=COLORS["view"],
                        foreground=COLORS["text"], antialias=True)


def apply_theme(app: QApplication) -> None:
    """Dark Fusion palette and the app style sheet."""
    configure_pyqtgraph()
    app.setStyle("Fusion")
    c = {k: QColor(v) for k, v in COLORS.items()}
    pal = QPalette()
    roles = QPalette.ColorRole
    pal.setColor(roles.Window, c["window"])
    pal.setColor(roles.WindowText, c["text"])
    pal.setColor(roles.Base, c["base"])
    pal.setColor(roles.AlternateBase, QColor("#1c1d20"))
    pal.setColor(roles.ToolTipBase, c["panel"])
    pal.setColor(roles.ToolTipText, c["text"])
    pal.setColor(roles.Text, c["text"])
    pal.setColor(roles.Button, c["panel"])
    pal.setColor(roles.ButtonText, c["text"])
    pal.setColor(roles.BrightText, QColor("#ff6b6b"))
    pal.setColor(roles.Highlight, QColor("#2f5f8a"))
    pal.setColor(roles.HighlightedText, QColor("#ffffff"))
    pal.setColor(roles.Link, c["accent"])
    pal.setColor(roles.PlaceholderText, c["muted"])
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.Text, roles.ButtonText, roles.WindowText):
        pal.setColor(disabled, role, QColor("#6b6f76"))
    app.setPalette(pal)
    app.setStyleSheet(_STYLE.format(**COLORS))
