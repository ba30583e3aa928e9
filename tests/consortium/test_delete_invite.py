"""DeleteMemberInvite (``DELETE /members/invitations`` with a JSON body): withdraw waiting invitations, delete
finished records; exact ``status`` and ``invited_bcs_id`` for quit and released ones; all entries or none."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.consortium.helpers import NO_MEMBERSHIP, not_deletable, withdraw
from tests.support.bodies import CHANNEL
from tests.support.consortia import Consortium, setup_consortium
from tests.support.errors import INSTANCE_NOT_FOUND, error
from tests.support.operations import operation_rows
from tests.support.snapshots import invitation_row, invitations, snapshot

STATUS_MISSING = (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[0].status")
INSTANCE_MISSING = (400, "BCS.4006009", "one of parameters is nil: invited_userinfo[0].invited_bcs_id")
BAD_STATUS = (
    400,
    "BCS.4006014",
    "Invalid Parameter invited_userinfo[0].status : one of waiting, reject, quit, released; other states cannot be "
    "deleted",
)


def _deletes(c: Consortium, db: Database, entry: dict[str, Any], status: str) -> None:
    """DeleteMemberInvite of ``entry`` is accepted: the record (in ``status``, which its notification shares) is
    marked deleted and leaves the inviter's ListMembers; the invitee's notification shows ``status``."""
    response = withdraw(c, entry)

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["deleted_by_inviter"]) == (status, status, True)
    assert c.inviter.members() == []
    assert [n["status"] for n in c.invitee.notifications()] == [status]


@pytest.mark.parametrize("status", [None, "waiting"])
def test_withdrawing_a_waiting_invitation_cancels_the_notification(client, make_account, db, status):
    c = setup_consortium(client, make_account, invitee_instance=False)
    before = invitation_row(db)
    operations_before = operation_rows(db)

    _deletes(c, db, {"invited_user": c.invitee.name, **({"status": status} if status else {})}, "cancelled")

    assert invitation_row(db)["updated_time"] > before["updated_time"]
    assert operation_rows(db) == operations_before
    assert [n["read_status"] for n in c.invitee.notifications()] == [0]


@pytest.mark.parametrize("status", [None, "reject"])
def test_deleting_a_rejected_record_keeps_the_invitees_notification(client, make_account, db, status):
    c = setup_consortium(client, make_account, invitee_instance=False)
    assert c.reject().status_code == 200
    entry = {"invited_user": c.invitee.name, **({"status": status} if status else {})}

    _deletes(c, db, entry, "reject")

    # Deleting it again: nothing left to match.
    before = snapshot(db)
    assert error(withdraw(c, entry)) == NO_MEMBERSHIP
    assert snapshot(db) == before


def test_a_quit_record_needs_the_exact_status_and_instance(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    c.quit()
    user = c.invitee.name
    before = snapshot(db)
    for entry, expected in (
        ({"invited_user": user}, STATUS_MISSING),
        ({"invited_user": user, "status": "quit"}, INSTANCE_MISSING),
        ({"invited_user": user, "invited_bcs_id": c.invitee_bcs_id}, STATUS_MISSING),
        ({"invited_user": user, "status": "quit", "invited_bcs_id": "another-instance"}, NO_MEMBERSHIP),
        ({"invited_user": user, "status": "reject", "invited_bcs_id": c.invitee_bcs_id}, NO_MEMBERSHIP),
    ):
        assert error(withdraw(c, entry)) == expected, entry
        assert snapshot(db) == before, entry

    _deletes(c, db, {"invited_user": user, "status": "quit", "invited_bcs_id": c.invitee_bcs_id}, "quit")


def test_a_released_record_needs_the_exact_status_and_instance(client, make_account, make_tenant, db):
    """Released: the inviter deleted its instance while the invitee was a member; the record stays in the inviter's
    ListMembers until it deletes it, naming the deleted instance."""
    c = setup_consortium(client, make_account)
    c.join()
    c.inviter.run(c.inviter.delete_instance(c.inviter_bcs_id))
    assert [m["status"] for m in c.inviter.members()] == ["released"]
    user = c.invitee.name
    before = snapshot(db)
    assert error(withdraw(c, {"invited_user": user})) == STATUS_MISSING
    assert error(withdraw(c, {"invited_user": user, "status": "released"})) == INSTANCE_MISSING
    # Nobody else can clean up the inviter's record of its deleted instance.
    third = make_tenant()
    exact = {"invited_user": user, "status": "released", "invited_bcs_id": c.invitee_bcs_id}
    assert error(third.delete_invites(c.inviter_bcs_id, CHANNEL, [exact])) == INSTANCE_NOT_FOUND
    assert snapshot(db) == before

    _deletes(c, db, exact, "released")


def test_a_member_cannot_be_deleted(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    user = c.invitee.name
    before = snapshot(db)
    assert error(withdraw(c, {"invited_user": user})) == not_deletable("joined")
    for status in ("joined", "joining", "quitting", "cancelled", "agreed", "JOINED"):
        assert error(withdraw(c, {"invited_user": user, "status": status})) == BAD_STATUS, status
    for status in ("waiting", "reject", "quit", "released"):
        entry = {"invited_user": user, "status": status, "invited_bcs_id": c.invitee_bcs_id}
        assert error(withdraw(c, entry)) == NO_MEMBERSHIP, status
    assert snapshot(db) == before
    assert invitation_row(db)["status"] == "joined"


def test_nothing_matching_is_4001061(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    stranger = make_tenant()
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
        assert error(withdraw(c, entry, channel=channel)) == NO_MEMBERSHIP, (channel, entry)
    assert snapshot(db) == before


def test_a_batch_is_all_or_nothing(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    rejecting, stranger = make_tenant(), make_tenant()
    assert c.invite(rejecting.name).status_code == 200
    assert rejecting.handle(c.reject_body()).status_code == 200
    before = snapshot(db)
    valid = [{"invited_user": c.invitee.name}, {"invited_user": rejecting.name, "status": "reject"}]
    for bad, expected in (
        ({"invited_user": stranger.name}, NO_MEMBERSHIP),
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
        assert error(withdraw(c, *valid, bad)) == expected, bad
        assert snapshot(db) == before, bad

    response = withdraw(c, *valid)

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
        ({**good, "bcs_id": "no-such-instance"}, INSTANCE_NOT_FOUND),
    ):
        assert error(c.inviter.call("DELETE", "/members/invitations", body)) == expected, body
        assert snapshot(db) == before, body
    assert error(c.inviter.call("DELETE", "/members/invitations")) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: request body",
    )
    assert snapshot(db) == before
