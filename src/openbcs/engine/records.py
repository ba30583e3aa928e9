"""Operation records as ListOpRecord (and the instance views) read them: operations with their steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openbcs.engine.models import FAILED, FINISHED, PROCESSING, STOPPED, WAITING, Operation, OperationSubStep
from openbcs.kernel.db import Rows, Statement, json_value


class SubStepRecord(NamedTuple):
    """A sub-step as ListOpRecord shows it."""

    name: str
    status: str
    detail: str
    messages: list[str]
    start_time: int | None
    end_time: int | None
    serial_num: int


class StepRecord(NamedTuple):
    """A step: its status follows from its sub-steps."""

    name: str
    serial_num: int
    status: str
    detail: str
    sub_steps: list[SubStepRecord]


class OperationRecord(NamedTuple):
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


_FILTERS = ("blockchain_id", "status", "resource_type", "operation_type", "id")
_OPERATION_COLUMNS = (
    "id",
    "resource_type",
    "operation_type",
    "domain_id",
    "project_id",
    "blockchain_id",
    "blockchain_name",
    "record_time",
    "status",
    "messages",
    "description",
)
_SUB_STEP_COLUMNS = (
    "operation_id",
    "step_serial",
    "step_name",
    "name",
    "status",
    "detail",
    "messages",
    "start_time",
    "end_time",
    "serial_num",
)
_statements: dict[tuple[str, ...], tuple[Statement, Statement]] = {}


def _statements_for(filters: tuple[str, ...]) -> tuple[Statement, Statement]:
    """The two selects for a set of filters (built once per set): the operations newest first, and their sub-steps
    by operation and serial number (a join on the same conditions, so no list of ids is sent back)."""
    found = _statements.get(filters)
    if found is None:
        operations, sub_steps = Operation.__table__, OperationSubStep.__table__
        conditions = [operations.c.project_id == bindparam("project_id")]
        conditions += [operations.c[name] == bindparam(name) for name in filters]
        listed = (
            select(*(operations.c[c] for c in _OPERATION_COLUMNS))
            .where(*conditions)
            .order_by(operations.c.record_time.desc(), operations.c.id.desc())
        )
        steps = (
            select(*(sub_steps.c[c] for c in _SUB_STEP_COLUMNS))
            .join(operations, operations.c.id == sub_steps.c.operation_id)
            .where(*conditions)
            .order_by(sub_steps.c.operation_id, sub_steps.c.serial_num)
        )
        found = _statements[filters] = (Statement(listed), Statement(steps))
    return found


def list_records(
    source: Rows | Session,
    *,
    project_id: str,
    blockchain_id: str | None = None,
    operation_status: str | None = None,
    resource_type: str | None = None,
    operation_type: str | None = None,
    operation_id: str | None = None,
) -> list[OperationRecord]:
    """The project's operations, newest first, narrowed by the given filters (read on the raw driver: this answers
    ListOpRecord, where ORM entities cost several times as much)."""
    rows = source if isinstance(source, Rows) else Rows.of(source)
    values = dict(
        zip(_FILTERS, (blockchain_id, operation_status, resource_type, operation_type, operation_id), strict=True)
    )
    given = {name: value for name, value in values.items() if value is not None}
    listed, steps = _statements_for(tuple(given))
    operations = rows.all(listed, project_id=project_id, **given)
    if not operations:
        return []
    by_operation: dict[str, list[tuple[Any, ...]]] = {row[0]: [] for row in operations}
    for sub_step in rows.all(steps, project_id=project_id, **given):
        # Rows' transactions read one snapshot; an ORM session on PostgreSQL (READ COMMITTED) may see an operation
        # reach the filtered status between the two statements: its sub-steps are not in this list, so skip them.
        of_operation = by_operation.get(sub_step[0])
        if of_operation is not None:
            of_operation.append(sub_step)
    return [_record(row, by_operation[row[0]]) for row in operations]


def get_record(session: Session, *, project_id: str, operation_id: str) -> OperationRecord | None:
    """One operation of the project, or None."""
    found = list_records(session, project_id=project_id, operation_id=operation_id)
    return found[0] if found else None


def _messages(value: Any) -> list[str]:
    # Most are empty: skip decoding the '[]' every sub-step stores.
    return [] if value == "[]" or value == [] else list(json_value(value))


def _record(operation: tuple[Any, ...], sub_steps: list[tuple[Any, ...]]) -> OperationRecord:
    """A record from an operation's row and its sub-steps' rows (columns as listed in the selects above)."""
    steps: dict[int, list[SubStepRecord]] = {}
    names: dict[int, str] = {}
    for _op, step_serial, step_name, name, status, detail, messages, start, end, serial in sub_steps:
        steps.setdefault(step_serial, []).append(
            SubStepRecord(name, status, detail, _messages(messages), start, end, serial)
        )
        names.setdefault(step_serial, step_name)
    step_records = []
    for serial in sorted(steps):
        members = steps[serial]
        statuses = [m.status for m in members]
        active = next((m for m in members if m.status in (PROCESSING, FAILED)), None)
        step_records.append(
            StepRecord(names[serial], serial, step_status(statuses), active.name if active else "", members)
        )
    op_id, resource_type, operation_type, domain_id, project, bc_id, bc_name, record_time, status, messages, desc = (
        operation
    )
    return OperationRecord(
        op_id,
        resource_type,
        operation_type,
        domain_id,
        project,
        bc_id,
        bc_name,
        record_time,
        status,
        _messages(messages),
        desc,
        step_records,
    )
