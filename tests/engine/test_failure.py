"""A sub-step that fails: the operation ends ``failed`` with the message, the action's writes are rolled back, the
kind's failure hook runs in the same transaction, and a failed operation is over."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.engine import engine, records
from openbcs.engine.diagnostic import DIAGNOSTIC, DiagnosticPayload
from openbcs.iam.models import Account
from openbcs.kernel.db import Database
from tests.engine.kinds_for_tests import HOOKED, KINDS, NESTED, HookedPayload, NestedPayload, hook_calls
from tests.support.diagnostic import SUB_STEPS, advance, advance_until_done, new_project, read_effects, stored


def _accounts(session: Session, name: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Account).where(Account.name == name)) or 0)


def _start_hooked(db: Database, mode: str | None) -> tuple[str, str]:
    hook_calls.clear()
    domain_id, project_id = new_project()
    name = f"scratch-{secrets.token_hex(4)}"
    payload = HookedPayload(account_name=name, mode=mode)
    return db.run_write(engine.start, HOOKED, payload, domain_id=domain_id, project_id=project_id), name


def test_an_injected_failure_fails_the_sub_step_and_the_operation(db: Database, effects_file: Path) -> None:
    domain_id, project_id = new_project()
    payload = DiagnosticPayload(effects_file=str(effects_file), fail_at="execute-a")
    operation_id = db.run_write(engine.start, DIAGNOSTIC, payload, domain_id=domain_id, project_id=project_id)
    made = db.run_write(advance_until_done, operation_id)
    assert made == 4  # start, prepare-a, prepare-b, execute-a (fails)

    op = stored(db, operation_id)
    assert (op.status, op.messages) == ("failed", ["injected failure at execute-a"])
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

    record = db.run_read(records.get_record, project_id=project_id, operation_id=operation_id)
    assert record is not None
    assert record.status == "failed"
    assert [(st.name, st.status, st.detail) for st in record.steps] == [
        ("Preparation", "finished", ""),
        ("Execution", "failed", "execute-a"),
        ("Completion", "waiting", ""),
    ]
    # A failed operation is over: no worker picks it up again.
    assert db.run_read(engine.due, now=2**62) == []
    assert not db.run_write(advance, operation_id, made)
    assert stored(db, operation_id) == op


def test_failure_rolls_back_the_action_and_calls_the_hook(db: Database) -> None:
    operation_id, name = _start_hooked(db, "fail")
    assert re.fullmatch(r"^PLUGIN01-02-\d{19}$", operation_id)
    assert db.run_write(advance_until_done, operation_id, kinds=KINDS) == 3

    op = stored(db, operation_id)
    assert (op.status, op.messages) == ("failed", ["quota exhausted"])
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
    assert op.payload == {
        "account_name": name,
        "mode": "fail",
        "first": "done",
        "second": None,
        "cleanup": "quota exhausted",
    }
    # The failed action's own database write is gone.
    assert db.run_read(_accounts, name) == 0


def test_an_action_that_raises_fails_with_an_internal_error(db: Database) -> None:
    operation_id, name = _start_hooked(db, "crash")
    db.run_write(advance_until_done, operation_id, kinds=KINDS)

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
    assert op.payload["second"] is None
    assert db.run_read(_accounts, name) == 0


def test_an_actions_database_writes_commit_with_its_sub_step(db: Database) -> None:
    operation_id, name = _start_hooked(db, None)
    assert db.run_write(advance_until_done, operation_id, kinds=KINDS) == 4

    op = stored(db, operation_id)
    assert op.status == "finished"
    assert [(s.name, s.status, s.detail) for s in op.sub_steps] == [
        ("first", "finished", "first detail"),
        ("second", "finished", "second detail"),
        ("third", "finished", ""),
    ]
    assert op.payload == {"account_name": name, "mode": None, "first": "done", "second": "partial", "cleanup": None}
    assert op.blockchain_name is None
    assert hook_calls == []
    assert db.run_read(_accounts, name) == 1


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
    domain_id, project_id = new_project()
    payload = NestedPayload(log=["started"], counters={"runs": 0}, fail=fail)
    operation_id = db.run_write(engine.start, NESTED, payload, domain_id=domain_id, project_id=project_id)
    assert db.run_write(advance_until_done, operation_id, kinds=KINDS) == 4
    op = stored(db, operation_id)
    assert op.status == status
    assert [s.status for s in op.sub_steps] == ["finished", "finished", status]
    # Saved with each step: what the actions (and the hook) appended, never the failed action's own changes.
    assert op.payload == {"log": log, "counters": {"runs": runs}, "fail": fail}
    assert payload.model_dump() == {"log": ["started"], "counters": {"runs": 0}, "fail": fail}, "caller's model kept"
