"""Time as OpenBCS records and shows it: nanosecond integers in the database, RFC 3339 UTC strings in answers."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ns() -> int:
    """Wall-clock time in nanoseconds, the unit BCS uses for record and step times."""
    return time.time_ns()


def utcnow() -> datetime:
    """Aware UTC now; one place so tests can reason about time."""
    return datetime.now(UTC)


def iso_time(ns: int | None) -> str:
    """RFC 3339 UTC time of a nanosecond timestamp ("" when unset): OpenBCS's format for the API's time strings."""
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
