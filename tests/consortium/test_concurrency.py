"""Membership calls racing each other against a live server: identical quits, accept against withdraw, identical
invitations, two invitees agreeing at once. Exactly one of each race wins; the losers get the documented error and
the stored state (invitations, operations, engine locks, channel, configuration history) stays consistent.

The thread server (uvicorn in a thread of the test process) runs SQLite transactions one after another and
PostgreSQL ones in its thread pool; the two-process server (``openbcs serve --workers 2``) adds real parallelism on
both databases.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.consortium.helpers import (
    another_member,
    assert_history,
    assert_idle,
    assert_in_channel,
    both_held,
    membership_row,
    server_process,
)
from tests.support.accounts import TestAccount
from tests.support.bodies import CHANNEL, invite_body, union_instance_body
from tests.support.consortia import QUIT_OPERATION_ID, Consortium, setup_consortium
from tests.support.errors import INSTANCE_BUSY, assert_error
from tests.support.operations import operation_locks, operation_rows
from tests.support.servers import LiveServer, race, request
from tests.support.tenants import new_tenant

SUCCESS = {"result": "success"}


def operations_of(db: Database, kind: str, blockchain_id: str | None) -> list[str]:
    """Ids of the stored operations of ``kind`` on the instance, oldest first."""
    return [op_id for op_id, op_kind, _, _, bcs in operation_rows(db) if op_kind == kind and bcs == blockchain_id]


# --- racing ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def thread_server(settings: Settings, **overrides: Any) -> Iterator[str]:
    with LiveServer(settings.model_copy(update=overrides)) as server:
        yield server.url


@contextlib.contextmanager
def any_server(kind: str, settings: Settings, tmp_path: Path, database_url: str) -> Iterator[str]:
    """A server with instant operation steps: uvicorn in a thread, or ``openbcs serve --workers 2``."""
    if kind == "thread":
        with thread_server(settings) as url:
            yield url
    else:
        with server_process(tmp_path, database_url, step_seconds=0, workers=2, name="workers2") as server:
            yield server.url


# --- 1. identical quits ---------------------------------------------------------------------------------------------

QUITTERS = 20


@pytest.mark.parametrize("server_kind", ["thread", "two-processes"])
def test_twenty_identical_quits_start_exactly_one_quit_operation(
    server_kind: str,
    settings: Settings,
    tmp_path: Path,
    database_url: str,
    db: Database,
    make_account: Callable[..., TestAccount],
) -> None:
    with (
        any_server(server_kind, settings, tmp_path, database_url) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        c = setup_consortium(http, make_account)
        join_id = c.join()
        assert (membership_row(db, c)["status"], membership_row(db, c)["operation_id"]) == ("joined", join_id)

        answers = race(url, [request(c.invitee, "PUT", "/members/quit", c.quit_body())] * QUITTERS)

        winners = [a for a in answers if a.status_code == 200]
        losers = [a for a in answers if a.status_code != 200]
        assert len(winners) == 1, [a.text for a in answers]
        won = winners[0].json()
        assert won == {"result": "success", "operation_id": won["operation_id"]}
        assert re.fullmatch(QUIT_OPERATION_ID, won["operation_id"])
        # A loser finds the membership quitting (or already quit) under its row lock, before it looks at the
        # instances: the status check, never the busy one, refuses it.
        assert len(losers) == QUITTERS - 1
        for loser in losers:
            # "already being quit" while the winner's operation runs, "no longer active (it is quit)" after it.
            assert_error(
                loser,
                400,
                "BCS.4006003",
                matches=r"^Invalid Parameter notification status : the membership is (already being quit|"
                r"no longer active \(it is quit\))$",
            )

        assert operations_of(db, "consortium.quit", c.invitee_bcs_id) == [won["operation_id"]]
        record = c.invitee.wait(won["operation_id"])
        assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "03")
        assert [r["operation_id"] for r in c.invitee.records(operation_type="03")] == [won["operation_id"]]

        invitation = membership_row(db, c)
        assert (invitation["status"], invitation["notification_status"]) == ("quit", "quit")
        assert invitation["operation_id"] == won["operation_id"]
        assert_in_channel(db, c, member=False)
        assert_history(
            c, ("create", None, False), ("org_added", join_id, True), ("org_removed", won["operation_id"], False)
        )
        assert_idle(db, c.inviter_bcs_id, str(c.invitee_bcs_id))
        # The notification and the member list agree with the stored state.
        assert [n["status"] for n in c.invitee.notifications()] == ["quit"]
        assert c.invitee.members() == []


# --- 2. accept racing withdraw ----------------------------------------------------------------------------------------

REPETITIONS = 5
WITHDRAWN = (400, "BCS.4006005", "ActOnDetailNotification fail: the notification is cancelled, not waiting")


def test_accept_racing_withdraw_has_exactly_one_winner(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    outcomes = []
    with thread_server(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(REPETITIONS):
            c = setup_consortium(http, make_account)
            withdraw_body = {
                "bcs_id": c.inviter_bcs_id,
                "channel_name": CHANNEL,
                "invited_userinfo": [{"invited_user": c.invitee.name}],
            }
            accept, withdraw = race(
                url,
                [
                    request(c.invitee, "POST", "/notification/handle", c.agree_body()),
                    request(c.inviter, "DELETE", "/members/invitations", withdraw_body),
                ],
            )
            assert 500 not in (accept.status_code, withdraw.status_code), (accept.text, withdraw.text)
            assert [accept.status_code, withdraw.status_code].count(200) == 1, (accept.text, withdraw.text)
            if accept.status_code == 200:
                outcomes.append("accept")
                assert accept.json() == SUCCESS
                # The withdrawal met a joining (or, if the join already ran, joined) member.
                assert_error(
                    withdraw,
                    400,
                    "BCS.4006003",
                    matches=r"^Invalid Parameter invitation status : a (joining|joined) member cannot be deleted$",
                )
                invitation = membership_row(db, c)
                assert invitation["status"] in ("joining", "joined")
                assert invitation["deleted_by_inviter"] is False
                (join_id,) = operations_of(db, "consortium.join", c.invitee_bcs_id)
                assert invitation["operation_id"] == join_id
                c.invitee.wait(join_id)
                invitation = membership_row(db, c)
                assert (invitation["status"], invitation["notification_status"]) == ("joined", "joined")
                assert invitation["deleted_by_inviter"] is False
                assert_in_channel(db, c, member=True)
                assert_history(c, ("create", None, False), ("org_added", join_id, True))
            else:
                outcomes.append("withdraw")
                assert withdraw.json() == SUCCESS
                assert_error(accept, *WITHDRAWN)
                invitation = membership_row(db, c)
                assert (invitation["status"], invitation["notification_status"]) == ("cancelled", "cancelled")
                assert invitation["deleted_by_inviter"] is True
                assert invitation["operation_id"] is None
                assert (invitation["invitee_blockchain_id"], invitation["orgs"]) == (None, [])
                assert operations_of(db, "consortium.join", c.invitee_bcs_id) == []
                assert_in_channel(db, c, member=False)
                assert_history(c, ("create", None, False))
            assert_idle(db, c.inviter_bcs_id, str(c.invitee_bcs_id))
    assert len(outcomes) == REPETITIONS


# --- 3. identical invitations ---------------------------------------------------------------------------------------

INVITERS = 8
ROUNDS = 2


def test_concurrent_invitations_of_one_tenant_leave_one_waiting_invitation(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with thread_server(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        inviter = new_tenant(http, make_account)
        inviter_bcs = inviter.create_instance(union_instance_body())
        for _ in range(ROUNDS):
            invitee = new_tenant(http, make_account)
            body = invite_body(inviter_bcs, CHANNEL, invitee.name)

            answers = race(url, [request(inviter, "POST", "/members/invitations", body)] * INVITERS)

            winners = [a for a in answers if a.status_code == 200]
            assert [a.json() for a in winners] == [SUCCESS], [a.text for a in answers]
            losers = [a for a in answers if a.status_code != 200]
            assert len(losers) == INVITERS - 1
            for loser in losers:
                assert_error(
                    loser,
                    400,
                    "BCS.4001060",
                    f"Invitation failed. The tenant {invitee.name} has already been invited to this channel.",
                )
            invitation = membership_row(db, Consortium(inviter, invitee, inviter_bcs, "bcs-union", None, None))
            assert (invitation["status"], invitation["notification_status"]) == ("waiting", "waiting")
            assert (invitation["channel_name"], invitation["deleted_by_inviter"]) == (CHANNEL, False)
            assert [(n["status"], n["channel_name"]) for n in invitee.notifications()] == [("waiting", CHANNEL)]
        assert [m["status"] for m in inviter.members()] == ["waiting"] * ROUNDS
        assert_idle(db, inviter_bcs)


# --- 4. two invitees agreeing at once ---------------------------------------------------------------------------------


def test_two_invitees_agreeing_at_once_on_one_inviter_instance_start_one_join(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with thread_server(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        first = setup_consortium(http, make_account)
        second_invitee = new_tenant(http, make_account)
        assert first.invite(second_invitee.name).json() == SUCCESS
        second = another_member(first, second_invitee, "bcs-second")
    # The joins must not finish between the two answers: the inviter instance stays held by the winner's.
    with thread_server(settings, operation_step_seconds=3600) as url:
        answers = race(
            url, [request(c.invitee, "POST", "/notification/handle", c.agree_body()) for c in (first, second)]
        )

        assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
        by_status = sorted(zip(answers, (first, second), strict=True), key=lambda answered: answered[0].status_code)
        (won_answer, winner), (lost_answer, loser) = by_status
        assert won_answer.json() == SUCCESS
        assert_error(lost_answer, *INSTANCE_BUSY)
        (join_id,) = operations_of(db, "consortium.join", winner.invitee_bcs_id)
        assert operations_of(db, "consortium.join", loser.invitee_bcs_id) == []
        won = membership_row(db, winner)
        assert (won["status"], won["operation_id"], won["invitee_blockchain_id"]) == (
            "joining",
            join_id,
            winner.invitee_bcs_id,
        )
        lost = membership_row(db, loser)
        assert (lost["status"], lost["notification_status"], lost["operation_id"], lost["orgs"]) == (
            "waiting",
            "waiting",
            None,
            [],
        )
        # The engine's locks: the winner's join holds its instance and the inviter's; the loser's instance is free.
        assert operation_locks(db) == both_held(winner, join_id)
        assert_idle(db, str(loser.invitee_bcs_id))
