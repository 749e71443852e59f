"""Random-pair rules: the core :class:`~candels_gui.core.blending.sampling.SamplingRules` and the seed, as widgets."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox,
                             QVBoxLayout, QWidget)

from ..core.blending.sampling import SamplingRules
from .state import AppState

__all__ = ["RulesPanel"]


def _double(lo: float, hi: float, step: float, decimals: int = 2, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    box.setMinimumWidth(72)  # fits a narrow right column (1280 px screens)
    return box


class RulesPanel(QWidget):
    """Edit the rules "Random pair" draws with; every change builds a new validated SamplingRules."""

    def __init__(self, state: AppState, on_error, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.on_error = state, on_error
        self.mag_diff = _double(0.05, 20.0, 0.25, suffix=" mag")
        self.mag_diff.setToolTip("largest magnitude difference of the pair (candels-blender: 2)")
        self.rad_diff = _double(0.1, 50.0, 0.5, suffix=" × r")
        self.rad_diff.setToolTip("largest separation as a multiple of the smaller radius "
                                 "(candels-blender: 4)")
        self.max_sep = _double(0.0, 4096.0, 1.0, 1, " px")
        self.max_sep.setSpecialValueText("half the stamp")
        self.max_sep.setToolTip("hard cap of the separation (0: half the stamp, candels-blender's)")
        self.uniform = QCheckBox("Separation uniform in area")
        self.subpixel = QCheckBox("Sub-pixel offsets")
        self.rotate = QCheckBox("Random rotation")
        self.flip = QCheckBox("Random flip")
        self.flux_lo = _double(0.0, 100.0, 0.1, 2)
        self.flux_hi = _double(0.0, 100.0, 0.1, 2)
        self.flux_lo.setSpecialValueText("catalog")
        self.flux_lo.setToolTip("range of galaxy 2's flux scale, drawn log-uniformly (low 0: catalog flux)")
        self.flux_hi.setToolTip(self.flux_lo.toolTip())
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setMinimumWidth(72)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("seed of the random pairs and of the cleaning noise of new blends")

        flux = QHBoxLayout()
        flux.setSpacing(4)
        flux.addWidget(self.flux_lo, 1)
        flux.addWidget(QLabel("–"))
        flux.addWidget(self.flux_hi, 1)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Δmag below", self.mag_diff)
        form.addRow("Separation ≤", self.rad_diff)
        form.addRow("Cap", self.max_sep)
        form.addRow("Flux ×", flux)
        form.addRow("Seed", self.seed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        layout.addLayout(form)
        for box in (self.uniform, self.subpixel, self.rotate, self.flip):
            layout.addWidget(box)
        layout.addStretch(1)

        self.show_rules()
        for box in (self.mag_diff, self.rad_diff, self.max_sep, self.flux_lo, self.flux_hi):
            box.valueChanged.connect(self.apply)
        for check in (self.uniform, self.subpixel, self.rotate, self.flip):
            check.toggled.connect(self.apply)
        self.seed.valueChanged.connect(self.apply)

    def show_rules(self) -> None:
        """Show the state's rules and seed."""
        r = self.state.rules
        widgets = (self.mag_diff, self.rad_diff, self.max_sep, self.flux_lo, self.flux_hi, self.seed,
                   self.uniform, self.subpixel, self.rotate, self.flip)
        for w in widgets:
            w.blockSignals(True)
        self.mag_diff.setValue(r.mag_diff)
        self.rad_diff.setValue(r.rad_diff)
        self.max_sep.setValue(r.max_separation or 0.0)
        lo, hi = r.flux_ratio if r.flux_ratio else (0.0, 0.0)
        self.flux_lo.setValue(lo)
        self.flux_hi.setValue(hi)
        self.seed.setValue(self.state.seed)
        self.uniform.setChecked(r.uniform_area)
        self.subpixel.setChecked(r.subpixel)
        self.subpixel.setEnabled(r.uniform_area)
        self.flux_hi.setEnabled(lo > 0)
        self.rotate.setChecked(r.random_rotation)
        self.flip.setChecked(r.random_flip)
        for w in widgets:
            w.blockSignals(False)

    def rules(self) -> SamplingRules:
        """The rules the widgets describe (``ValueError`` from the core when inconsistent)."""
        lo, hi = self.flux_lo.value(), self.flux_hi.value()
        uniform = self.uniform.isChecked()
        return SamplingRules(
            mag_diff=self.mag_diff.value(), rad_diff=self.rad_diff.value(),
            max_separation=self.max_sep.value() or None, uniform_area=uniform,
            subpixel=self.subpixel.isChecked() and uniform, random_rotation=self.rotate.isChecked(),
            random_flip=self.flip.isChecked(), flux_ratio=(lo, max(lo, hi)) if lo > 0 else None)

    def apply(self) -> None:
        """Send the widgets' rules and seed to the state."""
        self.subpixel.setEnabled(self.uniform.isChecked())
        self.flux_hi.setEnabled(self.flux_lo.value() > 0)
        try:
            self.state.rules = self.rules()
        except ValueError as exc:
            self.on_error(exc)
            self.show_rules()
            return
        if self.seed.value() != self.state.seed:
            self.state.seed = int(self.seed.value())
            self.state.random_index = 0
