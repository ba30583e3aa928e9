"""The operations service on its own: start, advance, failure, step status, records and their filters."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.iam.models import Account
from openbcs.engine import engine as service, kinds
from openbcs.engine.kinds import OperationContext, OperationFailed, OperationKind, Step, SubStep
from openbcs.engine.models import Operation, OperationSubStep
from tests.operations.helpers import (
    ID_PATTERN,
    KIND,
    STEP_OF,
    STEPS,
    SUB_STEPS,
    TRANSITIONS,
    advance_until_done,
    all_stored,
    new_project,
    read_effects,
    seed,
    start_in,
    stored,
)

# --- a kind of these tests' own, with a failure hook -------------------------------------------------------------

HOOKED = "tests.operations.hooked"
hook_calls: list[tuple[str, str, str, dict[str, Any]]] = []


def _first(_session: Session, ctx: OperationContext) -> str:
    ctx.payload["first"] = "done"
    return "first detail"


def _second(session: Session, ctx: OperationContext) -> str:
    # Writes a row of another domain, then behaves as the payload says.
    session.add(Account(id=secrets.token_hex(16), name=ctx.payload["account_name"], created_at=1))
    session.flush()
    ctx.payload["second"] = "partial"
    mode = ctx.payload.get("mode")
    if mode == "fail":
        raise OperationFailed("quota exhausted")
    if mode == "crash":
        raise RuntimeError("a bug in an action")
    return "second detail"


def _on_failure(session: Session, ctx: OperationContext, message: str) -> None:
    hook_calls.append((ctx.operation_id, ctx.sub_step_name, message, dict(ctx.payload)))
    ctx.payload["cleanup"] = message
    session.get_one(Operation, ctx.operation_id).blockchain_name = "cleaned-up"


HOOKED_KIND = OperationKind(
    name=HOOKED,
    resource_type="PLUGIN01",
    operation_type="02",
    description="a kind with a failure hook",
    steps=(Step("One", (SubStep("first", _first), SubStep("second", _second))), Step("Two", (SubStep("third"),))),
    on_failure=_on_failure,
)


@pytest.fixture
def hooked() -> str:
    kinds.register(HOOKED_KIND)
    hook_calls.clear()
    return HOOKED


# A kind whose actions and hook change nested payload values in place.
NESTED = "tests.operations.nested"


def _grow(_session: Session, ctx: OperationContext) -> None:
    ctx.payload["log"].append(ctx.sub_step_name)
    ctx.payload["counters"]["runs"] += 1


def _maybe_fail(_session: Session, ctx: OperationContext) -> None:
    ctx.payload["log"].append(ctx.sub_step_name)
    if ctx.payload["fail"]:
        ctx.payload["counters"]["runs"] += 100
        raise OperationFailed("stop here")


def _nested_hook(_session: Session, ctx: OperationContext, message: str) -> None:
    ctx.payload["log"].append(f"hook: {message}")


NESTED_KIND = OperationKind(
    name=NESTED,
    resource_type="PLUGIN03",
    operation_type="05",
    steps=(Step("Only", (SubStep("grow", _grow), SubStep("grow-more", _grow), SubStep("maybe-fail", _maybe_fail))),),
    on_failure=_nested_hook,
)


def _accounts_named(db: Database, name: str) -> int:
    return db.run_read(lambda s: s.scalar(select(func.count()).select_from(Account).where(Account.name == name)))


# --- start -------------------------------------------------------------------------------------------------------


def test_start_records_a_waiting_operation_with_waiting_sub_steps(db: Database, effects_file: Path) -> None:
    domain_id, project_id = new_project()
    before = time.time_ns()
    operation_id = db.run_write(
        lambda s: service.start(
            s,
            kind=KIND,
            domain_id=domain_id,
            project_id=project_id,
            blockchain_id="bc-1",
            blockchain_name="chain one",
            payload={"effects_file": str(effects_file)},
        )
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
    assert op.status == "waiting"
    assert op.version == 0
    assert op.messages == []
    assert op.payload == {"effects_file": str(effects_file)}
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


def test_start_of_an_unknown_kind_is_a_value_error_and_stores_nothing(db: Database) -> None:
    domain_id, project_id = new_project()
    with pytest.raises(ValueError, match=re.escape("unknown operation kind 'no.such.kind'")):
        db.run_write(lambda s: service.start(s, kind="no.such.kind", domain_id=domain_id, project_id=project_id))
    assert all_stored(db) == []
    assert db.run_read(lambda s: s.scalar(select(func.count()).select_from(OperationSubStep))) == 0


def test_operation_ids_have_the_bcs_shape_and_increase(db: Database) -> None:
    domain_id, project_id = new_project()
    ids = db.run_write(
        lambda s: [service.start(s, kind=KIND, domain_id=domain_id, project_id=project_id) for _ in range(40)]
    )
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
        into.extend(service.new_operation_id("BCSSVC01", "98") for _ in range(500))

    threads = [threading.Thread(target=generate, args=(into,)) for into in generated]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    every = [i for ids in generated for i in ids]
    assert len(every) == 2000
    assert len(set(every)) == 2000
    for ids in generated:
        assert ids == sorted(ids), "each thread sees increasing ids"
        assert all(re.fullmatch(ID_PATTERN, i) for i in ids)


# --- advance -----------------------------------------------------------------------------------------------------


def test_advance_walks_every_sub_step_in_order_saving_times_detail_and_payload(
    db: Database, effects_file: Path
) -> None:
    domain_id, project_id = new_project()
    operation_id = db.run_write(
        lambda s: service.start(
            s,
            kind=KIND,
            domain_id=domain_id,
            project_id=project_id,
            payload={"effects_file": str(effects_file), "keep": 1},
        )
    )
    base = time.time_ns()
    times = [base + 1_000 * t for t in range(TRANSITIONS)]

    assert db.run_write(
        lambda s: service.advance(s, operation_id=operation_id, version=0, now=times[0], step_seconds=0.5)
    )
    op = stored(db, operation_id)
    assert (op.status, op.version, op.due_at) == ("processing", 1, times[0] + 500_000_000)
    assert [s.status for s in op.sub_steps] == ["processing"] + ["waiting"] * 5
    assert op.sub_steps[0].start_time == times[0]
    assert op.sub_steps[0].end_time is None
    assert read_effects(effects_file) == [], "starting a sub-step runs nothing yet"

    for done in range(1, len(SUB_STEPS) + 1):
        assert db.run_write(
            lambda s, v=done, t=times[done]: service.advance(  # type: ignore[misc]
                s, operation_id=operation_id, version=v, now=t, step_seconds=0.5
            )
        )
        op = stored(db, operation_id)
        assert op.version == done + 1
        assert [s.status for s in op.sub_steps] == (
            ["finished"] * done + (["processing"] if done < 6 else []) + ["waiting"] * max(0, 5 - done)
        )
        assert op.payload == {"effects_file": str(effects_file), "keep": 1, "ran": list(SUB_STEPS[:done])}
        assert [(e.operation_id, e.sub_step, e.pid) for e in read_effects(effects_file)] == [
            (operation_id, name, os.getpid()) for name in SUB_STEPS[:done]
        ]
        if done < 6:
            assert op.status == "processing"
            assert op.due_at == times[done] + 500_000_000

    assert op.status == "finished"
    assert op.messages == []
    for serial, sub_step in enumerate(op.sub_steps, start=1):
        assert sub_step.start_time == times[serial - 1]
        assert sub_step.end_time == times[serial]
        assert sub_step.detail == f"ran in process {os.getpid()}"
        assert sub_step.messages == []

    # A finished operation takes no more transitions.
    assert not db.run_write(
        lambda s: service.advance(s, operation_id=operation_id, version=TRANSITIONS, now=time.time_ns(), step_seconds=0)
    )
    assert stored(db, operation_id) == op
    assert len(read_effects(effects_file)) == len(SUB_STEPS)


def test_advance_with_a_stale_version_returns_false_and_changes_nothing(db: Database, effects_file: Path) -> None:
    domain_id, project_id = new_project()
    operation_id = db.run_write(
        lambda s: service.start(
            s, kind=KIND, domain_id=domain_id, project_id=project_id, payload={"effects_file": str(effects_file)}
        )
    )
    assert db.run_write(
        lambda s: service.advance(s, operation_id=operation_id, version=0, now=time.time_ns(), step_seconds=0)
    )
    assert db.run_write(
        lambda s: service.advance(s, operation_id=operation_id, version=1, now=time.time_ns(), step_seconds=0)
    )
    before = stored(db, operation_id)
    assert before.version == 2
    assert read_effects(effects_file)[0].sub_step == "prepare-a"

    for stale in (0, 1, 3):
        assert not db.run_write(
            lambda s, v=stale: service.advance(  # type: ignore[misc]
                s, operation_id=operation_id, version=v, now=time.time_ns(), step_seconds=0
            )
        )
    assert stored(db, operation_id) == before
    assert [e.sub_step for e in read_effects(effects_file)] == ["prepare-a"], "a stale advance ran an action"
    assert not db.run_write(
        lambda s: service.advance(
            s, operation_id="BCSSVC01-98-0000000000000000000", version=0, now=time.time_ns(), step_seconds=0
        )
    )
    assert all_stored(db) == [before]


def test_due_lists_active_operations_whose_time_has_come(db: Database) -> None:
    domain_id, project_id = new_project()

    def setup(s: Session) -> dict[str, str]:
        return {
            state: seed(s, state, domain_id=domain_id, project_id=project_id)
            for state in ("waiting", "processing", "finished", "failed")
        }

    seeded = db.run_write(setup)
    due_now = db.run_write(lambda s: start_in(s, domain_id=domain_id, project_id=project_id))
    listed = db.run_read(lambda s: service.due(s, now=time.time_ns(), kind_names=[KIND]))
    assert listed == [(due_now, 0)]
    assert db.run_read(lambda s: service.due(s, now=time.time_ns(), kind_names=["other.kind"])) == []
    assert db.run_read(lambda s: service.count_active(s)) == 3  # parked waiting, parked processing, due_now
    assert stored(db, seeded["waiting"]).status == "waiting"
    assert stored(db, seeded["processing"]).status == "processing"


# --- failure -----------------------------------------------------------------------------------------------------


def test_an_injected_failure_fails_the_sub_step_and_the_operation(db: Database, effects_file: Path) -> None:
    domain_id, project_id = new_project()
    operation_id = db.run_write(
        lambda s: service.start(
            s,
            kind=KIND,
            domain_id=domain_id,
            project_id=project_id,
            payload={"effects_file": str(effects_file), "fail_at": "execute-a"},
        )
    )
    made = db.run_write(lambda s: advance_until_done(s, operation_id))
    assert made == 4  # start, prepare-a, prepare-b, execute-a (fails)

    op = stored(db, operation_id)
    assert op.status == "failed"
    assert op.messages == ["injected failure at execute-a"]
    by_name = {s.name: s for s in op.sub_steps}
    assert [by_name[n].status for n in SUB_STEPS] == ["finished", "finished", "failed", "waiting", "waiting", "waiting"]
    failed = by_name["execute-a"]
    assert failed.messages == ["injected failure at execute-a"]
    assert failed.start_time is not None
    assert failed.end_time is not None
    assert failed.start_time <= failed.end_time
    for name in ("execute-b", "complete-a", "complete-b"):
        assert (by_name[name].start_time, by_name[name].end_time, by_name[name].messages) == (None, None, [])
    assert op.payload["ran"] == ["prepare-a", "prepare-b"]
    assert [e.sub_step for e in read_effects(effects_file)] == ["prepare-a", "prepare-b"]

    record = db.run_read(lambda s: service.get_record(s, project_id=project_id, operation_id=operation_id))
    assert record is not None
    assert record.status == "failed"
    assert [(st.name, st.status, st.detail) for st in record.steps] == [
        ("Preparation", "finished", ""),
        ("Execution", "failed", "execute-a"),
        ("Completion", "waiting", ""),
    ]
    # A failed operation is over: no worker picks it up again.
    assert db.run_read(lambda s: service.due(s, now=time.time_ns(), kind_names=[KIND])) == []
    assert not db.run_write(
        lambda s: service.advance(s, operation_id=operation_id, version=made, now=time.time_ns(), step_seconds=0)
    )
    assert stored(db, operation_id) == op


def test_failure_rolls_back_the_action_and_calls_the_hook(db: Database, hooked: str) -> None:
    domain_id, project_id = new_project()
    name = f"scratch-{secrets.token_hex(4)}"
    operation_id = db.run_write(
        lambda s: service.start(
            s, kind=hooked, domain_id=domain_id, project_id=project_id, payload={"account_name": name, "mode": "fail"}
        )
    )
    assert re.fullmatch(r"^PLUGIN01-02-\d{19}$", operation_id)
    assert db.run_write(lambda s: advance_until_done(s, operation_id)) == 3

    op = stored(db, operation_id)
    assert op.status == "failed"
    assert op.messages == ["quota exhausted"]
    assert [(s.name, s.status, s.messages) for s in op.sub_steps] == [
        ("first", "finished", []),
        ("second", "failed", ["quota exhausted"]),
        ("third", "waiting", []),
    ]
    assert op.sub_steps[0].detail == "first detail"
    # The hook ran once, in the same transaction, seeing the payload as it was before the failed action.
    assert hook_calls == [
        (operation_id, "second", "quota exhausted", {"account_name": name, "mode": "fail", "first": "done"})
    ]
    assert op.blockchain_name == "cleaned-up"
    assert op.payload == {"account_name": name, "mode": "fail", "first": "done", "cleanup": "quota exhausted"}
    # The failed action's own database write is gone.
    assert _accounts_named(db, name) == 0


def test_an_action_that_raises_fails_with_an_internal_error(db: Database, hooked: str) -> None:
    domain_id, project_id = new_project()
    name = f"scratch-{secrets.token_hex(4)}"
    operation_id = db.run_write(
        lambda s: service.start(
            s, kind=hooked, domain_id=domain_id, project_id=project_id, payload={"account_name": name, "mode": "crash"}
        )
    )
    db.run_write(lambda s: advance_until_done(s, operation_id))

    op = stored(db, operation_id)
    message = "internal error while running this step"
    assert (op.status, op.messages) == ("failed", [message])
    assert [(s.name, s.status, s.messages) for s in op.sub_steps] == [
        ("first", "finished", []),
        ("second", "failed", [message]),
        ("third", "waiting", []),
    ]
    assert hook_calls == [(operation_id, "second", message, {"account_name": name, "mode": "crash", "first": "done"})]
    assert op.payload["cleanup"] == message
    assert "second" not in op.payload
    assert _accounts_named(db, name) == 0


def test_an_actions_database_writes_commit_with_its_sub_step(db: Database, hooked: str) -> None:
    domain_id, project_id = new_project()
    name = f"scratch-{secrets.token_hex(4)}"
    operation_id = db.run_write(
        lambda s: service.start(
            s, kind=hooked, domain_id=domain_id, project_id=project_id, payload={"account_name": name}
        )
    )
    assert db.run_write(lambda s: advance_until_done(s, operation_id)) == 4

    op = stored(db, operation_id)
    assert op.status == "finished"
    assert [(s.name, s.status, s.detail) for s in op.sub_steps] == [
        ("first", "finished", "first detail"),
        ("second", "finished", "second detail"),
        ("third", "finished", ""),
    ]
    assert op.payload == {"account_name": name, "first": "done", "second": "partial"}
    assert op.blockchain_name is None
    assert hook_calls == []
    assert _accounts_named(db, name) == 1


@pytest.mark.parametrize(
    ("fail", "status", "log", "runs"),
    [
        (False, "finished", ["started", "grow", "grow-more", "maybe-fail"], 2),
        (True, "failed", ["started", "grow", "grow-more", "hook: stop here"], 2),
    ],
)
def test_nested_payload_changes_made_in_place_are_saved(
    db: Database, fail: bool, status: str, log: list[str], runs: int
) -> None:
    kinds.register(NESTED_KIND)
    domain_id, project_id = new_project()
    payload = {"log": ["started"], "counters": {"runs": 0}, "fail": fail}
    operation_id = db.run_write(
        lambda s: service.start(s, kind=NESTED, domain_id=domain_id, project_id=project_id, payload=payload)
    )
    assert db.run_write(lambda s: advance_until_done(s, operation_id)) == 4
    op = stored(db, operation_id)
    assert op.status == status
    assert [s.status for s in op.sub_steps] == ["finished", "finished", status]
    # Saved with each step: what the actions (and the hook) appended, never the failed action's own changes.
    assert op.payload == {"log": log, "counters": {"runs": runs}, "fail": fail}
    assert payload == {"log": ["started"], "counters": {"runs": 0}, "fail": fail}, "the caller's dict is not touched"


# --- step status -------------------------------------------------------------------------------------------------


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
    assert service.step_status(statuses) == expected


def test_records_show_each_steps_status_and_active_sub_step(db: Database) -> None:
    domain_id, project_id = new_project()

    def half_way(s: Session) -> str:
        operation_id = start_in(s, domain_id=domain_id, project_id=project_id)
        for version in range(4):  # start, prepare-a, prepare-b, execute-a
            assert service.advance(s, operation_id=operation_id, version=version, now=time.time_ns(), step_seconds=0)
        return operation_id

    operation_id = db.run_write(half_way)
    (record,) = db.run_read(lambda s: service.list_records(s, project_id=project_id))
    assert record.operation_id == operation_id
    assert record.status == "processing"
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
            assert (sub.start_time, sub.end_time, sub.detail) == (
                rows[sub.name].start_time,
                rows[sub.name].end_time,
                rows[sub.name].detail,
            )


# --- records and filters -----------------------------------------------------------------------------------------


def test_list_records_filters_and_stays_inside_the_project(db: Database, hooked: str) -> None:
    domain_a, project_a = new_project()
    domain_b, project_b = new_project()

    def setup(s: Session) -> dict[str, str]:
        a = {"domain_id": domain_a, "project_id": project_a}
        return {
            "a_waiting": seed(s, "waiting", **a, blockchain_id="bc-1"),
            "a_processing": seed(s, "processing", **a, blockchain_id="bc-1"),
            "a_finished": seed(s, "finished", **a, blockchain_id="bc-2"),
            "a_failed": seed(s, "failed", **a),
            "a_stop": seed(s, "stop", **a, blockchain_id="bc-2"),
            "a_plugin": seed(
                s,
                "finished",
                **a,
                kind=hooked,
                blockchain_id="bc-1",
                payload={"account_name": f"scratch-{secrets.token_hex(4)}"},
            ),
            "b_waiting": seed(s, "waiting", domain_id=domain_b, project_id=project_b, blockchain_id="bc-1"),
        }

    ids = db.run_write(setup)
    order = ["a_waiting", "a_processing", "a_finished", "a_failed", "a_stop", "a_plugin"]

    def listed(project_id: str = project_a, **filters: str) -> list[str]:
        names = {v: k for k, v in ids.items()}
        records = db.run_read(lambda s: service.list_records(s, project_id=project_id, **filters))
        return [names[r.operation_id] for r in records]

    newest_first = list(reversed(order))
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
    assert db.run_read(lambda s: service.get_record(s, project_id=project_b, operation_id=ids["a_waiting"])) is None

    record = db.run_read(lambda s: service.get_record(s, project_id=project_a, operation_id=ids["a_plugin"]))
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
