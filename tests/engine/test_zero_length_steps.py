"""Zero-length steps (``--operation-step-seconds 0``, issue 11 target 3): an operation is finished in the transaction
that starts it, so it is done when the call that started it answers — on SQLite and on PostgreSQL alike. Before,
PostgreSQL ran it in the worker after the answer, and a client's next call on the same instance could find it busy."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from openbcs.engine.models import Operation, OperationLock, OperationSubStep
from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.consortia import JOIN_OPERATION_ID, QUIT_OPERATION_ID, setup_consortium
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
