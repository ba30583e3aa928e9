"""DeleteMemberInvite (``DELETE /members/invitations`` with a JSON body): withdraw waiting invitations, delete
finished records; exact ``status`` and ``invited_bcs_id`` for quit and released ones; all entries or none."""

from __future__ import annotations

import pytest

from tests.consortium.helpers import (
    CHANNEL,
    error,
    invitation_row,
    invitations,
    new_party,
    operation_rows,
    setup_consortium,
    snapshot,
)

NO_MATCH = (400, "BCS.4001061", "Operation failed. The consortium membership does not exist.")
BAD_STATUS = (
    400,
    "BCS.4006014",
    "Invalid Parameter invited_userinfo[0].status : one of waiting, reject, quit, released; other states cannot be "
    "deleted",
)


@pytest.mark.parametrize("status", [None, "waiting"])
def test_withdrawing_a_waiting_invitation_cancels_the_notification(client, make_account, db, status):
    c = setup_consortium(client, make_account, invitee_instance=False)
    before = invitation_row(db)
    operations_before = operation_rows(db)
    entry = {"invited_user": c.invitee.name, **({"status": status} if status else {})}

    response = c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry])

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["deleted_by_inviter"]) == ("cancelled", "cancelled", True)
    assert row["updated_time"] > before["updated_time"]
    assert operation_rows(db) == operations_before
    assert c.inviter.members() == []
    (notification,) = c.invitee.notifications()
    assert (notification["status"], notification["read_status"]) == ("cancelled", 0)


@pytest.mark.parametrize("status", [None, "reject"])
def test_deleting_a_rejected_record_keeps_the_invitees_notification(client, make_account, db, status):
    c = setup_consortium(client, make_account, invitee_instance=False)
    assert c.reject().status_code == 200
    entry = {"invited_user": c.invitee.name, **({"status": status} if status else {})}

    response = c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry])

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["deleted_by_inviter"]) == ("reject", "reject", True)
    assert c.inviter.members() == []
    assert [n["status"] for n in c.invitee.notifications()] == ["reject"]
    # Deleting it again: nothing left to match.
    before = snapshot(db)
    assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry])) == NO_MATCH
    assert snapshot(db) == before


def test_a_quit_record_needs_the_exact_status_and_instance(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    c.quit()
    user = c.invitee.name
    before = snapshot(db)
    for entry, expected in (
        ({"invited_user": user}, (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[0].status")),
        (
            {"invited_user": user, "status": "quit"},
            (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[0].invited_bcs_id"),
        ),
        (
            {"invited_user": user, "invited_bcs_id": c.invitee_bcs_id},
            (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[0].status"),
        ),
        ({"invited_user": user, "status": "quit", "invited_bcs_id": "another-instance"}, NO_MATCH),
        ({"invited_user": user, "status": "reject", "invited_bcs_id": c.invitee_bcs_id}, NO_MATCH),
    ):
        assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry])) == expected, entry
        assert snapshot(db) == before, entry

    exact = {"invited_user": user, "status": "quit", "invited_bcs_id": c.invitee_bcs_id}
    response = c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [exact])

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["deleted_by_inviter"]) == ("quit", "quit", True)
    assert c.inviter.members() == []
    assert [n["status"] for n in c.invitee.notifications()] == ["quit"]


def test_a_released_record_needs_the_exact_status_and_instance(client, make_account, db):
    """Released: the inviter deleted its instance while the invitee was a member; the record stays in the inviter's
    ListMembers until it deletes it, naming the deleted instance."""
    c = setup_consortium(client, make_account)
    c.join()
    c.inviter.wait(c.inviter.delete_instance(c.inviter_bcs_id).json()["operation_id"])
    assert [m["status"] for m in c.inviter.members()] == ["released"]
    user = c.invitee.name
    before = snapshot(db)
    assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": user}])) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: invited_userinfo[0].status",
    )
    assert error(
        c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": user, "status": "released"}])
    ) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: invited_userinfo[0].invited_bcs_id",
    )
    # Nobody else can clean up the inviter's record of its deleted instance.
    third = new_party(client, make_account)
    exact = {"invited_user": user, "status": "released", "invited_bcs_id": c.invitee_bcs_id}
    assert error(third.delete_invites(c.inviter_bcs_id, CHANNEL, [exact])) == (
        400,
        "BCS.4001011",
        "Operation failed. The service does not exist or has been deleted. Refresh the page.",
    )
    assert snapshot(db) == before

    response = c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [exact])

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["deleted_by_inviter"]) == ("released", "released", True)
    assert c.inviter.members() == []
    assert [n["status"] for n in c.invitee.notifications()] == ["released"]


def test_a_member_cannot_be_deleted(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    user = c.invitee.name
    before = snapshot(db)
    assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": user}])) == (
        400,
        "BCS.4006003",
        "Invalid Parameter invitation status : a joined member cannot be deleted",
    )
    for status in ("joined", "joining", "quitting", "cancelled", "agreed", "JOINED"):
        assert error(
            c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [{"invited_user": user, "status": status}])
        ) == (BAD_STATUS), status
    for status in ("waiting", "reject", "quit", "released"):
        entry = {"invited_user": user, "status": status, "invited_bcs_id": c.invitee_bcs_id}
        assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry])) == NO_MATCH, status
    assert snapshot(db) == before
    assert invitation_row(db)["status"] == "joined"


def test_nothing_matching_is_4001061(client, make_account, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    stranger = new_party(client, make_account)
    c.inviter.create_channel(c.inviter_bcs_id, "second")
    before = snapshot(db)
    for channel, entry in (
        (CHANNEL, {"invited_user": stranger.name}),
        (CHANNEL, {"invited_user": "ghost-tenant"}),
        (CHANNEL, {"invited_user": c.invitee.name, "status": "reject"}),
        (CHANNEL, {"invited_user": c.invitee.name, "invited_bcs_id": "some-instance"}),
        ("second", {"invited_user": c.invitee.name}),
        ("nochannel", {"invited_user": c.invitee.name}),
    ):
        assert error(c.inviter.delete_invites(c.inviter_bcs_id, channel, [entry])) == NO_MATCH, (channel, entry)
    assert snapshot(db) == before


def test_a_batch_is_all_or_nothing(client, make_account, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    rejecting, stranger = new_party(client, make_account), new_party(client, make_account)
    assert c.invite(rejecting.name).status_code == 200
    assert rejecting.handle(c.reject_body()).status_code == 200
    before = snapshot(db)
    valid = [{"invited_user": c.invitee.name}, {"invited_user": rejecting.name, "status": "reject"}]
    for bad, expected in (
        ({"invited_user": stranger.name}, NO_MATCH),
        (
            {"invited_user": c.invitee.name, "status": "waiting"},
            (
                400,
                "BCS.4006014",
                "Invalid Parameter invited_userinfo[2] : names an invitation twice",
            ),
        ),
        (
            {"invited_user": rejecting.name, "status": "gone"},
            (
                400,
                "BCS.4006014",
                "Invalid Parameter invited_userinfo[2].status : one of waiting, reject, quit, released; other states "
                "cannot be deleted",
            ),
        ),
    ):
        assert error(c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [*valid, bad])) == expected, bad
        assert snapshot(db) == before, bad

    response = c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, valid)

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    assert [(r["status"], r["deleted_by_inviter"]) for r in invitations(db)] == [("cancelled", True), ("reject", True)]
    assert [n["status"] for n in c.invitee.notifications()] == ["cancelled"]
    assert [n["status"] for n in rejecting.notifications()] == ["reject"]


def test_shape_refusals(client, make_account, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    good = {"bcs_id": c.inviter_bcs_id, "channel_name": CHANNEL, "invited_userinfo": [{"invited_user": c.invitee.name}]}
    before = snapshot(db)
    for body, expected in (
        (
            {**good, "invited_userinfo": []},
            (
                400,
                "BCS.4006014",
                "Invalid Parameter invited_userinfo : List should have at least 1 item after validation, not 0",
            ),
        ),
        ({k: v for k, v in good.items() if k != "bcs_id"}, (400, "BCS.4006009", "one of parameters is nil: bcs_id")),
        (
            {k: v for k, v in good.items() if k != "channel_name"},
            (
                400,
                "BCS.4006009",
                "one of parameters is nil: channel_name",
            ),
        ),
        (
            {**good, "invited_userinfo": [{}]},
            (
                400,
                "BCS.4006009",
                "one of parameters is nil: invited_userinfo[0].invited_user",
            ),
        ),
        (
            {**good, "invited_userinfo": [{"invited_user": c.invitee.name, "status": 1}]},
            (
                400,
                "BCS.4006003",
                "Invalid Parameter invited_userinfo[0].status : expected a string",
            ),
        ),
        ({**good, "force": True}, (400, "BCS.4006014", "Invalid Parameter force : unknown field")),
        (
            {**good, "bcs_id": "no-such-instance"},
            (
                400,
                "BCS.4001011",
                "Operation failed. The service does not exist or has been deleted. Refresh the page.",
            ),
        ),
    ):
        assert error(c.inviter.call("DELETE", "/members/invitations", body)) == expected, body
        assert snapshot(db) == before, body
    assert error(c.inviter.call("DELETE", "/members/invitations")) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: request body",
    )
    assert snapshot(db) == before
