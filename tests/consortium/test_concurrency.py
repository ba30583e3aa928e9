"""Membership calls racing each other against a live server: identical quits, accept against withdraw, identical
invitations, two invitees agreeing at once. Exactly one of each race wins; the losers get the documented error and
the stored state (invitations, operations, channel, configuration history) stays consistent.

The thread server (uvicorn in a thread of the test process) runs SQLite transactions one after another and
PostgreSQL ones in its thread pool; the two-process server (``openbcs serve --workers 2``) adds real parallelism on
both databases. The setup helpers here are shared with ``test_durability.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.network.models import Instance, Node, Organization
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer
from openbcs.consortium.models import Invitation
from openbcs.kernel.db import Database
from openbcs.engine.models import Operation
from openbcs.kernel.settings import Settings
from tests.instances.helpers import create_body
from tests.channels.helpers import block_orgs
from tests.support import LiveServer, TestAccount, free_port, token_body

OPENBCS = str(Path(sys.executable).with_name("openbcs"))
TIMEOUT = 30.0
CHANNEL = "channel"
ORG = "organization"
INVITER_BCS_NAME = "bcs-union"
INVITEE_BCS_NAME = "bcs-member"
QUIT_OPERATION_ID = re.compile(r"^BCSSVC01-03-\d{19}$")
NOT_JOINED = {"error_code": "BCS.4006003", "error_msg": "Invalid Parameter notification status"}
BUSY = {
    "error_code": "BCS.4001020",
    "error_msg": "Operation failed. The service status is abnormal or the service is being processed. Try again later.",
}
SUCCESS = {"result": "success"}


# --- servers --------------------------------------------------------------------------------------------------------


class ServerProcess:
    """``openbcs serve`` in its own process group (``--workers`` children included), killed by that group's id."""

    def __init__(
        self, tmp_path: Path, database_url: str, *, step_seconds: float, workers: int = 1, name: str = "server"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)  # carries OPENBCS_SECRET_KEY, set by the suite's conftest
        env["OPENBCS_WORKER_POLL_SECONDS"] = "0.1"
        command = [
            OPENBCS,
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(tmp_path / "server-data"),
            "--database-url",
            database_url,
            "--operation-step-seconds",
            str(step_seconds),
        ]
        if workers > 1:
            command += ["--workers", str(workers)]
        self._log = (tmp_path / f"{name}.log").open("ab")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            assert self.process.poll() is None, "server exited early"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, what="the server to become healthy")

    def kill(self) -> None:
        """SIGKILL to the server's process group: its id is the pid of the process this object started, which stays
        reserved (so the group cannot be someone else's) until that process is reaped here."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=TIMEOUT)
        self._log.close()


@contextlib.contextmanager
def server_process(tmp_path: Path, database_url: str, **kwargs: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path, database_url, **kwargs)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.kill()


# --- waiting --------------------------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], *, timeout: float = TIMEOUT, interval: float = 0.02, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- tenants and the consortium ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """An account with a token."""

    account: TestAccount
    token: str

    @property
    def project_id(self) -> str:
        return self.account.project_id

    @property
    def domain_id(self) -> str:
        return self.account.domain_id

    @property
    def name(self) -> str:
        return self.account.name


def call(http: httpx.Client, party: Party, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
    """A BCS call of ``party`` (``path`` below ``/v2/{project_id}``)."""
    return http.request(
        method,
        f"/v2/{party.project_id}{path}",
        json=body,
        params=params or None,
        headers={"X-Auth-Token": party.token},
    )


def login(http: httpx.Client, account: TestAccount) -> Party:
    response = http.post(
        "/v3/auth/tokens",
        content=token_body(account.name, account.password, account.name),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return Party(account, response.headers["X-Subject-Token"])


def operation_record(http: httpx.Client, party: Party, operation_id: str) -> dict[str, Any]:
    response = call(http, party, "GET", "/operation/record", operation_id=operation_id)
    assert response.status_code == 200, response.text
    (record,) = response.json()["operation_records"]
    return dict(record)


def wait_finished(http: httpx.Client, party: Party, operation_id: str) -> dict[str, Any]:
    """The operation's record once it ended; the test fails unless it finished."""
    record = wait_for(
        lambda: (
            (r := operation_record(http, party, operation_id))["operation_status"] not in ("waiting", "processing")
            and r
        ),
        what=f"operation {operation_id}",
    )
    assert record["operation_status"] == "finished", record
    return dict(record)


@dataclass(frozen=True)
class Consortium:
    """An inviter's union instance with its default channel, and an invitee with its invitee instance."""

    inviter: Party
    invitee: Party
    inviter_bcs: str
    invitee_bcs: str

    def agree_body(self) -> dict[str, Any]:
        return {
            "channel_name": CHANNEL,
            "status": "agreed",
            "invitor_info": {
                "invitor_bcs_id": self.inviter_bcs,
                "invitor_bcs_name": INVITER_BCS_NAME,
                "invitor_project_id": self.inviter.project_id,
                "invitor_user_id": self.inviter.domain_id,
            },
            "invitee_info": {
                "invitee_bcs_id": self.invitee_bcs,
                "invitee_bcs_name": INVITEE_BCS_NAME,
                "invitee_project_id": self.invitee.project_id,
                "invitee_user_id": self.invitee.domain_id,
            },
            "invited_orgs": [{"name": ORG}],
        }

    def quit_body(self) -> dict[str, str]:
        return {
            "inviter_bcsid": self.inviter_bcs,
            "inviter_projectid": self.inviter.project_id,
            "inviter_domainid": self.inviter.domain_id,
            "inviter_username": self.inviter.name,
            "channel_name": CHANNEL,
            "invitee_bcsid": self.invitee_bcs,
            "invitee_projectid": self.invitee.project_id,
            "invitee_domainid": self.invitee.domain_id,
        }

    def withdraw_body(self) -> dict[str, Any]:
        return {
            "bcs_id": self.inviter_bcs,
            "channel_name": CHANNEL,
            "invited_userinfo": [{"invited_user": self.invitee.name}],
        }


def invite_body(inviter_bcs: str, invitee: Party) -> dict[str, Any]:
    return {"bcs_id": inviter_bcs, "channel_name": CHANNEL, "invited_userinfo": [{"invited_user": invitee.name}]}


def invite(http: httpx.Client, inviter: Party, inviter_bcs: str, invitee: Party) -> httpx.Response:
    return call(http, inviter, "POST", "/members/invitations", invite_body(inviter_bcs, invitee))


def create_union(http: httpx.Client, inviter: Party) -> str:
    response = call(http, inviter, "POST", "/blockchains", create_body(INVITER_BCS_NAME, blockchain_type="union"))
    assert response.status_code == 200, response.text
    wait_finished(http, inviter, response.json()["operation_id"])
    return str(response.json()["blockchain_id"])


def create_member_instance(http: httpx.Client, invitee: Party, inviter: Party, inviter_bcs: str) -> str:
    body = create_body(
        INVITEE_BCS_NAME,
        blockchain_type="union",
        is_invitee=True,
        orderer_node_number=None,
        invitor_infos={"tenant_id": inviter.domain_id, "project_id": inviter.project_id, "blockchain_id": inviter_bcs},
    )
    response = call(http, invitee, "POST", "/blockchains", body)
    assert response.status_code == 200, response.text
    wait_finished(http, invitee, response.json()["operation_id"])
    return str(response.json()["blockchain_id"])


def consortium(
    http: httpx.Client,
    inviter_account: TestAccount,
    invitee_account: TestAccount,
    *,
    inviter_bcs: str | None = None,
    join: bool = True,
) -> Consortium:
    """Instances, a waiting invitation and (``join``) the invitee joined: the starting point of every race."""
    inviter, invitee = login(http, inviter_account), login(http, invitee_account)
    inviter_bcs = inviter_bcs or create_union(http, inviter)
    invitee_bcs = create_member_instance(http, invitee, inviter, inviter_bcs)
    response = invite(http, inviter, inviter_bcs, invitee)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    made = Consortium(inviter, invitee, inviter_bcs, invitee_bcs)
    if join:
        response = call(http, invitee, "POST", "/notification/handle", made.agree_body())
        assert (response.status_code, response.json()) == (200, SUCCESS), response.text
    return made


# --- stored state ---------------------------------------------------------------------------------------------------


def invitations_of(db: Database, c: Consortium, invitee: Party | None = None) -> list[Invitation]:
    invitee = invitee or c.invitee
    return db.run_read(
        lambda s: list(
            s.scalars(
                select(Invitation)
                .where(
                    Invitation.inviter_blockchain_id == c.inviter_bcs,
                    Invitation.invitee_domain_id == invitee.domain_id,
                )
                .order_by(Invitation.id)
            )
        )
    )


def the_invitation(db: Database, c: Consortium) -> Invitation:
    (invitation,) = invitations_of(db, c)
    return invitation


def operations_of(db: Database, kind: str, blockchain_id: str) -> list[Operation]:
    return db.run_read(
        lambda s: list(
            s.scalars(select(Operation).where(Operation.kind == kind, Operation.blockchain_id == blockchain_id))
        )
    )


def busy_state(db: Database, blockchain_id: str) -> tuple[str | None, str | None, str]:
    """``(busy_operation_id, process_status, status)`` of an instance."""
    instance = db.run_read(lambda s: s.get_one(Instance, blockchain_id))
    return instance.busy_operation_id, instance.process_status, instance.status


def channel_members(db: Database, c: Consortium) -> tuple[list[tuple[str, str]], int]:
    """The channel's organisations as ``(blockchain_id, name)``, and how many peers of the invitee's instance are in
    it (the invitee's default organisation has 2)."""

    def read(s: Session) -> tuple[list[tuple[str, str]], int]:
        channel = s.scalars(
            select(Channel).where(Channel.blockchain_id == c.inviter_bcs, Channel.name == CHANNEL)
        ).one()
        orgs = s.execute(
            select(Organization.blockchain_id, Organization.name)
            .join(ChannelOrg, ChannelOrg.org_id == Organization.id)
            .where(ChannelOrg.channel_id == channel.id)
        ).all()
        member_peers = s.scalars(
            select(func.count())
            .select_from(ChannelPeer)
            .join(Node, Node.id == ChannelPeer.node_id)
            .join(Organization, Organization.id == Node.org_id)
            .where(ChannelPeer.channel_id == channel.id, Organization.blockchain_id == c.invitee_bcs)
        ).one()
        return sorted((blockchain_id, name) for blockchain_id, name in orgs), member_peers

    return db.run_read(read)


def history(http: httpx.Client, c: Consortium) -> dict[str, Any]:
    """The channel's configuration history, as the inviter reads it."""
    response = call(http, c.inviter, "GET", f"/blockchains/{c.inviter_bcs}/channels/{CHANNEL}/config-history")
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_history(http: httpx.Client, c: Consortium, *expected: tuple[str, str | None, bool]) -> None:
    """The history verifies and holds exactly these blocks: ``(event, cause or None for any, invitee org in)``."""
    shown = history(http, c)
    assert shown["verified"] is True
    inviter_only = block_orgs(c.inviter_bcs, ORG)
    both = sorted([*inviter_only, *block_orgs(c.invitee_bcs, ORG)], key=lambda o: o["msp_id"])
    got = [(b["event"], b["cause"], b["orgs"]) for b in shown["blocks"]]
    assert len(got) == len(expected), got
    for (event, cause, orgs), (want_event, want_cause, member_in) in zip(got, expected, strict=True):
        assert event == want_event
        if want_cause is not None:
            assert cause == want_cause
        assert orgs == (both if member_in else inviter_only)
    assert [b["number"] for b in shown["blocks"]] == list(range(len(expected)))


def assert_idle(db: Database, *blockchain_ids: str) -> None:
    for blockchain_id in blockchain_ids:
        assert busy_state(db, blockchain_id) == (None, None, "Normal")


# --- racing ---------------------------------------------------------------------------------------------------------


Request = Callable[[httpx.Client], httpx.Response]


def request(party: Party, method: str, path: str, body: Any = None) -> Request:
    """A call of ``party``, to be sent later by any client."""
    return lambda client: call(client, party, method, path, body)


def race(url: str, requests: list[Request]) -> list[httpx.Response]:
    """Fire the requests at the same moment, each from its own thread and its own warmed-up connection."""
    clients = [httpx.Client(base_url=url, timeout=TIMEOUT) for _ in requests]
    try:
        for client in clients:
            assert client.get("/healthz").status_code == 200
        barrier = threading.Barrier(len(requests))

        def fire(index: int) -> httpx.Response:
            barrier.wait(timeout=TIMEOUT)
            return requests[index](clients[index])

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(fire, range(len(requests))))
    finally:
        for client in clients:
            client.close()


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
    with any_server(server_kind, settings, tmp_path, database_url) as url, httpx.Client(base_url=url) as http:
        c = consortium(http, make_account(), make_account())
        join_id = the_invitation(db, c).operation_id
        assert join_id is not None
        wait_finished(http, c.invitee, join_id)
        assert the_invitation(db, c).status == "joined"

        answers = race(
            url,
            [request(c.invitee, "PUT", "/members/quit", c.quit_body())] * QUITTERS,
        )

        winners = [a for a in answers if a.status_code == 200]
        losers = [a for a in answers if a.status_code != 200]
        assert len(winners) == 1, [a.text for a in answers]
        won = winners[0].json()
        assert won == {"result": "success", "operation_id": won["operation_id"]}
        assert QUIT_OPERATION_ID.fullmatch(won["operation_id"])
        # A loser finds the membership quitting (or already quit) under its row lock, before it looks at the
        # instances: the status check, never the busy one, refuses it.
        assert [(a.status_code, a.json()) for a in losers] == [(400, NOT_JOINED)] * (QUITTERS - 1)

        quits = operations_of(db, "consortium.quit", c.invitee_bcs)
        assert [q.id for q in quits] == [won["operation_id"]]
        record = wait_finished(http, c.invitee, won["operation_id"])
        assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "03")
        listed = call(http, c.invitee, "GET", "/operation/record", operation_type="03")
        assert [r["operation_id"] for r in listed.json()["operation_records"]] == [won["operation_id"]]

        invitation = the_invitation(db, c)
        assert (invitation.status, invitation.notification_status) == ("quit", "quit")
        assert invitation.operation_id == won["operation_id"]
        assert channel_members(db, c) == ([(c.inviter_bcs, ORG)], 0)
        assert_history(
            http, c, ("create", None, False), ("org_added", join_id, True), ("org_removed", won["operation_id"], False)
        )
        assert_idle(db, c.inviter_bcs, c.invitee_bcs)
        # The notification and the member list agree with the stored state.
        (notification,) = call(http, c.invitee, "GET", "/notifications").json()["notifications"]
        assert notification["status"] == "quit"
        assert call(http, c.invitee, "GET", "/members").json() == {"members": []}


# --- 2. accept racing withdraw ----------------------------------------------------------------------------------------

REPETITIONS = 5


def test_accept_racing_withdraw_has_exactly_one_winner(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    outcomes = []
    with thread_server(settings) as url, httpx.Client(base_url=url) as http:
        for _ in range(REPETITIONS):
            c = consortium(http, make_account(), make_account(), join=False)
            accept, withdraw = race(
                url,
                [
                    request(c.invitee, "POST", "/notification/handle", c.agree_body()),
                    request(c.inviter, "DELETE", "/members/invitations", c.withdraw_body()),
                ],
            )
            assert 500 not in (accept.status_code, withdraw.status_code), (accept.text, withdraw.text)
            assert [accept.status_code, withdraw.status_code].count(200) == 1, (accept.text, withdraw.text)
            if accept.status_code == 200:
                outcomes.append("accept")
                assert accept.json() == SUCCESS
                # The withdrawal met a joining (or, if the join already ran, joined) member.
                assert withdraw.status_code == 400
                assert withdraw.json()["error_code"] == "BCS.4006003"
                assert re.fullmatch(
                    r"Invalid Parameter invitation status : a (joining|joined) member cannot be deleted",
                    withdraw.json()["error_msg"],
                )
                invitation = the_invitation(db, c)
                assert invitation.status in ("joining", "joined")
                assert invitation.deleted_by_inviter is False
                (join,) = operations_of(db, "consortium.join", c.invitee_bcs)
                assert invitation.operation_id == join.id
                wait_finished(http, c.invitee, join.id)
                invitation = the_invitation(db, c)
                assert (invitation.status, invitation.notification_status) == ("joined", "joined")
                assert invitation.deleted_by_inviter is False
                assert channel_members(db, c) == (sorted([(c.inviter_bcs, ORG), (c.invitee_bcs, ORG)]), 2)
                assert_history(http, c, ("create", None, False), ("org_added", join.id, True))
            else:
                outcomes.append("withdraw")
                assert withdraw.json() == SUCCESS
                assert (accept.status_code, accept.json()) == (
                    400,
                    {
                        "error_code": "BCS.4006005",
                        "error_msg": "ActOnDetailNotification fail: the notification is cancelled, not waiting",
                    },
                )
                invitation = the_invitation(db, c)
                assert (invitation.status, invitation.notification_status) == ("cancelled", "cancelled")
                assert invitation.deleted_by_inviter is True
                assert invitation.operation_id is None
                assert (invitation.invitee_blockchain_id, invitation.orgs) == (None, [])
                assert operations_of(db, "consortium.join", c.invitee_bcs) == []
                assert channel_members(db, c) == ([(c.inviter_bcs, ORG)], 0)
                assert_history(http, c, ("create", None, False))
            assert_idle(db, c.inviter_bcs, c.invitee_bcs)
    assert len(outcomes) == REPETITIONS


# --- 3. identical invitations ---------------------------------------------------------------------------------------

INVITERS = 8
ROUNDS = 2


def test_concurrent_invitations_of_one_tenant_leave_one_waiting_invitation(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with thread_server(settings) as url, httpx.Client(base_url=url) as http:
        inviter = login(http, make_account())
        inviter_bcs = create_union(http, inviter)
        for _ in range(ROUNDS):
            invitee = login(http, make_account())
            body = invite_body(inviter_bcs, invitee)
            answers = race(url, [request(inviter, "POST", "/members/invitations", body)] * INVITERS)
            assert sorted((a.status_code, str(a.json())) for a in answers) == sorted(
                [(200, str(SUCCESS))]
                + [
                    (
                        400,
                        str(
                            {
                                "error_code": "BCS.4001060",
                                "error_msg": f"Invitation failed. The tenant {invitee.name} has already been "
                                "invited to this channel.",
                            }
                        ),
                    )
                ]
                * (INVITERS - 1)
            )
            c = Consortium(inviter, invitee, inviter_bcs, "")
            (invitation,) = invitations_of(db, c)
            assert (invitation.status, invitation.notification_status) == ("waiting", "waiting")
            assert (invitation.channel_name, invitation.deleted_by_inviter) == (CHANNEL, False)
            (notification,) = call(http, invitee, "GET", "/notifications").json()["notifications"]
            assert (notification["status"], notification["channel_name"]) == ("waiting", CHANNEL)
        members = call(http, inviter, "GET", "/members").json()["members"]
        assert [m["status"] for m in members] == ["waiting"] * ROUNDS
        assert_idle(db, inviter_bcs)


# --- 4. two invitees agreeing at once ---------------------------------------------------------------------------------


def test_two_invitees_agreeing_at_once_on_one_inviter_instance_start_one_join(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with thread_server(settings) as url, httpx.Client(base_url=url) as http:
        first = consortium(http, make_account(), make_account(), join=False)
        second = consortium(http, first.inviter.account, make_account(), inviter_bcs=first.inviter_bcs, join=False)
    # The joins must not finish between the two answers: the inviter instance stays busy with the winner's.
    with thread_server(settings, operation_step_seconds=3600) as url:
        answers = race(
            url,
            [request(c.invitee, "POST", "/notification/handle", c.agree_body()) for c in (first, second)],
        )
        assert sorted((a.status_code, str(a.json())) for a in answers) == [(200, str(SUCCESS)), (400, str(BUSY))]
        winner, loser = (first, second) if answers[0].status_code == 200 else (second, first)
        (join,) = [
            *operations_of(db, "consortium.join", winner.invitee_bcs),
            *operations_of(db, "consortium.join", loser.invitee_bcs),
        ]
        won = the_invitation(db, winner)
        assert (won.status, won.operation_id, won.invitee_blockchain_id) == ("joining", join.id, winner.invitee_bcs)
        lost = the_invitation(db, loser)
        assert (lost.status, lost.notification_status, lost.operation_id, lost.orgs) == ("waiting", "waiting", None, [])
        assert busy_state(db, winner.inviter_bcs)[0] == join.id
        assert busy_state(db, winner.invitee_bcs)[0] == join.id
        assert_idle(db, loser.invitee_bcs)
