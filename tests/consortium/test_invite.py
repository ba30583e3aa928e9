"""BatchInviteMembersToChannel: one waiting invitation (and notification) per invitee, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.iam import service as iam_service
from tests.consortium.helpers import invitee_body_for, withdraw
from tests.support.bodies import CHANNEL, invite_body, union_instance_body
from tests.support.consortia import setup_consortium
from tests.support.errors import INSTANCE_BUSY, INSTANCE_CREATING, INSTANCE_NOT_FOUND, error
from tests.support.operations import operation_locks, operation_rows, step_operation
from tests.support.snapshots import invitations, snapshot
from tests.support.tenants import Tenant, new_tenant

SETTINGS = {
    "consensus": "etcdraft",
    "sign_algorithm": "ECDSA",
    "fabric_version": "2.2",
    "database_type": "goleveldb",
    "version_type": 4,
    "cluster_type": "CCE",
    "tc3_need": False,
}
NOT_AN_INVITER = (
    400,
    "BCS.4006014",
    "Invalid Parameter bcs_id : only a consortium (union) instance that created its consortium invites",
)


def test_invite_creates_one_waiting_invitation_and_notification_per_invitee(make_tenant, db):
    inviter, first, second = make_tenant(), make_tenant(), make_tenant()
    bcs = inviter.create_instance(union_instance_body())
    operations_before = operation_rows(db)

    response = inviter.invite(bcs, CHANNEL, first.name, second.name, invitor_username=inviter.name)

    assert response.status_code == 200, response.text
    assert response.json() == {"result": "success"}
    rows = invitations(db)
    assert len(rows) == 2
    for row, invitee in zip(rows, (first, second), strict=True):
        assert {k: v for k, v in row.items() if k not in ("id", "created_time", "updated_time")} == {
            "inviter_blockchain_id": bcs,
            "inviter_blockchain_name": "bcs-union",
            "inviter_project_id": inviter.project_id,
            "inviter_domain_id": inviter.domain_id,
            "inviter_name": inviter.name,
            "inviter_settings": SETTINGS,
            "channel_name": CHANNEL,
            "invitee_domain_id": invitee.domain_id,
            "invitee_name": invitee.name,
            "invitee_project_id": invitee.project_id,
            "invitee_blockchain_id": None,
            "invitee_blockchain_name": None,
            "orgs": [],
            "status": "waiting",
            "notification_status": "waiting",
            "deleted_by_inviter": False,
            "read_status": 0,
            "operation_id": None,
        }
        assert row["created_time"] == row["updated_time"]
        (notification,) = invitee.notifications()
        assert (notification["status"], notification["channel_name"]) == ("waiting", CHANNEL)
        assert notification["invitor_info"]["invitor_bcs_id"] == bcs
        assert notification["invitee_info"]["invitee_id"] == invitee.domain_id
    # Inviting starts no operation and leaves the instance idle.
    assert operation_rows(db) == operations_before
    assert operation_locks(db) == []
    assert inviter.detail(bcs)["basic_info"]["process_status"] == ""
    assert [m["status"] for m in inviter.members()] == ["waiting", "waiting"]
    assert [m["invitee_info"]["invitee_username"] for m in inviter.members()] == [first.name, second.name]


def test_invitor_username_may_be_omitted(make_tenant, db):
    inviter, invitee = make_tenant(), make_tenant()
    bcs = inviter.create_instance(union_instance_body())
    response = inviter.call("POST", "/members/invitations", invite_body(bcs, CHANNEL, invitee.name))
    assert (response.status_code, response.json()) == (200, {"result": "success"})
    (row,) = invitations(db)
    assert (row["invitee_domain_id"], row["inviter_name"], row["status"]) == (
        invitee.domain_id,
        inviter.name,
        "waiting",
    )


@pytest.fixture
def world(make_tenant: Any) -> dict[str, Any]:
    """An inviter with a union instance (channel ``channel``) and a private one, an invitee with an invitee
    instance for the union one, and a third tenant with its own union instance. No invitation waits (the one the
    invitee instance needed was withdrawn)."""
    inviter, invitee, third = make_tenant(), make_tenant(), make_tenant()
    union = inviter.create_instance(union_instance_body())
    private = inviter.create_instance(union_instance_body("bcs-private", blockchain_type="private"))
    assert inviter.invite(union, CHANNEL, invitee.name).status_code == 200
    invitee_bcs = invitee.create_instance(invitee_body_for(inviter, union))
    withdrawn = inviter.delete_invites(union, CHANNEL, [{"invited_user": invitee.name}])
    assert withdrawn.json() == {"result": "success"}
    third_union = third.create_instance(union_instance_body("bcs-third"))
    return {
        "inviter": inviter,
        "invitee": invitee,
        "third": third,
        "union": union,
        "private": private,
        "invitee_bcs": invitee_bcs,
        "third_union": third_union,
    }


def _refusals(w: dict[str, Any]) -> list[tuple[str, Tenant, Any, tuple[int, str, str]]]:
    inviter, invitee, third, union = w["inviter"], w["invitee"], w["third"], w["union"]
    good = invite_body(union, CHANNEL, invitee.name, third.name)
    return [
        ("unknown bcs_id", inviter, invite_body("no-such-instance", CHANNEL, invitee.name), INSTANCE_NOT_FOUND),
        (
            "another tenant's instance",
            inviter,
            invite_body(w["third_union"], CHANNEL, invitee.name),
            INSTANCE_NOT_FOUND,
        ),
        ("a private instance", inviter, invite_body(w["private"], CHANNEL, invitee.name), NOT_AN_INVITER),
        ("an invitee instance", invitee, invite_body(w["invitee_bcs"], CHANNEL, third.name), NOT_AN_INVITER),
        (
            "unknown channel",
            inviter,
            invite_body(union, "nochannel", invitee.name),
            (400, "BCS.4001052", "Input channel nochannel is not exist"),
        ),
        (
            "self-invite",
            inviter,
            invite_body(union, CHANNEL, invitee.name, inviter.name),
            (400, "BCS.4006014", "Invalid Parameter invited_userinfo[1].invited_user : a tenant cannot invite itself"),
        ),
        (
            "unknown account",
            inviter,
            invite_body(union, CHANNEL, invitee.name, "ghost-tenant"),
            (400, "BCS.4006014", "Invalid Parameter invited_userinfo[1].invited_user : no tenant named ghost-tenant"),
        ),
        (
            "duplicate in the batch",
            inviter,
            invite_body(union, CHANNEL, invitee.name, third.name, invitee.name),
            (
                400,
                "BCS.4006014",
                f"Invalid Parameter invited_userinfo[2].invited_user : {invitee.name} is listed twice",
            ),
        ),
        (
            "invitor_username of someone else",
            inviter,
            invite_body(union, CHANNEL, invitee.name, invitor_username=third.name),
            (400, "BCS.4006014", "Invalid Parameter invitor_username : must be the caller's own account name"),
        ),
        (
            "empty invitee list",
            inviter,
            invite_body(union, CHANNEL),
            (
                400,
                "BCS.4006014",
                "Invalid Parameter invited_userinfo : List should have at least 1 item after validation, not 0",
            ),
        ),
        (
            "unknown field",
            inviter,
            {**good, "invited_username": invitee.name},
            (400, "BCS.4006014", "Invalid Parameter invited_username : unknown field"),
        ),
        (
            "unknown field in an entry",
            inviter,
            {**good, "invited_userinfo": [{"invited_user": invitee.name, "status": "waiting"}]},
            (400, "BCS.4006014", "Invalid Parameter invited_userinfo[0].status : unknown field"),
        ),
        (
            "bcs_id not a string",
            inviter,
            {**good, "bcs_id": 7},
            (400, "BCS.4006003", "Invalid Parameter bcs_id : expected a string"),
        ),
        (
            "invited_userinfo not an array",
            inviter,
            {**good, "invited_userinfo": {"invited_user": invitee.name}},
            (400, "BCS.4006003", "Invalid Parameter invited_userinfo : expected an array"),
        ),
        (
            "invited_user not a string",
            inviter,
            {**good, "invited_userinfo": [{"invited_user": 12}]},
            (400, "BCS.4006003", "Invalid Parameter invited_userinfo[0].invited_user : expected a string"),
        ),
        (
            "missing bcs_id",
            inviter,
            {k: v for k, v in good.items() if k != "bcs_id"},
            (400, "BCS.4006009", "one of parameters is nil: bcs_id"),
        ),
        (
            "missing invited_userinfo",
            inviter,
            {k: v for k, v in good.items() if k != "invited_userinfo"},
            (400, "BCS.4006009", "one of parameters is nil: invited_userinfo"),
        ),
        (
            "empty invited_user",
            inviter,
            invite_body(union, CHANNEL, invitee.name, ""),
            (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[1].invited_user"),
        ),
    ]


def test_each_refusal_names_its_reason_and_creates_nothing(world, db):
    """Every refused batch holds a valid invitee too: nothing at all is created (all or nothing)."""
    before = snapshot(db)
    for reason, caller, body, expected in _refusals(world):
        response = caller.call("POST", "/members/invitations", body)
        assert error(response) == expected, reason
        assert snapshot(db) == before, reason
    # Only the invitation the invitee instance needed, withdrawn before.
    assert [n["status"] for n in world["invitee"].notifications()] == ["cancelled"]
    assert world["third"].notifications() == []
    assert world["inviter"].members() == []


def test_no_body_and_malformed_json_are_refused(world, db):
    inviter = world["inviter"]
    before = snapshot(db)
    assert error(inviter.call("POST", "/members/invitations")) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: request body",
    )
    status, code, message = error(inviter.call("POST", "/members/invitations", raw=b'{"bcs_id": '))
    assert (status, code) == (400, "BCS.4006003")
    assert message.startswith("Invalid Parameter request body : not valid JSON")
    assert snapshot(db) == before


@pytest.mark.parametrize("held", ["waiting", "joined"])
def test_a_tenant_holding_its_place_cannot_be_invited_again(client, make_account, make_tenant, db, held):
    consortium = setup_consortium(client, make_account)
    if held == "joined":
        consortium.join()
    bystander = make_tenant()
    before = snapshot(db)

    response = consortium.invite(bystander.name, consortium.invitee.name)

    assert error(response) == (
        400,
        "BCS.4001060",
        f"Invitation failed. The tenant {consortium.invitee.name} has already been invited to this channel.",
    )
    assert snapshot(db) == before
    assert bystander.notifications() == []
    assert [row["status"] for row in invitations(db)] == [held]


@pytest.mark.parametrize("final", ["reject", "cancelled", "quit"])
def test_a_tenant_may_be_invited_again_after_a_final_state(client, make_account, db, final):
    consortium = setup_consortium(client, make_account)
    if final == "reject":
        assert consortium.reject().status_code == 200
    elif final == "cancelled":
        withdrawn = withdraw(consortium)
        assert withdrawn.status_code == 200, withdrawn.text
    else:
        consortium.join()
        consortium.quit()
    assert [row["status"] for row in invitations(db)] == [final]

    response = consortium.invite()

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    old, new = invitations(db)
    assert (old["status"], new["status"], new["notification_status"]) == (final, "waiting", "waiting")
    assert (new["invitee_blockchain_id"], new["orgs"], new["read_status"]) == (None, [], 0)
    # The invitee's inbox: the new notification first, the old one keeps its final status.
    assert [n["status"] for n in consortium.invitee.notifications()] == ["waiting", final]


def test_invitee_instance_is_not_an_inviter_even_for_another_channel(client, make_account, make_tenant, db):
    consortium = setup_consortium(client, make_account)
    third = make_tenant()
    before = snapshot(db)
    response = consortium.invitee.invite(str(consortium.invitee_bcs_id), CHANNEL, third.name)
    assert error(response) == NOT_AN_INVITER
    assert snapshot(db) == before


def test_a_channel_holds_at_most_twenty_members(make_tenant, make_account, db, monkeypatch):
    inviter = make_tenant()
    bcs = inviter.create_instance(union_instance_body())
    # The invitees never log in: skip hashing their passwords (scrypt) to keep the test quick.
    monkeypatch.setattr(iam_service, "hash_password", lambda _password: "unusable")
    names = [make_account().name for _ in range(21)]
    assert inviter.invite(bcs, CHANNEL, *names[:19]).status_code == 200
    before = snapshot(db)

    response = inviter.invite(bcs, CHANNEL, *names[19:])

    assert error(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter invited_userinfo : a consortium channel has at most 20 members",
    )
    assert snapshot(db) == before
    assert inviter.invite(bcs, CHANNEL, names[19]).status_code == 200
    assert len(invitations(db)) == 20
    assert {row["status"] for row in invitations(db)} == {"waiting"}


def test_busy_or_creating_inviter_instance_is_refused(frozen_client, make_account, db):
    inviter = new_tenant(frozen_client, make_account, drive=db)
    invitee = new_tenant(frozen_client, make_account, drive=db)
    creating = inviter.create_instance(union_instance_body(), wait=False)
    (operation_id,) = [row[0] for row in operation_rows(db)]
    step_operation(db, operation_id, 1)
    assert operation_locks(db) == [(creating, operation_id, "IsCreating")]
    before = snapshot(db)
    assert error(inviter.invite(creating, CHANNEL, invitee.name)) == INSTANCE_CREATING
    assert snapshot(db) == before

    # Created; now a channel operation runs on it.
    inviter.wait(operation_id)
    started = inviter.ok("POST", f"/blockchains/{creating}/channels", {"channels": [{"channel_name": "second"}]})
    step_operation(db, started["operation_id"], 1)
    assert [lock[:2] for lock in operation_locks(db)] == [(creating, started["operation_id"])]
    before = snapshot(db)
    assert error(inviter.invite(creating, CHANNEL, invitee.name)) == INSTANCE_BUSY
    assert snapshot(db) == before

    inviter.wait(started["operation_id"])
    assert operation_locks(db) == []
    assert inviter.invite(creating, "second", invitee.name).status_code == 200
    assert [(r["channel_name"], r["status"]) for r in invitations(db)] == [("second", "waiting")]
