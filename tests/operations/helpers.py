"""Helpers of the operations engine's tests: seeding operations in chosen states and reading them back."""

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

from openbcs.kernel.db import Database
from openbcs.engine import engine as service
from openbcs.engine import diagnostic as diagnostic
from openbcs.engine.models import Operation, OperationSubStep

T = TypeVar("T")

KIND = diagnostic.KIND
STEPS = ("Preparation", "Execution", "Completion")
SUB_STEPS = ("prepare-a", "prepare-b", "execute-a", "execute-b", "complete-a", "complete-b")
STEP_OF = dict(
    zip(SUB_STEPS, ("Preparation", "Preparation", "Execution", "Execution", "Completion", "Completion"), strict=True)
)
TRANSITIONS = len(SUB_STEPS) + 1  # waiting -> processing, then one per sub-step
ID_PATTERN = r"^BCSSVC01-98-\d{19}$"
# A due time no worker reaches: parks an operation in its current state while a server is running.
NEVER = 2**62


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


def start_in(session: Session, *, domain_id: str, project_id: str, kind: str = KIND, **kwargs: Any) -> str:
    """Start an operation and flush it, so the same transaction can go on to advance it."""
    operation_id = service.start(session, kind=kind, domain_id=domain_id, project_id=project_id, **kwargs)
    session.flush()
    return operation_id


def advance_until_done(session: Session, operation_id: str, *, step_seconds: float = 0) -> int:
    """Advance an operation in ``session`` until it is no longer active; return the transitions made."""
    made = 0
    while service.advance(
        session, operation_id=operation_id, version=made, now=time.time_ns(), step_seconds=step_seconds
    ):
        made += 1
        assert made <= 100, "operation never ends"
    return made


def seed(
    session: Session,
    state: str,
    *,
    domain_id: str,
    project_id: str,
    kind: str = KIND,
    payload: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """An operation left in ``state`` (waiting, processing, finished, failed or stop) that no worker will move.

    Everything happens in the caller's transaction, so a running worker never sees the operation half-way.
    """
    payload = dict(payload or {})
    if state == "failed":
        payload.setdefault("fail_at", "execute-a")
    operation_id = start_in(session, domain_id=domain_id, project_id=project_id, kind=kind, payload=payload, **kwargs)
    if state in ("waiting", "stop"):
        values: dict[str, Any] = {"due_at": NEVER}
        if state == "stop":
            values["status"] = "stop"
        session.execute(update(Operation).where(Operation.id == operation_id).values(**values))
    elif state == "processing":
        # One transition starts the first sub-step; its end is due in ~30 years.
        assert service.advance(session, operation_id=operation_id, version=0, now=time.time_ns(), step_seconds=10**9)
    elif state in ("finished", "failed"):
        advance_until_done(session, operation_id)
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
    return StoredOperation(
        id=operation.id,
        kind=operation.kind,
        resource_type=operation.resource_type,
        operation_type=operation.operation_type,
        domain_id=operation.domain_id,
        project_id=operation.project_id,
        blockchain_id=operation.blockchain_id,
        blockchain_name=operation.blockchain_name,
        status=operation.status,
        description=operation.description,
        messages=list(operation.messages),
        payload=dict(operation.payload),
        record_time=operation.record_time,
        due_at=operation.due_at,
        version=operation.version,
        sub_steps=tuple(
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
        ),
    )


def stored(db: Database, operation_id: str) -> StoredOperation:
    """The operation as the database holds it now."""
    return db.run_read(lambda s: _stored(s, s.get_one(Operation, operation_id)))


def all_stored(db: Database) -> list[StoredOperation]:
    """Every operation in the database, by id."""
    return db.run_read(lambda s: [_stored(s, op) for op in s.scalars(select(Operation).order_by(Operation.id))])


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
