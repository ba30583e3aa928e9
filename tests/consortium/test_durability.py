"""Durability of membership operations: a server killed with SIGKILL in the middle of a join or a quit; the restarted
server finishes the operation from the database, and the channel's configuration history holds the change once."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation, OperationSubStep
from openbcs.kernel.db import Database
from tests.consortium.helpers import (
    TIMEOUT,
    ServerProcess,
    assert_history,
    assert_in_channel,
    both_held,
    ended,
    membership_row,
    server_process,
)
from tests.support.bodies import DEFAULT_ORG
from tests.support.consortia import QUIT_OPERATION_ID, Consortium, setup_consortium
from tests.support.diagnostic import wait_for
from tests.support.operations import operation_locks
from tests.support.snapshots import config_blocks

# Long enough that the state between the two sub-steps holds still while the test sees it and kills the server.
STEP_SECONDS = 1.0
SUB_STEPS = ["Update channel configuration", "Update membership"]
BETWEEN_SUB_STEPS = ("processing", [(SUB_STEPS[0], "finished"), (SUB_STEPS[1], "processing")])


def _stored_operation(session: Session, operation_id: str) -> tuple[str, list[tuple[str, str]]]:
    status = session.scalars(select(Operation.status).where(Operation.id == operation_id)).one()
    steps = session.execute(
        select(OperationSubStep.name, OperationSubStep.status)
        .where(OperationSubStep.operation_id == operation_id)
        .order_by(OperationSubStep.serial_num)
    ).all()
    return status, [(name, state) for name, state in steps]


def stored_operation(db: Database, operation_id: str) -> tuple[str, list[tuple[str, str]]]:
    """``(status, [(sub-step name, status), ...])`` of an operation, from the database."""
    return db.run_read(_stored_operation, operation_id)


def stored_events(db: Database, c: Consortium) -> list[tuple[str, str]]:
    """``(event, cause)`` of the channel's stored configuration blocks, oldest first."""
    return [(block["event"], block["cause"]) for block in config_blocks(db, c.inviter_bcs_id, c.channel)]


def kill_between_sub_steps(server: ServerProcess, db: Database, operation_id: str) -> None:
    """Wait until the channel sub-step has committed and the membership one is pending, then SIGKILL the server."""

    def between_sub_steps() -> bool:
        status, steps = stored_operation(db, operation_id)
        assert status in ("waiting", "processing"), "the operation ended before the server could be killed"
        return (status, steps) == BETWEEN_SUB_STEPS

    wait_for(between_sub_steps, timeout=TIMEOUT, interval=0.02, what="the first sub-step to finish")
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    assert stored_operation(db, operation_id) == BETWEEN_SUB_STEPS


def served_by(c: Consortium, http: httpx.Client) -> Consortium:
    """The consortium's tenants, calling the server behind ``http`` (whose worker runs the operations)."""
    return dataclasses.replace(
        c,
        inviter=dataclasses.replace(c.inviter, http=http, drive=None),
        invitee=dataclasses.replace(c.invitee, http=http, drive=None),
    )


def sub_steps_of(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(step, sub-step, status)`` of a ListOpRecord record, in serial order."""
    found = [
        (sub["serial_num"], step_name, sub_name, sub["status"])
        for step_name, step in record["operation_process"].items()
        for sub_name, sub in step["sub_steps"].items()
    ]
    return [entry[1:] for entry in sorted(found)]


@contextlib.contextmanager
def restarted(
    tmp_path: Path, database_url: str, db: Database, c: Consortium, operation_id: str, first_step: str, status: str
) -> Iterator[Consortium]:
    """A second server on the database finishes the interrupted operation: its record shows both sub-steps
    finished, the membership is ``status`` and both instances are free again. Yields the consortium's tenants calling
    that server."""
    with (
        server_process(tmp_path, database_url, step_seconds=STEP_SECONDS, name="second") as second,
        httpx.Client(base_url=second.url, timeout=TIMEOUT) as http,
    ):
        live = served_by(c, http)
        record = ended(db, live, operation_id, status)
        assert sub_steps_of(record) == [(first_step, SUB_STEPS[0], "finished"), ("Finish", SUB_STEPS[1], "finished")]
        yield live


@pytest.mark.slow
def test_a_join_interrupted_by_sigkill_is_finished_by_the_restarted_server(
    tmp_path, database_url, db, frozen_client, make_account
):
    # Set up through an app whose worker is stopped (its operations driven from here): the servers run the join.
    c = setup_consortium(frozen_client, make_account, drive=db)
    with server_process(tmp_path, database_url, step_seconds=STEP_SECONDS, name="first") as first:
        with httpx.Client(base_url=first.url, timeout=TIMEOUT) as http:
            response = served_by(c, http).agree()
        assert (response.status_code, response.json()) == (200, {"result": "success"})
        join_id = membership_row(db, c)["operation_id"]
        assert join_id is not None

        kill_between_sub_steps(first, db, join_id)

    # What the dead server committed: the organisation is in the channel (one block), the membership is not
    # finished, the join still holds both instances.
    invitation = membership_row(db, c)
    assert (invitation["status"], invitation["notification_status"]) == ("joining", "joining")
    assert_in_channel(db, c, member=True)
    assert [event for event, _ in stored_events(db, c)] == ["create", "org_added"]
    assert operation_locks(db) == both_held(c, join_id)

    with restarted(tmp_path, database_url, db, c, join_id, "Join channel", "joined") as live:
        assert_in_channel(db, c, member=True)
        # The channel sub-step the first server committed did not run again: one org_added block, the join's.
        assert_history(live, ("create", None, False), ("org_added", join_id, True))
        assert [n["status"] for n in live.invitee.notifications()] == ["joined"]
        (member,) = live.invitee.members()
        assert (member["status"], [o["name"] for o in member["invited_orgs"]]) == ("joined", [DEFAULT_ORG])


@pytest.mark.slow
def test_a_quit_interrupted_by_sigkill_is_finished_by_the_restarted_server(
    tmp_path, database_url, db, frozen_client, make_account
):
    c = setup_consortium(frozen_client, make_account, drive=db)
    join_id = c.join()
    assert (membership_row(db, c)["status"], membership_row(db, c)["operation_id"]) == ("joined", join_id)
    with server_process(tmp_path, database_url, step_seconds=STEP_SECONDS, name="first") as first:
        with httpx.Client(base_url=first.url, timeout=TIMEOUT) as http:
            response = served_by(c, http).invitee.quit(c.quit_body())
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success", "operation_id": response.json()["operation_id"]}
        quit_id = response.json()["operation_id"]
        assert re.fullmatch(QUIT_OPERATION_ID, quit_id)

        kill_between_sub_steps(first, db, quit_id)

    invitation = membership_row(db, c)
    assert (invitation["status"], invitation["notification_status"]) == ("quitting", "quitting")
    assert_in_channel(db, c, member=False)
    events = stored_events(db, c)
    assert [event for event, _ in events] == ["create", "org_added", "org_removed"]
    assert events[1:] == [("org_added", join_id), ("org_removed", quit_id)]
    assert operation_locks(db) == both_held(c, quit_id)

    with restarted(tmp_path, database_url, db, c, quit_id, "Quit channel", "quit") as live:
        assert_in_channel(db, c, member=False)
        assert_history(live, ("create", None, False), ("org_added", join_id, True), ("org_removed", quit_id, False))
        assert [n["status"] for n in live.invitee.notifications()] == ["quit"]
        assert live.invitee.members() == []
