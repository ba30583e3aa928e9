"""The consortium page: invite, the inbox with accept and reject, members in both views, withdraw and clean up, and
quitting after a confirmation that says what will happen."""

from __future__ import annotations

import re

from tests.console.helpers import flashes, text_of
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import setup_consortium
from tests.support.snapshots import invitation_row, invitations, snapshot

STARTED = re.compile(r"Started operation (BCSSVC\d{2}-\d{2}-\d{19})\.")


def _outcome(user, response, form_id):
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/consortium"
    ((kind, form, text),) = flashes(user.follow(response).text)
    assert form == form_id, text
    return kind, text


def _answer(user, c, answer, **extra):
    """The inbox's accept or reject form for the consortium's notification."""
    form = {"invitor_bcs_id": c.inviter_bcs_id, "channel": CHANNEL, "answer": answer, **extra}
    return _outcome(user, user.post("/console/consortium/answer", form), "inbox")


def _quit(user, c):
    """The quit confirmation's form for the consortium's membership."""
    form = {"inviter_bcs_id": c.inviter_bcs_id, "channel": CHANNEL, "invitee_bcs_id": c.invitee_bcs_id}
    return _outcome(user, user.post("/console/consortium/quit", form), "belonging")


def test_invite_accept_members_quit(client, make_account, console_of, db):
    c = setup_consortium(client, make_account, invite=False, invitee_instance=False)
    inviter, invitee = console_of(c.inviter), console_of(c.invitee)
    assert f'value="{c.inviter_bcs_id}/{CHANNEL}"' in inviter.get("/console/consortium").text
    kind, _ = _outcome(
        inviter,
        inviter.post(
            "/console/consortium/invite", {"target": f"{c.inviter_bcs_id}/{CHANNEL}", "tenants": c.invitee.name}
        ),
        "invite",
    )
    assert kind == "info"
    assert invitation_row(db)["status"] == "waiting"
    c.create_invitee_instance()  # which the invitation allows
    inbox = invitee.get("/console/consortium").text
    assert f'data-notification="{c.inviter_bcs_id}/{CHANNEL}"' in inbox
    assert f"Join with instance {c.invitee_bcs_name}" in text_of(inbox)
    kind, text = _answer(invitee, c, "agree", invitee_bcs_id=c.invitee_bcs_id, org=DEFAULT_ORG)
    assert kind == "info"
    c.invitee.wait(STARTED.search(text).group(1))
    assert invitation_row(db)["status"] == "joined"
    # Members in both views, as ListMembers gives them.
    assert [m["status"] for m in c.inviter.members()] == ["joined"]
    sent = inviter.get("/console/consortium").text
    assert f'data-invitation="{c.invitee.name}/{CHANNEL}"' in sent
    assert "Clean up" not in sent
    assert "Withdraw" not in sent
    mine = invitee.get("/console/consortium").text
    # The member instance is named, and links to its page.
    belonging = re.search(rf'<tr data-member="{CHANNEL}">.*?</tr>', mine, re.S).group(0)
    assert f'<a href="/console/instances/{c.invitee_bcs_id}">{c.invitee_bcs_name}</a>: {DEFAULT_ORG}' in belonging
    quit_link = (
        f"/console/consortium/quit?inviter_bcs_id={c.inviter_bcs_id}"
        f"&amp;channel={CHANNEL}&amp;invitee_bcs_id={c.invitee_bcs_id}"
    )
    assert quit_link in mine
    confirm = invitee.get(quit_link.replace("&amp;", "&"))
    assert confirm.status_code == 200
    effects = text_of(confirm.text)
    assert f"leave channel {CHANNEL} of {c.inviter.name}'s consortium instance {c.inviter_bcs_name}" in effects
    assert f"Your organisation(s) {DEFAULT_ORG} leave the channel with their peers" in effects
    assert invitation_row(db)["status"] == "joined"  # asking changed nothing
    kind, text = _quit(invitee, c)
    assert kind == "info"
    c.invitee.wait(STARTED.search(text).group(1))
    assert invitation_row(db)["status"] == "quit"
    assert "Your account is in no other tenant's consortium." in text_of(invitee.get("/console/consortium").text)
    # The inviter cleans the record up.
    kind, _ = _outcome(
        inviter,
        inviter.post(
            "/console/consortium/withdraw",
            {
                "bcs_id": c.inviter_bcs_id,
                "channel": CHANNEL,
                "invited_user": c.invitee.name,
                "status": "quit",
                "invited_bcs_id": c.invitee_bcs_id,
            },
        ),
        "sent",
    )
    assert kind == "info"
    assert invitation_row(db)["deleted_by_inviter"] is True
    assert c.inviter.members() == []


def test_reject_and_withdraw(client, make_account, make_tenant, console_of, db):
    c = setup_consortium(client, make_account, invitee_instance=False)
    invitee = console_of(c.invitee)
    assert "Create a member instance" in invitee.get("/console/consortium").text  # no instance to accept with yet
    kind, _ = _answer(invitee, c, "reject")
    assert kind == "info"
    assert invitation_row(db)["status"] == "reject"
    third = make_tenant()
    assert c.invite(third.name).status_code == 200
    inviter = console_of(c.inviter)
    kind, _ = _outcome(
        inviter,
        inviter.post(
            "/console/consortium/withdraw",
            {"bcs_id": c.inviter_bcs_id, "channel": CHANNEL, "invited_user": third.name, "status": "waiting"},
        ),
        "sent",
    )
    assert kind == "info"
    assert [(i["invitee_name"], i["status"]) for i in invitations(db)] == [
        (c.invitee.name, "reject"),
        (third.name, "cancelled"),
    ]


def test_refusals_are_the_apis_and_change_nothing(client, make_account, console_of, db):
    c = setup_consortium(client, make_account)
    inviter = console_of(c.inviter)
    before = snapshot(db)
    api = c.invite()
    kind, text = _outcome(
        inviter,
        inviter.post(
            "/console/consortium/invite", {"target": f"{c.inviter_bcs_id}/{CHANNEL}", "tenants": c.invitee.name}
        ),
        "invite",
    )
    assert (kind, text) == ("error", f"{api.json()['error_msg']} ({api.json()['error_code']})")
    kind, text = _outcome(
        inviter,
        inviter.post("/console/consortium/invite", {"target": f"{c.inviter_bcs_id}/{CHANNEL}", "tenants": ""}),
        "invite",
    )
    assert (kind, text) == (
        "error",
        "Invalid Parameter invited_userinfo : List should have at least 1 item after validation, not 0 (BCS.4006014)",
    )
    invitee = console_of(c.invitee)
    kind, text = _answer(invitee, c, "agree", invitee_bcs_id=c.invitee_bcs_id)
    api = c.invitee.handle(c.agree_body(invited_orgs=[]))
    assert (kind, text) == ("error", f"{api.json()['error_msg']} ({api.json()['error_code']})")
    # Quitting a membership that is not joined: there is none to confirm or quit.
    assert (
        invitee.get(
            f"/console/consortium/quit?inviter_bcs_id={c.inviter_bcs_id}&channel={CHANNEL}&invitee_bcs_id={c.invitee_bcs_id}"
        ).status_code
        == 404
    )
    kind, text = _quit(invitee, c)
    assert (kind, text) == ("error", "Operation failed. The consortium membership does not exist. (BCS.4001061)")
    assert snapshot(db) == before
