"""Numeric controls of the companion (dx, dy, rotation, flip, flux) and the blend-metrics readout."""

from __future__ import annotations

import math

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                             QPushButton, QSlider, QWidget)

from ..core.blending.engine import BlendSpec
from ..core.blending.blend_metrics import BlendMetrics
from .state import AppState

__all__ = ["CompanionControls", "MetricsBox"]


def _spin(lo: float, hi: float, step: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    box.setAccelerated(True)
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box


class CompanionControls(QGroupBox):
    """Spin boxes and a slider bound to the current spec of an :class:`AppState`."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Companion (galaxy 2)", parent)
        self.state = state
        self.dx = _spin(-512, 512, 0.25, 2, " px")
        self.dy = _spin(-512, 512, 0.25, 2, " px")
        self.rotation = _spin(0.0, 360.0, 5.0, 1, "°")
        self.rotation.setWrapping(True)
        self.rotation_slider = QSlider(Qt.Orientation.Horizontal)
        self.rotation_slider.setRange(0, 359)
        self.flip = QCheckBox("Flip left-right")
        self.flux = _spin(0.001, 1000.0, 0.1, 3, " ×")
        self.dmag = _spin(-7.5, 7.5, 0.1, 2, " mag")
        self.dx.setToolTip("offset of galaxy 2 in columns (sub-pixel); drag the handle on the blend view")
        self.dy.setToolTip("offset of galaxy 2 in rows (sub-pixel)")
        self.rotation.setToolTip("counter-clockwise rotation of galaxy 2 about its centre")
        self.flux.setToolTip("multiplier of galaxy 2's flux")
        self.dmag.setToolTip("magnitude change of galaxy 2 (−2.5 log10 flux ×; negative = brighter)")
        reset = QPushButton("Reset")
        reset.setToolTip("no rotation, no flip, catalog flux (0)")
        reset.clicked.connect(self.reset)

        grid = QGridLayout(self)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(5)
        grid.addWidget(QLabel("dx"), 0, 0)
        grid.addWidget(self.dx, 0, 1)
        grid.addWidget(QLabel("dy"), 0, 2)
        grid.addWidget(self.dy, 0, 3)
        grid.addWidget(QLabel("Rotation"), 1, 0)
        grid.addWidget(self.rotation, 1, 1)
        grid.addWidget(self.rotation_slider, 1, 2, 1, 2)
        grid.addWidget(QLabel("Flux"), 2, 0)
        grid.addWidget(self.flux, 2, 1)
        grid.addWidget(QLabel("Δm"), 2, 2)
        grid.addWidget(self.dmag, 2, 3)
        row = QHBoxLayout()
        row.addWidget(self.flip)
        row.addStretch(1)
        row.addWidget(reset)
        grid.addLayout(row, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

        self.dx.valueChanged.connect(lambda v: self._update(dx=round(float(v), 2)))
        self.dy.valueChanged.connect(lambda v: self._update(dy=round(float(v), 2)))
        self.rotation.valueChanged.connect(lambda v: self._update(rotation=float(v) % 360.0))
        self.rotation_slider.valueChanged.connect(self._slider_moved)
        self.rotation_slider.sliderReleased.connect(
            lambda: self._update(rotation=float(self.rotation_slider.value())))
        self.flip.toggled.connect(lambda on: self._update(flip=bool(on)))
        self.flux.valueChanged.connect(lambda v: self._update(flux_scale=float(v)))
        self.dmag.valueChanged.connect(lambda v: self._update(flux_scale=10 ** (-0.4 * float(v))))
        state.specChanged.connect(self.show_spec)
        self.show_spec(state.spec, True)

    def reset(self) -> None:
        """No rotation, no flip, flux scale 1 (the offset stays)."""
        self.state.update_spec(rotation=0.0, flip=False, flux_scale=1.0)

    def show_spec(self, spec: BlendSpec | None, _final: bool = True) -> None:
        """Show ``spec``'s values (signals blocked, so nothing is echoed back)."""
        widgets = (self.dx, self.dy, self.rotation, self.rotation_slider, self.flip, self.flux, self.dmag)
        for w in widgets:
            w.setEnabled(spec is not None)
        if spec is None:
            return
        values = ((self.dx, spec.dx), (self.dy, spec.dy), (self.rotation, spec.rotation % 360.0),
                  (self.flux, spec.flux_scale), (self.dmag, spec.delta_mag_scale))
        for box, value in values:
            if box.value() == round(float(value), box.decimals()):
                continue  # setValue repaints even when nothing changes (costly on every preview frame)
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.rotation_slider.blockSignals(True)
        self.rotation_slider.setValue(int(round(spec.rotation)) % 360)
        self.rotation_slider.blockSignals(False)
        self.flip.blockSignals(True)
        self.flip.setChecked(spec.flip)
        self.flip.blockSignals(False)

    def _slider_moved(self, value: int) -> None:
        # live preview while the slider is held, exact frame on release
        self._update(rotation=float(value), final=not self.rotation_slider.isSliderDown())

    def _update(self, *, final: bool = True, **changes: object) -> None:
        self.state.update_spec(final=final, **changes)


class MetricsBox(QGroupBox):
    """Separation, Δmag, overlap fraction, blendedness and lost flux of the current blend."""

    ROWS = (("separation", "Separation"), ("separation_arcsec", "Separation (sky)"),
            ("delta_mag", "Δmag (G2 − G1)"), ("overlap", "Overlap"),
            ("blend1", "Blendedness G1"), ("blend2", "Blendedness G2"), ("flux_out", "G2 flux off stamp"),
            ("fill", "On fill G1 / G2"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Blend metrics", parent)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for r, (key, text) in enumerate(self.ROWS):
            name = QLabel(text)
            name.setObjectName("caption")
            value = QLabel("—")
            value.setObjectName("metricValue")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # a fixed size: a changing number must not re-lay out (and repaint) the window on every frame
            fm = value.fontMetrics()
            value.setFixedSize(max(fm.horizontalAdvance(t) for t in ("-000.00 px", "100 / 100 %", "-00.000″")) + 4,
                               value.sizeHint().height())
            if key == "fill":
                for w in (name, value):
                    w.setToolTip("share of each galaxy's footprint on pixels where its stamp holds no data "
                                 "(padding or noise pasted in); G hatches them on the views")
            grid.addWidget(name, r, 0)
            grid.addWidget(value, r, 1)
            self.values[key] = value
        grid.setColumnStretch(1, 1)

    def show_metrics(self, m: BlendMetrics | None) -> None:
        """Fill the readout (dashes when there is no blend)."""
        if m is None:
            for label in self.values.values():
                label.setText("—")
            return
        texts = {
            "separation": f"{m.separation_px:.2f} px",
            "separation_arcsec": "—" if m.separation_arcsec is None else f"{m.separation_arcsec:.3f}″",
            "delta_mag": f"{m.delta_mag:+.2f}" if math.isfinite(m.delta_mag) else "—",
            "overlap": f"{100 * m.overlap_fraction:.1f} %",
            "blend1": f"{m.blendedness[0]:.3f}",
            "blend2": f"{m.blendedness[1]:.3f}",
            "flux_out": f"{100 * m.flux_out_frac:.1f} %",
            "fill": f"{100 * m.fill_fraction[0]:.0f} / {100 * m.fill_fraction[1]:.0f} %",
        }
        for key, text in texts.items():
            self.values[key].setText(text)

    def text(self, key: str) -> str:
        """Shown text of one row (tests)."""
        return self.values[key].text()

