"""ListMembers: the inviter's view (every status it has not deleted) and the invitee's (its consortia)."""

from __future__ import annotations

from openbcs.consortium.schemas import ListMembersResponse
from tests.consortium.helpers import another_member, withdraw
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import setup_consortium
from tests.support.expected import org_hash
from tests.support.snapshots import invitations


def _member(c, invitee, status, *, invitee_bcs_id="", orgs=()):
    return {
        "tcs_need": False,
        "channel_name": CHANNEL,
        "invited_orgs": list(orgs),
        "invitor_info": {
            "invitor_bcs_id": c.inviter_bcs_id,
            "invitor_bcs_name": "bcs-union",
            "invitor_project_id": c.inviter.project_id,
            "invitor_user_id": c.inviter.domain_id,
            "invitor_username": c.inviter.name,
        },
        "invitee_info": {
            "invitee_bcs_id": invitee_bcs_id,
            "invitee_user_id": invitee.domain_id,
            "invitee_username": invitee.name,
        },
        "status": status,
    }


def test_inviter_sees_every_status_and_invitee_only_its_consortia(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account)
    rejecting, pending, quitting = make_tenant(), make_tenant(), make_tenant()
    assert c.invite(rejecting.name, pending.name, quitting.name).status_code == 200
    # rejecting says no; quitting joins and quits; the first invitee joins and stays.
    c.join()
    assert rejecting.handle(c.reject_body()).status_code == 200
    quitter = another_member(c, quitting, "bcs-quitter")
    quitter_bcs = str(quitter.invitee_bcs_id)
    quitter.join()
    quitter.quit()
    invitee_bcs = str(c.invitee_bcs_id)

    members = c.inviter.members()

    joined_org = {
        "name": DEFAULT_ORG,
        "name_hash": org_hash(invitee_bcs, DEFAULT_ORG),
        "node_count": 2,
        "status": "joined",
        "status_detail": "2/2",
    }
    quit_org = {
        "name": DEFAULT_ORG,
        "name_hash": org_hash(quitter_bcs, DEFAULT_ORG),
        "node_count": 2,
        "status": "quit",
        "status_detail": "2/2",
    }
    assert members == [
        _member(c, c.invitee, "joined", invitee_bcs_id=invitee_bcs, orgs=[joined_org]),
        _member(c, rejecting, "reject"),
        _member(c, pending, "waiting"),
        _member(c, quitting, "quit", invitee_bcs_id=quitter_bcs, orgs=[quit_org]),
    ]
    assert [m["status"] for m in members] == [r["status"] for r in invitations(db)]
    # Built without the Pydantic models (for speed), the answer is byte for byte what ListMembersResponse dumps.
    raw = c.inviter.call("GET", "/members").content
    assert raw == ListMembersResponse.model_validate_json(raw).model_dump_json().encode()
    # The invitee that joined sees exactly its consortium; the others see none.
    assert c.invitee.members() == [_member(c, c.invitee, "joined", invitee_bcs_id=invitee_bcs, orgs=[joined_org])]
    for party in (rejecting, pending, quitting):
        assert party.members() == []


def test_status_detail_is_live_from_the_invitee_instance(client, make_account, db):
    c = setup_consortium(client, make_account)
    c.join()
    # The invitee removes a peer of its organisation: the member's organisation shows 1 peer.
    c.invitee.run(c.invitee.update(str(c.invitee_bcs_id), {"node_orgs": [{"name": DEFAULT_ORG, "node_count": 1}]}))

    ((org,),) = [m["invited_orgs"] for m in c.inviter.members()]

    assert (org["node_count"], org["status_detail"], org["status"]) == (1, "1/1", "joined")
    # As it joined, the stored record said 2.
    assert invitations(db)[0]["orgs"][0]["node_count"] == 2


def test_invitee_view_shows_joining_while_the_join_runs(frozen_client, make_account, db):
    c = setup_consortium(frozen_client, make_account, drive=db)
    assert c.agree().status_code == 200
    (member,) = c.invitee.members()
    assert (member["status"], member["invitee_info"]["invitee_bcs_id"]) == ("joining", c.invitee_bcs_id)
    assert [o["status"] for o in member["invited_orgs"]] == ["joining"]
    assert c.inviter.members() == [member]
    c.invitee.wait(c.join_operation_id())
    assert [m["status"] for m in c.invitee.members()] == ["joined"]


def test_withdrawn_and_deleted_records_leave_the_inviters_view(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account)
    c.join()
    c.quit()
    other = make_tenant()
    assert c.invite(other.name).status_code == 200
    entries = [
        {"invited_user": c.invitee.name, "status": "quit", "invited_bcs_id": c.invitee_bcs_id},
        {"invited_user": other.name},
    ]
    assert withdraw(c, *entries).status_code == 200
    assert c.inviter.members() == []
    assert [(r["status"], r["deleted_by_inviter"]) for r in invitations(db)] == [("quit", True), ("cancelled", True)]
