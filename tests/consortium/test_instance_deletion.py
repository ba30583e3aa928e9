"""What deleting an instance does to memberships: the inviter's deletion cancels waiting invitations and releases
members; the invitee's takes its organisations out of every consortium channel and quits those memberships."""

from __future__ import annotations

from sqlalchemy import select

from openbcs.network.models import Channel
from tests.consortium.helpers import (
    CHANNEL,
    DEFAULT_ORG,
    Consortium,
    block_orgs,
    config_blocks,
    error,
    invitations,
    invitee_instance_body,
    new_party,
    org_hash,
    setup_consortium,
    snapshot,
)


def _deleted(party, blockchain_id: str) -> str:
    response = party.delete_instance(blockchain_id)
    assert response.status_code == 200, response.text
    operation_id = str(response.json()["operation_id"])
    party.wait(operation_id)
    return operation_id


def test_the_inviter_deleting_its_instance_cancels_waiting_invitations_and_releases_members(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    waiting, rejecting, quitting = (new_party(client, make_account) for _ in range(3))
    assert c.invite(waiting.name, rejecting.name, quitting.name).status_code == 200
    assert rejecting.handle(c.reject_body()).status_code == 200
    quitter_bcs = quitting.create_instance(invitee_instance_body(c.inviter, c.inviter_bcs_id, "bcs-quitter"))
    quitter = Consortium(c.inviter, quitting, c.inviter_bcs_id, "bcs-union", quitter_bcs, "bcs-quitter")
    quitter.join()
    quitter.quit()
    before = {r["invitee_name"]: r for r in invitations(db)}

    _deleted(c.inviter, c.inviter_bcs_id)

    after = {r["invitee_name"]: r for r in invitations(db)}
    assert {name: (r["status"], r["notification_status"]) for name, r in after.items()} == {
        c.invitee.name: ("released", "released"),
        waiting.name: ("cancelled", "cancelled"),
        rejecting.name: ("reject", "reject"),
        quitting.name: ("quit", "quit"),
    }
    for name in (c.invitee.name, waiting.name):
        assert after[name]["updated_time"] > before[name]["updated_time"]
    for name in (rejecting.name, quitting.name):
        assert after[name] == before[name]
    # The notifications follow.
    assert [n["status"] for n in c.invitee.notifications()] == ["released"]
    assert [n["status"] for n in waiting.notifications()] == ["cancelled"]
    # The channel went with the instance; the released member's peers are in no channel; it is no member any more.
    assert (
        db.run_read(lambda s: list(s.scalars(select(Channel).where(Channel.blockchain_id == c.inviter_bcs_id)))) == []
    )
    node_orgs = c.invitee.nodes(str(c.invitee_bcs_id))
    assert [p["channels"] for p in node_orgs[DEFAULT_ORG]["peers"].values()] == [[], []]
    assert c.invitee.members() == []
    assert c.invitee.detail(str(c.invitee_bcs_id))["basic_info"]["status"] == "Normal"
    # The inviter still has its records (nothing deleted them), but not the cancelled one: nothing is left to do
    # with it, and DeleteMemberInvite cannot name that status (docs/consortium.md).
    assert sorted(m["status"] for m in c.inviter.members()) == ["quit", "reject", "released"]
    # Answering or quitting what is gone is refused.
    snap = snapshot(db)
    assert error(waiting.handle(c.reject_body())) == (
        400,
        "BCS.4006005",
        "ActOnDetailNotification fail: the notification is cancelled, not waiting",
    )
    assert error(c.invitee.quit(c.quit_body())) == (400, "BCS.4006003", "Invalid Parameter notification status")
    assert snapshot(db) == snap


def test_the_invitee_deleting_its_instance_takes_its_orgs_out_and_quits(client, make_account, db):
    c = setup_consortium(client, make_account)
    join_first = c.join()
    c.inviter.create_channel(c.inviter_bcs_id, "second", orgs={DEFAULT_ORG: 2})
    assert c.inviter.invite(c.inviter_bcs_id, "second", c.invitee.name).status_code == 200
    second = Consortium(c.inviter, c.invitee, c.inviter_bcs_id, "bcs-union", c.invitee_bcs_id, "bcs-invitee", "second")
    join_second = second.join()
    invitee_bcs = str(c.invitee_bcs_id)

    delete_id = _deleted(c.invitee, invitee_bcs)

    # Each consortium channel got exactly one block: org_removed, caused by the deletion, the inviter's org alone.
    for channel, join_id in ((CHANNEL, join_first), ("second", join_second)):
        blocks = config_blocks(db, c.inviter_bcs_id, channel)
        assert [(b["event"], b["cause"]) for b in blocks[-2:]] == [("org_added", join_id), ("org_removed", delete_id)]
        assert blocks[-1]["orgs"] == block_orgs((c.inviter_bcs_id, DEFAULT_ORG))
        assert blocks[-1]["previous_hash"] == blocks[-2]["hash"]
        assert c.inviter.history(c.inviter_bcs_id, channel)["verified"] is True
        assert list(c.inviter.channel(c.inviter_bcs_id, channel)["peers"]) == [DEFAULT_ORG]
    # Both memberships are quit; the inviter sees them with the organisations as they joined (no live peers).
    assert [(r["channel_name"], r["status"], r["notification_status"]) for r in invitations(db)] == [
        (CHANNEL, "quit", "quit"),
        ("second", "quit", "quit"),
    ]
    gone_org = {
        "name": DEFAULT_ORG,
        "name_hash": org_hash(invitee_bcs, DEFAULT_ORG),
        "node_count": 2,
        "status": "quit",
        "status_detail": "0/2",
    }
    assert [(m["status"], m["invited_orgs"]) for m in c.inviter.members()] == [("quit", [gone_org])] * 2
    assert [n["status"] for n in c.invitee.notifications()] == ["quit", "quit"]
    assert c.invitee.members() == []
    # The inviter may delete the records (naming the deleted instance) and invite the tenant again.
    entry = {"invited_user": c.invitee.name, "status": "quit", "invited_bcs_id": invitee_bcs}
    assert c.inviter.delete_invites(c.inviter_bcs_id, CHANNEL, [entry]).status_code == 200
    assert c.invite().status_code == 200
    assert [r["status"] for r in invitations(db)] == ["quit", "quit", "waiting"]


def test_the_invitee_deleting_an_instance_that_never_joined_changes_no_membership(client, make_account, db):
    c = setup_consortium(client, make_account)
    blocks_before = config_blocks(db, c.inviter_bcs_id)
    rows_before = invitations(db)

    _deleted(c.invitee, str(c.invitee_bcs_id))

    assert invitations(db) == rows_before
    assert config_blocks(db, c.inviter_bcs_id) == blocks_before
    # The invitation is still waiting, but agreeing with the deleted instance is refused.
    snap = snapshot(db)
    assert error(c.agree()) == (
        400,
        "BCS.4001011",
        "Operation failed. The service does not exist or has been deleted. Refresh the page.",
    )
    assert snapshot(db) == snap


def test_deleting_a_channel_cancels_its_waiting_invitations(client, make_account, db):
    """An empty channel can be deleted; the invitations waiting for it are cancelled with it."""
    c = setup_consortium(client, make_account)
    created = c.inviter.ok(
        "POST", f"/blockchains/{c.inviter_bcs_id}/channels", {"channels": [{"channel_name": "spare01"}]}
    )
    c.inviter.wait(created["operation_id"])
    assert (
        c.inviter.call(
            "POST",
            "/members/invitations",
            {
                "bcs_id": c.inviter_bcs_id,
                "channel_name": "spare01",
                "invited_userinfo": [{"invited_user": c.invitee.name}],
            },
        ).status_code
        == 200
    )
    operation = c.inviter.ok("DELETE", f"/blockchains/{c.inviter_bcs_id}/channel/spare01")["operation_id"]
    c.inviter.wait(operation)
    (row,) = [i for i in invitations(db) if i["channel_name"] == "spare01"]
    assert (row["status"], row["notification_status"]) == ("cancelled", "cancelled")
    assert [m for m in c.inviter.members() if m["channel_name"] == "spare01"] == []
    notes = [n for n in c.invitee.notifications() if n["channel_name"] == "spare01"]
    assert [n["status"] for n in notes] == ["cancelled"]
