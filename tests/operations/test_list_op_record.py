"""ListOpRecord over HTTP: ``GET /v2/{project_id}/operation/record``, its filters, shape and errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session

from openbcs.engine.diagnostic import DiagnosticPayload
from openbcs.engine.records import list_records
from openbcs.kernel.db import Database
from openbcs.operations.schemas import ListOpRecordResponse, RecordDetailInfo, record_answer
from tests.support.diagnostic import SUB_STEPS, advance, all_stored, effect_counts, seed, start_in, stored, wait_for
from tests.support.errors import assert_error, assert_forbidden, assert_unauthorized
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

RECORD_KEYS = {
    "operation_id",
    "resource_type",
    "operation_type",
    "domain_id",
    "project_id",
    "blockchain_id",
    "blockchain_name",
    "operation_process",
    "record_time",
    "operation_status",
    "message",
    "desc",
}  # the spec's cluster_info is left out: OpenBCS runs no CCE clusters
STEP_KEYS = {"step_name", "status", "detail", "sub_steps", "serial_num"}
SUB_STEP_KEYS = {"substep_name", "detail", "status", "message", "start_time", "end_time", "serial_num"}
PATH = "/operation/record"


def _seed_states(session: Session, *, states: tuple[str, ...], owner: Tenant, **kwargs: Any) -> list[str]:
    return [seed(session, state, domain_id=owner.domain_id, project_id=owner.project_id, **kwargs) for state in states]


def seeded(db: Database, owner: Tenant, *states: str, **kwargs: Any) -> list[str]:
    """Diagnostic operations of ``owner``'s project left in ``states`` (oldest first), that no worker moves."""
    return db.run_write(_seed_states, states=states, owner=owner, **kwargs)


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["operation_id"] for r in records]


def test_a_project_without_operations_lists_none(db: Database, tenant: Tenant, other_tenant: Tenant) -> None:
    seeded(db, other_tenant, "finished")
    response = tenant.call("GET", PATH)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "operation_records": []}
    assert [op.project_id for op in all_stored(db)] == [other_tenant.project_id]


def test_each_project_sees_only_its_own_operations_newest_first(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = seeded(db, tenant, "waiting", "finished", "failed")
    theirs = seeded(db, other_tenant, "processing", "finished")

    for owner, ids, others in ((tenant, mine, theirs), (other_tenant, theirs, mine)):
        records = owner.records()
        assert _ids(records) == list(reversed(ids))
        assert {(r["domain_id"], r["project_id"]) for r in records} == {(owner.domain_id, owner.project_id)}
        assert [r["operation_status"] for r in records] == [stored(db, i).status for i in _ids(records)]
        # Naming the other project's operation finds nothing.
        assert owner.ok("GET", PATH, operation_id=others[0]) == {"count": 0, "operation_records": []}
    assert sorted(op.id for op in all_stored(db)) == sorted(mine + theirs)


def _seed_filterable(session: Session, *, owner: Tenant) -> dict[str, str]:
    mine = {"domain_id": owner.domain_id, "project_id": owner.project_id}
    return {
        "waiting": seed(session, "waiting", **mine, blockchain_id="bc-1", blockchain_name="one"),
        "processing": seed(session, "processing", **mine, blockchain_id="bc-1", blockchain_name="one"),
        "finished": seed(session, "finished", **mine, blockchain_id="bc-2", blockchain_name="two"),
        "failed": seed(session, "failed", **mine, blockchain_id="bc-2", blockchain_name="two"),
        "stop": seed(session, "stop", **mine),
    }


def test_each_filter_narrows_the_list(db: Database, tenant: Tenant) -> None:
    ids = db.run_write(_seed_filterable, owner=tenant)
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
        records = tenant.records(**params)
        assert [names[i] for i in _ids(records)] == expected, params
        for record in records:
            for key, value in params.items():
                assert record[key] == value, (params, record)
    assert {op.id: op.status for op in all_stored(db)} == {v: k for k, v in ids.items()}


def _half_way(session: Session, *, owner: Tenant) -> str:
    """An operation whose Preparation finished and whose ``execute-a`` has been processing for a while."""
    operation_id = start_in(
        session,
        domain_id=owner.domain_id,
        project_id=owner.project_id,
        blockchain_id="b268e1ca-b5c2-28f1-1e57-f571e14ecdbd",
        blockchain_name="chain",
    )
    for version in range(3):  # start, prepare-a, prepare-b: execute-a is processing, due in ~30 years
        assert advance(session, operation_id, version, step_seconds=0 if version < 2 else 10**9)
    return operation_id


def test_operation_process_has_the_shape_of_the_spec(db: Database, tenant: Tenant) -> None:
    operation_id = db.run_write(_half_way, owner=tenant)
    (record,) = tenant.records()
    op = stored(db, operation_id)

    assert set(record) == RECORD_KEYS
    assert record["operation_id"] == operation_id
    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "98")
    assert (record["domain_id"], record["project_id"]) == (tenant.domain_id, tenant.project_id)
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


def test_a_failed_operation_shows_its_message(db: Database, tenant: Tenant) -> None:
    (operation_id,) = seeded(db, tenant, "failed", payload=DiagnosticPayload(fail_at="complete-b"))
    (record,) = tenant.records(operation_status="failed")
    assert record["operation_id"] == operation_id
    assert record["message"] == ["injected failure at complete-b"]
    completion = record["operation_process"]["Completion"]
    assert (completion["status"], completion["detail"]) == ("failed", "complete-b")
    assert completion["sub_steps"]["complete-b"]["message"] == ["injected failure at complete-b"]
    assert completion["sub_steps"]["complete-a"]["status"] == "finished"
    assert {st["status"] for name, st in record["operation_process"].items() if name != "Completion"} == {"finished"}
    op = stored(db, operation_id)
    assert (op.status, op.messages) == ("failed", ["injected failure at complete-b"])


def _start_three(session: Session, *, owner: Tenant, effects_file: Path) -> list[str]:
    payload = DiagnosticPayload(effects_file=str(effects_file))
    return [
        start_in(session, domain_id=owner.domain_id, project_id=owner.project_id, payload=payload) for _ in range(3)
    ]


def test_the_worker_finishes_operations_as_list_op_record_shows(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    effects_file = tmp_path / "effects.log"
    ids = db.run_write(_start_three, owner=tenant, effects_file=effects_file)

    def all_finished() -> list[dict[str, Any]] | None:
        records = tenant.records(operation_status="finished")
        return records if len(records) == len(ids) else None

    records = wait_for(all_finished, timeout=30, what="the worker to finish the operations")
    assert sorted(_ids(records)) == sorted(ids)
    for record in records:
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
    db: Database, tenant: Tenant, query: str, code: str, message: str
) -> None:
    seeded(db, tenant, "finished", blockchain_id="bc-1")
    before = snapshot(db)
    response = tenant.http.get(f"{tenant.base}{PATH}?{query}", headers=tenant.headers)
    assert_error(response, 400, code, message)
    assert snapshot(db) == before


def test_a_blockchain_id_of_64_characters_is_accepted(db: Database, tenant: Tenant) -> None:
    (operation_id,) = seeded(db, tenant, "waiting", blockchain_id="c" * 64)
    assert _ids(tenant.records(blockchain_id="c" * 64)) == [operation_id]
    assert stored(db, operation_id).blockchain_id == "c" * 64


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "not-a-token"}, {"X-Auth-Token": ""}])
def test_an_unauthenticated_request_is_401(db: Database, tenant: Tenant, headers: dict[str, str]) -> None:
    seeded(db, tenant, "finished")
    before = snapshot(db)
    assert_unauthorized(tenant.http.get(f"{tenant.base}{PATH}", headers=headers))
    assert snapshot(db) == before


def test_another_projects_path_is_403(db: Database, tenant: Tenant, other_tenant: Tenant) -> None:
    seeded(db, tenant, "finished")
    seeded(db, other_tenant, "finished", "failed")
    before = snapshot(db)
    for params in ({}, {"operation_status": "finished"}):
        response = tenant.call("GET", PATH, project_id=other_tenant.project_id, **params)
        assert_forbidden(response, other_tenant.project_id)
    assert snapshot(db) == before


def test_the_answer_is_exactly_what_the_response_model_dumps(db: Database, tenant: Tenant) -> None:
    """ListOpRecord builds its answer without the Pydantic models (for speed): it must be byte for byte what
    ``ListOpRecordResponse`` would give, for operations in every state, with and without an instance."""
    seeded(db, tenant, "waiting", "processing", "finished", "stop")
    seeded(db, tenant, "failed", payload=DiagnosticPayload(fail_at="complete-b"))
    seeded(db, tenant, "finished", blockchain_id="b" * 36, blockchain_name="chain")
    response = tenant.call("GET", PATH)
    assert response.status_code == 200
    found = db.run_read_rows(list_records, project_id=tenant.project_id)
    assert len(found) == 6
    models = ListOpRecordResponse(count=6, operation_records=[RecordDetailInfo.of(r) for r in found])
    assert response.content == models.model_dump_json(exclude_none=True).encode()
    for record in found:
        assert (
            orjson.dumps(record_answer(record))
            == RecordDetailInfo.of(record).model_dump_json(exclude_none=True).encode()
        )
