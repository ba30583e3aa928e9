"""The official SDK reading operation records from a live server, and the health check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbcs import migrations
from openbcs.engine.diagnostic import DiagnosticPayload
from openbcs.engine.models import Operation
from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.diagnostic import SUB_STEPS, all_stored, seed, stored
from tests.support.snapshots import row_count, snapshot


def _seed_mine_and_others(session: Session, *, account: TestAccount, other: TestAccount) -> dict[str, str]:
    mine = {"domain_id": account.domain_id, "project_id": account.project_id}
    return {
        "finished": seed(session, "finished", **mine, blockchain_id="bc-sdk", blockchain_name="sdk chain"),
        "failed": seed(session, "failed", **mine, payload=DiagnosticPayload(fail_at="prepare-b")),
        "other": seed(session, "finished", domain_id=other.domain_id, project_id=other.project_id),
    }


def test_the_sdk_parses_operation_records_with_their_process(
    db: Database, make_account: Callable[..., TestAccount], sdk_client: Callable[..., Any]
) -> None:
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest, ListOpRecordResponse
    from huaweicloudsdkbcs.v2.model.process_info import ProcessInfo
    from huaweicloudsdkbcs.v2.model.record_detail_info import RecordDetailInfo
    from huaweicloudsdkbcs.v2.model.sub_detail import SubDetail

    account, other = make_account(), make_account()
    ids = db.run_write(_seed_mine_and_others, account=account, other=other)
    client = sdk_client(account)

    response = client.list_op_record(ListOpRecordRequest())
    assert isinstance(response, ListOpRecordResponse)
    assert response.count == 2
    assert [r.operation_id for r in response.operation_records] == [ids["failed"], ids["finished"]]
    assert all(isinstance(r, RecordDetailInfo) for r in response.operation_records)

    response = client.list_op_record(ListOpRecordRequest(blockchain_id="bc-sdk", operation_status="finished"))
    assert response.count == 1
    (record,) = response.operation_records
    op = stored(db, ids["finished"])
    assert (record.operation_id, record.resource_type, record.operation_type) == (op.id, "BCSSVC01", "98")
    assert (record.domain_id, record.project_id) == (account.domain_id, account.project_id)
    assert (record.blockchain_id, record.blockchain_name) == ("bc-sdk", "sdk chain")
    assert (record.operation_status, record.message, record.record_time) == ("finished", [], op.record_time)
    assert sorted(record.operation_process) == ["Completion", "Execution", "Preparation"]
    execution = record.operation_process["Execution"]
    assert isinstance(execution, ProcessInfo)
    assert (execution.step_name, execution.status, execution.serial_num) == ("Execution", "finished", 2)
    assert sorted(execution.sub_steps) == ["execute-a", "execute-b"]
    sub = execution.sub_steps["execute-b"]
    assert isinstance(sub, SubDetail)
    row = next(s for s in op.sub_steps if s.name == "execute-b")
    assert (sub.substep_name, sub.status, sub.detail, sub.message, sub.serial_num) == (
        "execute-b",
        "finished",
        row.detail,
        [],
        4,
    )
    assert (sub.start_time, sub.end_time) == (row.start_time, row.end_time)
    assert sub.start_time <= sub.end_time
    assert [s.serial_num for st in record.operation_process.values() for s in st.sub_steps.values()] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert [n for st in record.operation_process.values() for n in st.sub_steps] == list(SUB_STEPS)

    failed = client.list_op_record(ListOpRecordRequest(operation_id=ids["failed"])).operation_records[0]
    preparation = failed.operation_process["Preparation"]
    assert (failed.operation_status, failed.message) == ("failed", ["injected failure at prepare-b"])
    assert (preparation.status, preparation.detail) == ("failed", "prepare-b")
    assert preparation.sub_steps["prepare-b"].message == ["injected failure at prepare-b"]
    waiting = failed.operation_process["Completion"].sub_steps["complete-a"]
    assert (waiting.status, waiting.start_time, waiting.end_time) == ("waiting", None, None)

    # The other tenant's operation is not reachable, even by id.
    assert client.list_op_record(ListOpRecordRequest(operation_id=ids["other"])).count == 0
    assert {op.id: op.status for op in all_stored(db)} == {
        ids["finished"]: "finished",
        ids["failed"]: "failed",
        ids["other"]: "finished",
    }


def test_the_sdk_reports_a_bad_filter_as_a_bcs_error(
    db: Database, make_account: Callable[..., TestAccount], sdk_client: Callable[..., Any]
) -> None:
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    account = make_account()
    db.run_write(seed, "finished", domain_id=account.domain_id, project_id=account.project_id)
    before = snapshot(db)
    with pytest.raises(ClientRequestException) as raised:
        sdk_client(account).list_op_record(ListOpRecordRequest(operation_status="done"))
    assert raised.value.status_code == 400
    assert raised.value.error_code == "BCS.4006014"
    assert raised.value.error_msg == (
        "Invalid Parameter operation_status : Input should be 'waiting', 'processing', 'finished', 'failed' or 'stop'"
    )
    assert len(raised.value.request_id) == 32
    assert snapshot(db) == before


def test_health_is_ok_once_started(client: TestClient, db: Database) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "migrated", "writes": "ok", "worker": "running"}
    # Started means migrated: the schema is at the newest revision and the operation tables are there.
    assert migrations.current_revision(db) == migrations.HEAD
    assert row_count(db, Operation) == 0
    assert client.app.state.worker.running  # type: ignore[attr-defined]
