"""Operations of the engine's diagnostic kind (``test.diagnostic``, six sub-steps that record their runs in a file),
seeded in chosen states straight through the engine, and read back as the database holds them."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.diagnostic import DIAGNOSTIC, KIND, DiagnosticPayload
from openbcs.engine.kinds import OperationKind, Payload, Registry
from openbcs.engine.models import Operation, OperationSubStep
from openbcs.kernel.db import Database
from tests.support.operations import registry

T = TypeVar("T")

STEPS = ("Preparation", "Execution", "Completion")
SUB_STEPS = ("prepare-a", "prepare-b", "execute-a", "execute-b", "complete-a", "complete-b")
STEP_OF = dict(
    zip(SUB_STEPS, ("Preparation", "Preparation", "Execution", "Execution", "Completion", "Completion"), strict=True)
)
TRANSITIONS = len(SUB_STEPS) + 1  # waiting -> processing, then one per sub-step
ID_PATTERN = r"^BCSSVC01-98-\d{19}$"
# A due time no worker reaches: parks an operation in its current state while a server is running.
NEVER = 2**62
__all__ = ["DIAGNOSTIC", "KIND", "DiagnosticPayload"]


def new_project() -> tuple[str, str]:
    """A fresh ``(domain_id, project_id)`` pair (32 lowercase hex each, like IAM's ids)."""
    return secrets.token_hex(16), secrets.token_hex(16)


@dataclass(frozen=True)
class Effect:
    """One line of the diagnostic kind's effects file."""

    operation_id: str
    sub_step: str
    pid: int


def read_effects(path: Path) -> list[Effect]:
    """Every sub-step run the effects file records, in the order they ran."""
    if not path.exists():
        return []
    effects = []
    for line in path.read_text(encoding="utf-8").splitlines():
        operation_id, sub_step, pid = line.split(" ")
        effects.append(Effect(operation_id, sub_step, int(pid)))
    return effects


def effect_counts(path: Path) -> Counter[tuple[str, str]]:
    """How often each ``(operation id, sub-step)`` ran."""
    return Counter((e.operation_id, e.sub_step) for e in read_effects(path))


def start_in(
    session: Session,
    *,
    domain_id: str,
    project_id: str,
    kind: OperationKind[Any] = DIAGNOSTIC,
    payload: Payload | None = None,
    **kwargs: Any,
) -> str:
    """Start an operation and flush it, so the same transaction can go on to advance it."""
    operation_id = engine.start(
        session, kind, payload or kind.payload(), domain_id=domain_id, project_id=project_id, **kwargs
    )
    session.flush()
    return operation_id


def advance(
    session: Session,
    operation_id: str,
    version: int,
    *,
    step_seconds: float = 0,
    now: int | None = None,
    kinds: Registry | None = None,
) -> bool:
    """One transition of the operation at ``now`` (default: now), with every kind the servers run (or ``kinds``)."""
    return engine.advance(
        session,
        registry=kinds or registry(),
        operation_id=operation_id,
        version=version,
        now=time.time_ns() if now is None else now,
        step_seconds=step_seconds,
    )


def advance_until_done(
    session: Session, operation_id: str, *, step_seconds: float = 0, kinds: Registry | None = None
) -> int:
    """Advance an operation in ``session`` until it is no longer active; return the transitions made."""
    made = 0
    while advance(session, operation_id, made, step_seconds=step_seconds, kinds=kinds):
        made += 1
        assert made <= 100, "operation never ends"
    return made


def seed(
    session: Session,
    state: str,
    *,
    domain_id: str,
    project_id: str,
    kind: OperationKind[Any] = DIAGNOSTIC,
    payload: Payload | None = None,
    kinds: Registry | None = None,
    **kwargs: Any,
) -> str:
    """An operation (diagnostic unless ``kind`` says otherwise) left in ``state`` (waiting, processing, finished,
    failed or stop) that no worker will move. Everything happens in the caller's transaction, so a running worker
    never sees it half-way."""
    payload = payload or kind.payload()
    if state == "failed" and isinstance(payload, DiagnosticPayload) and payload.fail_at is None:
        payload = payload.model_copy(update={"fail_at": "execute-a"})
    operation_id = start_in(session, domain_id=domain_id, project_id=project_id, kind=kind, payload=payload, **kwargs)
    if state in ("waiting", "stop"):
        values: dict[str, Any] = {"due_at": NEVER}
        if state == "stop":
            values["status"] = "stop"
        session.execute(update(Operation).where(Operation.id == operation_id).values(**values))
    elif state == "processing":
        # One transition starts the first sub-step; its end is due in ~30 years.
        assert advance(session, operation_id, 0, step_seconds=10**9, kinds=kinds)
    elif state in ("finished", "failed"):
        advance_until_done(session, operation_id, kinds=kinds)
    else:  # pragma: no cover - a typo in a test
        raise AssertionError(state)
    session.flush()
    session.expire_all()
    assert session.get_one(Operation, operation_id).status == state
    return operation_id


@dataclass(frozen=True)
class StoredSubStep:
    """A sub-step row, detached from its session."""

    step_serial: int
    step_name: str
    serial_num: int
    name: str
    status: str
    detail: str
    messages: list[str]
    start_time: int | None
    end_time: int | None


@dataclass(frozen=True)
class StoredOperation:
    """An operation row with its sub-step rows, detached from its session."""

    id: str
    kind: str
    resource_type: str
    operation_type: str
    domain_id: str
    project_id: str
    blockchain_id: str | None
    blockchain_name: str | None
    status: str
    description: str
    messages: list[str]
    payload: dict[str, Any]
    record_time: int
    due_at: int
    version: int
    sub_steps: tuple[StoredSubStep, ...]


def _stored(session: Session, operation: Operation) -> StoredOperation:
    rows = session.scalars(
        select(OperationSubStep)
        .where(OperationSubStep.operation_id == operation.id)
        .order_by(OperationSubStep.serial_num)
    )
    columns = {c.key: getattr(operation, c.key) for c in Operation.__table__.columns}
    columns["messages"], columns["payload"] = list(operation.messages), dict(operation.payload)
    sub_steps = tuple(
        StoredSubStep(
            r.step_serial,
            r.step_name,
            r.serial_num,
            r.name,
            r.status,
            r.detail,
            list(r.messages),
            r.start_time,
            r.end_time,
        )
        for r in rows
    )
    return StoredOperation(**columns, sub_steps=sub_steps)


def _stored_one(session: Session, operation_id: str) -> StoredOperation:
    return _stored(session, session.get_one(Operation, operation_id))


def _stored_all(session: Session) -> list[StoredOperation]:
    return [_stored(session, op) for op in session.scalars(select(Operation).order_by(Operation.id))]


def stored(db: Database, operation_id: str) -> StoredOperation:
    """The operation as the database holds it now."""
    return db.run_read(_stored_one, operation_id)


def all_stored(db: Database) -> list[StoredOperation]:
    """Every operation in the database, by id."""
    return db.run_read(_stored_all)


def wait_for(condition: Callable[[], T | None], *, timeout: float = 30, interval: float = 0.05, what: str) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
