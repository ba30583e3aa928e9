"""Zero-length steps (``--operation-step-seconds 0``, issue 11 target 3): an operation is finished in the transaction
that starts it, so it is done when the call that started it answers — on SQLite and on PostgreSQL alike. Before,
PostgreSQL ran it in the worker after the answer, and a client's next call on the same instance could find it busy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.kinds import OperationKind, Payload
from openbcs.engine.models import Operation, OperationLock, OperationSubStep
from openbcs.events.models import Event
from openbcs.kernel.db import Database
from tests.engine.kinds_for_tests import HOOKED, KINDS, NESTED, HookedPayload, NestedPayload
from tests.support.accounts import TestAccount
from tests.support.consortia import JOIN_OPERATION_ID, QUIT_OPERATION_ID, setup_consortium
from tests.support.diagnostic import new_project, stored
from tests.support.snapshots import invitation_row, row_count


def test_an_operation_is_finished_when_its_call_answers(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    c = setup_consortium(client, make_account)
    answer = c.agree()
    assert answer.status_code == 200, answer.text
    # No waiting: the join is over already, and the next call on the same instance is not refused as busy.
    (join,) = c.invitee.records(operation_type="05")
    assert join["operation_id"] == c.join_operation_id()
    assert join["operation_status"] == "finished"
    assert all(
        s["status"] == "finished" for step in join["operation_process"].values() for s in step["sub_steps"].values()
    )
    assert row_count(db, OperationLock) == 0
    assert invitation_row(db)["status"] == "joined"

    quit_answer = c.invitee.quit(c.quit_body())
    assert quit_answer.status_code == 200, quit_answer.text
    quit_id = quit_answer.json()["operation_id"]
    (quit_record,) = c.invitee.records(operation_id=quit_id)
    assert quit_record["operation_status"] == "finished"
    assert invitation_row(db)["status"] == "quit"
    assert row_count(db, OperationLock) == 0
    # Every sub-step of both ran exactly once, in order.
    for operation_id, pattern in ((join["operation_id"], JOIN_OPERATION_ID), (quit_id, QUIT_OPERATION_ID)):
        assert re.match(pattern, operation_id)
        assert row_count(db, Operation, Operation.id == operation_id, Operation.status == "finished") == 1
        assert row_count(db, OperationSubStep, OperationSubStep.operation_id == operation_id) == 2


def _start_and_finish_in_one_transaction(
    session: Session, kind: OperationKind[Any], payload: Payload, transitions: int
) -> str:
    domain_id, project_id = new_project()
    operation_id = engine.start(
        session, kind, payload, domain_id=domain_id, project_id=project_id, blockchain_id=f"bc-{domain_id}"
    )
    assert engine.finish_started(session, registry=KINDS) == transitions
    assert engine.finish_started(session, registry=KINDS) == 0, "each started operation is run once"
    return operation_id


def _start(session: Session, kind: OperationKind[Any], payload: Payload) -> str:
    domain_id, project_id = new_project()
    return engine.start(
        session, kind, payload, domain_id=domain_id, project_id=project_id, blockchain_id=f"bc-{domain_id}"
    )


def _outcome(db: Database, operation_id: str) -> tuple[object, ...]:
    """What the operation left: its row and sub-steps (ids, times and its own project aside), its locks, its events."""
    op = stored(db, operation_id)
    events = db.run_read(
        lambda s: [
            e.name for e in s.scalars(select(Event).where(Event.blockchain_id == op.blockchain_id).order_by(Event.id))
        ]
    )
    return (
        (op.kind, op.status, op.version, op.messages, op.payload, op.blockchain_name),
        [
            (s.serial_num, s.name, s.status, s.detail, s.messages, s.start_time is not None, s.end_time is not None)
            for s in op.sub_steps
        ],
        row_count(db, OperationLock, OperationLock.operation_id == operation_id),
        events,
    )


@pytest.mark.parametrize(
    ("kind", "payload", "status", "transitions"),
    [
        (NESTED, NestedPayload(log=["started"], counters={"runs": 0}, fail=False), "finished", 4),
        (NESTED, NestedPayload(log=["started"], counters={"runs": 0}, fail=True), "failed", 4),
        (HOOKED, HookedPayload(account_name="fast-path", mode="crash"), "failed", 3),
    ],
    ids=["finished", "failed", "raised"],
)
def test_operations_run_in_their_starting_transaction_end_as_the_claimed_transitions_leave_them(
    db: Database, kind: OperationKind[Any], payload: Payload, status: str, transitions: int
) -> None:
    # finish_started makes the transitions on the rows start added, without claiming and reading back each one; the
    # stored result must be exactly what the worker's claimed transitions (engine.finish) leave.
    fast = db.run_write(_start_and_finish_in_one_transaction, kind, payload, transitions)
    claimed = db.run_write(_start, kind, payload)
    assert db.run_write(lambda s: engine.finish(s, registry=KINDS, operation_id=claimed)) == transitions
    assert _outcome(db, fast)[0][1] == status
    assert _outcome(db, fast) == _outcome(db, claimed)
