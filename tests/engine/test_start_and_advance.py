"""Starting an operation and advancing it one sub-step at a time: ids, stored rows, times, details, payloads."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.diagnostic import DIAGNOSTIC, DiagnosticPayload
from openbcs.kernel.db import Database
from tests.support.diagnostic import (
    ID_PATTERN,
    KIND,
    STEP_OF,
    STEPS,
    SUB_STEPS,
    TRANSITIONS,
    advance,
    all_stored,
    new_project,
    read_effects,
    seed,
    start_in,
    stored,
)


def _start(db: Database, effects_file: Path | None = None, **kwargs: str) -> str:
    domain_id, project_id = new_project()
    payload = DiagnosticPayload(effects_file=str(effects_file) if effects_file else None)
    return db.run_write(engine.start, DIAGNOSTIC, payload, domain_id=domain_id, project_id=project_id, **kwargs)


def _advance(db: Database, operation_id: str, version: int, *, now: int | None = None, step: float = 0) -> bool:
    return db.run_write(advance, operation_id, version, step_seconds=step, now=now)


def test_start_records_a_waiting_operation_with_waiting_sub_steps(db: Database, effects_file: Path) -> None:
    domain_id, project_id = new_project()
    before = time.time_ns()
    operation_id = db.run_write(
        engine.start,
        DIAGNOSTIC,
        DiagnosticPayload(effects_file=str(effects_file)),
        domain_id=domain_id,
        project_id=project_id,
        blockchain_id="bc-1",
        blockchain_name="chain one",
    )
    after = time.time_ns()

    assert re.fullmatch(ID_PATTERN, operation_id)
    op = stored(db, operation_id)
    assert (op.kind, op.resource_type, op.operation_type) == (KIND, "BCSSVC01", "98")
    assert (op.domain_id, op.project_id, op.blockchain_id, op.blockchain_name) == (
        domain_id,
        project_id,
        "bc-1",
        "chain one",
    )
    assert (op.status, op.version, op.messages) == ("waiting", 0, [])
    # The typed payload is stored as JSON, every field included.
    assert op.payload == {"effects_file": str(effects_file), "fail_at": None, "ran": []}
    assert op.description == "diagnostic operation of the engine's tests"
    assert before <= op.record_time <= after
    assert op.due_at == op.record_time
    assert [(s.step_serial, s.step_name, s.serial_num, s.name) for s in op.sub_steps] == [
        (STEPS.index(STEP_OF[name]) + 1, STEP_OF[name], serial, name) for serial, name in enumerate(SUB_STEPS, start=1)
    ]
    assert {(s.status, s.detail, tuple(s.messages), s.start_time, s.end_time) for s in op.sub_steps} == {
        ("waiting", "", (), None, None)
    }
    assert read_effects(effects_file) == []


def _start_forty(session: Session) -> list[str]:
    domain_id, project_id = new_project()
    return [start_in(session, domain_id=domain_id, project_id=project_id) for _ in range(40)]


def test_operation_ids_have_the_bcs_shape_and_increase(db: Database) -> None:
    ids = db.run_write(_start_forty)
    assert all(re.fullmatch(ID_PATTERN, i) for i in ids), ids
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    assert numbers == sorted(set(numbers)), "ids must be unique and increase in the order operations start"
    assert [op.id for op in all_stored(db)] == sorted(ids)
    # The number is a Unix time in nanoseconds, like the cloud's.
    assert abs(numbers[-1] - time.time_ns()) < 3600 * 10**9


def test_operation_ids_are_unique_across_threads() -> None:
    generated: list[list[str]] = [[] for _ in range(4)]
    barrier = threading.Barrier(len(generated))

    def generate(into: list[str]) -> None:
        barrier.wait()
        into.extend(engine.new_operation_id("BCSSVC01", "98") for _ in range(500))

    threads = [threading.Thread(target=generate, args=(into,)) for into in generated]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    every = [i for ids in generated for i in ids]
    assert len(every) == len(set(every)) == 2000
    for ids in generated:
        assert ids == sorted(ids), "each thread sees increasing ids"
        assert all(re.fullmatch(ID_PATTERN, i) for i in ids)


def test_advance_walks_every_sub_step_in_order_saving_times_detail_and_payload(
    db: Database, effects_file: Path
) -> None:
    operation_id = _start(db, effects_file)
    base = time.time_ns()
    times = [base + 1_000 * t for t in range(TRANSITIONS)]

    assert _advance(db, operation_id, 0, now=times[0], step=0.5)
    op = stored(db, operation_id)
    assert (op.status, op.version, op.due_at) == ("processing", 1, times[0] + 500_000_000)
    assert [s.status for s in op.sub_steps] == ["processing"] + ["waiting"] * 5
    assert (op.sub_steps[0].start_time, op.sub_steps[0].end_time) == (times[0], None)
    assert read_effects(effects_file) == [], "starting a sub-step runs nothing yet"

    for done in range(1, len(SUB_STEPS) + 1):
        assert _advance(db, operation_id, done, now=times[done], step=0.5)
        op = stored(db, operation_id)
        assert op.version == done + 1
        assert [s.status for s in op.sub_steps] == (
            ["finished"] * done + (["processing"] if done < 6 else []) + ["waiting"] * max(0, 5 - done)
        )
        assert op.payload == {"effects_file": str(effects_file), "fail_at": None, "ran": list(SUB_STEPS[:done])}
        assert [(e.operation_id, e.sub_step, e.pid) for e in read_effects(effects_file)] == [
            (operation_id, name, os.getpid()) for name in SUB_STEPS[:done]
        ]
        if done < 6:
            assert (op.status, op.due_at) == ("processing", times[done] + 500_000_000)

    assert (op.status, op.messages) == ("finished", [])
    for serial, sub_step in enumerate(op.sub_steps, start=1):
        assert (sub_step.start_time, sub_step.end_time) == (times[serial - 1], times[serial])
        assert (sub_step.detail, sub_step.messages) == (f"ran in process {os.getpid()}", [])

    # A finished operation takes no more transitions.
    assert not _advance(db, operation_id, TRANSITIONS)
    assert stored(db, operation_id) == op
    assert len(read_effects(effects_file)) == len(SUB_STEPS)


def test_advance_with_a_stale_version_returns_false_and_changes_nothing(db: Database, effects_file: Path) -> None:
    operation_id = _start(db, effects_file)
    assert _advance(db, operation_id, 0)
    assert _advance(db, operation_id, 1)
    before = stored(db, operation_id)
    assert before.version == 2
    assert read_effects(effects_file)[0].sub_step == "prepare-a"

    for stale in (0, 1, 3):
        assert not _advance(db, operation_id, stale)
    assert stored(db, operation_id) == before
    assert [e.sub_step for e in read_effects(effects_file)] == ["prepare-a"], "a stale advance ran an action"
    assert not _advance(db, "BCSSVC01-98-0000000000000000000", 0)
    assert all_stored(db) == [before]


def _seed_each_state(session: Session, domain_id: str, project_id: str) -> dict[str, str]:
    return {
        state: seed(session, state, domain_id=domain_id, project_id=project_id)
        for state in ("waiting", "processing", "finished", "failed")
    }


def test_due_lists_active_operations_whose_time_has_come(db: Database) -> None:
    domain_id, project_id = new_project()
    seeded = db.run_write(_seed_each_state, domain_id, project_id)
    due_now = db.run_write(start_in, domain_id=domain_id, project_id=project_id)
    assert db.run_read(engine.due, now=time.time_ns()) == [(due_now, 0)]
    assert db.run_read(engine.count_active) == 3  # parked waiting, parked processing, due_now
    assert db.run_read(engine.next_due_at) == stored(db, due_now).due_at
    assert stored(db, seeded["waiting"]).status == "waiting"
    assert stored(db, seeded["processing"]).status == "processing"
