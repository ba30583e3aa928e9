"""ListOpRecord over HTTP: ``GET /v2/{project_id}/operation/record``, its filters, shape and errors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.engine import engine as service
from tests.operations.helpers import (
    KIND,
    SUB_STEPS,
    all_stored,
    effect_counts,
    seed,
    start_in,
    stored,
    wait_for,
)
from tests.support import TestAccount

RECORD_KEYS = {
    "operation_id",
    "resource_type",
    "operation_type",
    "domain_id",
    "project_id",
    "blockchain_id",
    "blockchain_name",
    "cluster_info",
    "operation_process",
    "record_time",
    "operation_status",
    "message",
    "desc",
}
STEP_KEYS = {"step_name", "status", "detail", "sub_steps", "serial_num"}
SUB_STEP_KEYS = {"substep_name", "detail", "status", "message", "start_time", "end_time", "serial_num"}


def _path(project_id: str) -> str:
    return f"/v2/{project_id}/operation/record"


def _auth(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def _ids(body: dict[str, Any]) -> list[str]:
    assert body["count"] == len(body["operation_records"])
    return [r["operation_id"] for r in body["operation_records"]]


def _seed_for(db: Database, account: TestAccount, *states: str, **kwargs: Any) -> list[str]:
    return db.run_write(
        lambda s: [
            seed(s, state, domain_id=account.domain_id, project_id=account.project_id, **kwargs) for state in states
        ]
    )


def test_a_project_without_operations_lists_none(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    account = make_account()
    other = make_account()
    _seed_for(db, other, "finished")
    response = client.get(_path(account.project_id), headers=_auth(token_for(account)))
    assert response.status_code == 200
    assert response.json() == {"count": 0, "operation_records": []}
    assert [op.project_id for op in all_stored(db)] == [other.project_id]


def test_each_project_sees_only_its_own_operations(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    a, b = make_account(), make_account()
    a_ids = _seed_for(db, a, "waiting", "finished", "failed")
    b_ids = _seed_for(db, b, "processing", "finished")

    for account, ids in ((a, a_ids), (b, b_ids)):
        response = client.get(_path(account.project_id), headers=_auth(token_for(account)))
        assert response.status_code == 200
        body = response.json()
        assert _ids(body) == list(reversed(ids)), "only the project's own, newest first"
        assert {(r["domain_id"], r["project_id"]) for r in body["operation_records"]} == {
            (account.domain_id, account.project_id)
        }
        for record in body["operation_records"]:
            assert record["operation_status"] == stored(db, record["operation_id"]).status
        # Naming the other project's operation finds nothing.
        other_ids = b_ids if ids is a_ids else a_ids
        response = client.get(
            _path(account.project_id), params={"operation_id": other_ids[0]}, headers=_auth(token_for(account))
        )
        assert response.status_code == 200
        assert response.json() == {"count": 0, "operation_records": []}
    assert sorted(op.id for op in all_stored(db)) == sorted(a_ids + b_ids)


def test_each_filter_narrows_the_list(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    account = make_account()
    token = token_for(account)

    def setup(s: Session) -> dict[str, str]:
        mine = {"domain_id": account.domain_id, "project_id": account.project_id}
        return {
            "waiting": seed(s, "waiting", **mine, blockchain_id="bc-1", blockchain_name="one"),
            "processing": seed(s, "processing", **mine, blockchain_id="bc-1", blockchain_name="one"),
            "finished": seed(s, "finished", **mine, blockchain_id="bc-2", blockchain_name="two"),
            "failed": seed(s, "failed", **mine, blockchain_id="bc-2", blockchain_name="two"),
            "stop": seed(s, "stop", **mine),
        }

    ids = db.run_write(setup)
    names = {v: k for k, v in ids.items()}
    everything = ["stop", "failed", "finished", "processing", "waiting"]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({}, everything),
        ({"blockchain_id": "bc-1"}, ["processing", "waiting"]),
        ({"blockchain_id": "bc-2"}, ["failed", "finished"]),
        ({"blockchain_id": "bc-9"}, []),
        ({"operation_status": "waiting"}, ["waiting"]),
        ({"operation_status": "processing"}, ["processing"]),
        ({"operation_status": "finished"}, ["finished"]),
        ({"operation_status": "failed"}, ["failed"]),
        ({"operation_status": "stop"}, ["stop"]),
        ({"resource_type": "BCSSVC01"}, everything),
        ({"resource_type": "BCSSVC02"}, []),
        ({"resource_type": "PLUGIN03"}, []),
        ({"operation_type": "98"}, everything),
        ({"operation_type": "99"}, []),
        ({"operation_id": ids["finished"]}, ["finished"]),
        ({"operation_id": "BCSSVC01-98-0000000000000000000"}, []),
        ({"blockchain_id": "bc-2", "operation_status": "failed"}, ["failed"]),
        ({"blockchain_id": "bc-1", "operation_status": "failed"}, []),
        ({"blockchain_id": "bc-1", "resource_type": "BCSSVC01", "operation_type": "98"}, ["processing", "waiting"]),
    ]
    for params, expected in cases:
        response = client.get(_path(account.project_id), params=params, headers=_auth(token))
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        assert [names[i] for i in _ids(body)] == expected, params
        for record in body["operation_records"]:
            for key, value in params.items():
                assert record[key] == value, (params, record)
    assert {op.id: op.status for op in all_stored(db)} == {v: k for k, v in ids.items()}


def test_operation_process_has_the_shape_of_the_spec(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    account = make_account()

    def half_way(s: Session) -> str:
        operation_id = start_in(
            s,
            domain_id=account.domain_id,
            project_id=account.project_id,
            blockchain_id="b268e1ca-b5c2-28f1-1e57-f571e14ecdbd",
            blockchain_name="chain",
        )
        for version in range(3):  # start, prepare-a, prepare-b: execute-a is processing
            assert service.advance(
                s,
                operation_id=operation_id,
                version=version,
                now=time.time_ns(),
                step_seconds=0 if version < 2 else 10**9,
            )
        return operation_id

    operation_id = db.run_write(half_way)
    response = client.get(_path(account.project_id), headers=_auth(token_for(account)))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (record,) = body["operation_records"]
    op = stored(db, operation_id)

    assert set(record) == RECORD_KEYS - {"cluster_info"}
    assert record["operation_id"] == operation_id
    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "98")
    assert (record["domain_id"], record["project_id"]) == (account.domain_id, account.project_id)
    assert (record["blockchain_id"], record["blockchain_name"]) == ("b268e1ca-b5c2-28f1-1e57-f571e14ecdbd", "chain")
    assert record["record_time"] == op.record_time
    assert isinstance(record["record_time"], int)
    assert (record["operation_status"], record["message"], record["desc"]) == (
        "processing",
        [],
        "diagnostic operation of the engine's tests",
    )

    process = record["operation_process"]
    assert list(process) == ["Preparation", "Execution", "Completion"]
    expected_steps = {
        "Preparation": (1, "finished", ""),
        "Execution": (2, "processing", "execute-a"),
        "Completion": (3, "waiting", ""),
    }
    rows = {s.name: s for s in op.sub_steps}
    for step_name, step in process.items():
        assert set(step) == STEP_KEYS
        assert (step["serial_num"], step["status"], step["detail"]) == expected_steps[step_name]
        assert step["step_name"] == step_name
        assert list(step["sub_steps"]) == [s.name for s in op.sub_steps if s.step_name == step_name]
        for sub_name, sub in step["sub_steps"].items():
            row = rows[sub_name]
            times = {k for k in ("start_time", "end_time") if getattr(row, k) is not None}
            assert set(sub) == SUB_STEP_KEYS - {"start_time", "end_time"} | times, sub_name
            assert sub["substep_name"] == sub_name
            assert (sub["status"], sub["detail"], sub["message"], sub["serial_num"]) == (
                row.status,
                row.detail,
                row.messages,
                row.serial_num,
            )
            assert (sub.get("start_time"), sub.get("end_time")) == (row.start_time, row.end_time)
    prepare_a = process["Preparation"]["sub_steps"]["prepare-a"]
    assert prepare_a["status"] == "finished"
    assert prepare_a["serial_num"] == 1
    assert prepare_a["detail"].startswith("ran in process ")
    assert isinstance(prepare_a["start_time"], int)
    assert prepare_a["start_time"] <= prepare_a["end_time"]
    execute_a = process["Execution"]["sub_steps"]["execute-a"]
    assert (execute_a["status"], execute_a["serial_num"], execute_a["message"]) == ("processing", 3, [])
    assert "end_time" not in execute_a
    assert [s["serial_num"] for st in process.values() for s in st["sub_steps"].values()] == [1, 2, 3, 4, 5, 6]


def test_a_failed_operation_shows_its_message(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    account = make_account()
    (operation_id,) = _seed_for(db, account, "failed", payload={"fail_at": "complete-b"})
    response = client.get(
        _path(account.project_id), params={"operation_status": "failed"}, headers=_auth(token_for(account))
    )
    assert response.status_code == 200
    (record,) = response.json()["operation_records"]
    assert record["operation_id"] == operation_id
    assert record["message"] == ["injected failure at complete-b"]
    completion = record["operation_process"]["Completion"]
    assert (completion["status"], completion["detail"]) == ("failed", "complete-b")
    assert completion["sub_steps"]["complete-b"]["message"] == ["injected failure at complete-b"]
    assert completion["sub_steps"]["complete-a"]["status"] == "finished"
    assert {st["status"] for name, st in record["operation_process"].items() if name != "Completion"} == {"finished"}
    op = stored(db, operation_id)
    assert (op.status, op.messages) == ("failed", ["injected failure at complete-b"])


def test_the_worker_finishes_operations_as_list_op_record_shows(
    client: TestClient,
    db: Database,
    make_account: Callable[..., TestAccount],
    token_for: Callable[..., str],
    effects_file: Path,
) -> None:
    account = make_account()
    token = token_for(account)
    ids = db.run_write(
        lambda s: [
            service.start(
                s,
                kind=KIND,
                domain_id=account.domain_id,
                project_id=account.project_id,
                payload={"effects_file": str(effects_file)},
            )
            for _ in range(3)
        ]
    )

    def all_finished() -> dict[str, Any] | None:
        response = client.get(_path(account.project_id), params={"operation_status": "finished"}, headers=_auth(token))
        assert response.status_code == 200
        body = response.json()
        return body if body["count"] == len(ids) else None

    body = wait_for(all_finished, timeout=30, what="the worker to finish the operations")
    assert sorted(_ids(body)) == sorted(ids)
    for record in body["operation_records"]:
        assert record["operation_status"] == "finished"
        steps = record["operation_process"]
        assert {st["status"] for st in steps.values()} == {"finished"}
        assert {st["detail"] for st in steps.values()} == {""}
        subs = [sub for st in steps.values() for sub in st["sub_steps"].values()]
        assert [s["substep_name"] for s in subs] == list(SUB_STEPS)
        assert all(s["status"] == "finished" and s["start_time"] <= s["end_time"] for s in subs)
    assert effect_counts(effects_file) == Counter({(i, name): 1 for i in ids for name in SUB_STEPS})
    assert {op.id: op.status for op in all_stored(db)} == dict.fromkeys(ids, "finished")


# --- errors ------------------------------------------------------------------------------------------------------


STATUSES = "Input should be 'waiting', 'processing', 'finished', 'failed' or 'stop'"
RESOURCE_TYPES = "Input should be 'BCSSVC01', 'BCSSVC02', 'PLUGIN01', 'PLUGIN02' or 'PLUGIN03'"
TWO_DIGITS = "two digits, e.g. 99"
AT_MOST_64 = "String should have at most 64 characters"


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("operation_status=done", "BCS.4006014", f"Invalid Parameter operation_status : {STATUSES}"),
        ("operation_status=FINISHED", "BCS.4006014", f"Invalid Parameter operation_status : {STATUSES}"),
        ("operation_type=x", "BCS.4006014", f"Invalid Parameter operation_type : {TWO_DIGITS}"),
        ("operation_type=999", "BCS.4006014", f"Invalid Parameter operation_type : {TWO_DIGITS}"),
        ("resource_type=BCSSVC09", "BCS.4006014", f"Invalid Parameter resource_type : {RESOURCE_TYPES}"),
        ("limit=10", "BCS.4006014", "Invalid Parameter limit : unknown field"),
        ("blockchain_id=a&blockchain_id=b", "BCS.4006014", "Invalid Parameter blockchain_id : given more than once"),
        (
            "operation_status=waiting&operation_status=waiting",
            "BCS.4006014",
            "Invalid Parameter operation_status : given more than once",
        ),
        ("blockchain_id=" + "b" * 65, "BCS.4006014", f"Invalid Parameter blockchain_id : {AT_MOST_64}"),
        ("operation_id=" + "o" * 65, "BCS.4006014", f"Invalid Parameter operation_id : {AT_MOST_64}"),
        ("blockchain_id=", "BCS.4006009", "one of parameters is nil: blockchain_id"),
    ],
)
def test_bad_queries_are_400_naming_the_field(
    client: TestClient,
    db: Database,
    make_account: Callable[..., TestAccount],
    token_for: Callable[..., str],
    query: str,
    code: str,
    message: str,
) -> None:
    account = make_account()
    _seed_for(db, account, "finished", blockchain_id="bc-1")
    before = all_stored(db)
    response = client.get(f"{_path(account.project_id)}?{query}", headers=_auth(token_for(account)))
    assert response.status_code == 400
    assert response.json() == {"error_code": code, "error_msg": message}
    assert all_stored(db) == before


def test_a_blockchain_id_of_64_characters_is_accepted(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    account = make_account()
    (operation_id,) = _seed_for(db, account, "waiting", blockchain_id="c" * 64)
    response = client.get(
        _path(account.project_id), params={"blockchain_id": "c" * 64}, headers=_auth(token_for(account))
    )
    assert response.status_code == 200
    assert _ids(response.json()) == [operation_id]
    assert stored(db, operation_id).blockchain_id == "c" * 64


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "not-a-token"}, {"X-Auth-Token": ""}])
def test_an_unauthenticated_request_is_401(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], headers: dict[str, str]
) -> None:
    account = make_account()
    _seed_for(db, account, "finished")
    before = all_stored(db)
    response = client.get(_path(account.project_id), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error_code": "BCS.4010401", "error_msg": "Incorrect token or token resolution failed"}
    assert all_stored(db) == before


def test_another_projects_path_is_403(
    client: TestClient, db: Database, make_account: Callable[..., TestAccount], token_for: Callable[..., str]
) -> None:
    mine, theirs = make_account(), make_account()
    _seed_for(db, mine, "finished")
    _seed_for(db, theirs, "finished", "failed")
    before = all_stored(db)
    for params in ({}, {"operation_status": "finished"}):
        response = client.get(_path(theirs.project_id), params=params, headers=_auth(token_for(mine)))
        assert response.status_code == 403
        body = response.json()
        assert body["error_code"] == "BCS.4030403"
        assert theirs.project_id in body["error_msg"]
        assert "operation_records" not in body
    assert all_stored(db) == before
