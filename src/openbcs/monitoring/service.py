"""Event and alarm queries (ListBcsEvents, ListBcsEventsStatistic): windows, filters, sorting, buckets.

Events and alarms are written by :mod:`openbcs.events`; monitoring only reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from openbcs.events import SEVERITIES
from openbcs.events.models import Alarm, Event
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.monitoring.schemas import TIME_MAX_MS, EventMetadataRelation, ListBcsEventRequestBody

ACTIVE_ALERT, HISTORY_ALERT = "active_alert", "history_alert"
MAX_BUCKETS = 1440
_TIME_RANGE = re.compile(r"(-1|[0-9]{1,16})\.(-1|[0-9]{1,16})\.([0-9]{1,9})")
_MS = 1_000_000


# --- queries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A query window in milliseconds since the epoch, both ends included."""

    start_ms: int
    end_ms: int


def parse_time_range(value: str, *, now_ms: int) -> Window:
    """``start.end.minutes`` (AOM's form): ``-1.-1.N`` is the last N minutes (from the epoch at the earliest); else
    the explicit start and end, each at most :data:`TIME_MAX_MS`."""
    match = _TIME_RANGE.fullmatch(value)
    if not match:
        raise errors.invalid_parameter("time_range", "use startMs.endMs.minutes, or -1.-1.N for the last N minutes")
    start, end, minutes = int(match[1]), int(match[2]), int(match[3])
    if minutes <= 0:
        raise errors.invalid_parameter("time_range", "the duration in minutes must be positive")
    if start == -1 and end == -1:
        return Window(max(0, now_ms - minutes * 60_000), now_ms)
    if start == -1 or end == -1:
        raise errors.invalid_parameter("time_range", "give both start and end, or neither (-1.-1.N)")
    if end > TIME_MAX_MS:
        raise errors.invalid_parameter("time_range", f"times are milliseconds since the epoch, at most {TIME_MAX_MS}")
    if start > end:
        raise errors.invalid_parameter("time_range", "start is after end")
    return Window(start, end)


@dataclass(frozen=True)
class Record:
    """An event or an alarm as the query sees it."""

    name: str
    severity: str
    message: str
    time_ms: int
    metadata: dict[str, str] = field(default_factory=dict)
    cleared_ms: int | None = None
    time_ns: int = 0  # what sorting by time uses: events within one millisecond keep their order


def _matches(record: Record, search: str | None, relations: list[EventMetadataRelation]) -> bool:
    if search:
        haystack = " ".join([record.name, record.message, *record.metadata.values()]).lower()
        if search.lower() not in haystack:
            return False
    ors = [r for r in relations if r.relation == "OR"]
    for relation in relations:
        present = record.metadata.get(relation.key)
        if relation.relation == "AND" and present not in relation.value:
            return False
        if relation.relation == "NOT" and present in relation.value:
            return False
    return not ors or any(record.metadata.get(r.key) in r.value for r in ors)


def alarms_shown(kind: str, *, start_ns: int) -> tuple[ColumnElement[bool], ...]:
    """Which alarms a ListBcsEvents ``type`` shows: ``active_alert`` those not cleared, ``history_alert`` those
    cleared since the window's start (the console's Alarms page uses the same rule)."""
    if kind == ACTIVE_ALERT:
        return (Alarm.cleared_time.is_(None),)
    return (Alarm.cleared_time.is_not(None), Alarm.cleared_time >= start_ns)


def records(
    session: Session,
    *,
    blockchain_id: str,
    kind: str | None,
    body: ListBcsEventRequestBody,
    window: Window | None = None,
) -> list[Record]:
    """The instance's events (``kind`` None), active alarms or alarm history in the window (``body.time_range``
    read now, unless the caller already did: then the same "now"), filtered and sorted."""
    window = window or parse_time_range(body.time_range, now_ms=now_ns() // _MS)
    start_ns, end_ns = window.start_ms * _MS, (window.end_ms + 1) * _MS - 1
    found: list[Record] = []
    if kind in (ACTIVE_ALERT, HISTORY_ALERT):
        query = select(Alarm).where(
            Alarm.blockchain_id == blockchain_id, Alarm.raised_time <= end_ns, *alarms_shown(kind, start_ns=start_ns)
        )
        for alarm in session.scalars(query.order_by(Alarm.raised_time, Alarm.id)):
            found.append(
                Record(
                    alarm.name,
                    alarm.severity,
                    alarm.message,
                    alarm.raised_time // _MS,
                    dict(alarm.metadata_),
                    alarm.cleared_time // _MS if alarm.cleared_time else None,
                    alarm.raised_time,
                )
            )
    else:
        for event in session.scalars(
            select(Event)
            .where(Event.blockchain_id == blockchain_id, Event.time >= start_ns, Event.time <= end_ns)
            .order_by(Event.time, Event.id)
        ):
            found.append(
                Record(
                    event.name,
                    event.severity,
                    event.message,
                    event.time // _MS,
                    dict(event.metadata_),
                    None,
                    event.time,
                )
            )
    relations = body.metadata_relation or []
    found = [r for r in found if _matches(r, body.search, relations)]
    order_by = body.sort.order_by if body.sort else ["time"]
    descending = (body.sort.order if body.sort else "desc") == "desc"
    keys = {"time": lambda r: r.time_ns, "name": lambda r: r.name, "severity": lambda r: SEVERITIES.get(r.severity, 0)}
    for name in reversed(order_by):  # stable sorts, least significant key first
        found.sort(key=keys[name], reverse=descending)
    return found


def buckets(window: Window, step_ms: int) -> list[int]:
    """Bucket start times (ms) covering the window with ``step_ms``; at most 1440 buckets."""
    count = (window.end_ms - window.start_ms) // step_ms + 1
    if count > MAX_BUCKETS:
        raise errors.invalid_parameter("step", f"the window holds more than {MAX_BUCKETS} steps of {step_ms} ms")
    return [window.start_ms + i * step_ms for i in range(count)]
