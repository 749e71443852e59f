"""Deep-field images in FITS: reading one without loading it (memory map), and writing one tile by tile.

:func:`read_field` opens a 2-D image (or one plane of a cube) of any size as a read-only memory map and
checks it (an HDU with image data, a real number type, a single band, a size). :class:`FieldWriter`
writes a field larger than memory: the header first, the data section reserved on disk at once (a full
disk fails at the start, not after an hour), then tiles written in place row segment by row segment, so
memory does not grow with the field; the file has a temporary name until :meth:`FieldWriter.commit`.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp()) / "f.fits"
>>> with FieldWriter(out, (4, 6)) as w:
...     w.write(np.ones((2, 6), np.float32), 0, 0)
...     w.write(np.zeros((2, 6), np.float32), 2, 0)
>>> f = read_field(out)
>>> f.shape, float(f.data.sum())
((4, 6), 12.0)
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..atomic import remove_stale_temps, temp_path
from ..errors import DataError

__all__ = ["FieldImage", "read_field", "FieldWriter", "field_header", "file_sha256", "GOODS_S_CENTRE"]

#: RA, Dec (deg) the WCS of a mock or generated field is centred on (GOODS-S).
GOODS_S_CENTRE = (53.122, -27.805)
_BLOCK = 2880


@dataclass
class FieldImage:
    """A field opened from FITS.

    Attributes
    ----------
    data : ndarray (H, W) or (C, H, W)
        Read-only memory map in the file's byte order (values as stored, no scaling), or an in-memory
        array when the HDU is scaled or compressed.
    header : astropy.io.fits.Header
    path : Path
    hdu : int
    band : int or None
        The plane of a cube that ``data`` is, when it was one.
    """

    data: np.ndarray
    header: Any
    path: Path
    hdu: int = 0
    band: Optional[int] = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def pixel_scale(self) -> Optional[float]:
        """Arcsec per pixel from the header (``PIXSCALE`` or the WCS), when known."""
        return header_pixel_scale(self.header)

    @property
    def zeropoint(self) -> Optional[float]:
        """AB zeropoint from ``MAGZERO`` / ``ZEROPT`` / ``PHOTZPT`` when present."""
        for key in ("MAGZERO", "ZEROPT", "PHOTZPT", "MAGZPT"):
            if key in self.header:
                try:
                    return float(self.header[key])
                except (TypeError, ValueError):
                    continue
        return None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (hex), read in 1 MB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def header_pixel_scale(header: Any) -> Optional[float]:
    """Arcsec per pixel of a FITS header (``PIXSCALE``, else ``CD1_1``/``CDELT1``), or None."""
    if "PIXSCALE" in header:
        return float(header["PIXSCALE"])
    for key in ("CD1_1", "CDELT1"):
        if key in header and float(header[key]) != 0:
            return abs(float(header[key])) * 3600.0
    return None


def _image_hdus(hdul: Any) -> list[int]:
    return [i for i, h in enumerate(hdul) if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) >= 2]


def read_field(path: str | os.PathLike, *, hdu: Optional[int] = None, band: Optional[int] = None,
               allow_cube: bool = False, min_size: int = 1, check: bool = True) -> FieldImage:
    """Open a FITS field image as a read-only memory map.

    Parameters
    ----------
    path : path
        The FITS file.
    hdu : int, optional
        HDU index (default: the first one with a 2-D or 3-D image).
    band : int, optional
        Plane of a cube (0-based) to read; a cube without ``band`` is an error unless ``allow_cube``.
    allow_cube : bool
        Return a whole (C, H, W) cube.
    min_size : int
        Smallest accepted side in pixels.
    check : bool
        Check the pixels (:func:`check_field_pixels`): some finite, none infinite, not constant.

    Raises
    ------
    DataError
        No such file, not FITS, no image data, a cube without ``band``, a non-numeric or too small image.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    from .readers_common import truncation_guard

    hdul = None
    try:
        with truncation_guard(path, "FITS file"):    # astropy's truncation warning: this one-line error instead
            hdul = fits.open(path, memmap=True, mode="readonly", do_not_scale_image_data=False)
            images = _image_hdus(hdul)
    except (DataError, OSError, ValueError, TypeError) as exc:
        if hdul is not None:
            hdul.close()
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable FITS file ({exc})") from exc
    if hdu is None:
        if not images:
            hdul.close()
            raise DataError(f"{path}: no HDU holds image data (2-D or 3-D); is it a table or an empty file?")
        hdu = images[0]
    if not 0 <= int(hdu) < len(hdul):
        n = len(hdul)
        hdul.close()
        raise DataError(f"{path}: --hdu {hdu} does not exist (the file has {n} HDU(s))")
    h = hdul[int(hdu)]
    try:
        data = h.data if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) >= 2 else None
    except (TypeError, ValueError, OSError, IndexError) as exc:
        hdul.close()
        raise DataError(f"{path}: HDU {hdu}: the image cannot be read; the file is truncated or damaged "
                        f"({exc})") from None
    if data is None:
        hdul.close()
        raise DataError(f"{path}: HDU {hdu} holds no image data (image HDUs: {images or 'none'})")
    if data.dtype.kind not in "fiu":
        hdul.close()
        raise DataError(f"{path}: HDU {hdu} has data of type {data.dtype}, not numbers")
    squeeze = [i for i, n in enumerate(data.shape) if n == 1 and data.ndim > 2]
    if squeeze:
        data = data.reshape([n for i, n in enumerate(data.shape) if i not in squeeze])
    if data.ndim > 3:
        raise DataError(f"{path}: HDU {hdu} has {data.ndim} dimensions {data.shape}; a field is 2-D")
    plane = None
    if data.ndim == 3:
        if band is not None:
            if not 0 <= int(band) < data.shape[0]:
                raise DataError(f"{path}: --band {band} is out of range (the cube has {data.shape[0]} planes)")
            plane = int(band)
            data = data[plane]
        elif not allow_cube:
            raise DataError(f"{path}: HDU {hdu} is a cube of {data.shape[0]} planes {data.shape}; pick one "
                            "with --band N (a field is one 2-D image)")
    elif band not in (None, 0):
        raise DataError(f"{path}: --band {band} given but HDU {hdu} is a single 2-D image")
    if min(data.shape[-2:]) < int(min_size):
        raise DataError(f"{path}: the image is {data.shape[-2]}x{data.shape[-1]} px, smaller than the "
                        f"{min_size} px needed")
    if check:
        try:
            check_field_pixels(data, f"{path}: HDU {hdu}" + (f" band {plane}" if plane is not None else ""))
        except DataError:
            del data
            hdul.close()
            raise
    return FieldImage(data, h.header, path, int(hdu), plane, {"hdul": hdul})


def check_field_pixels(data: np.ndarray, where: str, *, rows: int = 1024) -> int:
    """Check a field's pixels, reading ``rows`` rows at a time; returns the number of NaN pixels.

    NaN pixels (no coverage, masked) are allowed while some pixels are finite: the commands mask them
    and say how many. Refused: no finite pixel, an infinite pixel, a value beyond 1e30 in size (an
    overflowed or unscaled image), and a field whose finite pixels all hold one value (nothing in it).

    Raises
    ------
    NonFiniteError, DegenerateError
        Naming ``where`` and what was found.
    """
    from ..errors import DegenerateError, NonFiniteError

    n_nan = n_inf = n_finite = 0
    lo, hi = np.inf, -np.inf
    for c in ([data] if data.ndim == 2 else list(data)):
        for r in range(0, c.shape[0], rows):
            block = np.asarray(c[r:r + rows], dtype=np.float64)
            finite = np.isfinite(block)
            n_nan += int(np.isnan(block).sum())
            n_inf += int(np.isinf(block).sum())
            k = int(finite.sum())
            if k:
                n_finite += k
                vals = block[finite]
                lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
    if n_inf:
        raise NonFiniteError(f"{where}: {n_inf:,} infinite pixel(s); replace them with a value (or crop them away)")
    if n_finite == 0:
        raise NonFiniteError(f"{where}: no finite pixel (every pixel is NaN)")
    if max(abs(lo), abs(hi)) > 1e30:
        raise DegenerateError(f"{where}: pixel values reach {max(abs(lo), abs(hi)):.3g}, beyond 1e30 (an overflowed "
                              f"or unscaled image?)")
    if lo == hi:
        raise DegenerateError(f"{where}: every finite pixel is {lo:g}; the field holds no image")
    return n_nan


def field_header(shape: tuple[int, ...], *, pixel_scale: Optional[float] = 0.06, zeropoint: Optional[float] = None,
                 centre: tuple[float, float] = GOODS_S_CENTRE, bunit: str = "electron/s") -> Any:
    """A primary FITS header for a float32 field of ``shape`` ((H, W) or (C, H, W)) with a TAN WCS; with
    ``pixel_scale=None`` (not known) neither ``PIXSCALE`` nor a WCS: no sky position is made up."""
    from astropy.io import fits

    hdr = fits.Header()
    hdr["SIMPLE"] = True
    hdr["BITPIX"] = -32
    hdr["NAXIS"] = len(shape)
    for i, n in enumerate(reversed(shape)):
        hdr[f"NAXIS{i + 1}"] = int(n)
    hdr["EXTEND"] = True
    h, w = shape[-2:]
    if pixel_scale is not None:
        scale = float(pixel_scale) / 3600.0
        hdr["CTYPE1"], hdr["CTYPE2"] = "RA---TAN", "DEC--TAN"
        hdr["CRVAL1"], hdr["CRVAL2"] = float(centre[0]), float(centre[1])
        hdr["CRPIX1"], hdr["CRPIX2"] = (w + 1) / 2.0, (h + 1) / 2.0
        hdr["CD1_1"], hdr["CD1_2"], hdr["CD2_1"], hdr["CD2_2"] = -scale, 0.0, 0.0, scale
        hdr["PIXSCALE"] = (float(pixel_scale), "arcsec per pixel")
    if zeropoint is not None:
        hdr["MAGZERO"] = (float(zeropoint), "AB magnitude zeropoint")
    hdr["BUNIT"] = bunit
    return hdr


class FieldWriter:
    """Write a float32 FITS image of ``shape`` ((H, W) or (C, H, W)) tile by tile, in bounded memory.

    The data section is reserved on disk when the writer opens (``posix_fallocate`` where available): a disk
    too small fails there with a :class:`DataError`. The file is ``.NAME.PID.tmp`` beside ``path`` until
    :meth:`commit` renames it; :meth:`abort` (or leaving a ``with`` block by an exception) removes it.

    Parameters
    ----------
    path : path
        Final file name.
    shape : tuple of int
        (H, W) or (C, H, W).
    header : astropy.io.fits.Header, optional
        Extra cards (the structural ones are set here).
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], header: Any = None) -> None:
        from astropy.io import fits

        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        if len(self.shape) not in (2, 3) or min(self.shape) < 1:
            raise DataError(f"{self.path}: cannot write a field of shape {shape}")
        hdr = field_header(self.shape) if header is None else header.copy()
        base = fits.Header()
        base["SIMPLE"] = True
        base["BITPIX"] = -32
        base["NAXIS"] = len(self.shape)
        for i, n in enumerate(reversed(self.shape)):
            base[f"NAXIS{i + 1}"] = n
        base["EXTEND"] = True
        for card in hdr.cards:
            if card.keyword in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "END") or card.keyword.startswith("NAXIS"):
                continue
            base.append(card)
        text = base.tostring(sep="", endcard=True, padding=True).encode("ascii")
        self.data_offset = len(text)
        nbytes = int(np.prod(self.shape)) * 4
        self.total = self.data_offset + -(-nbytes // _BLOCK) * _BLOCK
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path.parent)     # a killed run's (kill -9: a field of GB)
        self.tmp = temp_path(self.path)
        self.fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._reserve()
            os.pwrite(self.fd, text, 0)
        except BaseException:
            self.abort()
            raise

    def _reserve(self) -> None:
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(self.fd, 0, self.total)
            else:  # pragma: no cover - non-POSIX
                os.ftruncate(self.fd, self.total)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise DataError(f"{self.path}: not enough disk space for {self.total / 1e9:.2f} GB "
                                f"({exc.strerror})") from exc
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # file system without fallocate
                os.ftruncate(self.fd, self.total)
                return
            raise

    def write(self, tile: np.ndarray, row: int, col: int) -> None:
        """Write ``tile`` ((h, w), or (C, h, w) for a cube) with its top-left pixel at ``(row, col)``."""
        tile = np.asarray(tile)
        if tile.ndim == 2 and len(self.shape) == 3:
            raise DataError(f"{self.path}: a cube needs (C, h, w) tiles, got {tile.shape}")
        planes = tile[None] if tile.ndim == 2 else tile
        h, w = self.shape[-2:]
        if row < 0 or col < 0 or row + planes.shape[1] > h or col + planes.shape[2] > w:
            raise DataError(f"{self.path}: tile {planes.shape[1:]} at ({row}, {col}) falls outside {h}x{w}")
        data = np.ascontiguousarray(planes, dtype=">f4")
        try:
            for c in range(data.shape[0]):
                base = self.data_offset + (c * h * w + row * w + col) * 4
                for r in range(data.shape[1]):
                    buf = data[c, r].tobytes()
                    if os.pwrite(self.fd, buf, base + r * w * 4) != len(buf):
                        raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DataError(f"{self.path}: the disk is full ({exc.strerror}); nothing was left under "
                                "that name") from exc
            raise

    def commit(self) -> Path:
        """Flush, close and rename to the final name; returns it."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            self.abort()
            raise DataError(f"{self.path}: cannot write ({exc.strerror})") from exc
        os.close(self.fd)
        self.fd = -1
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "FieldWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
