"""Issue 12 item 7: an inviter cannot fill another account's inbox. At most 5 invitations of one instance wait for one
tenant; withdrawn (cancelled) notifications are kept to the newest 20 per invitee and inviter account, whatever the
churn (the probe made 1,693 in 30 s)."""

from __future__ import annotations

from openbcs.kernel.db import Database
from openbcs.network.limits import CANCELLED_NOTIFICATIONS_KEPT, PENDING_INVITATIONS_PER_INVITEE
from tests.consortium.helpers import withdraw
from tests.support.bodies import union_instance_body
from tests.support.consortia import Consortium, setup_consortium
from tests.support.errors import assert_error
from tests.support.snapshots import invitations, snapshot
from tests.support.tenants import Tenant

TOO_MANY = (
    400,
    "BCS.4001063",
    f"Invitation failed. The tenant {{name}} already has {PENDING_INVITATIONS_PER_INVITEE} invitations of this "
    "instance waiting for an answer.",
)


def _channels(c: Consortium, count: int) -> list[str]:
    names = [f"extra{i}" for i in range(count)]
    c.inviter.run(c.inviter.create_channels(c.inviter_bcs_id, *names))
    return names


def _notification_statuses(tenant: Tenant) -> list[str]:
    return [n["status"] for n in tenant.notifications()]


def test_at_most_five_invitations_of_one_instance_wait_for_one_tenant(client, make_account, db: Database) -> None:
    c = setup_consortium(client, make_account)  # waiting in "channel": 1 of 5
    extra = _channels(c, 5)
    for channel in extra[:4]:
        assert c.inviter.invite(c.inviter_bcs_id, channel, c.invitee.name).status_code == 200
    before = snapshot(db)
    code, status, message = TOO_MANY
    assert_error(
        c.inviter.invite(c.inviter_bcs_id, extra[4], c.invitee.name), code, status, message.format(name=c.invitee.name)
    )
    assert snapshot(db) == before
    assert _notification_statuses(c.invitee) == ["waiting"] * PENDING_INVITATIONS_PER_INVITEE
    # Another tenant in the same call is refused with it (all or nothing); alone it may be invited.
    third = make_account()
    assert c.inviter.invite(c.inviter_bcs_id, extra[4], third.name, c.invitee.name).status_code == 400
    assert c.inviter.invite(c.inviter_bcs_id, extra[4], third.name).status_code == 200
    # Answering frees a place.
    assert c.reject().status_code == 200
    assert c.inviter.invite(c.inviter_bcs_id, extra[4], c.invitee.name).status_code == 200
    assert sorted(_notification_statuses(c.invitee)) == ["reject"] + ["waiting"] * PENDING_INVITATIONS_PER_INVITEE
    # The limit is per inviter instance: another instance of the inviter invites on its own count.
    second = c.inviter.create_instance(union_instance_body("bcs-union-2"))
    assert c.inviter.invite(second, "channel", c.invitee.name).status_code == 200


def test_withdrawn_notifications_are_kept_to_the_newest_twenty(client, make_account, db: Database) -> None:
    c = setup_consortium(client, make_account)
    withdrawn = []
    for _ in range(CANCELLED_NOTIFICATIONS_KEPT + 5):
        (waiting,) = [r["id"] for r in invitations(db) if r["status"] == "waiting"]
        assert withdraw(c).status_code == 200
        withdrawn.append(waiting)
        assert c.invite().status_code == 200
    assert withdraw(c).status_code == 200
    rows = invitations(db)
    assert [r["status"] for r in rows] == ["cancelled"] * CANCELLED_NOTIFICATIONS_KEPT
    # The newest are the ones kept: the last twenty withdrawn.
    (last,) = set(r["id"] for r in rows) - set(withdrawn)
    assert [r["id"] for r in rows] == [*withdrawn, last][-CANCELLED_NOTIFICATIONS_KEPT:]
    assert _notification_statuses(c.invitee) == ["cancelled"] * CANCELLED_NOTIFICATIONS_KEPT
    assert c.inviter.members() == []
    # A new invitation is shown with them; another inviter's cancellations do not push them out.
    assert c.invite().status_code == 200
    other = setup_consortium(client, make_account, invitee_instance=False, invite=False)
    other_c = Consortium(other.inviter, c.invitee, other.inviter_bcs_id, "bcs-union", None, None)
    assert other_c.invite().status_code == 200
    assert withdraw(other_c).status_code == 200
    assert sorted(_notification_statuses(c.invitee)) == ["cancelled"] * (CANCELLED_NOTIFICATIONS_KEPT + 1) + ["waiting"]


def test_cancelling_by_deleting_the_instance_keeps_the_bound(client, make_account, db: Database) -> None:
    c = setup_consortium(client, make_account)
    for _ in range(CANCELLED_NOTIFICATIONS_KEPT):
        assert withdraw(c).status_code == 200
        assert c.invite().status_code == 200
    c.inviter.run(c.inviter.delete_instance(c.inviter_bcs_id))
    assert [r["status"] for r in invitations(db)] == ["cancelled"] * CANCELLED_NOTIFICATIONS_KEPT
    assert _notification_statuses(c.invitee) == ["cancelled"] * CANCELLED_NOTIFICATIONS_KEPT
