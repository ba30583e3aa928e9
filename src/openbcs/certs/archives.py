"""File answers of the certificate operations: a name and the bytes of a zip archive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Archive:
    """A file answer: its name and bytes."""

    filename: str
    content: bytes
