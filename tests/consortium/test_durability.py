"""Durability of membership operations: a server killed with SIGKILL in the middle of a join or a quit; the restarted
server finishes the operation from the database, and the channel's configuration history holds the change once."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.app import create_app
from openbcs.network.models import Channel, ConfigBlock
from openbcs.kernel.db import Database
from openbcs.engine.models import Operation, OperationSubStep
from openbcs.kernel.settings import Settings
from tests.consortium.test_concurrency import (
    CHANNEL,
    ORG,
    QUIT_OPERATION_ID,
    SUCCESS,
    TIMEOUT,
    Consortium,
    ServerProcess,
    assert_history,
    busy_state,
    call,
    channel_members,
    consortium,
    the_invitation,
    wait_finished,
    wait_for,
)
from tests.support import TestAccount

# Long enough that the state between the two sub-steps holds still while the test sees it and kills the server.
STEP_SECONDS = 1.0
SUB_STEPS = ["Update channel configuration", "Update membership"]


def stored_operation(db: Database, operation_id: str) -> tuple[str, list[tuple[str, str]]]:
    """``(status, [(sub-step name, status), ...])`` of an operation, from the database."""

    def read(s: Session) -> tuple[str, list[tuple[str, str]]]:
        status = s.scalars(select(Operation.status).where(Operation.id == operation_id)).one()
        steps = s.execute(
            select(OperationSubStep.name, OperationSubStep.status)
            .where(OperationSubStep.operation_id == operation_id)
            .order_by(OperationSubStep.serial_num)
        ).all()
        return status, [(name, state) for name, state in steps]

    return db.run_read(read)


def stored_events(db: Database, c: Consortium) -> list[tuple[str, str]]:
    """``(event, cause)`` of the channel's stored configuration blocks, oldest first."""
    return db.run_read(
        lambda s: [
            (event, cause)
            for event, cause in s.execute(
                select(ConfigBlock.event, ConfigBlock.cause)
                .join(Channel, Channel.id == ConfigBlock.channel_id)
                .where(Channel.blockchain_id == c.inviter_bcs, Channel.name == CHANNEL)
                .order_by(ConfigBlock.number)
            )
        ]
    )


def kill_after_first_sub_step(server: ServerProcess, db: Database, operation_id: str) -> None:
    """Wait until the channel sub-step has committed and the membership one is pending, then SIGKILL the server."""

    def between_sub_steps() -> bool:
        status, steps = stored_operation(db, operation_id)
        assert status in ("waiting", "processing"), "the operation ended before the server could be killed"
        return steps == [(SUB_STEPS[0], "finished"), (SUB_STEPS[1], "processing")]

    wait_for(between_sub_steps, what="the first sub-step to finish")
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    assert stored_operation(db, operation_id) == (
        "processing",
        [(SUB_STEPS[0], "finished"), (SUB_STEPS[1], "processing")],
    )


def setup_in_process(settings: Settings, make_account: Callable[..., TestAccount], *, join: bool) -> Consortium:
    """The consortium, set up by an in-process app that is gone before the server under test starts."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        c = consortium(http, make_account(), make_account(), join=join)
        if join:
            wait_finished(http, c.invitee, join_operation_id(http, c))
    return c


def join_operation_id(http: httpx.Client, c: Consortium) -> str:
    """The invitee's join operation, from ListOpRecord."""
    response = call(http, c.invitee, "GET", "/operation/record", operation_type="05")
    assert response.status_code == 200, response.text
    (record,) = response.json()["operation_records"]
    return str(record["operation_id"])


def sub_steps_of(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(step, sub-step, status)`` of a ListOpRecord record, in serial order."""
    found = [
        (sub["serial_num"], step_name, sub_name, sub["status"])
        for step_name, step in record["operation_process"].items()
        for sub_name, sub in step["sub_steps"].items()
    ]
    return [entry[1:] for entry in sorted(found)]


@pytest.mark.slow
def test_a_join_interrupted_by_sigkill_is_finished_by_the_restarted_server(
    tmp_path: Path,
    database_url: str,
    db: Database,
    settings: Settings,
    make_account: Callable[..., TestAccount],
) -> None:
    c = setup_in_process(settings, make_account, join=False)
    servers: list[ServerProcess] = []
    try:
        first = ServerProcess(tmp_path, database_url, step_seconds=STEP_SECONDS, name="first")
        servers.append(first)
        first.wait_healthy()
        with httpx.Client(base_url=first.url, timeout=TIMEOUT) as http:
            response = call(http, c.invitee, "POST", "/notification/handle", c.agree_body())
        assert (response.status_code, response.json()) == (200, SUCCESS)
        join_id = the_invitation(db, c).operation_id
        assert join_id is not None

        kill_after_first_sub_step(first, db, join_id)
        # What the dead server committed: the organisation is in the channel (one block), the membership is not
        # finished, both instances are still busy with the join.
        invitation = the_invitation(db, c)
        assert (invitation.status, invitation.notification_status) == ("joining", "joining")
        assert channel_members(db, c) == (sorted([(c.inviter_bcs, ORG), (c.invitee_bcs, ORG)]), 2)
        assert [event for event, _ in stored_events(db, c)] == ["create", "org_added"]
        assert busy_state(db, c.inviter_bcs)[0] == busy_state(db, c.invitee_bcs)[0] == join_id

        second = ServerProcess(tmp_path, database_url, step_seconds=STEP_SECONDS, name="second")
        servers.append(second)
        second.wait_healthy()
        with httpx.Client(base_url=second.url, timeout=TIMEOUT) as http:
            record = wait_finished(http, c.invitee, join_id)
            assert sub_steps_of(record) == [
                ("Join channel", SUB_STEPS[0], "finished"),
                ("Finish", SUB_STEPS[1], "finished"),
            ]
            invitation = the_invitation(db, c)
            assert (invitation.status, invitation.notification_status) == ("joined", "joined")
            assert channel_members(db, c) == (sorted([(c.inviter_bcs, ORG), (c.invitee_bcs, ORG)]), 2)
            # The channel sub-step the first server committed did not run again: one org_added block, the join's.
            assert_history(http, c, ("create", None, False), ("org_added", join_id, True))
            assert busy_state(db, c.inviter_bcs) == busy_state(db, c.invitee_bcs) == (None, None, "Normal")
            (notification,) = call(http, c.invitee, "GET", "/notifications").json()["notifications"]
            assert notification["status"] == "joined"
            (member,) = call(http, c.invitee, "GET", "/members").json()["members"]
            assert (member["status"], [o["name"] for o in member["invited_orgs"]]) == ("joined", [ORG])
    finally:
        for server in servers:
            server.kill()


@pytest.mark.slow
def test_a_quit_interrupted_by_sigkill_is_finished_by_the_restarted_server(
    tmp_path: Path,
    database_url: str,
    db: Database,
    settings: Settings,
    make_account: Callable[..., TestAccount],
) -> None:
    c = setup_in_process(settings, make_account, join=True)
    join_id = the_invitation(db, c).operation_id
    assert the_invitation(db, c).status == "joined"
    servers: list[ServerProcess] = []
    try:
        first = ServerProcess(tmp_path, database_url, step_seconds=STEP_SECONDS, name="first")
        servers.append(first)
        first.wait_healthy()
        with httpx.Client(base_url=first.url, timeout=TIMEOUT) as http:
            response = call(http, c.invitee, "PUT", "/members/quit", c.quit_body())
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success", "operation_id": response.json()["operation_id"]}
        quit_id = response.json()["operation_id"]
        assert QUIT_OPERATION_ID.fullmatch(quit_id)

        kill_after_first_sub_step(first, db, quit_id)
        invitation = the_invitation(db, c)
        assert (invitation.status, invitation.notification_status) == ("quitting", "quitting")
        assert channel_members(db, c) == ([(c.inviter_bcs, ORG)], 0)
        events = stored_events(db, c)
        assert [event for event, _ in events] == ["create", "org_added", "org_removed"]
        assert events[1:] == [("org_added", join_id), ("org_removed", quit_id)]
        assert busy_state(db, c.inviter_bcs)[0] == busy_state(db, c.invitee_bcs)[0] == quit_id

        second = ServerProcess(tmp_path, database_url, step_seconds=STEP_SECONDS, name="second")
        servers.append(second)
        second.wait_healthy()
        with httpx.Client(base_url=second.url, timeout=TIMEOUT) as http:
            record = wait_finished(http, c.invitee, quit_id)
            assert sub_steps_of(record) == [
                ("Quit channel", SUB_STEPS[0], "finished"),
                ("Finish", SUB_STEPS[1], "finished"),
            ]
            invitation = the_invitation(db, c)
            assert (invitation.status, invitation.notification_status) == ("quit", "quit")
            assert channel_members(db, c) == ([(c.inviter_bcs, ORG)], 0)
            assert_history(
                http, c, ("create", None, False), ("org_added", join_id, True), ("org_removed", quit_id, False)
            )
            assert busy_state(db, c.inviter_bcs) == busy_state(db, c.invitee_bcs) == (None, None, "Normal")
            (notification,) = call(http, c.invitee, "GET", "/notifications").json()["notifications"]
            assert notification["status"] == "quit"
            assert call(http, c.invitee, "GET", "/members").json() == {"members": []}
    finally:
        for server in servers:
            server.kill()
