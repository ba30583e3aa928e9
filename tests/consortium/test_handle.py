"""HandleNotification: reject at once, or agree and join asynchronously (operation 05); every refusal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import update

from openbcs.consortium.models import Invitation
from openbcs.engine.kinds import OperationFailed
from openbcs.network import membership
from openbcs.network.models import Instance
from tests.consortium.helpers import (
    NO_NOTIFICATION,
    both_held,
    ended,
    invitee_body_for,
    not_own_account,
    not_own_project,
    while_running,
    withdraw,
)
from tests.support.bodies import CHANNEL, DEFAULT_ORG, union_instance_body
from tests.support.consortia import JOIN_OPERATION_ID, setup_consortium
from tests.support.errors import INSTANCE_BUSY, INSTANCE_NOT_FOUND, error
from tests.support.expected import block_orgs, org_hash, peer_names
from tests.support.operations import operation_locks, operation_rows, step_operation
from tests.support.snapshots import config_blocks, invitation_row, invitations, snapshot
from tests.support.tenants import new_tenant

NOT_INVITEE_OF_THIS_INVITER = (
    400,
    "BCS.4006014",
    "Invalid Parameter invitee_info.invitee_bcs_id : was not created as invitee of this inviter",
)


def _not_pending(status: str) -> tuple[int, str, str]:
    return 400, "BCS.4006005", f"ActOnDetailNotification fail: the notification is {status}, not waiting"


def test_reject_marks_invitation_and_notification_rejected(client, make_account, db):
    consortium = setup_consortium(client, make_account, invitee_instance=False)
    operations_before = operation_rows(db)

    response = consortium.reject()

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["read_status"]) == ("reject", "reject", 1)
    assert (row["invitee_blockchain_id"], row["orgs"], row["operation_id"]) == (None, [], None)
    assert row["updated_time"] >= row["created_time"]
    assert operation_rows(db) == operations_before
    (notification,) = consortium.invitee.notifications()
    assert (notification["status"], notification["read_status"], notification["invitee_orgs"]) == ("reject", 1, [])
    (member,) = consortium.inviter.members()
    assert (member["status"], member["invited_orgs"]) == ("reject", [])
    assert consortium.invitee.members() == []
    # The inviter's channel is untouched.
    assert [b["event"] for b in config_blocks(db, consortium.inviter_bcs_id)] == ["create"]


def test_agreeing_starts_the_join_operation_and_joining_holds_both_instances(frozen_client, make_account, db):
    consortium = setup_consortium(frozen_client, make_account, drive=db)
    inviter, invitee = consortium.inviter, consortium.invitee
    invitee_bcs = str(consortium.invitee_bcs_id)

    response = consortium.agree()

    assert (response.status_code, response.json()) == (200, {"result": "success"})
    row = invitation_row(db)
    operation_id = row["operation_id"]
    assert re.fullmatch(JOIN_OPERATION_ID, operation_id)
    assert (row["status"], row["notification_status"], row["read_status"]) == ("joining", "joining", 1)
    assert (row["invitee_blockchain_id"], row["invitee_blockchain_name"]) == (invitee_bcs, "bcs-invitee")
    assert row["orgs"] == [{"name": DEFAULT_ORG, "name_hash": org_hash(invitee_bcs, DEFAULT_ORG), "node_count": 2}]
    # The operation is the invitee's, on its instance, and holds both instances; nothing joined the channel yet.
    ((_, kind, status, project_id, blockchain_id),) = [op for op in operation_rows(db) if op[0] == operation_id]
    assert (kind, status, project_id, blockchain_id) == ("consortium.join", "waiting", invitee.project_id, invitee_bcs)
    assert operation_locks(db) == both_held(consortium, operation_id)
    assert consortium.join_operation_id() == operation_id
    assert [b["event"] for b in config_blocks(db, consortium.inviter_bcs_id)] == ["create"]
    assert list(inviter.channel(consortium.inviter_bcs_id)["peers"]) == [DEFAULT_ORG]
    assert [n["status"] for n in invitee.notifications()] == ["joining"]
    assert [m["status"] for m in invitee.members()] == ["joining"]
    assert [m["status"] for m in inviter.members()] == ["joining"]

    # While it runs: both instances are busy, the notification cannot be answered again, nothing can be withdrawn.
    with while_running(db, consortium, operation_id, "joining", new_tenant(frozen_client, make_account)):
        assert error(consortium.agree()) == _not_pending("joining")
        assert error(consortium.reject()) == _not_pending("joining")
        assert error(inviter.remove_peers(consortium.inviter_bcs_id, CHANNEL, DEFAULT_ORG, 1)) == INSTANCE_BUSY

    ended(db, consortium, operation_id, "joined")


def test_the_join_puts_orgs_and_peers_into_the_inviters_channel_with_one_block(client, make_account, db):
    consortium = setup_consortium(
        client, make_account, invitee_orgs=[{"name": "orga", "node_count": 3}, {"name": "orgb", "node_count": 1}]
    )
    inviter, invitee = consortium.inviter, consortium.invitee
    invitee_bcs = str(consortium.invitee_bcs_id)

    operation_id = consortium.join(("orga",))

    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["operation_id"]) == ("joined", "joined", operation_id)
    assert row["orgs"] == [{"name": "orga", "name_hash": org_hash(invitee_bcs, "orga"), "node_count": 3}]
    # ListBlockchainChannels of the inviter: the invitee's org with all its peers; orgb stayed out.
    channel = inviter.channel(consortium.inviter_bcs_id)
    assert list(channel["peers"]) == [DEFAULT_ORG, "orga"]
    assert channel["peers"]["orga"] == peer_names(invitee_bcs, "orga", 3)
    # ShowBlockchainNodes of the invitee: orga's peers are in the channel, orgb's in none.
    node_orgs = invitee.nodes(invitee_bcs)
    assert [p["channels"] for p in node_orgs["orga"]["peers"].values()] == [[CHANNEL]] * 3
    assert [p["channels"] for p in node_orgs["orgb"]["peers"].values()] == [[]]
    # The inviter's own nodes list only its organisations.
    assert list(inviter.nodes(consortium.inviter_bcs_id)) == [DEFAULT_ORG]
    # One configuration block, org_added, caused by the join operation, with both instances' orgs.
    blocks = config_blocks(db, consortium.inviter_bcs_id)
    assert [b["event"] for b in blocks] == ["create", "org_added"]
    assert blocks[1]["cause"] == operation_id
    assert blocks[1]["previous_hash"] == blocks[0]["hash"]
    assert blocks[1]["orgs"] == block_orgs((consortium.inviter_bcs_id, DEFAULT_ORG), (invitee_bcs, "orga"))
    assert inviter.history(consortium.inviter_bcs_id)["verified"] is True
    # ListOpRecord of the invitee: the join operation with its steps.
    record = invitee.record(operation_id)
    assert (record["resource_type"], record["operation_type"], record["operation_status"]) == (
        "BCSSVC01",
        "05",
        "finished",
    )
    assert (record["blockchain_id"], record["project_id"], record["desc"]) == (
        invitee_bcs,
        invitee.project_id,
        "join a consortium",
    )
    assert [(name, step["status"]) for name, step in record["operation_process"].items()] == [
        ("Join channel", "finished"),
        ("Finish", "finished"),
    ]
    assert record["operation_process"]["Join channel"]["sub_steps"]["Update channel configuration"]["detail"] == (
        f"1 organisation(s) joined channel {CHANNEL}"
    )
    # Both views show the member with its organisation and its live peer health.
    expected_org = {
        "name": "orga",
        "name_hash": org_hash(invitee_bcs, "orga"),
        "node_count": 3,
        "status": "joined",
        "status_detail": "3/3",
    }
    assert [m["invited_orgs"] for m in inviter.members()] == [[expected_org]]
    assert [m["invited_orgs"] for m in invitee.members()] == [[expected_org]]
    assert [n["invitee_orgs"] for n in invitee.notifications()] == [[expected_org]]


def test_an_org_sharing_its_name_with_the_inviters_is_told_apart(client, make_account, db):
    consortium = setup_consortium(client, make_account)
    consortium.join()
    invitee_hash = org_hash(str(consortium.invitee_bcs_id), DEFAULT_ORG)
    peers = consortium.inviter.channel(consortium.inviter_bcs_id)["peers"]
    assert list(peers) == [DEFAULT_ORG, f"{DEFAULT_ORG}-{invitee_hash[:8]}"]
    assert peers[f"{DEFAULT_ORG}-{invitee_hash[:8]}"] == peer_names(str(consortium.invitee_bcs_id), DEFAULT_ORG, 2)


def test_one_invitee_instance_joins_two_channels_of_the_consortium(client, make_account, db):
    consortium = setup_consortium(client, make_account)
    consortium.join()
    consortium.inviter.create_channel(consortium.inviter_bcs_id, "second", orgs={DEFAULT_ORG: 1})
    assert consortium.inviter.invite(consortium.inviter_bcs_id, "second", consortium.invitee.name).status_code == 200
    consortium.channel = "second"

    consortium.join()

    assert [(r["channel_name"], r["status"]) for r in invitations(db)] == [(CHANNEL, "joined"), ("second", "joined")]
    node_orgs = consortium.invitee.nodes(str(consortium.invitee_bcs_id))
    assert [p["channels"] for p in node_orgs[DEFAULT_ORG]["peers"].values()] == [[CHANNEL, "second"]] * 2
    assert [b["event"] for b in config_blocks(db, consortium.inviter_bcs_id, "second")][-1] == "org_added"


# --- refusals ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def pending(client, make_account, make_tenant):
    """A waiting invitation, the invitee's instance for it, and a third tenant."""
    consortium = setup_consortium(client, make_account)
    consortium.third = make_tenant()  # type: ignore[attr-defined]
    return consortium


def _agree_refusals(c: Any) -> list[tuple[str, dict[str, Any], tuple[int, str, str]]]:
    invitee_info = c.agree_body()["invitee_info"]
    invitor_info = c.invitor_info()
    return [
        (
            "status not agreed/reject",
            c.agree_body(status="accept"),
            (
                400,
                "BCS.4006003",
                "Invalid Parameter notification status : status must be agreed or reject, not 'accept'",
            ),
        ),
        (
            "status agree",
            c.agree_body(status="agree"),
            (
                400,
                "BCS.4006003",
                "Invalid Parameter notification status : status must be agreed or reject, not 'agree'",
            ),
        ),
        (
            "missing invitee_info",
            c.agree_body(invitee_info=None),
            (400, "BCS.4006009", "one of parameters is nil: invitee_info"),
        ),
        (
            "missing invited_orgs",
            c.agree_body(invited_orgs=None),
            (400, "BCS.4006009", "one of parameters is nil: invited_orgs"),
        ),
        (
            "empty invited_orgs",
            c.agree_body(invited_orgs=[]),
            (400, "BCS.4006009", "one of parameters is nil: invited_orgs"),
        ),
        (
            "invitee_project_id of another project",
            c.agree_body(invitee_info={**invitee_info, "invitee_project_id": c.third.project_id}),
            not_own_project("invitee_info.invitee_project_id"),
        ),
        (
            "invitee_user_id of another domain",
            c.agree_body(invitee_info={**invitee_info, "invitee_user_id": c.inviter.domain_id}),
            not_own_account("invitee_info.invitee_user_id"),
        ),
        (
            # What a new user tends to send: the IAM user id (the token's user.id), not the account id.
            "invitee_user_id the caller's IAM user id",
            c.agree_body(invitee_info={**invitee_info, "invitee_user_id": c.invitee.account.created.user_id}),
            not_own_account("invitee_info.invitee_user_id"),
        ),
        (
            "an instance that is not the caller's",
            c.agree_body(invitee_info={**invitee_info, "invitee_bcs_id": c.inviter_bcs_id}),
            INSTANCE_NOT_FOUND,
        ),
        (
            "an unknown instance",
            c.agree_body(invitee_info={**invitee_info, "invitee_bcs_id": "no-such-instance"}),
            INSTANCE_NOT_FOUND,
        ),
        (
            "invitee_bcs_name not the instance's",
            c.agree_body(invitee_info={**invitee_info, "invitee_bcs_name": "bcs-other"}),
            (400, "BCS.4006014", "Invalid Parameter invitee_info.invitee_bcs_name : does not match the instance"),
        ),
        ("unknown org", c.agree_body(("organization", "orgx")), (400, "BCS.4001051", "Input org orgx is not exist")),
        (
            "the same org twice",
            c.agree_body(("organization", "organization")),
            (400, "BCS.4006014", "Invalid Parameter invited_orgs : each organisation at most once"),
        ),
        (
            "invitor_bcs_name mismatch",
            c.agree_body(invitor_info={**invitor_info, "invitor_bcs_name": "bcs-other"}),
            (400, "BCS.4006014", "Invalid Parameter invitor_info.invitor_bcs_name : does not match the invitation"),
        ),
        (
            "invitor_project_id mismatch",
            c.agree_body(invitor_info={**invitor_info, "invitor_project_id": c.third.project_id}),
            (400, "BCS.4006014", "Invalid Parameter invitor_info.invitor_project_id : does not match the invitation"),
        ),
        (
            "invitor_user_id mismatch",
            c.agree_body(invitor_info={**invitor_info, "invitor_user_id": c.third.domain_id}),
            (400, "BCS.4006014", "Invalid Parameter invitor_info.invitor_user_id : does not match the invitation"),
        ),
        (
            "no notification for this inviter instance",
            c.agree_body(invitor_info={**invitor_info, "invitor_bcs_id": "no-such-instance"}),
            NO_NOTIFICATION,
        ),
        ("no notification for this channel", c.agree_body(channel_name="otherchannel"), NO_NOTIFICATION),
        (
            "missing invitor_info field",
            c.agree_body(invitor_info={k: v for k, v in invitor_info.items() if k != "invitor_bcs_name"}),
            (400, "BCS.4006009", "one of parameters is nil: invitor_info.invitor_bcs_name"),
        ),
        (
            "missing invitee_info field",
            c.agree_body(invitee_info={k: v for k, v in invitee_info.items() if k != "invitee_project_id"}),
            (400, "BCS.4006009", "one of parameters is nil: invitee_info.invitee_project_id"),
        ),
        ("missing status", c.agree_body(status=None), (400, "BCS.4006009", "one of parameters is nil: status")),
        (
            "missing channel_name",
            c.agree_body(channel_name=None),
            (400, "BCS.4006009", "one of parameters is nil: channel_name"),
        ),
        (
            "unknown field",
            {**c.agree_body(), "hide": 1},
            (400, "BCS.4006014", "Invalid Parameter hide : unknown field"),
        ),
        (
            "invited_orgs entry of the wrong type",
            c.agree_body(invited_orgs=["organization"]),
            (400, "BCS.4006003", "Invalid Parameter invited_orgs[0] : expected an object"),
        ),
    ]


def test_each_refusal_of_agreeing_names_its_reason_and_changes_nothing(pending, db):
    before = snapshot(db)
    for reason, body, expected in _agree_refusals(pending):
        assert error(pending.invitee.handle(body)) == expected, reason
        assert snapshot(db) == before, reason
    # Still waiting and answerable.
    assert invitation_row(db)["status"] == "waiting"
    pending.join()
    assert invitation_row(db)["status"] == "joined"


def test_a_third_tenant_has_no_notification_to_handle(pending, db):
    before = snapshot(db)
    third = pending.third
    for body in (pending.reject_body(), pending.agree_body()):
        assert error(third.handle(body)) == NO_NOTIFICATION
    assert snapshot(db) == before


def test_an_instance_not_created_as_invitee_of_this_inviter_is_refused(pending, make_tenant, db):
    invitee = pending.invitee
    # A private instance of the invitee, a union instance of its own, and an invitee instance for another inviter.
    private = invitee.create_instance(union_instance_body("bcs-private", blockchain_type="private"))
    own_union = invitee.create_instance(union_instance_body("bcs-ownunion"))
    other_inviter = make_tenant()
    other_union = other_inviter.create_instance(union_instance_body())
    assert other_inviter.invite(other_union, "channel", invitee.name).status_code == 200  # which it needs
    for_other = invitee.create_instance(invitee_body_for(other_inviter, other_union, "bcs-forother"))
    before = snapshot(db)
    for bcs_id, name in ((private, "bcs-private"), (own_union, "bcs-ownunion"), (for_other, "bcs-forother")):
        info = {**pending.agree_body()["invitee_info"], "invitee_bcs_id": bcs_id, "invitee_bcs_name": name}
        assert error(invitee.handle(pending.agree_body(invitee_info=info))) == NOT_INVITEE_OF_THIS_INVITER, name
        assert snapshot(db) == before


def test_an_invitee_instance_with_other_settings_is_refused(client, make_account, db):
    """Creation refuses an invitee instance whose database type differs from the inviter's; agreeing checks the
    settings again (here an instance changed behind the API's back is refused)."""
    consortium = setup_consortium(client, make_account, invitee_instance=False)
    before = snapshot(db)
    response = consortium.invitee.call(
        "POST",
        "/blockchains",
        invitee_body_for(
            consortium.inviter,
            consortium.inviter_bcs_id,
            "bcs-couch",
            database_type="couchdb",
            couchdb_info={"user_name": "admin", "password": "Couch-pass1"},
        ),
    )
    assert error(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter database_type : must match the inviter's instance (goleveldb)",
    )
    assert snapshot(db) == before

    instance = consortium.invitee.create_instance(
        invitee_body_for(consortium.inviter, consortium.inviter_bcs_id, "bcs-level")
    )
    consortium.invitee_bcs_id, consortium.invitee_bcs_name = instance, "bcs-level"
    db.run_write(lambda s: s.execute(update(Instance).where(Instance.id == instance).values(database_type="couchdb")))
    before = snapshot(db)
    assert error(consortium.agree()) == (
        400,
        "BCS.4006014",
        "Invalid Parameter invitee_info.invitee_bcs_id : database_type couchdb does not match the inviter's goleveldb",
    )
    assert snapshot(db) == before


def test_an_org_already_in_the_channel_is_refused(client, make_account, db):
    """Defensive rule: a second waiting row for a tenant already joined (not reachable through the API, which
    refuses inviting a member again) cannot bring the same organisation in twice."""
    consortium = setup_consortium(client, make_account)
    consortium.join()
    # Mark the first membership quit in the database without taking the organisation out of the channel.
    db.run_write(lambda s: s.execute(update(Invitation).values(status="quit", notification_status="quit")))
    assert consortium.invite().status_code == 200
    before = snapshot(db)
    assert error(consortium.agree()) == (
        400,
        "BCS.4006003",
        f"Invalid Parameter org {DEFAULT_ORG} status : already in channel {CHANNEL}",
    )
    assert snapshot(db) == before


@pytest.mark.parametrize("answer", ["agreed", "reject"])
@pytest.mark.parametrize("state", ["reject", "joined", "cancelled"])
def test_a_notification_that_is_not_waiting_cannot_be_answered(client, make_account, db, state, answer):
    consortium = setup_consortium(client, make_account)
    if state == "reject":
        assert consortium.reject().status_code == 200
    elif state == "joined":
        consortium.join()
    else:
        assert withdraw(consortium).status_code == 200
    before = snapshot(db)
    body = consortium.agree_body() if answer == "agreed" else consortium.reject_body()
    assert error(consortium.invitee.handle(body)) == _not_pending(state)
    assert snapshot(db) == before


@pytest.mark.parametrize("side", ["invitee", "inviter"])
def test_a_busy_instance_on_either_side_is_refused(side, frozen_client, make_account, db):
    consortium = setup_consortium(frozen_client, make_account, drive=db)
    tenant = getattr(consortium, side)
    busy = getattr(consortium, f"{side}_bcs_id")
    # An UpdateInstance (remove a peer) runs on that side's instance; the other side's is idle.
    response = tenant.update(str(busy), {"node_orgs": [{"name": DEFAULT_ORG, "node_count": 1}]})
    assert response.status_code == 200, response.text
    step_operation(db, response.json()["operation_id"], 1)
    assert [lock[:2] for lock in operation_locks(db)] == [(busy, response.json()["operation_id"])]
    before = snapshot(db)
    assert error(consortium.agree()) == INSTANCE_BUSY
    assert snapshot(db) == before
    tenant.wait(response.json()["operation_id"])
    consortium.join()
    row = invitation_row(db)
    assert row["status"] == "joined"
    if side == "invitee":  # the invitee's organisation joined as it is now
        assert row["orgs"][0]["node_count"] == 1


def test_a_failed_join_puts_the_invitation_back_to_waiting(client, make_account, db, monkeypatch):
    """docs/consortium.md: join fails => back to waiting (the channel unchanged, both instances idle again)."""
    consortium = setup_consortium(client, make_account)
    blocks_before = config_blocks(db, consortium.inviter_bcs_id)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OperationFailed("the channel configuration update was refused")

    monkeypatch.setattr(membership, "join_orgs", refuse)
    assert consortium.agree().status_code == 200
    operation_id = consortium.join_operation_id()
    record = ended(db, consortium, operation_id, "waiting", expect="failed")

    assert record["message"] == ["the channel configuration update was refused"]
    row = invitation_row(db)
    assert (row["invitee_blockchain_id"], row["invitee_blockchain_name"], row["orgs"]) == (None, None, [])
    assert config_blocks(db, consortium.inviter_bcs_id) == blocks_before
    assert list(consortium.inviter.channel(consortium.inviter_bcs_id)["peers"]) == [DEFAULT_ORG]
    assert [n["status"] for n in consortium.invitee.notifications()] == ["waiting"]

    monkeypatch.undo()
    consortium.join()
    assert invitation_row(db)["status"] == "joined"
