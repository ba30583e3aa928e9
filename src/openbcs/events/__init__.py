"""Events and alarms, recorded by the engine and every domain inside their own transactions, so an event exists
exactly when what it reports was committed. An alarm stays active until what caused it is over (a later operation on
the instance succeeds; the instance is ``Normal`` again), then it is history. The monitoring domain only reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openbcs.events.models import Alarm, Event
from openbcs.kernel.clock import now_ns

SEVERITIES = {"info": 0, "minor": 1, "major": 2, "critical": 3}


def record(
    session: Session,
    *,
    blockchain_id: str,
    project_id: str,
    name: str,
    message: str,
    severity: str = "info",
    metadata: Mapping[str, object] | None = None,
) -> None:
    """Record an event of an instance."""
    session.add(
        Event(
            blockchain_id=blockchain_id,
            project_id=project_id,
            name=name,
            severity=severity,
            message=message[:512],
            metadata_={k: str(v) for k, v in (metadata or {}).items()},
            time=now_ns(),
        )
    )


def raise_alarm(
    session: Session,
    *,
    blockchain_id: str,
    project_id: str,
    key: str,
    name: str,
    message: str,
    severity: str = "major",
    metadata: Mapping[str, object] | None = None,
) -> None:
    """Raise an alarm (recorded as an event too); an active alarm with the same key is kept, not duplicated."""
    record(
        session,
        blockchain_id=blockchain_id,
        project_id=project_id,
        name=name,
        message=message,
        severity=severity,
        metadata=metadata,
    )
    active = session.scalar(
        select(Alarm).where(Alarm.blockchain_id == blockchain_id, Alarm.key == key, Alarm.cleared_time.is_(None))
    )
    if active is not None:
        # The alarm now reports the latest occurrence: its message and metadata (e.g. the operation id) agree.
        active.message = message[:512]
        active.metadata_ = {k: str(v) for k, v in (metadata or {}).items()}
        return
    session.add(
        Alarm(
            blockchain_id=blockchain_id,
            project_id=project_id,
            key=key,
            name=name,
            severity=severity,
            message=message[:512],
            metadata_={k: str(v) for k, v in (metadata or {}).items()},
            raised_time=now_ns(),
            cleared_time=None,
        )
    )


def clear_alarms(session: Session, *, blockchain_id: str, project_id: str, keys: Iterable[str], reason: str) -> int:
    """Clear the instance's active alarms with these keys (each clearing is an event); returns how many."""
    cleared = 0
    for alarm in session.scalars(
        select(Alarm).where(
            Alarm.blockchain_id == blockchain_id, Alarm.key.in_(list(keys)), Alarm.cleared_time.is_(None)
        )
    ):
        alarm.cleared_time = now_ns()
        record(
            session,
            blockchain_id=blockchain_id,
            project_id=project_id,
            name="AlarmCleared",
            message=f"{alarm.name} cleared: {reason}",
            metadata={"alarm": alarm.name, "key": alarm.key},
        )
        cleared += 1
    return cleared


def prune(session: Session, *, retention_seconds: float) -> int:
    """Delete events, and cleared alarms, older than the retention; returns how many rows went."""
    cutoff = now_ns() - int(retention_seconds * 1e9)
    gone = session.execute(delete(Event).where(Event.time < cutoff)).rowcount  # type: ignore[attr-defined]
    gone += session.execute(  # type: ignore[attr-defined]
        delete(Alarm).where(Alarm.cleared_time.is_not(None), Alarm.cleared_time < cutoff)
    ).rowcount
    return int(gone)
