"""candels-gui: blended-galaxy training sets from real telescope stamps, and deblender comparison.

The package is layered: :mod:`candels_gui.core` (numpy/astropy/photutils/h5py only),
:mod:`candels_gui.deblend` (imports torch lazily) and :mod:`candels_gui.gui` (PyQt6 + pyqtgraph).
"""

__version__ = "0.1.0"
