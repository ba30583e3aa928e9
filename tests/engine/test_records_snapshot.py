"""A ListOpRecord read is one snapshot: operations that finish between its two statements (the operations, then
their sub-steps) are listed as they were when the read began — on PostgreSQL as on SQLite. Found by CI: with the
status filter, the second statement saw an operation the first had not listed, and ListOpRecord answered 500."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation, OperationSubStep
from openbcs.engine.records import list_records
from openbcs.kernel.db import Database
from openbcs.kernel.rows import Rows
from tests.support.diagnostic import start_in

PROJECT = "p" * 32


def _finish(session: Session, operation_ids: list[str]) -> None:
    session.execute(update(Operation).where(Operation.id.in_(operation_ids)).values(status="finished"))
    session.execute(
        update(OperationSubStep).where(OperationSubStep.operation_id.in_(operation_ids)).values(status="finished")
    )


def _start(session: Session, count: int) -> list[str]:
    return [start_in(session, domain_id="d" * 32, project_id=PROJECT) for _ in range(count)]


@pytest.mark.parametrize("status", ["waiting", "finished"])
def test_operations_finishing_during_a_listing_leave_it_consistent(
    db: Database, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = db.run_write(_start, 2)
    db.run_write(_finish, started[:1])  # one finished before the read, the other during it
    real_all = Rows.all
    calls = 0

    def all_then_finish(self: Rows, statement: Any, **params: Any) -> list[tuple[Any, ...]]:
        nonlocal calls
        calls += 1
        found = real_all(self, statement, **params)
        if calls == 1:  # between the operations and their sub-steps, another transaction finishes them all
            writer = threading.Thread(target=db.run_write, args=(_finish, started))
            writer.start()
            writer.join()
        return found

    monkeypatch.setattr(Rows, "all", all_then_finish)
    records = db.run_read_rows(list_records, project_id=PROJECT, operation_status=status)
    monkeypatch.undo()

    # As the read began: the operation in the filtered status then, with its own sub-steps in that status.
    (record,) = records
    assert record.operation_id == (started[1] if status == "waiting" else started[0])
    assert record.status == status
    subs = [sub for step in record.steps for sub in step.sub_steps]
    assert subs
    assert {sub.status for sub in subs} == {status}
    # The other transaction did commit: a new read sees both finished.
    after = db.run_read_rows(list_records, project_id=PROJECT, operation_status="finished")
    assert sorted(r.operation_id for r in after) == sorted(started)
