"""The async-operation protocol: starting an operation (with the locks it takes), advancing it one sub-step at a
time, finishing or failing it (which releases its locks). Domains declare kinds; only this module moves them.

Exactly-once steps: every transition begins with ``UPDATE operations SET version = version + 1 WHERE id = ? AND
version = ?``. Whoever changes the row holds its write lock until commit (the row lock on PostgreSQL, the database
lock that ``BEGIN IMMEDIATE`` takes on SQLite), runs the action and commits both together; a competing worker's
update then matches no row and it backs off without running anything. A crash before commit rolls the action back
with the transition, so the step runs again after restart: state lives only in the database.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.engine import locks
from openbcs.engine.kinds import OperationContext, OperationFailed, OperationKind, P, Pending, Registry
from openbcs.engine.models import ACTIVE, FAILED, FINISHED, PROCESSING, WAITING, Operation, OperationSubStep
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey

log = logging.getLogger("openbcs.operations")

RESOURCE_TYPES = ("BCSSVC01", "BCSSVC02", "PLUGIN01", "PLUGIN02", "PLUGIN03")
STARTED = "operations_started_rows"  # session.info: {id: (operation, sub-steps)} this transaction started
FAILED_ALARM = "operation-failed"

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
    kind: OperationKind[P],
    payload: P,
    *,
    domain_id: str,
    project_id: str,
    blockchain_id: str | None = None,
    blockchain_name: str | None = None,
    locks_taken: Sequence[locks.Lock] = (),
    description: str = "",
) -> str:
    """Record a new operation (``waiting``, all sub-steps waiting), take its locks, and return its id.

    A lock held by another operation raises :class:`~openbcs.engine.locks.ResourceBusy` (the transaction then
    rolls back as a whole); the locks are released when the operation finishes or fails.
    """
    now = now_ns()
    operation_id = new_operation_id(kind.resource_type, kind.operation_type)
    locks.acquire(session, operation_id, locks_taken)
    operation = Operation(
        id=operation_id,
        kind=kind.name,
        resource_type=kind.resource_type,
        operation_type=kind.operation_type,
        domain_id=domain_id,
        project_id=project_id,
        blockchain_id=blockchain_id,
        blockchain_name=blockchain_name,
        status=WAITING,
        description=description or kind.description,
        messages=[],
        payload=payload.model_dump(mode="json"),
        record_time=now,
        due_at=now,
        version=0,
    )
    sub_steps: list[OperationSubStep] = []
    for step_serial, step in enumerate(kind.steps, start=1):
        for sub_step in step.sub_steps:
            sub_steps.append(
                OperationSubStep(
                    operation_id=operation_id,
                    step_serial=step_serial,
                    step_name=step.name,
                    serial_num=len(sub_steps) + 1,
                    name=sub_step.name,
                    status=WAITING,
                    detail="",
                    messages=[],
                )
            )
    session.add(operation)
    session.add_all(sub_steps)
    if blockchain_id is not None:
        events.record(
            session,
            blockchain_id=blockchain_id,
            project_id=project_id,
            name="OperationStarted",
            message=f"{kind.description or kind.name} started",
            metadata=_event_metadata(operation_id, kind.name),
        )
    # Read by the worker's after-commit hook (wake up now rather than at the next poll) and, when steps take no time,
    # by its before-commit hook (finish them in this very transaction).
    session.info["operations_started"] = True
    session.info.setdefault(STARTED, {})[operation_id] = (operation, sub_steps)
    return operation_id


def due(session: Session, *, now: int, limit: int = 32) -> list[tuple[str, int]]:
    """Active operations whose next transition is due: ``(id, version)`` pairs, earliest first."""
    rows = session.execute(
        select(Operation.id, Operation.version)
        .where(Operation.status.in_(ACTIVE), Operation.due_at <= now)
        .order_by(Operation.due_at)
        .limit(limit)
    )
    return [(row.id, row.version) for row in rows]


def next_due_at(session: Session) -> int | None:
    """When the earliest active operation is next due (ns), if any."""
    return session.scalar(select(func.min(Operation.due_at)).where(Operation.status.in_(ACTIVE)))


def count_active(session: Session) -> int:
    """How many operations are waiting or processing (the worker's queue depth)."""
    return int(session.scalar(select(func.count()).select_from(Operation).where(Operation.status.in_(ACTIVE))) or 0)


def advance(
    session: Session,
    *,
    registry: Registry,
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
    sub_steps = list(
        session.scalars(
            select(OperationSubStep)
            .where(OperationSubStep.operation_id == operation_id)
            .order_by(OperationSubStep.serial_num)
        )
    )
    _transition(
        session,
        operation,
        sub_steps,
        registry=registry,
        now=now,
        step_ns=int(step_seconds * 1_000_000_000),
        server_key=server_key,
    )
    return True


def _transition(
    session: Session,
    operation: Operation,
    sub_steps: list[OperationSubStep],
    *,
    registry: Registry,
    now: int,
    step_ns: int,
    server_key: ServerKey | None,
) -> None:
    """One transition of a claimed operation: start its next sub-step, or run the started one and move on (or end
    the operation, finished or failed). ``sub_steps`` are all of its sub-steps in order."""
    current = next((s for s in sub_steps if s.status != FINISHED), None)
    kind = registry.kind(operation.kind)
    if kind is None:
        log.error("operation %s names kind %r, which this server does not run: failed", operation.id, operation.kind)
        _end_failed(session, operation, current, f"operation kind {operation.kind} is not known to this server", now)
        return
    if current is None:  # pragma: no cover - an operation without sub-steps finishes when it starts
        operation.status = FINISHED
        locks.release(session, operation.id)
        return
    if current.status == WAITING:
        operation.status = PROCESSING
        current.status = PROCESSING
        current.start_time = now
        operation.due_at = now + step_ns
        return
    try:
        context = _context(operation, current, kind, server_key, registry)
    except ValidationError:
        log.exception("operation %s has a payload its kind %r cannot read", operation.id, kind.name)
        _end_failed(session, operation, current, f"the stored payload does not fit kind {kind.name}", now)
        return
    definition = kind.sub_steps_in_order[current.serial_num - 1]
    # Write what the transaction holds so far before the action's savepoint: a database error there (a lock wait
    # that timed out, answered 503) belongs to the whole call, not to the action, and must not fail the operation.
    session.flush()
    try:
        with session.begin_nested():
            detail = definition.action(session, context) if definition.action else None
    except OperationFailed as exc:
        _fail(session, operation, current, kind, context, str(exc), now)
        return
    except Exception:
        log.exception("operation %s sub-step %r raised", operation.id, current.name)
        _fail(session, operation, current, kind, context, "internal error while running this step", now)
        return
    if isinstance(detail, Pending):  # runs again later; what it wrote (and its payload) is kept
        current.detail = detail.detail
        operation.payload = context.payload.model_dump(mode="json")
        operation.due_at = now + int(detail.retry_seconds * 1_000_000_000)
        return
    current.status = FINISHED
    current.end_time = now
    current.detail = detail or ""
    operation.payload = context.payload.model_dump(mode="json")
    following = next((s for s in sub_steps if s.serial_num > current.serial_num), None)
    if following is None:
        operation.status = FINISHED
        locks.release(session, operation.id)
        _finished(session, operation, kind)
    else:
        following.status = PROCESSING
        following.start_time = now
        operation.due_at = now + step_ns


def finish(session: Session, *, registry: Registry, operation_id: str, server_key: ServerKey | None = None) -> int:
    """Make every transition of an operation whose steps take no time, one after another in the caller's transaction
    (each still claimed by its version, so a competing worker backs off); how many were made."""
    made = 0
    while True:
        row = session.execute(
            select(Operation.version, Operation.due_at).where(
                Operation.id == operation_id, Operation.status.in_(ACTIVE)
            )
        ).first()
        if row is None or row.due_at > now_ns():  # done, or waiting for work outside the database (Pending)
            return made
        if not advance(
            session,
            registry=registry,
            operation_id=operation_id,
            version=row.version,
            now=now_ns(),
            step_seconds=0,
            server_key=server_key,
        ):
            return made
        made += 1


def finish_started(session: Session, *, registry: Registry, server_key: ServerKey | None = None) -> int:
    """Make every transition of the operations this transaction started, whose steps take no time, before it
    commits; how many were made. The same transitions as :func:`finish` makes, without claiming each one: nobody
    else can see an operation before the transaction that starts it commits, so the rows it added are used as they
    are rather than read back per transition (a quit's Fabric update is most of its cost; this keeps the rest small)."""
    made = 0
    for operation, sub_steps in session.info.pop(STARTED, {}).values():
        # An action that answered Pending set due_at ahead: the worker takes the operation from there.
        while operation.status in ACTIVE and operation.due_at <= now_ns():
            operation.version += 1
            _transition(
                session, operation, sub_steps, registry=registry, now=now_ns(), step_ns=0, server_key=server_key
            )
            made += 1
    return made


def _context(
    operation: Operation,
    current: OperationSubStep,
    kind: OperationKind[Any],
    server_key: ServerKey | None,
    registry: Registry,
) -> OperationContext[Any]:
    # A fresh model from the stored JSON: an action may change it in place, and the stored value must not see that.
    return OperationContext(
        operation_id=operation.id,
        domain_id=operation.domain_id,
        project_id=operation.project_id,
        blockchain_id=operation.blockchain_id,
        payload=kind.payload.model_validate(operation.payload),
        step_name=current.step_name,
        sub_step_name=current.name,
        server_key=server_key,
        reactions=registry.reactions,
        services=registry.services,
    )


def _end_failed(
    session: Session, operation: Operation, current: OperationSubStep | None, message: str, now: int
) -> None:
    """Mark the operation (and its current sub-step) failed and give back its locks."""
    if current is not None:
        current.status = FAILED
        current.end_time = now
        current.messages = [*current.messages, message]
    operation.status = FAILED
    operation.messages = [*operation.messages, message]
    locks.release(session, operation.id)


def _fail(
    session: Session,
    operation: Operation,
    current: OperationSubStep,
    kind: OperationKind[Any],
    context: OperationContext[Any],
    message: str,
    now: int,
) -> None:
    if kind.on_failure is not None:
        # The failed action's payload changes go with its rolled-back database effects; the hook's are saved.
        context.payload = kind.payload.model_validate(operation.payload)
        kind.on_failure(session, context, message)
        operation.payload = context.payload.model_dump(mode="json")
    _end_failed(session, operation, current, message, now)
    if operation.blockchain_id is not None:
        events.raise_alarm(
            session,
            blockchain_id=operation.blockchain_id,
            project_id=operation.project_id,
            key=FAILED_ALARM,
            name="OperationFailed",
            severity="major",
            message=f"{kind.description or kind.name} failed: {message}",
            metadata=_event_metadata(operation.id, kind.name),
        )


def _event_metadata(operation_id: str, kind: str) -> dict[str, str]:
    return {"operation_id": operation_id, "operation_kind": kind}


def _finished(session: Session, operation: Operation, kind: OperationKind[Any]) -> None:
    """Record the success; it clears the instance's alarm about an earlier failed operation."""
    if operation.blockchain_id is None:
        return
    events.record(
        session,
        blockchain_id=operation.blockchain_id,
        project_id=operation.project_id,
        name="OperationFinished",
        message=f"{kind.description or kind.name} finished",
        metadata=_event_metadata(operation.id, kind.name),
    )
    events.clear_alarms(
        session,
        blockchain_id=operation.blockchain_id,
        project_id=operation.project_id,
        keys=[FAILED_ALARM],
        reason=f"operation {operation.id} finished",
    )
