"""The engine owns "one operation per resource at a time": a start takes the locks it names, finishing or failing
gives them back. Kinds and signal reactions come from one explicit registry: an operation of a kind the server does
not run (or whose stored payload its kind cannot read) is failed with a clear message, never left waiting."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from openbcs.engine import engine, locks
from openbcs.engine.diagnostic import DIAGNOSTIC, DiagnosticPayload
from openbcs.engine.kinds import OperationContext, OperationKind, Payload, Registry, Step, SubStep
from openbcs.engine.locks import Lock, ResourceBusy
from openbcs.engine.models import Operation
from openbcs.engine.worker import OperationWorker
from openbcs.iam.models import Account
from openbcs.kernel.db import Database
from tests.engine.kinds_for_tests import HOOKED, KINDS, HookedPayload
from tests.support.diagnostic import advance_until_done, all_stored, new_project, stored
from tests.support.snapshots import row_count


def _start_locked(session: Session, resources: list[str], *, payload: Payload | None = None) -> str:
    domain_id, project_id = new_project()
    return engine.start(
        session,
        DIAGNOSTIC,
        payload or DiagnosticPayload(),
        domain_id=domain_id,
        project_id=project_id,
        locks_taken=[Lock(resource, "IsScaling") for resource in resources],
    )


def test_a_start_takes_the_locks_it_names_with_their_labels(db: Database) -> None:
    operation_id = db.run_write(_start_locked, ["instance-a", "instance-b"])
    for resource in ("instance-a", "instance-b"):
        assert db.run_read(locks.holder, resource) == locks.Holder(operation_id, "IsScaling")
    assert db.run_read(locks.holder, "instance-c") is None
    assert db.run_read(locks.labels, ["instance-a", "instance-c"]) == {"instance-a": "IsScaling"}
    assert row_count(db, "operation_locks") == 2


def test_a_start_on_a_held_resource_is_refused_and_stores_nothing(db: Database) -> None:
    first = db.run_write(_start_locked, ["instance-a"])
    before = all_stored(db)
    with pytest.raises(ResourceBusy) as refused:
        db.run_write(_start_locked, ["instance-b", "instance-a"])
    assert (refused.value.error.code, refused.value.status, refused.value.resource) == (
        "BCS.4001020",
        400,
        "instance-a",
    )
    # All or nothing: no operation, no sub-steps, and instance-b was not taken either.
    assert all_stored(db) == before
    assert db.run_read(locks.holder, "instance-b") is None
    assert db.run_read(locks.holder, "instance-a") == locks.Holder(first, "IsScaling")


def test_a_start_naming_one_resource_twice_is_refused_and_stores_nothing(db: Database) -> None:
    # The held locks are read in one statement: a resource named twice must still be refused, not stored twice.
    before = all_stored(db)
    with pytest.raises(ResourceBusy) as refused:
        db.run_write(_start_locked, ["instance-a", "instance-b", "instance-a"])
    assert (refused.value.error.code, refused.value.resource) == ("BCS.4001020", "instance-a")
    assert all_stored(db) == before
    assert db.run_read(locks.labels, ["instance-a", "instance-b"]) == {}


def test_finishing_gives_the_locks_back(db: Database) -> None:
    operation_id = db.run_write(_start_locked, ["instance-a"])
    db.run_write(advance_until_done, operation_id)
    assert stored(db, operation_id).status == "finished"
    assert db.run_read(locks.holder, "instance-a") is None
    assert row_count(db, "operation_locks") == 0
    # The resource is free for the next operation.
    assert db.run_write(_start_locked, ["instance-a"])


def _start_hooked_locked(session: Session) -> str:
    domain_id, project_id = new_project()
    return engine.start(
        session,
        HOOKED,
        HookedPayload(account_name="locked-scratch", mode="fail"),
        domain_id=domain_id,
        project_id=project_id,
        locks_taken=[Lock("instance-a")],
    )


def test_failing_gives_the_locks_back_after_the_failure_hook(db: Database) -> None:
    operation_id = db.run_write(_start_hooked_locked)
    db.run_write(advance_until_done, operation_id, kinds=KINDS)
    failed = stored(db, operation_id)
    assert (failed.status, failed.blockchain_name) == ("failed", "cleaned-up")
    assert db.run_read(locks.holder, "instance-a") is None


def _run_worker(db: Database, registry: Registry, step_seconds: float = 0) -> int:
    worker = OperationWorker(db, registry=registry, step_seconds=step_seconds, poll_seconds=0.05)
    return asyncio.run(worker.run_once())


def test_an_operation_of_a_kind_the_server_does_not_run_is_failed_not_left_waiting(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    operation_id = db.run_write(_start_locked, ["instance-a"])
    with caplog.at_level(logging.ERROR, logger="openbcs.operations"):
        assert _run_worker(db, Registry([HOOKED])) == 1
    op = stored(db, operation_id)
    message = "operation kind test.diagnostic is not known to this server"
    assert (op.status, op.messages) == ("failed", [message])
    assert [(s.name, s.status, s.messages) for s in op.sub_steps][:2] == [
        ("prepare-a", "failed", [message]),
        ("prepare-b", "waiting", []),
    ]
    assert db.run_read(locks.holder, "instance-a") is None
    assert any(operation_id in r.getMessage() and "test.diagnostic" in r.getMessage() for r in caplog.records)
    # Over for good: the worker does not pick it up again.
    assert _run_worker(db, Registry([HOOKED])) == 0


def _break_payload(session: Session, operation_id: str) -> None:
    session.execute(update(Operation).where(Operation.id == operation_id).values(payload={"no_such_field": 1}))


def test_a_stored_payload_its_kind_cannot_read_fails_the_operation(db: Database) -> None:
    operation_id = db.run_write(_start_locked, ["instance-a"])
    # Steps of a nanosecond: one transition per run (zero-length steps would finish the whole operation at once).
    assert _run_worker(db, Registry([DIAGNOSTIC]), step_seconds=1e-9) == 1  # starts the first sub-step
    db.run_write(_break_payload, operation_id)
    assert _run_worker(db, Registry([DIAGNOSTIC]), step_seconds=1e-9) == 1
    op = stored(db, operation_id)
    assert (op.status, op.messages) == ("failed", ["the stored payload does not fit kind test.diagnostic"])
    assert db.run_read(locks.holder, "instance-a") is None


@dataclass(frozen=True)
class _Happened:
    what: str


def _emit(session: Session, ctx: OperationContext[Payload]) -> str:
    ctx.emit(session, _Happened(f"emitted by {ctx.operation_id}"))
    return "emitted"


_EMITTING: OperationKind[Payload] = OperationKind(
    name="tests.engine.emitting",
    resource_type="BCSSVC01",
    operation_type="96",
    payload=Payload,
    steps=(Step("Only", (SubStep("emit", _emit),)),),
)


def _record_account(session: Session, signal: _Happened) -> None:
    session.add(Account(id="signal0000000000000000000000000a", name=signal.what[:64], created_at=1))


def test_a_signal_runs_the_registered_reactions_in_the_same_transaction(db: Database) -> None:
    registry = Registry([_EMITTING])
    registry.react(_Happened, _record_account)
    domain_id, project_id = new_project()
    operation_id = db.run_write(engine.start, _EMITTING, Payload(), domain_id=domain_id, project_id=project_id)
    db.run_write(advance_until_done, operation_id, kinds=registry)
    assert stored(db, operation_id).status == "finished"
    assert row_count(db, Account, Account.name == f"emitted by {operation_id}"[:64]) == 1
    # Without a reaction registered, emitting changes nothing.
    quiet = Registry([_EMITTING])
    second = db.run_write(engine.start, _EMITTING, Payload(), domain_id=domain_id, project_id=project_id)
    db.run_write(advance_until_done, second, kinds=quiet)
    assert row_count(db, Account) == 1


def test_a_registry_refuses_two_different_kinds_with_one_name() -> None:
    registry = Registry([DIAGNOSTIC])
    registry.add(DIAGNOSTIC)  # the same kind again is harmless
    clash = OperationKind(
        name=DIAGNOSTIC.name, resource_type="BCSSVC01", operation_type="98", payload=Payload, steps=()
    )
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(clash)
    assert registry.names == [DIAGNOSTIC.name]
