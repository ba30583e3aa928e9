"""HandleUnionMemberQuitList (``PUT /v2/{project_id}/members/quit``), exactly as the seed page documents it.

Each example of the seed page is reproduced: the eight-field request and its 200 answer, every field mandatory,
the 400 ``BCS.4006003`` example, 401, 403, 404; then what the quit operation does to the channel and the membership.
"""

from __future__ import annotations

import re

import pytest

from openbcs.consortium import states
from openbcs.engine.kinds import OperationFailed
from openbcs.network import membership
from tests.consortium.helpers import (
    NO_MEMBERSHIP,
    ONLY_INVITEE,
    both_held,
    ended,
    invitee_body_for,
    not_joined,
    not_own_account,
    not_own_project,
    while_running,
)
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import QUIT_FIELDS, QUIT_OPERATION_ID, setup_consortium
from tests.support.errors import INSTANCE_BUSY, error
from tests.support.expected import block_orgs, org_hash
from tests.support.operations import operation_locks, operation_rows
from tests.support.snapshots import config_blocks, invitation_row, invitations, snapshot
from tests.support.tenants import new_tenant

UNAUTHORIZED = (401, "BCS.4010401", "Incorrect token or token resolution failed")
NOT_FOUND = (404, "BCS.4040404", "Not Found:the url is not found")


@pytest.fixture
def joined(client, make_account):
    """A consortium whose invitee joined the inviter's channel with its organisation ``organization``."""
    consortium = setup_consortium(client, make_account)
    consortium.join()
    return consortium


def test_the_seed_request_answers_result_and_operation_id(joined, db):
    body = joined.quit_body()
    assert list(body) == list(QUIT_FIELDS)
    assert all(isinstance(value, str) and value for value in body.values())

    response = joined.invitee.quit(body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == ["result", "operation_id"]
    assert answer["result"] == "success"
    assert re.fullmatch(QUIT_OPERATION_ID, answer["operation_id"])
    # The membership is quitting (or already quit, the worker runs at once) under this very operation.
    row = invitation_row(db)
    assert row["operation_id"] == answer["operation_id"]
    assert row["status"] in ("quitting", "quit")
    quit_ops = [op for op in operation_rows(db) if op[1] == "consortium.quit"]
    assert [(op[0], op[3], op[4]) for op in quit_ops] == [
        (answer["operation_id"], joined.invitee.project_id, joined.invitee_bcs_id)
    ]


def test_after_the_quit_operation_the_orgs_are_out_and_the_membership_is_quit(joined, db):
    inviter, invitee = joined.inviter, joined.invitee
    invitee_org = org_hash(str(joined.invitee_bcs_id), DEFAULT_ORG)
    assert f"{DEFAULT_ORG}-{invitee_org[:8]}" in inviter.channel(joined.inviter_bcs_id)["peers"]

    operation_id = joined.quit()

    # The inviter's channel: only its own organisation and peers again.
    peers = inviter.channel(joined.inviter_bcs_id)["peers"]
    assert list(peers) == [DEFAULT_ORG]
    assert all(p.startswith(f"peer-{org_hash(joined.inviter_bcs_id, DEFAULT_ORG)}-") for p in peers[DEFAULT_ORG])
    # The invitee's peers are in no channel any more.
    node_orgs = invitee.nodes(str(joined.invitee_bcs_id))
    assert [peer["channels"] for peer in node_orgs[DEFAULT_ORG]["peers"].values()] == [[], []]
    # One configuration block: org_removed, caused by the quit operation, the inviter's org alone.
    blocks = config_blocks(db, joined.inviter_bcs_id)
    assert [b["event"] for b in blocks] == ["create", "org_added", "org_removed"]
    assert blocks[-1]["cause"] == operation_id
    assert blocks[-1]["orgs"] == block_orgs((joined.inviter_bcs_id, DEFAULT_ORG))
    assert blocks[-1]["previous_hash"] == blocks[-2]["hash"]
    history = inviter.history(joined.inviter_bcs_id)
    assert history["verified"] is True
    assert [b["hash"] for b in history["blocks"]] == [b["hash"] for b in blocks]
    # The membership: invitation and notification quit.
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["operation_id"]) == ("quit", "quit", operation_id)
    (notification,) = invitee.notifications()
    assert notification["status"] == "quit"
    assert [o["status"] for o in notification["invitee_orgs"]] == ["quit"]
    # The inviter still sees the member, quit; the invitee no longer counts it among its consortia.
    (member,) = inviter.members()
    assert (member["status"], member["invitee_info"]["invitee_bcs_id"]) == ("quit", joined.invitee_bcs_id)
    assert [(o["name"], o["status"]) for o in member["invited_orgs"]] == [(DEFAULT_ORG, "quit")]
    assert invitee.members() == []
    # ListOpRecord of the invitee: the operation with its steps, all finished.
    record = invitee.record(operation_id)
    assert (record["resource_type"], record["operation_type"], record["operation_status"]) == (
        "BCSSVC01",
        "03",
        "finished",
    )
    assert (record["project_id"], record["domain_id"]) == (invitee.project_id, invitee.domain_id)
    assert (record["blockchain_id"], record["blockchain_name"]) == (joined.invitee_bcs_id, "bcs-invitee")
    assert record["desc"] == "quit a consortium"
    steps = record["operation_process"]
    assert [(name, s["status"], s["serial_num"]) for name, s in steps.items()] == [
        ("Quit channel", "finished", 1),
        ("Finish", "finished", 2),
    ]
    assert steps["Quit channel"]["sub_steps"]["Update channel configuration"]["detail"] == (
        f"1 organisation(s) left channel {CHANNEL}"
    )
    assert steps["Finish"]["sub_steps"]["Update membership"]["detail"] == "member quit"
    assert [r["operation_id"] for r in invitee.records(operation_type="03")] == [operation_id]
    # The inviter's own records do not hold the invitee's operation.
    assert inviter.records(operation_id=operation_id) == []
    # The quit ended: both instances are idle again.
    ended(db, joined, operation_id, "quit")


def test_a_second_quit_is_refused_and_starts_no_operation(joined, db):
    joined.quit()
    before = snapshot(db)
    # Same code as the seed's example; the message says the membership is over.
    assert error(joined.invitee.quit(joined.quit_body())) == not_joined("quit")
    assert snapshot(db) == before
    assert len([op for op in operation_rows(db) if op[1] == "consortium.quit"]) == 1


@pytest.mark.parametrize("field", QUIT_FIELDS)
def test_each_field_is_mandatory(joined, db, field):
    before = snapshot(db)
    for body in (joined.quit_body(**{field: None}), joined.quit_body(**{field: ""})):
        assert error(joined.invitee.quit(body)) == (400, "BCS.4006009", f"one of parameters is nil: {field}")
        assert snapshot(db) == before
    # A value of the wrong JSON type is refused too.
    assert error(joined.invitee.quit(joined.quit_body(**{field: 1}))) == (
        400,
        "BCS.4006003",
        f"Invalid Parameter {field} : expected a string",
    )
    assert snapshot(db) == before


def test_no_body_an_unknown_field_and_bad_json_are_refused(joined, db):
    before = snapshot(db)
    assert error(joined.invitee.call("PUT", "/members/quit")) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: request body",
    )
    assert error(joined.invitee.quit({**joined.quit_body(), "invitee_username": "x"})) == (
        400,
        "BCS.4006014",
        "Invalid Parameter invitee_username : unknown field",
    )
    status, code, _ = error(joined.invitee.call("PUT", "/members/quit", raw=b"{"))
    assert (status, code) == (400, "BCS.4006003")
    assert snapshot(db) == before


@pytest.mark.parametrize("state", ["waiting", "reject"])
def test_quitting_a_membership_that_is_not_joined_is_the_seeds_400(client, make_account, db, state):
    consortium = setup_consortium(client, make_account)
    if state == "reject":
        assert consortium.reject().status_code == 200
    before = snapshot(db)
    assert error(consortium.invitee.quit(consortium.quit_body())) == not_joined(state)
    assert snapshot(db) == before
    assert [(r["status"], r["notification_status"]) for r in invitations(db)] == [(state, state)]


def test_quitting_while_the_quit_runs_is_refused_and_both_instances_are_busy(frozen_client, make_account, db):
    consortium = setup_consortium(frozen_client, make_account, drive=db)
    consortium.join()
    inviter, invitee = consortium.inviter, consortium.invitee
    response = invitee.quit(consortium.quit_body())
    assert response.status_code == 200, response.text
    operation_id = response.json()["operation_id"]
    row = invitation_row(db)
    assert (row["status"], row["notification_status"], row["operation_id"]) == ("quitting", "quitting", operation_id)
    assert invitee.notifications()[0]["status"] == "quitting"
    assert [m["status"] for m in invitee.members()] == ["quitting"]
    assert operation_locks(db) == both_held(consortium, operation_id)

    with while_running(db, consortium, operation_id, "quitting", new_tenant(frozen_client, make_account)):
        assert error(inviter.create_channels(consortium.inviter_bcs_id, "other")) == INSTANCE_BUSY

    ended(db, consortium, operation_id, "quit")
    assert len([op for op in operation_rows(db) if op[1] == "consortium.quit"]) == 1


def test_quitting_while_the_inviters_instance_is_busy_is_refused_and_changes_nothing(frozen_client, make_account, db):
    consortium = setup_consortium(frozen_client, make_account, drive=db)
    consortium.join()
    inviter = consortium.inviter
    response = inviter.create_channels(consortium.inviter_bcs_id, "other")
    assert response.status_code == 200, response.text
    operation_id = response.json()["operation_id"]
    assert [lock[:2] for lock in operation_locks(db)] == [(consortium.inviter_bcs_id, operation_id)]
    before = snapshot(db)
    assert error(consortium.invitee.quit(consortium.quit_body())) == INSTANCE_BUSY
    assert snapshot(db) == before
    assert invitation_row(db)["status"] == "joined"


def test_without_a_token_or_with_a_bad_one_the_answer_is_401(joined, db):
    before = snapshot(db)
    path = f"/v2/{joined.invitee.project_id}/members/quit"
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"X-Auth-Token": joined.invitee.token[:-4] + "AAAA"}):
        response = joined.invitee.http.put(
            path, json=joined.quit_body(), headers={"Content-Type": "application/json", **headers}
        )
        assert error(response) == UNAUTHORIZED, headers
    assert snapshot(db) == before


def test_invitee_ids_of_someone_else_are_403(joined, make_tenant, db):
    third = make_tenant()
    before = snapshot(db)
    cases = [
        (
            joined.invitee,
            joined.quit_body(invitee_projectid=joined.inviter.project_id),
            not_own_project("invitee_projectid"),
        ),
        (
            joined.invitee,
            joined.quit_body(invitee_domainid=joined.inviter.domain_id),
            not_own_account("invitee_domainid"),
        ),
        (
            joined.invitee,
            joined.quit_body(invitee_projectid=third.project_id, invitee_domainid=third.domain_id),
            not_own_account("invitee_domainid"),
        ),
        # The invitee giving its IAM user id where its account id belongs.
        (
            joined.invitee,
            joined.quit_body(invitee_domainid=joined.invitee.account.created.user_id),
            not_own_account("invitee_domainid"),
        ),
        # The inviter, or a third tenant, replaying the invitee's request.
        (joined.inviter, joined.quit_body(), ONLY_INVITEE),
        (third, joined.quit_body(), not_own_account("invitee_domainid")),
    ]
    for caller, body, expected in cases:
        assert error(caller.quit(body)) == expected, body
    # The invitee's own body on someone else's project path.
    assert error(joined.invitee.call("PUT", "/members/quit", joined.quit_body(), project_id=third.project_id)) == (
        403,
        "BCS.4030403",
        f"forbidden to project [{third.project_id}]",
    )
    assert snapshot(db) == before
    assert invitation_row(db)["status"] == "joined"


def test_a_wrong_url_or_method_is_404(joined, db):
    before = snapshot(db)
    body = joined.quit_body()
    for method, path in (
        ("POST", "/members/quit"),
        ("GET", "/members/quit"),
        ("DELETE", "/members/quit"),
        ("PUT", "/members/quits"),
        ("PUT", "/member/quit"),
        ("PUT", "/members/quit/now"),
    ):
        assert error(joined.invitee.call(method, path, body)) == NOT_FOUND, (method, path)
    assert snapshot(db) == before


def test_an_unknown_membership_is_4001061(joined, make_tenant, db):
    # A second invitee instance for the same inviter, which an invitation to another of its channels allows.
    joined.inviter.create_channel(joined.inviter_bcs_id, "chantwo")
    assert joined.inviter.invite(joined.inviter_bcs_id, "chantwo", joined.invitee.name).status_code == 200
    other_bcs = joined.invitee.create_instance(invitee_body_for(joined.inviter, joined.inviter_bcs_id, "bcs-second"))
    before = snapshot(db)
    for override in (
        {"inviter_bcsid": "no-such-instance"},
        {"inviter_projectid": joined.invitee.project_id},
        {"inviter_domainid": joined.invitee.domain_id},
        {"inviter_username": "someone-else"},
        {"channel_name": "otherchannel"},
        {"invitee_bcsid": other_bcs},
    ):
        assert error(joined.invitee.quit(joined.quit_body(**override))) == NO_MEMBERSHIP, override
    assert snapshot(db) == before
    # A tenant never invited: its own ids, the consortium's inviter.
    stranger = make_tenant()
    body = joined.quit_body(invitee_projectid=stranger.project_id, invitee_domainid=stranger.domain_id)
    assert error(stranger.quit(body)) == NO_MEMBERSHIP
    assert snapshot(db) == before


def test_the_invitee_can_join_again_after_quitting(joined, db):
    first_quit = joined.quit()
    assert joined.invite().status_code == 200
    second_join = joined.join()
    blocks = config_blocks(db, joined.inviter_bcs_id)
    assert [(b["event"], b["cause"]) for b in blocks[2:]] == [("org_removed", first_quit), ("org_added", second_join)]
    assert blocks[0]["previous_hash"] == ""
    old, new = invitations(db)
    assert (old["status"], new["status"]) == ("quit", "joined")
    # Quitting now acts on the current membership, not on the old record.
    second_quit = joined.quit()
    assert [r["status"] for r in invitations(db)] == ["quit", "quit"]
    assert invitations(db)[1]["operation_id"] == second_quit
    assert invitations(db)[0]["operation_id"] == first_quit


def test_a_failed_quit_leaves_the_member_joined(joined, db, monkeypatch):
    """docs/consortium.md: quit fails => back to joined (the organisations stay, both instances idle again)."""
    blocks_before = config_blocks(db, joined.inviter_bcs_id)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OperationFailed("the channel configuration update was refused")

    monkeypatch.setattr(membership, "leave", refuse)
    response = joined.invitee.quit(joined.quit_body())
    assert response.status_code == 200, response.text
    record = ended(db, joined, response.json()["operation_id"], "joined", expect="failed")

    assert record["message"] == ["the channel configuration update was refused"]
    assert config_blocks(db, joined.inviter_bcs_id) == blocks_before
    assert len(joined.inviter.channel(joined.inviter_bcs_id)["peers"]) == 2

    monkeypatch.undo()
    joined.quit()
    assert invitation_row(db)["status"] == "quit"


def test_an_unexpected_failure_is_the_seeds_500_and_leaves_nothing_behind(joined, db, monkeypatch):
    """The seed's 500 example; the failure comes after the operation was recorded and the instances locked (when
    the membership moves to quitting), in the same transaction."""
    before = snapshot(db)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(states, "touch", broken)
    response = joined.invitee.quit(joined.quit_body())

    assert error(response) == (500, "BCS.5000500", "Internal Server Error")
    assert snapshot(db) == before
    monkeypatch.undo()
    joined.quit()
    assert invitation_row(db)["status"] == "quit"
