"""Operation rules: starting an operation, advancing it one sub-step at a time, and listing records.

Exactly-once steps: every transition begins with ``UPDATE operations SET version = version + 1 WHERE id = ? AND
version = ?``. Whoever changes the row holds its write lock until commit (the row lock on PostgreSQL, the database
lock that ``BEGIN IMMEDIATE`` takes on SQLite), runs the action and commits both together; a competing worker's
update then matches no row and it backs off without running anything. A crash before commit rolls the action back
with the transition, so the step runs again after restart: state lives only in the database.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openbcs.db import now_ns
from openbcs.keys import ServerKey
from openbcs.monitoring import service as monitoring
from openbcs.operations import kinds
from openbcs.operations.kinds import OperationContext, OperationFailed
from openbcs.operations.models import Operation, OperationSubStep

log = logging.getLogger("openbcs.operations")

WAITING, PROCESSING, FINISHED, FAILED, STOPPED = "waiting", "processing", "finished", "failed", "stop"
STATUSES = (WAITING, PROCESSING, FINISHED, FAILED, STOPPED)
RESOURCE_TYPES = ("BCSSVC01", "BCSSVC02", "PLUGIN01", "PLUGIN02", "PLUGIN03")
ACTIVE = (WAITING, PROCESSING)

_id_lock = threading.Lock()
_last_id_ns = 0
# The last two digits of every id this process makes: processes sharing a database (``--workers``, several
# servers on one PostgreSQL) then collide only if they drew the same salt *and* the same 100 ns tick.
_ID_SALT = secrets.randbelow(100)


def new_operation_id(resource_type: str, operation_type: str) -> str:
    """``BCSSVC01-03-1617158790255323683``: resource type, operation type, then 19 time-ordered digits."""
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(now_ns() // 100 * 100 + _ID_SALT, _last_id_ns + 100)
        return f"{resource_type}-{operation_type}-{_last_id_ns:019d}"


def start(
    session: Session,
    *,
    kind: str,
    domain_id: str,
    project_id: str,
    blockchain_id: str | None = None,
    blockchain_name: str | None = None,
    payload: dict[str, Any] | None = None,
    description: str = "",
) -> str:
    """Record a new operation of a registered kind (``waiting``, all sub-steps waiting) and return its id."""
    registered = kinds.get(kind)
    if registered is None:
        raise ValueError(f"unknown operation kind {kind!r}")
    now = now_ns()
    operation_id = new_operation_id(registered.resource_type, registered.operation_type)
    session.add(
        Operation(
            id=operation_id,
            kind=kind,
            resource_type=registered.resource_type,
            operation_type=registered.operation_type,
            domain_id=domain_id,
            project_id=project_id,
            blockchain_id=blockchain_id,
            blockchain_name=blockchain_name,
            status=WAITING,
            description=description or registered.description,
            messages=[],
            payload=payload or {},
            record_time=now,
            due_at=now,
            version=0,
        )
    )
    serial = 0
    for step_serial, step in enumerate(registered.steps, start=1):
        for sub_step in step.sub_steps:
            serial += 1
            session.add(
                OperationSubStep(
                    operation_id=operation_id,
                    step_serial=step_serial,
                    step_name=step.name,
                    serial_num=serial,
                    name=sub_step.name,
                    status=WAITING,
                    detail="",
                    messages=[],
                )
            )
    if blockchain_id is not None:
        monitoring.record(
            session,
            blockchain_id=blockchain_id,
            project_id=project_id,
            name="OperationStarted",
            message=f"{registered.description or kind} started",
            metadata=_event_metadata(operation_id, kind),
        )
    # Read by the worker's after-commit hook: wake up now rather than at the next poll.
    session.info["operations_started"] = True
    return operation_id


def due(session: Session, *, now: int, kind_names: Sequence[str], limit: int = 32) -> list[tuple[str, int]]:
    """Active operations of kinds this process runs whose next transition is due: ``(id, version)`` pairs."""
    rows = session.execute(
        select(Operation.id, Operation.version)
        .where(Operation.status.in_(ACTIVE), Operation.due_at <= now, Operation.kind.in_(kind_names))
        .order_by(Operation.due_at)
        .limit(limit)
    )
    return [(row.id, row.version) for row in rows]


def next_due_at(session: Session, *, kind_names: Sequence[str]) -> int | None:
    """When the earliest active operation is next due (ns), if any."""
    return session.scalar(
        select(func.min(Operation.due_at)).where(Operation.status.in_(ACTIVE), Operation.kind.in_(kind_names))
    )


def count_active(session: Session) -> int:
    """How many operations are waiting or processing (the worker's queue depth)."""
    return int(session.scalar(select(func.count()).select_from(Operation).where(Operation.status.in_(ACTIVE))) or 0)


def advance(
    session: Session,
    *,
    operation_id: str,
    version: int,
    now: int,
    step_seconds: float,
    server_key: ServerKey | None = None,
) -> bool:
    """Make one transition of an operation if nobody else has since ``version``; False if someone had."""
    claimed = session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.version == version, Operation.status.in_(ACTIVE))
        .values(version=Operation.version + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    operation = session.get_one(Operation, operation_id)
    kind = kinds.get(operation.kind)
    if kind is None:  # pragma: no cover - due() only hands out registered kinds
        return False
    sub_steps = list(
        session.scalars(
            select(OperationSubStep)
            .where(OperationSubStep.operation_id == operation_id)
            .order_by(OperationSubStep.serial_num)
        )
    )
    step_ns = int(step_seconds * 1_000_000_000)
    current = next((s for s in sub_steps if s.status != FINISHED), None)
    if current is None:  # pragma: no cover - an operation without sub-steps finishes when it starts
        operation.status = FINISHED
        return True
    if current.status == WAITING:
        operation.status = PROCESSING
        current.status = PROCESSING
        current.start_time = now
        operation.due_at = now + step_ns
        return True
    definition = kind.sub_steps_in_order[current.serial_num - 1]
    # A deep copy: an action may change nested values in place, and the stored value must not see that.
    payload = copy.deepcopy(operation.payload)
    context = OperationContext(
        operation_id=operation.id,
        domain_id=operation.domain_id,
        project_id=operation.project_id,
        blockchain_id=operation.blockchain_id,
        payload=payload,
        step_name=current.step_name,
        sub_step_name=current.name,
        server_key=server_key,
    )
    try:
        with session.begin_nested():
            detail = definition.action(session, context) if definition.action else None
    except OperationFailed as exc:
        _fail(session, operation, current, kind, context, str(exc), now)
        return True
    except Exception:
        log.exception("operation %s sub-step %r raised", operation_id, current.name)
        _fail(session, operation, current, kind, context, "internal error while running this step", now)
        return True
    current.status = FINISHED
    current.end_time = now
    current.detail = detail or ""
    operation.payload = payload
    following = next((s for s in sub_steps if s.serial_num > current.serial_num), None)
    if following is None:
        operation.status = FINISHED
        _finished(session, operation, kind)
    else:
        following.status = PROCESSING
        following.start_time = now
        operation.due_at = now + step_ns
    return True


def _fail(
    session: Session,
    operation: Operation,
    current: OperationSubStep,
    kind: kinds.OperationKind,
    context: OperationContext,
    message: str,
    now: int,
) -> None:
    current.status = FAILED
    current.end_time = now
    current.messages = [*current.messages, message]
    operation.status = FAILED
    operation.messages = [*operation.messages, message]
    if kind.on_failure is not None:
        # The failed action's payload changes go with its rolled-back database effects; the hook's are saved.
        context.payload = copy.deepcopy(operation.payload)
        kind.on_failure(session, context, message)
        operation.payload = context.payload
    if operation.blockchain_id is not None:
        monitoring.raise_alarm(
            session,
            blockchain_id=operation.blockchain_id,
            project_id=operation.project_id,
            key=FAILED_ALARM,
            name="OperationFailed",
            severity="major",
            message=f"{kind.description or kind.name} failed: {message}",
            metadata=_event_metadata(operation.id, kind.name),
        )


FAILED_ALARM = "operation-failed"


def _event_metadata(operation_id: str, kind: str) -> dict[str, str]:
    return {"operation_id": operation_id, "operation_kind": kind}


def _finished(session: Session, operation: Operation, kind: kinds.OperationKind) -> None:
    """Record the success; it clears the instance's alarm about an earlier failed operation."""
    if operation.blockchain_id is None:
        return
    monitoring.record(
        session,
        blockchain_id=operation.blockchain_id,
        project_id=operation.project_id,
        name="OperationFinished",
        message=f"{kind.description or kind.name} finished",
        metadata=_event_metadata(operation.id, kind.name),
    )
    monitoring.clear_alarms(
        session,
        blockchain_id=operation.blockchain_id,
        project_id=operation.project_id,
        keys=[FAILED_ALARM],
        reason=f"operation {operation.id} finished",
    )


# --- records ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubStepRecord:
    """A sub-step as ListOpRecord shows it."""

    name: str
    status: str
    detail: str
    messages: list[str]
    start_time: int | None
    end_time: int | None
    serial_num: int


@dataclass(frozen=True)
class StepRecord:
    """A step: its status follows from its sub-steps."""

    name: str
    serial_num: int
    status: str
    detail: str
    sub_steps: list[SubStepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class OperationRecord:
    """An operation as ListOpRecord shows it."""

    operation_id: str
    resource_type: str
    operation_type: str
    domain_id: str
    project_id: str
    blockchain_id: str | None
    blockchain_name: str | None
    record_time: int
    status: str
    messages: list[str]
    description: str
    steps: list[StepRecord]


def step_status(statuses: Sequence[str]) -> str:
    """A step's status from its sub-steps': failed, finished, processing (started) or waiting."""
    if FAILED in statuses:
        return FAILED
    if all(s == FINISHED for s in statuses):
        return FINISHED
    if any(s in (PROCESSING, FINISHED) for s in statuses):
        return PROCESSING
    if STOPPED in statuses:
        return STOPPED
    return WAITING


def list_records(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str | None = None,
    operation_status: str | None = None,
    resource_type: str | None = None,
    operation_type: str | None = None,
    operation_id: str | None = None,
) -> list[OperationRecord]:
    """The project's operations, newest first, narrowed by the given filters."""
    # Plain rows, not ORM entities: this answers ListOpRecord, and loading entities costs several times as much.
    operations_table, sub_steps_table = Operation.__table__, OperationSubStep.__table__
    query = select(operations_table).where(operations_table.c.project_id == project_id)
    for column, value in (
        ("blockchain_id", blockchain_id),
        ("status", operation_status),
        ("resource_type", resource_type),
        ("operation_type", operation_type),
        ("id", operation_id),
    ):
        if value is not None:
            query = query.where(operations_table.c[column] == value)
    rows = session.execute(query.order_by(operations_table.c.record_time.desc(), operations_table.c.id.desc())).all()
    if not rows:
        return []
    by_operation: dict[str, list[Any]] = {row.id: [] for row in rows}
    for sub_step in session.execute(
        select(sub_steps_table)
        .where(sub_steps_table.c.operation_id.in_(list(by_operation)))
        .order_by(sub_steps_table.c.serial_num)
    ):
        by_operation[sub_step.operation_id].append(sub_step)
    return [_record(row, by_operation[row.id]) for row in rows]


def get_record(session: Session, *, project_id: str, operation_id: str) -> OperationRecord | None:
    """One operation of the project, or None."""
    found = list_records(session, project_id=project_id, operation_id=operation_id)
    return found[0] if found else None


def _record(operation: Any, sub_steps: list[Any]) -> OperationRecord:
    """A record from an operation's row and its sub-steps' rows (columns as named in the tables)."""
    steps: dict[int, list[Any]] = {}
    for sub_step in sub_steps:
        steps.setdefault(sub_step.step_serial, []).append(sub_step)
    step_records = []
    for serial, members in sorted(steps.items()):
        status = step_status([m.status for m in members])
        active = next((m for m in members if m.status in (PROCESSING, FAILED)), None)
        step_records.append(
            StepRecord(
                name=members[0].step_name,
                serial_num=serial,
                status=status,
                detail=active.name if active else "",
                sub_steps=[
                    SubStepRecord(m.name, m.status, m.detail, list(m.messages), m.start_time, m.end_time, m.serial_num)
                    for m in members
                ],
            )
        )
    return OperationRecord(
        operation_id=operation.id,
        resource_type=operation.resource_type,
        operation_type=operation.operation_type,
        domain_id=operation.domain_id,
        project_id=operation.project_id,
        blockchain_id=operation.blockchain_id,
        blockchain_name=operation.blockchain_name,
        record_time=operation.record_time,
        status=operation.status,
        messages=list(operation.messages),
        description=operation.description,
        steps=step_records,
    )
