"""Errors users can act on: one line that names the file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path


class PolyalignError(Exception):
    """Base class; the CLI prints these as one line without a traceback."""


class DataError(PolyalignError):
    """Bad input data: misaligned files, invalid UTF-8, empty corpus, missing folder."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class UnknownLanguageError(PolyalignError):
    def __init__(self, code: str, available: list[str] | set[str], where: str = ""):
        avail = ", ".join(sorted(available))
        suffix = f" in {where}" if where else ""
        super().__init__(f"unknown language {code!r}{suffix}; available: {avail}")
        self.code = code
        self.available = sorted(available)


class ConfigError(PolyalignError):
    """Invalid configuration value or combination of values."""


class OutputError(PolyalignError):
    """An output path polyalign must not or cannot write: someone else's folder, another kind of
    output, a previous output without ``--overwrite``, or an unwritable location."""
