"""Errors raised by the core for bad input. Messages name the file, column or shape that is wrong."""

from __future__ import annotations

__all__ = ["DataError", "Cancelled"]


class DataError(ValueError):
    """Input data that cannot be used as given (missing file, wrong shape, bad column, ...)."""


class Cancelled(Exception):
    """Long work stopped because its cancel token was set; nothing partial was left behind."""
