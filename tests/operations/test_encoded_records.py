"""ListOpRecord keeps the encoded record of a finished operation and sends it again; a record that changes (a running
operation advancing) or goes (pruned) is never answered from what was kept."""

from __future__ import annotations

import orjson
from sqlalchemy import delete
from sqlalchemy.orm import Session

from openbcs.engine import records
from openbcs.engine.models import Operation, OperationSubStep
from openbcs.kernel.db import Database
from openbcs.operations import answers
from openbcs.operations.schemas import record_answer
from tests.support.diagnostic import advance, all_stored, seed, stored
from tests.support.tenants import Tenant

PATH = "/operation/record"


def _seed(session: Session, tenant: Tenant, *states: str) -> list[str]:
    return [seed(session, s, domain_id=tenant.domain_id, project_id=tenant.project_id) for s in states]


def _fresh(db: Database, tenant: Tenant) -> list[dict[str, object]]:
    """The records built from the database now, without anything kept."""
    found = db.run_read_rows(records.list_records, project_id=tenant.project_id)
    return [orjson.loads(orjson.dumps(record_answer(r))) for r in found]


def _finish(session: Session, operation_id: str) -> int:
    """Run a processing operation to its end; how many transitions that took."""
    version = session.get_one(Operation, operation_id).version
    made = 0
    while advance(session, operation_id, version + made):
        made += 1
        assert made <= 100, "operation never ends"
    return made


def test_a_finished_record_is_sent_again_and_a_running_one_is_read_again(db: Database, tenant: Tenant) -> None:
    finished, running = db.run_write(_seed, tenant, "finished", "processing")
    kept_before = len(answers.ENCODED)
    first = tenant.call("GET", PATH)
    assert first.status_code == 200
    assert first.json()["operation_records"] == _fresh(db, tenant)
    assert [r["operation_id"] for r in first.json()["operation_records"]] == [running, finished]
    assert len(answers.ENCODED) == kept_before + 1  # the finished one only
    assert tenant.call("GET", PATH).content == first.content

    assert db.run_write(_finish, running) > 0
    assert stored(db, running).status == "finished"
    second = tenant.call("GET", PATH).json()["operation_records"]
    assert second == _fresh(db, tenant)
    assert second[0]["operation_status"] == "finished"
    assert all(
        s["status"] == "finished" for st in second[0]["operation_process"].values() for s in st["sub_steps"].values()
    )
    assert len(answers.ENCODED) == kept_before + 2

    # Filters list the same records, from what was kept.
    one = tenant.call("GET", f"{PATH}?operation_id={finished}")
    assert one.json() == {"count": 1, "operation_records": [second[1]]}

    # A deleted operation is not listed, whatever was kept of it.
    db.run_write(lambda s: s.execute(delete(OperationSubStep).where(OperationSubStep.operation_id == finished)))
    db.run_write(lambda s: s.execute(delete(Operation).where(Operation.id == finished)))
    assert [r["operation_id"] for r in tenant.call("GET", PATH).json()["operation_records"]] == [running]
    assert [op.id for op in all_stored(db)] == [running]


def test_the_oldest_used_record_goes_first() -> None:
    kept = answers.EncodedRecords(kept=2)
    rows = [(f"op-{n}", *([None] * 7), "finished", "[]", "", n) for n in range(3)]
    for row in rows[:2]:
        kept.put(row, orjson.Fragment(row[0].encode()))
    assert kept.get(rows[0]) is not None  # now the most recently used
    kept.put(rows[2], orjson.Fragment(b"2"))
    assert [kept.get(r) is not None for r in rows] == [True, False, True]
    assert len(kept) == 2
    # Another version of an operation is another record.
    assert kept.get((*rows[0][:-1], 7)) is None
