"""Exceptions that carry one clear line for the user."""
from __future__ import annotations

import os


def printable(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped (``\\n``, ``\\x00``, ``\\udcff``), so
    a message that quotes a file name stays one line and can be printed in any encoding."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class TfaudioError(Exception):
    """Base class: its str() is the one line shown to a user."""


class AudioFileError(TfaudioError, ValueError):
    """An audio file is missing, empty, truncated, not audio, or holds NaN/Inf."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(printable(f"{self.path}: {problem}" if self.path else problem))


class DatasetError(TfaudioError, ValueError):
    """A data set's layout, metadata or labels are wrong."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(printable(f"{self.path}: {problem}" if self.path else problem))


class ConfigError(TfaudioError, ValueError):
    """A configuration key or value is wrong."""
