"""Each domain records its events, in the same transaction as the change: instance creation, scaling and
organisations, channel configuration changes, consortium membership (on both instances), certificate freezing.
Each test checks the stored rows and what ListBcsEvents shows for them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from tests.monitoring.helpers import MS, TWO_ORGS, EventRow, Shown, event_rows, events, shown
from tests.support.accounts import TestAccount
from tests.support.consortia import setup_consortium
from tests.support.expected import peer_names
from tests.support.tenants import Tenant

EventTuple = tuple[str, str, str, dict[str, str]]


def _as_rows(rows: list[EventRow]) -> list[EventTuple]:
    return [(r.name, r.severity, r.message, r.metadata) for r in rows]


def _check_listed(tenant: Tenant, bid: str, db: Database) -> list[EventRow]:
    """ListBcsEvents of the last hour shows exactly the stored events, newest first; the stored rows."""
    stored = event_rows(db, bid)
    assert all(r.project_id == tenant.project_id for r in stored)
    listed = [shown(r, bid) for r in events(tenant, bid, "-1.-1.60")]
    assert listed == [Shown(r.name, r.severity, r.message, r.metadata, r.time // MS) for r in reversed(stored)]
    return stored


def _finished(tenant: Tenant, response: httpx.Response) -> str:
    """An asynchronous call that must be accepted and finish; its operation id."""
    return str(tenant.run(response)["operation_id"])


def _operation_events(operation_id: str, kind: str, description: str) -> tuple[list[EventTuple], list[EventTuple]]:
    meta = {"operation_id": operation_id, "operation_kind": kind}
    return (
        [("OperationStarted", "info", f"{description} started", meta)],
        [("OperationFinished", "info", f"{description} finished", meta)],
    )


def _peer_events(bid: str, org: str, ordinals: range, verb: str, operation_id: str) -> list[EventTuple]:
    """``PeerAdded`` (verb ``added``) or ``PeerRemoved`` (``removed``) of the org's peers with these ordinals."""
    name = {"added": "PeerAdded", "removed": "PeerRemoved"}[verb]
    nodes = peer_names(bid, org, len(ordinals), start=ordinals.start)
    return [
        (name, "info", f"{node} of {org} {verb}", {"org": org, "node": node, "operation_id": operation_id})
        for node in nodes
    ]


def test_instance_creation(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("bcs-events", **TWO_ORGS)
    (creation,) = {r.metadata["operation_id"] for r in event_rows(db, bid) if "operation_id" in r.metadata}
    started, finished = _operation_events(creation, "blockchain.create", "create a BCS instance")

    stored = _check_listed(tenant, bid, db)
    # Each configuration event names the Fabric transaction of its block (the history lists the same ids).
    tx_ids = [block["tx_id"] for block in tenant.history(bid)["blocks"]]
    assert _as_rows(stored) == [
        *started,
        (
            "ChannelCreated",
            "info",
            "channel channel: create (block 0)",
            {"channel": "channel", "block": "0", "operation_id": creation, "tx_id": tx_ids[0]},
        ),
        ("InstanceStateChanged", "info", "instance bcs-events is Normal", {"status": "Normal"}),
        *finished,
    ]
    # The results' dimensions: the fixed three, then the metadata by name.
    listed = events(tenant, bid, "-1.-1.60", search="ChannelCreated")
    assert listed[0]["metric"]["dimensions"] == [
        {"name": "blockchain_id", "value": bid},
        {"name": "severity", "value": "info"},
        {"name": "message", "value": "channel channel: create (block 0)"},
        {"name": "block", "value": "0"},
        {"name": "channel", "value": "channel"},
        {"name": "operation_id", "value": creation},
        {"name": "tx_id", "value": tx_ids[0]},
    ]


def test_scaling_and_organisations(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance(**TWO_ORGS)

    before = len(event_rows(db, bid))
    removed = _finished(tenant, tenant.update(bid, {"node_orgs": [{"name": "orga", "node_count": 1}]}))
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == _peer_events(bid, "orga", range(1, 2), "removed", removed)
    assert (new[0].name, new[-1].name) == ("OperationStarted", "OperationFinished")

    before = len(event_rows(db, bid))
    added = _finished(tenant, tenant.update(bid, {"node_orgs": [{"name": "orga", "node_count": 2}]}))
    started, finished = _operation_events(added, "blockchain.scale", "add or delete peers of organisations")
    assert _as_rows(event_rows(db, bid)[before:]) == [
        *started,
        *_peer_events(bid, "orga", range(1, 2), "added", added),
        *finished,
    ]

    before = len(event_rows(db, bid))
    org_added = _finished(
        tenant, tenant.update(bid, {"node_orgs": [{"name": "orgc", "node_count": 2, "pvc_name": "pvc-c"}]})
    )
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        *_peer_events(bid, "orgc", range(2), "added", org_added),
        ("OrgAdded", "info", "organisation orgc added", {"org": "orgc", "operation_id": org_added}),
    ]

    before = len(event_rows(db, bid))
    org_removed = _finished(
        tenant, tenant.update(bid, {"node_orgs": [{"name": "orgc", "node_count": 2}], "is_delete_org": True})
    )
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        *_peer_events(bid, "orgc", range(2), "removed", org_removed),
        ("OrgRemoved", "info", "organisation orgc removed", {"org": "orgc", "operation_id": org_removed}),
    ]
    assert new[0].metadata["operation_id"] == new[-1].metadata["operation_id"] == org_removed
    _check_listed(tenant, bid, db)
    # Filtering on the metadata the events carry.
    orgc_0, orgc_1 = peer_names(bid, "orgc", 2)
    found = events(
        tenant,
        bid,
        "-1.-1.60",
        metadata_relation=[
            {"key": "org", "value": ["orgc"], "relation": "AND"},
            {"key": "node", "value": [orgc_0], "relation": "NOT"},
        ],
        sort={"order_by": ["time"], "order": "asc"},
    )
    assert [(e.name, e.metadata.get("node")) for e in (shown(r, bid) for r in found)] == [
        ("PeerAdded", orgc_1),
        ("OrgAdded", None),
        ("PeerRemoved", orgc_1),
        ("OrgRemoved", None),
    ]


def test_channel_configuration_changes(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance(**TWO_ORGS)

    before = len(event_rows(db, bid))
    quit_ = _finished(tenant, tenant.remove_orgs(bid, "channel", ["orgb"]))
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        (
            "ChannelOrgRemoved",
            "info",
            "channel channel: org removed (block 1)",
            {
                "channel": "channel",
                "block": "1",
                "operation_id": quit_,
                "tx_id": tenant.history(bid)["blocks"][1]["tx_id"],
            },
        )
    ]
    assert new[0].metadata["operation_kind"] == new[-1].metadata["operation_kind"]

    before = len(event_rows(db, bid))
    joined = _finished(tenant, tenant.add_peers(bid, "channel", {"orgb": 1}))
    assert _as_rows(event_rows(db, bid)[before:][1:-1]) == [
        (
            "ChannelOrgAdded",
            "info",
            "channel channel: org added (block 2)",
            {
                "channel": "channel",
                "block": "2",
                "operation_id": joined,
                "tx_id": tenant.history(bid)["blocks"][2]["tx_id"],
            },
        )
    ]

    before = len(event_rows(db, bid))
    created = _finished(tenant, tenant.create_channels(bid, "second"))
    assert [(r.name, r.metadata.get("channel")) for r in event_rows(db, bid)[before:][1:-1]] == [
        ("ChannelCreated", "second")
    ]
    assert event_rows(db, bid)[before + 1].metadata["operation_id"] == created

    before = len(event_rows(db, bid))
    deleted = _finished(tenant, tenant.delete_channel(bid, "second"))
    assert _as_rows(event_rows(db, bid)[before:][1:-1]) == [
        ("ChannelDeleted", "info", "channel second deleted", {"channel": "second", "operation_id": deleted})
    ]
    stored = _check_listed(tenant, bid, db)
    found = events(tenant, bid, "-1.-1.60", search="channel second")
    assert [shown(r, bid).name for r in found] == ["ChannelDeleted", "ChannelCreated"]
    assert len(stored) == 4 + 3 * 4


def test_consortium_membership_on_both_instances(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    consortium = setup_consortium(client, make_account)
    inviter, invitee = consortium.inviter, consortium.invitee
    assert consortium.invitee_bcs_id is not None
    instances = {"inviter": (inviter, consortium.inviter_bcs_id), "invitee": (invitee, consortium.invitee_bcs_id)}
    meta = {"channel": "channel", "invitee": invitee.name, "inviter": inviter.name}

    def new_since(before: dict[str, int]) -> dict[str, list[EventRow]]:
        return {side: event_rows(db, bid)[before[side] :] for side, (_, bid) in instances.items()}

    before = {side: len(event_rows(db, bid)) for side, (_, bid) in instances.items()}
    join = consortium.join()
    joined = new_since(before)
    message = f"{invitee.name} joined channel channel"
    assert [r for r in joined["inviter"] if r.name == "MemberJoined"] == [
        EventRow("MemberJoined", "info", message, meta, joined["inviter"][-1].time, inviter.project_id)
    ]
    assert [(r.name, r.message, r.metadata, r.project_id) for r in joined["invitee"] if r.name == "MemberJoined"] == [
        ("MemberJoined", message, meta, invitee.project_id)
    ]
    # The inviter's channel got a block; the join operation ran on the invitee's instance.
    assert [(r.name, r.metadata.get("operation_id")) for r in joined["inviter"]] == [
        ("ChannelOrgAdded", join),
        ("MemberJoined", None),
    ]
    assert [r.name for r in joined["invitee"]] == ["OperationStarted", "MemberJoined", "OperationFinished"]

    before = {side: len(event_rows(db, bid)) for side, (_, bid) in instances.items()}
    quit_ = consortium.quit()
    left = new_since(before)
    message = f"{invitee.name} quit channel channel"
    for side in instances:
        assert [(r.name, r.message, r.metadata) for r in left[side] if r.name == "MemberQuit"] == [
            ("MemberQuit", message, meta)
        ], side
    assert [(r.name, r.metadata.get("operation_id")) for r in left["inviter"]] == [
        ("ChannelOrgRemoved", quit_),
        ("MemberQuit", None),
    ]

    for side, (party, bid) in instances.items():
        stored = event_rows(db, bid)
        relation = [{"key": "invitee", "value": [invitee.name], "relation": "AND"}]
        listed = [shown(r, bid) for r in events(party, bid, metadata_relation=relation)]
        assert [(e.name, e.message, e.metadata) for e in listed] == [
            (r.name, r.message, r.metadata) for r in reversed(stored) if r.name.startswith("Member")
        ], side
        assert [e.name for e in listed] == ["MemberQuit", "MemberJoined"]


def _user_cert(tenant: Tenant, bid: str, action: str) -> httpx.Response:
    """CreateBlockchainCertByUserName (hosted) of alice in orga (``issue``), or FreezeCert / UnfreezeCert of all her
    certificates (an empty body)."""
    path = f"/blockchains/{bid}/orgs/orga/usercert/alice"
    if action == "issue":
        return tenant.call("POST", path, {"security_mode": True})
    return tenant.call("POST", f"{path}/{action}", raw=b"")


def test_certificate_freeze_and_unfreeze(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance(**TWO_ORGS)
    assert _user_cert(tenant, bid, "issue").status_code == 200
    before = len(event_rows(db, bid))

    response = _user_cert(tenant, bid, "freeze")
    assert (response.status_code, response.json()) == (200, {"result": "success"})
    (frozen,) = event_rows(db, bid)[before:]
    (serial,) = frozen.metadata["serials"].split(",")
    assert (frozen.name, frozen.severity, frozen.message) == (
        "CertFrozen",
        "info",
        "1 certificate(s) of alice in orga frozen",
    )
    assert frozen.metadata == {"org": "orga", "user": "alice", "serials": serial}

    # A refused freeze (already frozen) records nothing.
    assert _user_cert(tenant, bid, "freeze").status_code == 400
    assert len(event_rows(db, bid)) == before + 1

    response = _user_cert(tenant, bid, "unfreeze")
    assert (response.status_code, response.json()) == (200, {"result": "success"})
    (unfrozen,) = event_rows(db, bid)[before + 1 :]
    assert (unfrozen.name, unfrozen.message, unfrozen.metadata) == (
        "CertUnfrozen",
        "1 certificate(s) of alice in orga unfrozen",
        {"org": "orga", "user": "alice", "serials": serial},
    )
    _check_listed(tenant, bid, db)
    found = events(tenant, bid, search=serial)
    assert [shown(r, bid).name for r in found] == ["CertUnfrozen", "CertFrozen"]
