"""What deleting an instance does to memberships: the inviter's deletion cancels waiting invitations and releases
members; the invitee's takes its organisations out of every consortium channel and quits those memberships."""

from __future__ import annotations

import dataclasses

from openbcs.network.models import Channel
from tests.consortium.helpers import another_member, not_joined, withdraw
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import setup_consortium
from tests.support.errors import INSTANCE_NOT_FOUND, error
from tests.support.expected import block_orgs, org_hash
from tests.support.snapshots import config_blocks, invitations, row_count, snapshot


def test_the_inviter_deleting_its_instance_cancels_waiting_invitations_and_releases_members(
    client, make_account, make_tenant, db
):
    c = setup_consortium(client, make_account)
    c.join()
    waiting, rejecting, quitting = make_tenant(), make_tenant(), make_tenant()
    assert c.invite(waiting.name, rejecting.name, quitting.name).status_code == 200
    assert rejecting.handle(c.reject_body()).status_code == 200
    quitter = another_member(c, quitting, "bcs-quitter")
    quitter.join()
    quitter.quit()
    before = {r["invitee_name"]: r for r in invitations(db)}

    c.inviter.run(c.inviter.delete_instance(c.inviter_bcs_id))

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
    assert row_count(db, Channel, Channel.blockchain_id == c.inviter_bcs_id) == 0
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
    assert error(c.invitee.quit(c.quit_body())) == not_joined("released")
    assert snapshot(db) == snap


def test_the_invitee_deleting_its_instance_takes_its_orgs_out_and_quits(client, make_account, db):
    c = setup_consortium(client, make_account)
    join_first = c.join()
    c.inviter.create_channel(c.inviter_bcs_id, "second", orgs={DEFAULT_ORG: 2})
    assert c.inviter.invite(c.inviter_bcs_id, "second", c.invitee.name).status_code == 200
    second = dataclasses.replace(c, channel="second")
    join_second = second.join()
    invitee_bcs = str(c.invitee_bcs_id)

    delete_id = c.invitee.run(c.invitee.delete_instance(invitee_bcs))["operation_id"]

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
    assert withdraw(c, entry).status_code == 200
    assert c.invite().status_code == 200
    assert [r["status"] for r in invitations(db)] == ["quit", "quit", "waiting"]


def test_the_invitee_deleting_an_instance_that_never_joined_changes_no_membership(client, make_account, db):
    c = setup_consortium(client, make_account)
    blocks_before = config_blocks(db, c.inviter_bcs_id)
    rows_before = invitations(db)

    c.invitee.run(c.invitee.delete_instance(str(c.invitee_bcs_id)))

    assert invitations(db) == rows_before
    assert config_blocks(db, c.inviter_bcs_id) == blocks_before
    # The invitation is still waiting, but agreeing with the deleted instance is refused.
    snap = snapshot(db)
    assert error(c.agree()) == INSTANCE_NOT_FOUND
    assert snapshot(db) == snap


def test_deleting_a_channel_cancels_its_waiting_invitations(client, make_account, db):
    """An empty channel can be deleted; the invitations waiting for it are cancelled with it."""
    c = setup_consortium(client, make_account)
    c.inviter.create_channel(c.inviter_bcs_id, "spare01")
    assert c.inviter.invite(c.inviter_bcs_id, "spare01", c.invitee.name).status_code == 200
    c.inviter.run(c.inviter.delete_channel(c.inviter_bcs_id, "spare01"))
    (row,) = [i for i in invitations(db) if i["channel_name"] == "spare01"]
    assert (row["status"], row["notification_status"]) == ("cancelled", "cancelled")
    assert [m for m in c.inviter.members() if m["channel_name"] == "spare01"] == []
    notes = [n for n in c.invitee.notifications() if n["channel_name"] == "spare01"]
    assert [n["status"] for n in notes] == ["cancelled"]
