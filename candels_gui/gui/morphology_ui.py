"""Puts morphology into a main window: the controller, the Labelling tab and the scatter tab.

:func:`install_morphology` is called by the window once its catalog, session controller and central tabs
exist (before its actions are built: the ``labelling.*`` slots must be there); :func:`bind_morphology`
after its menus are built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .labelling import LabellingView
from .morphology_ctl import MorphologyController
from .morphology_panel import MorphologyPanel

__all__ = ["install_morphology", "bind_morphology"]


def _catalog_columns(catalog: Any):
    def set_columns(cols: dict[str, np.ndarray]) -> None:
        current = catalog.current_stamp()
        catalog.model.set_extra_columns(cols)
        if current is not None:
            catalog.select_stamp(current)
        if "galtype" in cols:       # predicted types fill an empty galtype: the type filter can use them
            catalog.show_types(cols["galtype"], predicted=True)
    return set_columns


def install_morphology(window: Any) -> LabellingView:
    """Create the morphology controller (``window.morphology``), the Labelling tab and the scatter tab
    (a Morphology tab beside Display and Random pairs); returns the labelling view."""
    ctl = MorphologyController(window.state, window.services, _catalog_columns(window.catalog))
    view = LabellingView(window.state, window.display, window.catalog, window.session_ctl, ctl,
                         window.services, window.settings)
    tabs = window.central_tabs
    tabs.addTab(view, "Labelling")
    # the tab and the mode go together: clicking the tab starts labelling (its keys, the galaxy shown),
    # leaving it ends it
    tabs.currentChanged.connect(lambda _i: view.set_active(tabs.currentWidget() is view)
                                if (tabs.currentWidget() is view) != view.active else None)
    panel = MorphologyPanel(ctl, window.catalog)
    # a third tab of the right column (Display | Random pairs | Morphology): a dock tabified there leaves Qt's
    # stray tab bar over the window
    window.right_tabs.addTab(panel, "Morphology")
    window.right_tabs.setTabToolTip(window.right_tabs.indexOf(panel),
                                    "Gini–M20 and other diagnostics of the galaxies (Morphology menu)")
    window.morphology, window.morphology_panel = ctl, panel
    ctl.predictionsChanged.connect(lambda: window.deblend_panel.show_device(ctl.device, "classifier")
                                   if ctl.device else None)
    return view


def bind_morphology(window: Any) -> None:
    """After the window's actions and menus exist: vote keys, and labelling mode
    and review mode switching each other off."""
    view: LabellingView = window.labelling
    view.bind_actions(window.actions_by_name)
    view.review = window.review
    window.review.toggled.connect(lambda on: view.set_active(False) if on and view.active else None)
