"""Errors raised by the core for bad input. Messages name the file, column, option or shape that is wrong
and say what was expected, in one line.

Every kind of bad input has its own type, and every type is a :class:`DataError` (so ``except DataError``
catches them all, and the command line prints any of them as one line ``candels-gui CMD: error: ...``):

=========================  ===============================================================================
:class:`FileFormatError`   a file is missing, empty, truncated, corrupt or not of the format expected
:class:`ShapeError`        an array has the wrong number of axes, shape, dtype or layout
:class:`NonFiniteError`    NaN or infinite values where finite ones are needed (pixels, fluxes, weights)
:class:`DegenerateError`   data that is well formed but cannot be used (all-zero or constant stamps)
:class:`CatalogError`      a catalog lacks a column or holds values of the wrong kind
:class:`LabelError`        segmentation labels that are invalid (negative, non-integer, centre unlabelled)
:class:`WrappedLabelsError` labels cast to a narrow integer type (uint8) that wrapped around
:class:`OptionError`       an option (command line or keyword) out of range, non-finite or inconsistent
:class:`DeviceError`       a torch device that is absent or unknown
:class:`OutputError`       an output path that cannot be written: a file, under a file, not writable, an
                           input, or too small a disk for what was asked
:class:`UnsafePathError`   a path read from a file (manifest, catalog, session) that leaves its folder
:class:`ExportError`       an export (HDF5, FITS, npy folder) whose structure or content is wrong
:class:`WeightsError`      a weights file or model card that is not what this program writes
:class:`SessionError`      a session file that is not valid
:class:`TrainingError`     training that went wrong (diverged): nothing was written
=========================  ===============================================================================

Input repaired by a documented rule (e.g. ``nan_policy="replace"``) is reported with a :class:`DataWarning`.
"""

from __future__ import annotations

__all__ = ["DataError", "Cancelled", "FileFormatError", "ShapeError", "NonFiniteError", "DegenerateError",
           "CatalogError", "LabelError", "WrappedLabelsError", "OptionError", "DeviceError", "OutputError",
           "UnsafePathError", "ExportError", "WeightsError", "SessionError", "TrainingError", "DataWarning", "one_line"]


class DataError(ValueError):
    """Input data that cannot be used as given (missing file, wrong shape, bad column, ...)."""


class Cancelled(Exception):
    """Long work stopped because its cancel token was set; nothing partial was left behind."""


class FileFormatError(DataError):
    """A file is missing, empty, truncated, corrupt, or not of the format expected."""


class ShapeError(DataError):
    """An array has the wrong number of axes, shape, dtype or layout."""


class NonFiniteError(DataError):
    """NaN or infinite values where finite ones are needed."""


class DegenerateError(DataError):
    """Well-formed data that cannot be used: an all-zero or constant stamp, an empty image."""


class CatalogError(DataError):
    """A catalog lacks a required column or holds values of the wrong kind."""


class LabelError(DataError):
    """Segmentation labels that are not valid (negative, non-integer, an unlabelled centre)."""


class WrappedLabelsError(LabelError):
    """Segmentation labels that wrapped around when the maps were cast to a narrow integer type."""


class OptionError(DataError):
    """An option that is out of range, not finite, of the wrong type, or inconsistent with another."""


class DeviceError(OptionError):
    """A torch device that this machine does not have, or that torch does not know."""


class OutputError(DataError):
    """An output path that cannot be used: a file where a folder is needed (or the reverse), under a file,
    not writable, one of the inputs, or on a disk too small for what was asked."""


class UnsafePathError(DataError):
    """A path read from a file that points outside the folder of that file."""


class ExportError(DataError):
    """An export whose structure or content is not what this program writes."""


class WeightsError(DataError):
    """A weights file or model card that is not what this program writes."""


class SessionError(DataError):
    """A session file that is not valid."""


class TrainingError(DataError):
    """Training failed (e.g. the loss diverged to NaN); no weights were written."""


class DataWarning(UserWarning):
    """Input that was used after a documented repair (the user is told what was changed)."""


def one_line(text: object, limit: int = 400) -> str:
    """``text`` as one line (newlines folded, long texts cut) for an error message."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 1] + "…"
