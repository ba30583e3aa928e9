"""Tenant isolation: a third tenant sees nothing of a consortium and can act on nothing in it; the two parties
only see and act on their own side."""

from __future__ import annotations

from tests.consortium.helpers import (
    CHANNEL,
    error,
    invitations,
    invite_body,
    new_party,
    setup_consortium,
    snapshot,
    union_instance_body,
)

MISSING_INSTANCE = (
    400,
    "BCS.4001011",
    "Operation failed. The service does not exist or has been deleted. Refresh the page.",
)
NO_NOTIFICATION = (400, "BCS.4001062", "Operation failed. The notification does not exist.")
NO_MEMBERSHIP = (400, "BCS.4001061", "Operation failed. The consortium membership does not exist.")
FORBIDDEN = (403, "BCS.4030403", "No permissions to request this method")


def test_a_third_tenant_can_neither_see_nor_act(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    pending = new_party(client, make_account)
    assert c.invite(pending.name).status_code == 200
    third = new_party(client, make_account)
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
            MISSING_INSTANCE,
        ),
        (
            "invite into the inviter's channel",
            third.call("POST", "/members/invitations", invite_body(c.inviter_bcs_id, CHANNEL, third.name)),
            MISSING_INSTANCE,
        ),
        ("quit in the invitee's name", third.quit(c.quit_body()), FORBIDDEN),
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
            MISSING_INSTANCE,
        ),
        (
            "list the inviter's channels",
            third.call("GET", f"/blockchains/{c.inviter_bcs_id}/channels"),
            MISSING_INSTANCE,
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


def test_each_party_sees_and_acts_only_on_its_side(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    pending = new_party(client, make_account)
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
        MISSING_INSTANCE
    )
    assert error(c.inviter.quit(c.quit_body())) == FORBIDDEN
    assert error(pending.handle(c.agree_body())) == FORBIDDEN
    assert error(c.invitee.call("GET", f"/blockchains/{c.inviter_bcs_id}/channels")) == MISSING_INSTANCE
    assert error(c.inviter.call("GET", f"/blockchains/{c.invitee_bcs_id}/nodes")) == MISSING_INSTANCE
    assert snapshot(db) == before
    assert [r["status"] for r in invitations(db)] == ["joined", "waiting"]
