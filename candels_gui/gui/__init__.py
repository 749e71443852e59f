"""The desktop app (PyQt6 + pyqtgraph), a thin layer over :mod:`candels_gui.core`.

Widgets bind to small Qt models (:mod:`.state`, :mod:`.display_model`) that hold core objects
(:class:`~candels_gui.core.data.stampset.StampSet`, :class:`~candels_gui.core.blending.engine.BlendSpec`,
:class:`~candels_gui.core.display.stretch.DisplaySettings`) and call core functions; long work runs in
background workers (:mod:`.workers`). Start it with :func:`candels_gui.gui.launch.run_app`.
"""
