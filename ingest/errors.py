"""Errors raised while turning files into documents."""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error this package raises on purpose."""


class ParseError(IngestError):
    """A file could not be turned into a document.

    The message is one line that names the file and the reason, so a batch can report it
    and move on.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UnsupportedFormat(ParseError):
    """The file's content is of a type no loader reads."""


class FileTooLarge(ParseError):
    """The file, or what it decompresses to, is over the configured limit."""


class MetadataError(ParseError):
    """A metadata sidecar or manifest is invalid."""
