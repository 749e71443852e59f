"""The first bytes by which the readers tell file formats apart (and name a file given where another is needed).

A leaf module: the light opener of data (:mod:`.open_data`), the export detector (:mod:`.export`) and the weights
reader (``candels_gui.torch_common``) share it without importing one another.
"""

from __future__ import annotations

__all__ = ["HDF5_MAGIC", "FITS_MAGIC", "FILE_SIGNATURES"]

#: The first bytes of an HDF5 file and of a FITS file.
HDF5_MAGIC, FITS_MAGIC = b"\x89HDF\r\n\x1a\n", b"SIMPLE  ="
#: First bytes of the files a reader may be given by mistake, and their names (for "it is a FITS file").
FILE_SIGNATURES = ((FITS_MAGIC, "a FITS file"), (HDF5_MAGIC, "an HDF5 file"), (b"\x93NUMPY", "a NumPy array"),
                   (b"\x89PNG", "a PNG picture"), (b"%PDF", "a PDF"), (b"\x1f\x8b", "a gzip file"))
