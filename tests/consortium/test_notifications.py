"""ListNotifications: every field of NotificationList from stored state; the official SDK parses the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.consortium.helpers import invitee_body_for
from tests.support.bodies import CHANNEL, DEFAULT_ORG, union_instance_body
from tests.support.consortia import Consortium, setup_consortium
from tests.support.expected import org_hash
from tests.support.snapshots import invitation_row, invitations
from tests.support.tenants import new_tenant

COUCHDB = {"user_name": "admin", "password": "Couch-pass1"}
# An inviter instance unlike the defaults, so that each snapshot field is seen to come from the instance.
INVITER_SETTINGS: dict[str, Any] = {
    "consensus": "SFLIC",
    "orderer_node_number": 4,
    "database_type": "couchdb",
    "couchdb_info": COUCHDB,
    "version_type": 2,
    "org_disk_size": 500,
    "tc3_need": True,
}


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consortium(http: httpx.Client, make_account: Any) -> Consortium:
    """Inviter with a SFLIC/couchdb/version 2/TC3 union instance, a waiting invitation, a matching invitee
    instance."""
    inviter, invitee = new_tenant(http, make_account), new_tenant(http, make_account)
    bcs = inviter.create_instance(union_instance_body(**INVITER_SETTINGS))
    consortium = Consortium(inviter, invitee, bcs, "bcs-union", None, None)
    assert consortium.invite().status_code == 200
    consortium.invitee_bcs_id = invitee.create_instance(
        invitee_body_for(
            inviter,
            bcs,
            consensus="SFLIC",
            database_type="couchdb",
            couchdb_info=COUCHDB,
            version_type=2,
            org_disk_size=500,
        )
    )
    consortium.invitee_bcs_name = "bcs-invitee"
    return consortium


def _invitor_info(c: Consortium) -> dict[str, Any]:
    return {
        "invitor_id": c.inviter.domain_id,
        "invitor_name": c.inviter.name,
        "invitor_bcs_id": c.inviter_bcs_id,
        "invitor_bcs_name": "bcs-union",
        "invitor_consensus": "SFLIC",
        "invitor_project_id": c.inviter.project_id,
        "invitor_cluster_type": "CCE",
        "invitor_database_type": "couchdb",
        "invitor_signature_algorithm": "ECDSA",
        "invitor_fabric_version": "2.2",
        "order_fade_enabled": False,
        "order_fade_cache": 0,
        "invitor_version_type": 2,
    }


def _notification(c: Consortium, row: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A NotificationList entry of ``c``'s invitation (stored as ``row``): the inviter's instance as invited, and
    ``fields`` (status, invitee_info, invitee_orgs, read_status)."""
    return {
        "channel_name": CHANNEL,
        "updated_time": rfc3339(row["updated_time"]),
        "tc3_need": True,
        "invitor_info": _invitor_info(c),
        "hide": 0,
        "cross_version_upgrade": "",
        **fields,
    }


def test_a_waiting_notification_shows_the_inviters_instance_snapshot(client, make_account, db):
    c = _consortium(client, make_account)

    (notification,) = c.invitee.notifications()

    row = invitation_row(db)
    assert notification == _notification(
        c,
        row,
        status="waiting",
        # invitee_name is never sent (the SDK types it as an integer); no instance is named before agreeing.
        invitee_info={"invitee_id": c.invitee.domain_id, "invitee_project_id": c.invitee.project_id},
        invitee_orgs=[],
        read_status=0,
    )
    assert row["inviter_settings"] == {
        "consensus": "SFLIC",
        "sign_algorithm": "ECDSA",
        "fabric_version": "2.2",
        "database_type": "couchdb",
        "version_type": 2,
        "cluster_type": "CCE",
        "tc3_need": True,
    }
    # The inviter sees no notification of its own; the member carries tcs_need from the same snapshot.
    assert c.inviter.notifications() == []
    assert [m["tcs_need"] for m in c.inviter.members()] == [True]


def test_after_joining_the_notification_names_the_instance_and_its_orgs(client, make_account, db):
    c = _consortium(client, make_account)
    c.join()

    (notification,) = c.invitee.notifications()

    row = invitation_row(db)
    invitee_bcs = str(c.invitee_bcs_id)
    assert notification == _notification(
        c,
        row,
        status="joined",
        invitee_info={
            "invitee_id": c.invitee.domain_id,
            "invitee_bcs_name": "bcs-invitee",
            "invitee_bcs_id": invitee_bcs,
            "invitee_project_id": c.invitee.project_id,
        },
        invitee_orgs=[
            {
                "name": DEFAULT_ORG,
                "name_hash": org_hash(invitee_bcs, DEFAULT_ORG),
                "node_count": 2,
                "status": "joined",
                "status_detail": "2/2",
            }
        ],
        read_status=1,
    )
    assert row["updated_time"] > row["created_time"]


def test_notifications_are_newest_first_in_every_status(client, make_account, make_tenant, db):
    c = setup_consortium(client, make_account)
    assert c.reject().status_code == 200
    # A second inviter invites the same tenant; the first inviter invites it again.
    other = make_tenant()
    other_bcs = other.create_instance(union_instance_body("bcs-other"))
    assert other.invite(other_bcs, CHANNEL, c.invitee.name).status_code == 200
    assert c.invite().status_code == 200

    listed = c.invitee.notifications()

    assert [(n["invitor_info"]["invitor_bcs_id"], n["status"], n["read_status"]) for n in listed] == [
        (c.inviter_bcs_id, "waiting", 0),
        (other_bcs, "waiting", 0),
        (c.inviter_bcs_id, "reject", 1),
    ]
    assert [n["invitor_info"]["invitor_name"] for n in listed] == [c.inviter.name, other.name, c.inviter.name]
    assert [n["updated_time"] for n in listed] == [rfc3339(r["updated_time"]) for r in reversed(invitations(db))]
    assert all(n["hide"] == 0 for n in listed)


def test_the_sdk_parses_list_notifications_of_a_member(live_server, make_account, sdk_client, db):
    """The raw answer (joined, with invitee orgs) and the official SDK's parse of the same state agree; the SDK
    does not fail on ``invitee_info`` (``invitee_name`` is typed as an integer there and never sent)."""
    from huaweicloudsdkbcs.v2 import ListNotificationsRequest, ListNotificationsResponse
    from huaweicloudsdkbcs.v2.model.notification_list import NotificationList

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        c = _consortium(http, make_account)
        c.join()
        raw = http.get(f"/v2/{c.invitee.project_id}/notifications", headers=c.invitee.headers)
    assert raw.status_code == 200, raw.text
    (raw_notification,) = raw.json()["notifications"]
    assert "invitee_name" not in raw_notification["invitee_info"]

    response = sdk_client(c.invitee.account).list_notifications(ListNotificationsRequest())

    assert isinstance(response, ListNotificationsResponse)
    (parsed,) = response.notifications
    assert isinstance(parsed, NotificationList)
    # Every field the SDK knows, as sent; it ignores the extension invitor_version_type.
    sent_invitor = {k: v for k, v in raw_notification["invitor_info"].items() if k != "invitor_version_type"}
    assert parsed.to_dict() == {
        **raw_notification,
        "invitor_info": sent_invitor,
        "invitee_info": {**raw_notification["invitee_info"], "invitee_name": None},
    }
    assert (parsed.status, parsed.read_status, parsed.hide, parsed.tc3_need) == ("joined", 1, 0, True)
    assert parsed.invitor_info.invitor_consensus == "SFLIC"
    assert parsed.invitee_info.invitee_bcs_id == c.invitee_bcs_id
    assert [(o.name, o.node_count, o.status_detail) for o in parsed.invitee_orgs] == [(DEFAULT_ORG, 2, "2/2")]
    assert invitation_row(db)["status"] == "joined"
