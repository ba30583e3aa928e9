"""Tenant isolation: a third tenant sees nothing of a consortium and can act on nothing in it; the two parties
only see and act on their own side."""

from __future__ import annotations

from tests.consortium.helpers import NO_MEMBERSHIP, NO_NOTIFICATION, ONLY_INVITEE, not_own_account
from tests.support.bodies import CHANNEL, invite_body, union_instance_body
from tests.support.consortia import setup_consortium
from tests.support.errors import INSTANCE_NOT_FOUND, error
from tests.support.snapshots import invitations, snapshot


def test_a_third_tenant_can_neither_see_nor_act(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account)
    c.join()
    pending = make_tenant()
    assert c.invite(pending.name).status_code == 200
    third = make_tenant()
    third_bcs = third.create_instance(union_instance_body("bcs-third"))
    before = snapshot(db)

    assert third.notifications() == []
    assert third.members() == []
    cases = [
        ("answer the invitee's notification", third.handle(c.reject_body()), NO_NOTIFICATION),
        ("agree in the invitee's place", third.handle(c.agree_body()), NO_NOTIFICATION),
        (
            "agree naming its own ids",
            third.handle(
                c.agree_body(
                    invitee_info={
                        "invitee_bcs_id": third_bcs,
                        "invitee_bcs_name": "bcs-third",
                        "invitee_project_id": third.project_id,
                        "invitee_user_id": third.domain_id,
                    }
                )
            ),
            NO_NOTIFICATION,
        ),
        (
            "withdraw the inviter's invitation",
            third.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": pending.name}]),
            INSTANCE_NOT_FOUND,
        ),
        (
            "invite into the inviter's channel",
            third.call("POST", "/members/invitations", invite_body(c.inviter_bcs_id, CHANNEL, third.name)),
            INSTANCE_NOT_FOUND,
        ),
        ("quit in the invitee's name", third.quit(c.quit_body()), not_own_account("invitee_domainid")),
        (
            "quit with its own ids",
            third.quit(c.quit_body(invitee_projectid=third.project_id, invitee_domainid=third.domain_id)),
            NO_MEMBERSHIP,
        ),
        (
            "quit with its own ids and instance",
            third.quit(
                c.quit_body(
                    invitee_projectid=third.project_id, invitee_domainid=third.domain_id, invitee_bcsid=third_bcs
                )
            ),
            NO_MEMBERSHIP,
        ),
        (
            "read the inviter's channel history",
            third.call("GET", f"/blockchains/{c.inviter_bcs_id}/channels/{CHANNEL}/config-history"),
            INSTANCE_NOT_FOUND,
        ),
        (
            "list the inviter's channels",
            third.call("GET", f"/blockchains/{c.inviter_bcs_id}/channels"),
            INSTANCE_NOT_FOUND,
        ),
        (
            "list notifications in the invitee's project",
            third.call("GET", "/notifications", project_id=c.invitee.project_id),
            (403, "BCS.4030403", f"forbidden to project [{c.invitee.project_id}]"),
        ),
        (
            "list members in the inviter's project",
            third.call("GET", "/members", project_id=c.inviter.project_id),
            (403, "BCS.4030403", f"forbidden to project [{c.inviter.project_id}]"),
        ),
    ]
    for reason, response, expected in cases:
        assert error(response) == expected, reason
    assert snapshot(db) == before


def test_each_party_sees_and_acts_only_on_its_side(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account)
    c.join()
    pending = make_tenant()
    assert c.invite(pending.name).status_code == 200
    before = snapshot(db)

    # The invitee sees its own membership only, not the inviter's other invitations; the pending tenant only its
    # notification.
    assert [(m["invitee_info"]["invitee_username"], m["status"]) for m in c.invitee.members()] == [
        (c.invitee.name, "joined")
    ]
    assert [n["status"] for n in c.invitee.notifications()] == ["joined"]
    assert [n["status"] for n in pending.notifications()] == ["waiting"]
    assert pending.members() == []
    # The inviter has no notifications; it sees both invitations.
    assert c.inviter.notifications() == []
    assert [m["status"] for m in c.inviter.members()] == ["joined", "waiting"]
    # Neither party can act on the other's side.
    assert error(c.inviter.handle(c.reject_body())) == NO_NOTIFICATION
    assert error(c.invitee.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": pending.name}])) == (
        INSTANCE_NOT_FOUND
    )
    assert error(c.inviter.quit(c.quit_body())) == ONLY_INVITEE
    assert error(pending.handle(c.agree_body())) == not_own_account("invitee_info.invitee_user_id")
    assert error(c.invitee.call("GET", f"/blockchains/{c.inviter_bcs_id}/channels")) == INSTANCE_NOT_FOUND
    assert error(c.inviter.call("GET", f"/blockchains/{c.invitee_bcs_id}/nodes")) == INSTANCE_NOT_FOUND
    assert snapshot(db) == before
    assert [r["status"] for r in invitations(db)] == ["joined", "waiting"]
