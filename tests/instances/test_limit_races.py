"""Every limit that counts what exists and then adds to it, hit by a concurrent burst against a live server.

On PostgreSQL the server runs these calls in its thread pool, each in its own transaction: a limit checked by counting
rows and then inserting is only a limit if concurrent checks of the same scope are serialized. Issue 21 item 2: 20
concurrent CreateNewBlockchain calls with an instance quota of 3 were all accepted on PostgreSQL (SQLite, one writer at
a time, stopped at 3). Each test fires more calls than the limit allows at once and asserts that exactly the limit's
worth were accepted, every other call got the limit's error (never a 5xx), and the stored rows agree. On SQLite the
same tests pass because its writes never overlap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openbcs.certs import service as certs_service
from openbcs.consortium.models import Invitation
from openbcs.instances import quotas
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network import limits
from openbcs.network.models import Channel, Instance, IssuedCert, Organization
from tests.support.accounts import TestAccount
from tests.support.bodies import CHANNEL, DEFAULT_ORG, create_body, invite_body, union_instance_body
from tests.support.errors import assert_error
from tests.support.servers import LiveServer, race, request
from tests.support.tenants import Tenant, new_tenant

QUOTA_USED_UP = (400, "BCS.4001021", "Operation failed. The instance quota is used up.")


@contextlib.contextmanager
def live(settings: Settings) -> Iterator[tuple[str, httpx.Client]]:
    """A server in a thread of the test process (so a monkeypatched limit applies to it) and a client of it."""
    with LiveServer(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        yield server.url, http


def _count(db: Database, query: Select[tuple[int]]) -> int:
    return int(db.run_read(lambda s: s.scalar(query)) or 0)


def _winners(answers: list[httpx.Response], allowed: int) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """(accepted, refused); asserts that exactly ``allowed`` calls were accepted and none answered a 5xx."""
    assert all(a.status_code < 500 for a in answers), [a.text for a in answers if a.status_code >= 500]
    accepted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(accepted) == allowed, [a.text for a in answers]
    return accepted, refused


# --- instances per project (the instance quota) ---------------------------------------------------------------------

CREATORS = 20


def test_a_burst_of_creations_stops_at_the_instance_quota(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with live(settings) as (url, http):
        tenant = new_tenant(http, make_account)
        db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=3)
        answers = race(
            url, [request(tenant, "POST", "/blockchains", create_body(f"bcs-race-{n}")) for n in range(CREATORS)]
        )
        accepted, refused = _winners(answers, 3)
        for answer in refused:
            assert_error(answer, *QUOTA_USED_UP)
        created = sorted(a.json()["blockchain_id"] for a in accepted)
        stored = db.run_read(
            lambda s: sorted(s.scalars(select(Instance.id).where(Instance.project_id == tenant.project_id)))
        )
        assert stored == created
        quota = tenant.quota()
        assert (quota["quota"], quota["used"], quota["free"]) == (3, 3, 0)
        for answer in accepted:
            tenant.wait(answer.json()["operation_id"])
        assert sorted(tenant.instance_ids()) == created


def test_a_burst_of_creations_of_one_name_creates_it_once(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with live(settings) as (url, http):
        tenant = new_tenant(http, make_account)
        answers = race(url, [request(tenant, "POST", "/blockchains", create_body("bcs-same"))] * 10)
        (accepted,), refused = _winners(answers, 1)
        for answer in refused:
            assert_error(answer, 400, "BCS.4001018")
        assert _count(db, select(func.count()).select_from(Instance).where(Instance.name == "bcs-same")) == 1
        assert tenant.instance_ids() == [accepted.json()["blockchain_id"]]


# --- channels per instance ------------------------------------------------------------------------------------------


def test_a_burst_of_channel_creations_stops_at_the_channels_per_instance(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "CHANNELS_MAX", 4)  # the instance's default channel and 3 more
    with live(settings) as (url, http):
        tenant = new_tenant(http, make_account)
        bid = tenant.create_instance(create_body("bcs-channels"))
        answers = race(
            url,
            [
                request(tenant, "POST", f"/blockchains/{bid}/channels", {"channels": [{"channel_name": f"race{n}"}]})
                for n in range(8)
            ],
        )
        _, refused = _winners(answers, 3)
        for answer in refused:
            assert_error(answer, 400, "BCS.4006014", "Invalid Parameter channels : an instance has at most 4 channels")
        assert _count(db, select(func.count()).select_from(Channel).where(Channel.blockchain_id == bid)) == 4
        assert len(tenant.channels(bid)) == 4


# --- the consortium: members per channel, waiting invitations per inviter instance and tenant -----------------------


def _inviter(http: httpx.Client, make_account: Callable[..., TestAccount], *channels: str) -> tuple[Tenant, str]:
    inviter = new_tenant(http, make_account)
    bid = inviter.create_instance(union_instance_body())
    if channels:
        inviter.run(inviter.create_channels(bid, *channels))
    return inviter, bid


def test_a_burst_of_invitations_stops_at_the_members_per_channel(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    with live(settings) as (url, http):
        inviter, bid = _inviter(http, make_account)
        invitees = [make_account() for _ in range(limits.MEMBER_MAX + 4)]
        answers = race(
            url,
            [request(inviter, "POST", "/members/invitations", invite_body(bid, CHANNEL, a.name)) for a in invitees],
        )
        _, refused = _winners(answers, limits.MEMBER_MAX)
        for answer in refused:
            assert_error(
                answer,
                400,
                "BCS.4006014",
                f"Invalid Parameter invited_userinfo : a consortium channel has at most {limits.MEMBER_MAX} members",
            )
        stored = select(func.count()).select_from(Invitation).where(Invitation.inviter_blockchain_id == bid)
        assert _count(db, stored) == limits.MEMBER_MAX
        assert len(inviter.members()) == limits.MEMBER_MAX


def test_a_burst_of_invitations_of_one_tenant_stops_at_the_waiting_cap(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount]
) -> None:
    cap = limits.PENDING_INVITATIONS_PER_INVITEE
    channels = [f"chan{n}" for n in range(cap + 2)]
    with live(settings) as (url, http):
        inviter, bid = _inviter(http, make_account, *channels)
        invitee = new_tenant(http, make_account)
        answers = race(
            url,
            [
                request(inviter, "POST", "/members/invitations", invite_body(bid, name, invitee.name))
                for name in [CHANNEL, *channels]
            ],
        )
        _, refused = _winners(answers, cap)
        for answer in refused:
            assert_error(
                answer,
                400,
                "BCS.4001063",
                f"Invitation failed. The tenant {invitee.name} already has {cap} invitations of this instance "
                "waiting for an answer.",
            )
        waiting = select(func.count()).select_from(Invitation).where(Invitation.invitee_domain_id == invitee.domain_id)
        assert _count(db, waiting) == cap
        assert [n["status"] for n in invitee.notifications()] == ["waiting"] * cap


# --- hosted user certificates per organisation ----------------------------------------------------------------------


def _hosted(session: Session, bid: str) -> list[str]:
    return sorted(
        session.scalars(
            select(IssuedCert.user_name)
            .join(Organization, Organization.id == IssuedCert.org_id)
            .where(Organization.blockchain_id == bid, IssuedCert.role == "enrolled", IssuedCert.hosted.is_(True))
        )
    )


def test_a_burst_of_hosted_user_certificates_stops_at_the_cap(
    settings: Settings, db: Database, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certs_service, "HOSTED_PER_ORG_MAX", 3)
    with live(settings) as (url, http):
        tenant = new_tenant(http, make_account)
        bid = tenant.create_instance(create_body("bcs-certs"))
        path = f"/blockchains/{bid}/orgs/{DEFAULT_ORG}/usercert"
        answers = race(url, [request(tenant, "POST", f"{path}/user{n}", {"security_mode": True}) for n in range(10)])
        accepted, refused = _winners(answers, 3)
        for answer in refused:
            assert_error(
                answer, 400, "BCS.4006014", "Invalid Parameter security_mode : an organisation hosts at most 3 users"
            )
        assert all(a.headers["content-type"] == "application/zip" for a in accepted)
        assert len(db.run_read(_hosted, bid)) == 3
        assert sorted(db.run_read(_hosted, bid)) == sorted(set(db.run_read(_hosted, bid)))
