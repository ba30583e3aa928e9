"""Operation records as ListOpRecord (and the instance views) read them: operations with their steps; and their
retention (``prune``): finished operations are kept for a period and up to a number per project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from openbcs.engine.models import FAILED, FINISHED, PROCESSING, STOPPED, WAITING, Operation, OperationSubStep
from openbcs.kernel.rows import Rows, Statement, json_value


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
    "version",  # not shown: with the rest of the row, it tells whether a record shown before is still the same
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


_SUB_STEPS_OF = Statement(
    select(*(OperationSubStep.__table__.c[c] for c in _SUB_STEP_COLUMNS))
    .where(OperationSubStep.__table__.c.operation_id == bindparam("operation_id"))
    .order_by(OperationSubStep.__table__.c.serial_num)
)


def _given(
    blockchain_id: str | None,
    operation_status: str | None,
    resource_type: str | None,
    operation_type: str | None,
    operation_id: str | None,
) -> dict[str, str]:
    values = zip(_FILTERS, (blockchain_id, operation_status, resource_type, operation_type, operation_id), strict=True)
    return {name: value for name, value in values if value is not None}


def operation_rows(rows: Rows, *, project_id: str, **filters: str | None) -> list[tuple[Any, ...]]:
    """The project's operations' rows (the columns shown, then ``version``), newest first, narrowed by ``filters``
    (ListOpRecord's query parameters)."""
    given = _given(**filters)
    return rows.all(_statements_for(tuple(given))[0], project_id=project_id, **given)


def sub_step_rows(
    rows: Rows, operations: list[tuple[Any, ...]], *, project_id: str, **filters: str | None
) -> dict[str, list[tuple[Any, ...]]]:
    """The sub-step rows of ``operations`` (as :func:`operation_rows` read them with the same ``filters``): one
    statement per operation when there are few of them, else one join on the same conditions for all."""
    by_operation: dict[str, list[tuple[Any, ...]]] = {row[0]: [] for row in operations}
    if len(operations) <= FEW_OPERATIONS:
        for operation_id in by_operation:
            by_operation[operation_id] = rows.all(_SUB_STEPS_OF, operation_id=operation_id)
        return by_operation
    given = _given(**filters)
    for sub_step in rows.all(_statements_for(tuple(given))[1], project_id=project_id, **given):
        # Rows' transactions read one snapshot; an ORM session on PostgreSQL (READ COMMITTED) may see an operation
        # reach the filtered status between the two statements: its sub-steps are not in this list, so skip them.
        of_operation = by_operation.get(sub_step[0])
        if of_operation is not None:
            of_operation.append(sub_step)
    return by_operation


FEW_OPERATIONS = 16  # up to this many, sub-steps are read per operation rather than by a join over all listed


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
    filters = {
        "blockchain_id": blockchain_id,
        "operation_status": operation_status,
        "resource_type": resource_type,
        "operation_type": operation_type,
        "operation_id": operation_id,
    }
    operations = operation_rows(rows, project_id=project_id, **filters)
    if not operations:
        return []
    by_operation = sub_step_rows(rows, operations, project_id=project_id, **filters)
    return [record_of(row, by_operation[row[0]]) for row in operations]


def get_record(session: Session, *, project_id: str, operation_id: str) -> OperationRecord | None:
    """One operation of the project, or None."""
    found = list_records(session, project_id=project_id, operation_id=operation_id)
    return found[0] if found else None


def _messages(value: Any) -> list[str]:
    # Most are empty: skip decoding the '[]' every sub-step stores.
    return [] if value == "[]" or value == [] else list(json_value(value))


def record_of(operation: tuple[Any, ...], sub_steps: list[tuple[Any, ...]]) -> OperationRecord:
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
        operation[:11]
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


# Operations that will not change any more: retention may delete them. Waiting and processing ones are never pruned.
DONE = (FINISHED, FAILED, STOPPED)
PRUNE_BATCH = 500  # operations deleted per transaction: bounds how long one pruning transaction holds the database


@dataclass
class PruneRun:
    """What one pruning run has learnt, carried from batch to batch so each batch does not scan the whole table again
    (a backlog of N operations took N / 500 full scans, measured 17 s of CPU for 63,000 operations): whether any
    operation is still past the age limit, and which projects are still beyond their kept count. Something that
    changes meanwhile (a rolled-back batch, a project crowded since) waits for the next run."""

    aged_left: bool = True
    crowded: list[str] | None = None


def prune(
    session: Session, *, older_than: int, keep_per_project: int, batch: int = PRUNE_BATCH, run: PruneRun | None = None
) -> int:
    """Delete at most ``batch`` finished (or failed, or stopped) operations with their sub-steps: those recorded
    before ``older_than`` (ns), then each project's beyond its ``keep_per_project`` newest. Returns how many went;
    a caller repeats (each time in a transaction of its own, with the same ``run``) while that is ``batch``."""
    run = run if run is not None else PruneRun()
    done = Operation.status.in_(DONE)
    ids: list[str] = []
    if run.aged_left:
        ids = list(session.scalars(select(Operation.id).where(done, Operation.record_time < older_than).limit(batch)))
        run.aged_left = len(ids) == batch
    if len(ids) < batch:
        ids += _beyond_kept(session, run, keep_per_project, batch - len(ids), exclude=set(ids))
    if not ids:
        return 0
    # Explicitly, not by the foreign key's cascade: PostgreSQL and SQLite then delete alike, whatever the pragma.
    session.execute(delete(OperationSubStep).where(OperationSubStep.operation_id.in_(ids)))
    session.execute(delete(Operation).where(Operation.id.in_(ids), done))
    return len(ids)


def _beyond_kept(session: Session, run: PruneRun, keep: int, limit: int, *, exclude: set[str]) -> list[str]:
    """Up to ``limit`` ids of finished operations past the ``keep`` newest of their project (oldest first); a project
    with none left past them leaves ``run.crowded``."""
    done = Operation.status.in_(DONE)
    if run.crowded is None:
        run.crowded = list(
            session.scalars(
                select(Operation.project_id).where(done).group_by(Operation.project_id).having(func.count() > keep)
            )
        )
    found: list[str] = []
    for project_id in list(run.crowded):
        of_project = (Operation.project_id == project_id, done)
        # The newest operation that is one too many: it and everything older (by record time, then id) goes.
        edge = session.execute(
            select(Operation.record_time, Operation.id)
            .where(*of_project)
            .order_by(Operation.record_time.desc(), Operation.id.desc())
            .offset(keep)
            .limit(1)
        ).first()
        if edge is None:
            run.crowded.remove(project_id)
            continue
        older = or_(Operation.record_time < edge[0], and_(Operation.record_time == edge[0], Operation.id <= edge[1]))
        room = limit - len(found)
        wanted = room + len(exclude)
        query = select(Operation.id).where(*of_project, older).order_by(Operation.record_time, Operation.id)
        rows = list(session.scalars(query.limit(wanted)))
        fresh = [op for op in rows if op not in exclude]
        found += fresh[:room]
        if len(rows) < wanted and len(fresh) <= room:
            run.crowded.remove(project_id)  # the rest of this project's excess goes in this batch
        if len(found) >= limit:
            break
    return found
