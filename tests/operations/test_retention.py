"""Retention of finished operations: pruned past ``--operation-retention`` days and beyond the newest
``operation_records_kept`` of a project, never while they run; ListOpRecord (and the official SDK) read what is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import update
from sqlalchemy.orm import Session

from openbcs.engine import records, worker
from openbcs.engine.models import Operation, OperationSubStep
from openbcs.engine.worker import OperationWorker, Retention
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.support.accounts import TestAccount
from tests.support.diagnostic import SUB_STEPS, all_stored, seed
from tests.support.operations import registry
from tests.support.snapshots import row_count
from tests.support.tenants import Tenant

DAY_NS = 86400 * 10**9
PATH = "/operation/record"


def _seed(session: Session, states: list[str], *, project: tuple[str, str], start: int) -> list[str]:
    """Operations in ``states`` recorded one second apart from ``start`` (oldest first)."""
    domain_id, project_id = project
    made = []
    for offset, state in enumerate(states):
        operation_id = seed(session, state, domain_id=domain_id, project_id=project_id)
        session.execute(
            update(Operation).where(Operation.id == operation_id).values(record_time=start + offset * 10**9)
        )
        made.append(operation_id)
    return made


def _prune(db: Database, retention: Retention) -> int:
    pruner = OperationWorker(db, registry=registry(), step_seconds=0, poll_seconds=1)
    return asyncio.run(pruner.prune(retention))


def _listed(tenant: Tenant) -> list[str]:
    response = tenant.call("GET", PATH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["operation_records"])
    return [r["operation_id"] for r in body["operation_records"]]


def test_finished_operations_older_than_the_retention_go_running_ones_stay(
    db: Database, tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = now_ns()
    mine = (tenant.domain_id, tenant.project_id)
    old = db.run_write(
        _seed, ["finished", "failed", "stop", "waiting", "processing"], project=mine, start=today - 40 * DAY_NS
    )
    recent = db.run_write(_seed, ["finished"], project=mine, start=today - 29 * DAY_NS)
    (other,) = db.run_write(
        _seed, ["finished"], project=(other_tenant.domain_id, other_tenant.project_id), start=today - 31 * DAY_NS
    )
    sub_steps_before = row_count(db, OperationSubStep)

    # The clock the worker reads: 30 days on, the 29-day-old operation is still kept; a day later it is not.
    monkeypatch.setattr(worker, "now_ns", lambda: today)
    assert _prune(db, Retention(days=30, per_project=1000)) == 4
    left = {op.id: op.status for op in all_stored(db)}
    assert left == {old[3]: "waiting", old[4]: "processing", recent[0]: "finished"}  # the other's is gone
    assert other not in left
    assert row_count(db, OperationSubStep) == sub_steps_before - 4 * len(SUB_STEPS)
    assert {s.operation_id for s in db.run_read(_sub_step_owners)} == set(left)
    assert _listed(tenant) == [recent[0], old[4], old[3]]
    assert _listed(other_tenant) == []

    monkeypatch.setattr(worker, "now_ns", lambda: today + 2 * DAY_NS)
    assert _prune(db, Retention(days=30, per_project=1000)) == 1
    assert _listed(tenant) == [old[4], old[3]]
    assert _prune(db, Retention(days=30, per_project=1000)) == 0


def _sub_step_owners(session: Session) -> list[Any]:
    return list(session.query(OperationSubStep.operation_id).distinct())


def test_each_project_keeps_its_newest_finished_operations_in_batches(
    db: Database, tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = now_ns()
    mine = (tenant.domain_id, tenant.project_id)
    states = ["finished", "processing", "failed", "finished", "stop", "finished", "waiting", "finished"]
    ids = db.run_write(_seed, states, project=mine, start=today - 10 * DAY_NS)
    others = db.run_write(
        _seed, ["finished", "finished"], project=(other_tenant.domain_id, other_tenant.project_id), start=today
    )
    # Two per transaction: the worker goes on until a batch comes back short.
    monkeypatch.setattr(records, "PRUNE_BATCH", 2)
    written: list[int] = []
    original = records.prune

    def counted(session: Session, **kwargs: Any) -> int:
        gone = original(session, **kwargs, batch=2)
        written.append(gone)
        return gone

    monkeypatch.setattr(records, "prune", counted)
    assert _prune(db, Retention(days=30, per_project=2)) == 4
    assert written == [2, 2, 0]
    # The two newest finished ones are kept, the running ones whatever their age, the other project's untouched.
    assert _listed(tenant) == [ids[7], ids[6], ids[5], ids[1]]
    assert _listed(other_tenant) == [others[1], others[0]]
    statuses = {op.id: op.status for op in all_stored(db)}
    assert sorted(statuses) == sorted([ids[1], ids[5], ids[6], ids[7], *others])
    assert row_count(db, OperationSubStep) == len(statuses) * len(SUB_STEPS)


def test_a_run_of_many_batches_scans_the_whole_table_once(
    db: Database, tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog is deleted batch by batch, but which projects are crowded and whether anything is past the age limit
    are found once per run, not once per batch (each is a scan of every finished operation)."""
    today = now_ns()
    old = db.run_write(
        _seed, ["finished"] * 5, project=(tenant.domain_id, tenant.project_id), start=today - 40 * DAY_NS
    )
    crowded = db.run_write(
        _seed, ["finished"] * 7, project=(other_tenant.domain_id, other_tenant.project_id), start=today - DAY_NS
    )
    monkeypatch.setattr(records, "PRUNE_BATCH", 2)
    original = records.prune
    monkeypatch.setattr(records, "prune", lambda session, **kwargs: original(session, **kwargs, batch=2))
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(args[2])  # (connection, cursor, statement, ...)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert _prune(db, Retention(days=30, per_project=2)) == 5 + 5
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    grouped = [q for q in statements if "GROUP BY" in q]
    aged = [q for q in statements if "operations.record_time <" in q and "project_id" not in q]
    assert len(grouped) == 1
    assert len(aged) == 3  # 2, 2, then 1 of the 5 old ones: none can be left after a short answer
    assert _listed(other_tenant) == [crowded[6], crowded[5]]
    assert _listed(tenant) == []
    assert not set(old) & {op.id for op in all_stored(db)}


def test_the_server_prunes_with_its_settings(settings: Settings) -> None:
    from openbcs.app import create_app

    assert create_app(settings).state.worker.retention == Retention(30, 1000)
    tuned = settings.model_copy(update={"operation_retention_days": 7.5, "operation_records_kept": 10})
    assert create_app(tuned).state.worker.retention == Retention(7.5, 10)
    with pytest.raises(ValueError, match="operation_records_kept"):
        Settings(operation_records_kept=0)


def test_the_sdk_reads_what_retention_left(
    db: Database,
    make_account: Callable[..., TestAccount],
    sdk_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest, ListOpRecordResponse

    account = make_account()
    project = (account.domain_id, account.project_id)
    ids = db.run_write(_seed, ["finished", "failed", "processing", "finished"], project=project, start=now_ns())
    assert _prune(db, Retention(days=30, per_project=1)) == 2
    response = sdk_client(account).list_op_record(ListOpRecordRequest())
    assert isinstance(response, ListOpRecordResponse)
    assert response.count == 2
    assert [r.operation_id for r in response.operation_records] == [ids[3], ids[2]]
    assert [r.operation_status for r in response.operation_records] == ["finished", "processing"]
    assert sorted(response.operation_records[0].operation_process) == ["Completion", "Execution", "Preparation"]
