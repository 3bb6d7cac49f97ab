"""Errors of the output stage (result files in and out).

``ExportError`` covers files that cannot be written; ``ResultsFormatError`` a results JSON that a
later command (e.g. ``render``) cannot read back. Both are ``DetectorError`` subclasses with a
stable ``code`` so the CLI and the worker can report them like any other detector error.
"""

from __future__ import annotations

from detector.errors import DetectorError


class ExportError(DetectorError):
    """A result file could not be written (folder missing and not creatable, disk full, bad option)."""

    code = "export_error"


class ResultsFormatError(DetectorError):
    """A results JSON file is missing, not JSON, or does not have the shape ``write_json`` makes."""

    code = "results_format_error"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        text = f"{path}: {message}" if path else message
        super().__init__(
            text,
            hint=hint or "Pass a file written by `highlights detect --json`, or run detect again.",
        )
        self.path = path
