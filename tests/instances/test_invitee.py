"""Invitee instances: created by another tenant for a consortium (union) instance, and matching it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.network.models import Channel, Instance, Organization
from tests.support.bodies import CHANNEL, invitee_instance_body, union_instance_body
from tests.support.errors import assert_error
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant

NO_SUCH_INVITER = (
    "Invalid Parameter invitor_infos : "
    "no invitation for this account waits from a consortium instance with these tenant, project and ids"
)


def _invitee_body(inviter: Tenant, blockchain_id: str, **overrides: Any) -> dict[str, Any]:
    return invitee_instance_body(
        domain_id=inviter.domain_id, project_id=inviter.project_id, inviter_bcs_id=blockchain_id, **overrides
    )


def _roles(session: Session, blockchain_id: str) -> list[str]:
    return list(session.scalars(select(Organization.role).where(Organization.blockchain_id == blockchain_id)))


@pytest.fixture
def union_instance(tenant, other_tenant) -> str:
    """The inviter's consortium instance (tenant ``tenant``), whose invitation waits for ``other_tenant``."""
    bid = tenant.create_instance(union_instance_body())
    assert tenant.invite(bid, CHANNEL, other_tenant.name).json() == {"result": "success"}
    return bid


def test_a_valid_invitee_instance(tenant, other_tenant, union_instance, db):
    created = other_tenant.start_creation(_invitee_body(tenant, union_instance))
    assert created["blockchain_name"] == "bcs-invitee"
    record = other_tenant.wait(created["operation_id"])
    assert record["operation_type"] == "99"
    bid = created["blockchain_id"]
    shown = other_tenant.detail(bid)
    basic = shown["basic_info"]
    assert (basic["service_type"], basic["deploy_type"], basic["status"], basic["process_status"]) == (
        "union",
        "invite",
        "Normal",
        "",
    )
    assert "orderer_info" not in shown
    assert shown["channels"] == []
    assert [(p["name"], p["node_cnt"], p["status_detail"]) for p in shown["peer_info"]] == [("organization", 2, "2/2")]
    assert all(peer["channels"] == [] for peer in other_tenant.nodes(bid)["organization"]["peers"].values())
    assert other_tenant.ok("GET", f"/blockchains/{bid}/channels") == {"channels": []}

    stored = db.run_read(Session.get, Instance, bid)
    assert stored.is_invitee is True
    assert (stored.invitor_tenant_id, stored.invitor_project_id, stored.invitor_blockchain_id) == (
        tenant.domain_id,
        tenant.project_id,
        union_instance,
    )
    assert db.run_read(_roles, bid) == ["peer"]
    assert row_count(db, Channel, Channel.blockchain_id == bid) == 0
    # The inviter's own view is untouched.
    inviter_view = tenant.detail(union_instance)
    assert inviter_view["basic_info"]["deploy_type"] == "create"
    assert [c["name"] for c in inviter_view["channels"]] == ["channel"]


INVITEE_REFUSALS = [
    ({"invitor_infos": None}, "BCS.4006009", "one of parameters is nil: invitor_infos"),
    (
        {"blockchain_type": "private"},
        "BCS.4006014",
        "Invalid Parameter blockchain_type : an invitee instance is a consortium (union) instance",
    ),
    (
        {"consensus": "SFLIC"},
        "BCS.4006014",
        "Invalid Parameter consensus : must match the inviter's instance (etcdraft)",
    ),
    (
        # OpenBCS refuses sm2 everywhere, so an inviter is always ECDSA and this is refused before matching.
        {"sign_algorithm": "sm2"},
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : sm2 is not supported by OpenBCS: "
        "no maintained library issues SM2 X.509 certificates",
    ),
    (
        {"version_type": 2, "org_disk_size": 500},
        "BCS.4006014",
        "Invalid Parameter version_type : must match the inviter's instance (4)",
    ),
    (
        {"channels": [{"name": "mine", "org_names": ["organization"]}]},
        "BCS.4006014",
        "Invalid Parameter channels : an invitee instance joins its inviter's channels",
    ),
    (
        {"fabric_version": "1.4"},
        "BCS.4006014",
        "Invalid Parameter fabric_version : inviters and private chains may only use Fabric 2.2",
    ),
    (
        {"orderer_node_number": 3},
        "BCS.4006014",
        "Invalid Parameter orderer_node_number : an invitee instance has no orderers: leave it out",
    ),
]


def test_the_invitee_rules(tenant, other_tenant, union_instance, db):
    before = snapshot(db)
    for overrides, code, message in INVITEE_REFUSALS:
        response = other_tenant.call("POST", "/blockchains", _invitee_body(tenant, union_instance, **overrides))
        assert_error(response, 400, code, message)
        assert snapshot(db) == before, overrides
    assert row_count(db, Operation) == 1


def test_an_empty_organisation_list_is_refused_before_an_invitees_orderers(tenant, other_tenant, union_instance, db):
    """A body breaking both rules meets the organisations' first, as before the creation rules were split up."""
    body = _invitee_body(tenant, union_instance, peer_orgs=[], orderer_node_number=3)
    before = snapshot(db)
    assert_error(
        other_tenant.call("POST", "/blockchains", body),
        400,
        "BCS.4006014",
        "Invalid Parameter peer_orgs : at least one organisation, or leave it out for the default one",
    )
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("wrong", "value"),
    [
        ("blockchain_id", "no-such-instance"),
        ("blockchain_id", "the invitee's project id"),
        ("tenant_id", "the invitee's domain id"),
        ("project_id", "the invitee's project id"),
    ],
    ids=["unknown-instance", "instance-of-another-id", "another-tenant", "another-project"],
)
def test_invitor_infos_must_name_the_inviters_instance(tenant, other_tenant, union_instance, db, wrong, value):
    values = {"the invitee's project id": other_tenant.project_id, "the invitee's domain id": other_tenant.domain_id}
    body = _invitee_body(tenant, union_instance)
    body["invitor_infos"][wrong] = values.get(value, value)
    before = snapshot(db)
    assert_error(other_tenant.call("POST", "/blockchains", body), 400, "BCS.4006014", NO_SUCH_INVITER)
    assert snapshot(db) == before
    assert row_count(db, Instance) == 1


def test_a_private_inviter_is_refused(tenant, other_tenant, db):
    private = tenant.create_instance("bcs-private")
    before = snapshot(db)
    response = other_tenant.call("POST", "/blockchains", _invitee_body(tenant, private))
    assert_error(response, 400, "BCS.4006014", NO_SUCH_INVITER)
    assert snapshot(db) == before
    assert row_count(db, Instance) == 1


def test_an_invitee_cannot_invite(make_tenant, tenant, other_tenant, union_instance, db):
    invitee = other_tenant.create_instance(_invitee_body(tenant, union_instance))
    before = snapshot(db)
    response = make_tenant().call("POST", "/blockchains", _invitee_body(other_tenant, invitee))
    assert_error(response, 400, "BCS.4006014", NO_SUCH_INVITER)
    assert snapshot(db) == before
    assert row_count(db, Instance) == 2


def test_an_instance_cannot_be_invited_by_its_own_tenant(tenant, union_instance, db):
    before = snapshot(db)
    assert_error(
        tenant.call("POST", "/blockchains", _invitee_body(tenant, union_instance)),
        400,
        "BCS.4006014",
        "Invalid Parameter invitor_infos : an instance cannot be invited by its own tenant",
    )
    assert snapshot(db) == before
    assert row_count(db, Instance) == 1


# --- issue 21 item 6: only an invited account creates an invitee instance, and a refusal reveals nothing ------------

COUCHDB = {"database_type": "couchdb", "couchdb_info": {"user_name": "admin", "password": "Couch-Passw0rd"}}


def _refusal(response) -> tuple[int, dict[str, Any]]:
    assert_error(response, 400, "BCS.4006014", NO_SUCH_INVITER)
    return response.status_code, response.json()


def test_an_account_never_invited_cannot_create_an_invitee_instance(make_tenant, tenant, union_instance, db):
    stranger = make_tenant()
    before = snapshot(db)
    # A body matching the inviter's instance in every setting: before, it was accepted on the ids alone.
    _refusal(stranger.call("POST", "/blockchains", _invitee_body(tenant, union_instance)))
    # A mismatching one: before, the refusal named the inviter's database type ("must match ... (goleveldb)").
    mismatch = stranger.call("POST", "/blockchains", _invitee_body(tenant, union_instance, **COUCHDB))
    _refusal(mismatch)
    assert "goleveldb" not in mismatch.text
    assert snapshot(db) == before
    assert stranger.instance_ids() == []


def test_the_refusal_is_the_same_whether_the_named_instance_exists(make_tenant, tenant, union_instance, db):
    stranger = make_tenant()
    before = snapshot(db)
    answers = []
    for bid in (union_instance, "0f0e0d0c-0b0a-4909-8807-060504030201"):
        for overrides in ({}, COUCHDB, {"consensus": "SFLIC"}, {"version_type": 2, "org_disk_size": 500}):
            answers.append(_refusal(stranger.call("POST", "/blockchains", _invitee_body(tenant, bid, **overrides))))
    assert len(set(map(repr, answers))) == 1, answers
    assert snapshot(db) == before


def test_an_invitation_must_still_wait_and_be_for_the_caller(make_tenant, tenant, other_tenant, union_instance, db):
    """A withdrawn or rejected invitation, or one waiting for another account, admits nobody."""
    third = make_tenant()
    assert tenant.invite(union_instance, CHANNEL, third.name).json() == {"result": "success"}
    withdraw = [{"invited_user": third.name}]
    assert tenant.delete_invites(union_instance, CHANNEL, withdraw).json() == {"result": "success"}
    reject = {
        "channel_name": CHANNEL,
        "status": "reject",
        "invitor_info": {
            "invitor_bcs_id": union_instance,
            "invitor_bcs_name": "bcs-union",
            "invitor_project_id": tenant.project_id,
            "invitor_user_id": tenant.domain_id,
        },
    }
    assert other_tenant.handle(reject).json() == {"result": "success"}
    assert [n["status"] for n in third.notifications()] == ["cancelled"]
    assert [n["status"] for n in other_tenant.notifications()] == ["reject"]
    before = snapshot(db)
    for account in (third, other_tenant):
        _refusal(account.call("POST", "/blockchains", _invitee_body(tenant, union_instance)))
    assert snapshot(db) == before
    # Invited again, the account may create its instance.
    assert tenant.invite(union_instance, CHANNEL, third.name).json() == {"result": "success"}
    created = third.start_creation(_invitee_body(tenant, union_instance))
    third.wait(created["operation_id"])
    assert third.instance_ids() == [created["blockchain_id"]]
