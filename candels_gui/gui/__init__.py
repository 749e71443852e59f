"""The desktop app (PyQt6 + pyqtgraph), a thin layer over :mod:`candels_gui.core`.

Widgets bind to small Qt models (:mod:`.state`, :mod:`.display_model`) that hold core objects
(:class:`~candels_gui.core.stampset.StampSet`, :class:`~candels_gui.core.blend.BlendSpec`,
:class:`~candels_gui.core.stretch.DisplaySettings`) and call core functions; long work runs in
background workers (:mod:`.workers`). Start it with :func:`candels_gui.gui.app.run_app`.
"""
