"""Operation records as ListOpRecord reads them: step status from sub-steps, the active sub-step, every filter, and
nothing of another project."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy.orm import Session

from openbcs.engine import records
from openbcs.kernel.db import Database
from tests.engine.kinds_for_tests import HOOKED, KINDS, HookedPayload
from tests.support.diagnostic import advance, all_stored, new_project, seed, start_in, stored


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["waiting", "waiting"], "waiting"),
        (["processing", "waiting"], "processing"),
        (["finished", "waiting"], "processing"),
        (["finished", "processing"], "processing"),
        (["finished", "finished"], "finished"),
        (["finished"], "finished"),
        (["finished", "failed"], "failed"),
        (["failed", "waiting"], "failed"),
        (["stop", "waiting"], "stop"),
        (["finished", "stop"], "processing"),
        (["stop", "failed"], "failed"),
    ],
)
def test_step_status_follows_from_its_sub_steps(statuses: list[str], expected: str) -> None:
    assert records.step_status(statuses) == expected


def _half_way(session: Session, domain_id: str, project_id: str) -> str:
    operation_id = start_in(session, domain_id=domain_id, project_id=project_id)
    for version in range(4):  # start, prepare-a, prepare-b, execute-a
        assert advance(session, operation_id, version)
    return operation_id


def test_records_show_each_steps_status_and_active_sub_step(db: Database) -> None:
    domain_id, project_id = new_project()
    operation_id = db.run_write(_half_way, domain_id, project_id)
    (record,) = db.run_read(records.list_records, project_id=project_id)
    assert (record.operation_id, record.status) == (operation_id, "processing")
    assert [(st.name, st.serial_num, st.status, st.detail) for st in record.steps] == [
        ("Preparation", 1, "finished", ""),
        ("Execution", 2, "processing", "execute-b"),
        ("Completion", 3, "waiting", ""),
    ]
    assert [[(sub.name, sub.serial_num, sub.status) for sub in st.sub_steps] for st in record.steps] == [
        [("prepare-a", 1, "finished"), ("prepare-b", 2, "finished")],
        [("execute-a", 3, "finished"), ("execute-b", 4, "processing")],
        [("complete-a", 5, "waiting"), ("complete-b", 6, "waiting")],
    ]
    rows = {s.name: s for s in stored(db, operation_id).sub_steps}
    for st in record.steps:
        for sub in st.sub_steps:
            row = rows[sub.name]
            assert (sub.start_time, sub.end_time, sub.detail) == (row.start_time, row.end_time, row.detail)


def _seed_two_projects(session: Session, a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    plugin = HookedPayload(account_name=f"scratch-{secrets.token_hex(4)}")
    return {
        "a_waiting": seed(session, "waiting", **a, blockchain_id="bc-1"),
        "a_processing": seed(session, "processing", **a, blockchain_id="bc-1"),
        "a_finished": seed(session, "finished", **a, blockchain_id="bc-2"),
        "a_failed": seed(session, "failed", **a),
        "a_stop": seed(session, "stop", **a, blockchain_id="bc-2"),
        "a_plugin": seed(session, "finished", **a, kind=HOOKED, payload=plugin, kinds=KINDS, blockchain_id="bc-1"),
        "b_waiting": seed(session, "waiting", **b, blockchain_id="bc-1"),
    }


def test_list_records_filters_and_stays_inside_the_project(db: Database) -> None:
    domain_a, project_a = new_project()
    domain_b, project_b = new_project()
    a = {"domain_id": domain_a, "project_id": project_a}
    ids = db.run_write(_seed_two_projects, a, {"domain_id": domain_b, "project_id": project_b})
    names = {v: k for k, v in ids.items()}

    def listed(project_id: str = project_a, **filters: str) -> list[str]:
        return [names[r.operation_id] for r in db.run_read(records.list_records, project_id=project_id, **filters)]

    newest_first = ["a_plugin", "a_stop", "a_failed", "a_finished", "a_processing", "a_waiting"]
    assert listed() == newest_first
    assert listed(project_b) == ["b_waiting"]
    assert listed(secrets.token_hex(16)) == []
    assert listed(blockchain_id="bc-1") == ["a_plugin", "a_processing", "a_waiting"]
    assert listed(blockchain_id="bc-2") == ["a_stop", "a_finished"]
    assert listed(blockchain_id="bc-3") == []
    for status in ("waiting", "processing", "finished", "failed", "stop"):
        assert listed(operation_status=status) == [n for n in newest_first if stored(db, ids[n]).status == status]
    assert listed(operation_status="finished") == ["a_plugin", "a_finished"]
    assert listed(operation_status="stop") == ["a_stop"]
    assert listed(resource_type="PLUGIN01") == ["a_plugin"]
    assert listed(resource_type="BCSSVC01") == [n for n in newest_first if n != "a_plugin"]
    assert listed(resource_type="BCSSVC02") == []
    assert listed(operation_type="02") == ["a_plugin"]
    assert listed(operation_type="98") == [n for n in newest_first if n != "a_plugin"]
    assert listed(operation_type="99") == []
    assert listed(operation_id=ids["a_failed"]) == ["a_failed"]
    assert listed(blockchain_id="bc-1", operation_status="waiting") == ["a_waiting"]
    assert listed(blockchain_id="bc-1", resource_type="BCSSVC01", operation_type="98") == ["a_processing", "a_waiting"]
    # Another project's operation is invisible, whichever filter names it.
    assert listed(operation_id=ids["b_waiting"]) == []
    assert listed(project_b, operation_id=ids["a_waiting"]) == []
    assert listed(project_b, blockchain_id="bc-2") == []
    assert db.run_read(records.get_record, project_id=project_b, operation_id=ids["a_waiting"]) is None

    record = db.run_read(records.get_record, project_id=project_a, operation_id=ids["a_plugin"])
    assert record is not None
    assert (record.resource_type, record.operation_type, record.status, record.domain_id, record.blockchain_id) == (
        "PLUGIN01",
        "02",
        "finished",
        domain_a,
        "bc-1",
    )
    assert [st.name for st in record.steps] == ["One", "Two"]
    assert record.description == "a kind with a failure hook"
    # Listing is a read: nothing changed.
    assert {op.id: op.status for op in all_stored(db)} == {
        ids[n]: n.split("_", 1)[1] if n != "a_plugin" else "finished" for n in ids
    }
