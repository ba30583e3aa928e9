"""Helpers of the consortium tests only (everything shared lives in ``tests/support``): more members of one
consortium, a membership's stored state, and ``openbcs serve`` in a subprocess for the races and the kills."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, Instance, Node, Organization
from tests.support.bodies import DEFAULT_ORG, invitee_instance_body
from tests.support.consortia import Consortium
from tests.support.diagnostic import wait_for
from tests.support.errors import INSTANCE_BUSY, error
from tests.support.expected import block_orgs
from tests.support.operations import operation_locks, step_operation
from tests.support.servers import free_port
from tests.support.snapshots import invitations, snapshot
from tests.support.tenants import Tenant

OPENBCS = str(Path(sys.executable).with_name("openbcs"))
TIMEOUT = 60.0  # a server's start or stop: generous, as CI runs two test passes side by side on two cores
NO_NOTIFICATION = (400, "BCS.4001062", "Operation failed. The notification does not exist.")
NO_MEMBERSHIP = (400, "BCS.4001061", "Operation failed. The consortium membership does not exist.")
_NO_PERMISSION = "No permissions to request this method"
# The inviter quitting (its own consortium): 403 saying who may.
ONLY_INVITEE = (
    403,
    "BCS.4030403",
    f"{_NO_PERMISSION}: only the invitee may quit a consortium (invitee_domainid and invitee_projectid name the "
    "caller's own account and project)",
)


def not_own_account(field: str) -> tuple[int, str, str]:
    """403 for a body field that must hold the caller's account (domain) id and does not."""
    return 403, "BCS.4030403", f"{_NO_PERMISSION}: {field} must be the caller's account (domain) id, not an IAM user id"


def not_own_project(field: str) -> tuple[int, str, str]:
    """403 for a body field that must hold the caller's project id and does not."""
    return 403, "BCS.4030403", f"{_NO_PERMISSION}: {field} must be the caller's project id"


def not_joined(status: str) -> tuple[int, str, str]:
    """Quitting a membership that is not joined: the seed's ``Invalid Parameter notification status``, saying why."""
    reasons = {
        "quitting": "the membership is already being quit",
        "quit": "the membership is no longer active (it is quit)",
        "released": "the membership is no longer active (it is released)",
    }
    reason = reasons.get(status, f"the membership is not active (it is {status}); only a joined member can quit")
    return 400, "BCS.4006003", f"Invalid Parameter notification status : {reason}"


# --- more members of one consortium -----------------------------------------------------------------------------------


def invitee_body_for(inviter: Tenant, inviter_bcs_id: str, name: str = "bcs-invitee", **fields: Any) -> dict[str, Any]:
    """A CreateNewBlockchain body of an invitee instance for ``inviter``'s instance ``inviter_bcs_id``."""
    ids = {"domain_id": inviter.domain_id, "project_id": inviter.project_id, "inviter_bcs_id": inviter_bcs_id}
    return invitee_instance_body(**ids, name=name, **fields)


def another_member(c: Consortium, invitee: Tenant, instance_name: str) -> Consortium:
    """The same inviter channel for another tenant (already invited), which creates its invitee instance
    ``instance_name`` for it."""
    bcs_id = invitee.create_instance(invitee_body_for(c.inviter, c.inviter_bcs_id, instance_name))
    return Consortium(c.inviter, invitee, c.inviter_bcs_id, c.inviter_bcs_name, bcs_id, instance_name, c.channel)


def withdraw(c: Consortium, *entries: dict[str, Any], channel: str | None = None) -> httpx.Response:
    """DeleteMemberInvite of the inviter in the consortium channel (or ``channel``): ``entries``, by default the
    invitee's invitation."""
    chosen = list(entries) or [{"invited_user": c.invitee.name}]
    return c.inviter.delete_invites(c.inviter_bcs_id, channel or c.channel, chosen)


def not_deletable(status: str) -> tuple[int, str, str]:
    """DeleteMemberInvite's refusal of a membership in ``status`` (a member, or one joining or quitting)."""
    return 400, "BCS.4006003", f"Invalid Parameter invitation status : a {status} member cannot be deleted"


# --- stored state -----------------------------------------------------------------------------------------------------


def membership_row(db: Database, c: Consortium) -> dict[str, Any]:
    """The only stored invitation of ``c``'s invitee into ``c``'s inviter instance."""
    (row,) = [
        r
        for r in invitations(db)
        if r["inviter_blockchain_id"] == c.inviter_bcs_id and r["invitee_domain_id"] == c.invitee.domain_id
    ]
    return row


def _status(session: Session, blockchain_id: str) -> str:
    return session.get_one(Instance, blockchain_id).status


def both_held(c: Consortium, operation_id: str) -> list[tuple[str, str, str | None]]:
    """The ``operation_locks`` rows (as :func:`tests.support.operations.operation_locks` reads them) of a running join
    or quit: it holds both instances, under no label."""
    return sorted((blockchain_id, operation_id, None) for blockchain_id in (c.inviter_bcs_id, str(c.invitee_bcs_id)))


def assert_idle(db: Database, *blockchain_ids: str) -> None:
    """No operation holds the instances (no ``operation_locks`` row names them) and they are ``Normal``."""
    held = {resource for resource, _, _ in operation_locks(db)}
    assert [blockchain_id for blockchain_id in blockchain_ids if blockchain_id in held] == []
    assert [db.run_read(_status, blockchain_id) for blockchain_id in blockchain_ids] == ["Normal"] * len(blockchain_ids)


def ended(db: Database, c: Consortium, operation_id: str, status: str, *, expect: str = "finished") -> dict[str, Any]:
    """Wait until the join or quit ``operation_id`` ended as ``expect``: the membership and its notification are then
    ``status``, no operation holds an instance any more and both instances show ``Normal`` and idle. Its record."""
    record = c.invitee.wait(operation_id, expect=expect)
    row = membership_row(db, c)
    assert (row["status"], row["notification_status"]) == (status, status)
    assert operation_locks(db) == []
    for tenant, blockchain_id in ((c.inviter, c.inviter_bcs_id), (c.invitee, str(c.invitee_bcs_id))):
        basic = tenant.detail(blockchain_id)["basic_info"]
        assert (basic["status"], basic["process_status"]) == ("Normal", "")
    return record


@contextlib.contextmanager
def while_running(db: Database, c: Consortium, operation_id: str, status: str, bystander: Tenant) -> Iterator[None]:
    """The join or quit ``operation_id`` (membership ``status``) makes its first step and holds both instances; the
    calls of the block, and these, are refused and change nothing: deleting either instance and inviting
    ``bystander`` (busy), quitting (no joined membership), withdrawing the member (in flight)."""
    step_operation(db, operation_id, 1)
    assert operation_locks(db) == both_held(c, operation_id)
    before = snapshot(db)
    yield
    assert error(c.invitee.delete_instance(str(c.invitee_bcs_id))) == INSTANCE_BUSY
    assert error(c.inviter.delete_instance(c.inviter_bcs_id)) == INSTANCE_BUSY
    assert error(c.invite(bystander.name)) == INSTANCE_BUSY
    assert error(c.invitee.quit(c.quit_body())) == not_joined(status)
    assert error(withdraw(c)) == not_deletable(status)
    assert snapshot(db) == before


def _channel_members(session: Session, c: Consortium) -> tuple[list[tuple[str, str]], int]:
    channel = session.scalars(
        select(Channel).where(Channel.blockchain_id == c.inviter_bcs_id, Channel.name == c.channel)
    ).one()
    orgs = session.execute(
        select(Organization.blockchain_id, Organization.name)
        .join(ChannelOrg, ChannelOrg.org_id == Organization.id)
        .where(ChannelOrg.channel_id == channel.id)
    ).all()
    member_peers = session.scalars(
        select(func.count())
        .select_from(ChannelPeer)
        .join(Node, Node.id == ChannelPeer.node_id)
        .join(Organization, Organization.id == Node.org_id)
        .where(ChannelPeer.channel_id == channel.id, Organization.blockchain_id == c.invitee_bcs_id)
    ).one()
    return sorted((blockchain_id, name) for blockchain_id, name in orgs), member_peers


def assert_in_channel(db: Database, c: Consortium, *, member: bool) -> None:
    """The inviter's channel, as stored, holds the inviter's organisation and, when ``member``, the invitee's default
    organisation with its 2 peers (otherwise none of the invitee's peers)."""
    orgs = [(c.inviter_bcs_id, DEFAULT_ORG)] + ([(str(c.invitee_bcs_id), DEFAULT_ORG)] if member else [])
    assert db.run_read(_channel_members, c) == (sorted(orgs), 2 if member else 0)


def assert_history(c: Consortium, *expected: tuple[str, str | None, bool]) -> None:
    """The channel's history (as the inviter reads it) verifies and holds exactly these blocks: ``(event, cause or
    None for any, whether the invitee's organisation is in)``."""
    shown = c.inviter.history(c.inviter_bcs_id, c.channel)
    assert shown["verified"] is True
    inviter_only = block_orgs((c.inviter_bcs_id, DEFAULT_ORG))
    both = block_orgs((c.inviter_bcs_id, DEFAULT_ORG), (str(c.invitee_bcs_id), DEFAULT_ORG))
    got = [(b["event"], b["cause"], b["orgs"]) for b in shown["blocks"]]
    assert len(got) == len(expected), got
    for (event, cause, orgs), (want_event, want_cause, member_in) in zip(got, expected, strict=True):
        assert event == want_event
        if want_cause is not None:
            assert cause == want_cause
        assert orgs == (both if member_in else inviter_only)
    assert [b["number"] for b in shown["blocks"]] == list(range(len(expected)))


# --- servers in subprocesses ------------------------------------------------------------------------------------------


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

        wait_for(healthy, timeout=TIMEOUT, interval=0.02, what="the server to become healthy")

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
    """A healthy :class:`ServerProcess`, killed on the way out."""
    server = ServerProcess(tmp_path, database_url, **kwargs)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.kill()
