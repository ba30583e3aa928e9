"""Operation records as ListOpRecord (and the instance views) read them: operations with their steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import FAILED, FINISHED, PROCESSING, STOPPED, WAITING, Operation, OperationSubStep


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
