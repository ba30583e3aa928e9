"""Each domain records its events, in the same transaction as the change: instance creation, scaling and
organisations, channel configuration changes, consortium membership (on both instances), certificate freezing.
Each test checks the stored rows and what ListBcsEvents shows for them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from tests.instances.helpers import Tenant, create_instance, wait_for_operation
from tests.certs.helpers import Certs
from tests.consortium.helpers import setup_consortium
from tests.monitoring.helpers import MS, EventRow, Shown, event_rows, events, shown

TWO_ORGS: dict[str, Any] = {
    "peer_orgs": [{"name": "orga", "node_count": 2}, {"name": "orgb", "node_count": 1}],
    "channels": [{"name": "channel", "org_names": ["orga", "orgb"]}],
}


def _hash(bid: str, org: str) -> str:
    return hashlib.sha1(f"{bid}/{org}".encode(), usedforsecurity=False).hexdigest()


def _as_rows(rows: list[EventRow]) -> list[tuple[str, str, str, dict[str, str]]]:
    return [(r.name, r.severity, r.message, r.metadata) for r in rows]


def _check_listed(client: TestClient, tenant: Tenant, bid: str, db: Database) -> list[EventRow]:
    """ListBcsEvents of the last hour shows exactly the stored events, newest first; the stored rows."""
    stored = event_rows(db, bid)
    assert all(r.project_id == tenant.project_id for r in stored)
    listed = [shown(r, bid) for r in events(client, tenant, bid, "-1.-1.60")]
    assert listed == [Shown(r.name, r.severity, r.message, r.metadata, r.time // MS) for r in reversed(stored)]
    return stored


def _operate(client: TestClient, tenant: Tenant, method: str, path: str, body: Any) -> str:
    """An asynchronous call that must be accepted and finish; its operation id."""
    response = client.request(
        method,
        f"{tenant.base}{path}",
        content=json.dumps(body),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    operation_id = str(response.json()["operation_id"])
    record = wait_for_operation(client, tenant.headers, tenant.project_id, operation_id)
    assert record["operation_status"] == "finished", record
    return operation_id


def _operation_events(operation_id: str, kind: str, description: str) -> tuple[list[Any], list[Any]]:
    meta = {"operation_id": operation_id, "operation_kind": kind}
    return (
        [("OperationStarted", "info", f"{description} started", meta)],
        [("OperationFinished", "info", f"{description} finished", meta)],
    )


def test_instance_creation(client: TestClient, tenant: Tenant, db: Database) -> None:
    bid = create_instance(client, tenant.headers, tenant.project_id, "bcs-events", **TWO_ORGS)
    (creation,) = {r.metadata["operation_id"] for r in event_rows(db, bid) if "operation_id" in r.metadata}
    started, finished = _operation_events(creation, "blockchain.create", "create a BCS instance")

    stored = _check_listed(client, tenant, bid, db)
    assert _as_rows(stored) == [
        *started,
        (
            "ChannelCreated",
            "info",
            "channel channel: create (block 0)",
            {"channel": "channel", "block": "0", "operation_id": creation},
        ),
        ("InstanceStateChanged", "info", "instance bcs-events is Normal", {"status": "Normal"}),
        *finished,
    ]
    # The results' dimensions: the fixed three, then the metadata by name.
    listed = events(client, tenant, bid, "-1.-1.60", search="ChannelCreated")
    assert listed[0]["metric"]["dimensions"] == [
        {"name": "blockchain_id", "value": bid},
        {"name": "severity", "value": "info"},
        {"name": "message", "value": "channel channel: create (block 0)"},
        {"name": "block", "value": "0"},
        {"name": "channel", "value": "channel"},
        {"name": "operation_id", "value": creation},
    ]


def test_scaling_and_organisations(client: TestClient, tenant: Tenant, db: Database) -> None:
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    path = f"/blockchains/{bid}"
    ha = _hash(bid, "orga")

    before = len(event_rows(db, bid))
    added = _operate(client, tenant, "PUT", path, {"node_orgs": [{"name": "orga", "node_count": 4}]})
    started, finished = _operation_events(added, "blockchain.scale", "add or delete peers of organisations")
    assert _as_rows(event_rows(db, bid)[before:]) == [
        *started,
        *[
            (
                "PeerAdded",
                "info",
                f"peer-{ha}-{n} of orga added",
                {"org": "orga", "node": f"peer-{ha}-{n}", "operation_id": added},
            )
            for n in (2, 3)
        ],
        *finished,
    ]

    before = len(event_rows(db, bid))
    removed = _operate(client, tenant, "PUT", path, {"node_orgs": [{"name": "orga", "node_count": 1}]})
    new = event_rows(db, bid)[before:]
    assert [(r.name, r.metadata.get("node")) for r in new[1:-1]] == [
        ("PeerRemoved", f"peer-{ha}-1"),
        ("PeerRemoved", f"peer-{ha}-2"),
        ("PeerRemoved", f"peer-{ha}-3"),
    ]
    assert new[1].message == f"peer-{ha}-1 of orga removed"
    assert new[1].metadata == {"org": "orga", "node": f"peer-{ha}-1", "operation_id": removed}
    assert (new[0].name, new[-1].name) == ("OperationStarted", "OperationFinished")

    before = len(event_rows(db, bid))
    org_added = _operate(
        client, tenant, "PUT", path, {"node_orgs": [{"name": "orgc", "node_count": 2, "pvc_name": "pvc-c"}]}
    )
    hc = _hash(bid, "orgc")
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        *[
            (
                "PeerAdded",
                "info",
                f"peer-{hc}-{n} of orgc added",
                {"org": "orgc", "node": f"peer-{hc}-{n}", "operation_id": org_added},
            )
            for n in (0, 1)
        ],
        ("OrgAdded", "info", "organisation orgc added", {"org": "orgc", "operation_id": org_added}),
    ]

    before = len(event_rows(db, bid))
    org_removed = _operate(
        client, tenant, "PUT", path, {"node_orgs": [{"name": "orgc", "node_count": 2}], "is_delete_org": True}
    )
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        *[
            (
                "PeerRemoved",
                "info",
                f"peer-{hc}-{n} of orgc removed",
                {"org": "orgc", "node": f"peer-{hc}-{n}", "operation_id": org_removed},
            )
            for n in (0, 1)
        ],
        ("OrgRemoved", "info", "organisation orgc removed", {"org": "orgc", "operation_id": org_removed}),
    ]
    assert new[0].metadata["operation_id"] == new[-1].metadata["operation_id"] == org_removed
    _check_listed(client, tenant, bid, db)
    # Filtering on the metadata the events carry.
    found = events(
        client,
        tenant,
        bid,
        "-1.-1.60",
        metadata_relation=[
            {"key": "org", "value": ["orgc"], "relation": "AND"},
            {"key": "node", "value": [f"peer-{hc}-0"], "relation": "NOT"},
        ],
        sort={"order_by": ["time"], "order": "asc"},
    )
    assert [(r.name, r.metadata.get("node")) for r in map(lambda x: shown(x, bid), found)] == [
        ("PeerAdded", f"peer-{hc}-1"),
        ("OrgAdded", None),
        ("PeerRemoved", f"peer-{hc}-1"),
        ("OrgRemoved", None),
    ]


def test_channel_configuration_changes(client: TestClient, tenant: Tenant, db: Database) -> None:
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)

    before = len(event_rows(db, bid))
    quit_ = _operate(client, tenant, "PUT", f"/blockchains/{bid}/channel/orgs/quit", {"org_names": ["orgb"]})
    new = event_rows(db, bid)[before:]
    assert _as_rows(new[1:-1]) == [
        (
            "ChannelOrgRemoved",
            "info",
            "channel channel: org removed (block 1)",
            {"channel": "channel", "block": "1", "operation_id": quit_},
        )
    ]
    assert new[0].metadata["operation_kind"] == new[-1].metadata["operation_kind"]

    before = len(event_rows(db, bid))
    body = {"channel_peers": [{"channel_name": "channel", "peers": {"orgb": 1}}]}
    joined = _operate(client, tenant, "POST", f"/blockchains/{bid}/channels/peers", body)
    assert _as_rows(event_rows(db, bid)[before:][1:-1]) == [
        (
            "ChannelOrgAdded",
            "info",
            "channel channel: org added (block 2)",
            {"channel": "channel", "block": "2", "operation_id": joined},
        )
    ]

    before = len(event_rows(db, bid))
    created = _operate(
        client, tenant, "POST", f"/blockchains/{bid}/channels", {"channels": [{"channel_name": "second"}]}
    )
    assert [(r.name, r.metadata.get("channel")) for r in event_rows(db, bid)[before:][1:-1]] == [
        ("ChannelCreated", "second")
    ]
    assert event_rows(db, bid)[before + 1].metadata["operation_id"] == created

    before = len(event_rows(db, bid))
    deleted = _operate(client, tenant, "DELETE", f"/blockchains/{bid}/channel/second", None)
    assert _as_rows(event_rows(db, bid)[before:][1:-1]) == [
        ("ChannelDeleted", "info", "channel second deleted", {"channel": "second", "operation_id": deleted})
    ]
    stored = _check_listed(client, tenant, bid, db)
    found = events(client, tenant, bid, "-1.-1.60", search="channel second")
    assert [shown(r, bid).name for r in found] == ["ChannelDeleted", "ChannelCreated"]
    assert len(stored) == 4 + 3 * 4


def test_consortium_membership_on_both_instances(client: TestClient, make_account: Any, db: Database) -> None:
    consortium = setup_consortium(client, make_account)
    inviter, invitee = consortium.inviter, consortium.invitee
    assert consortium.invitee_bcs_id is not None
    instances = {"inviter": (inviter, consortium.inviter_bcs_id), "invitee": (invitee, consortium.invitee_bcs_id)}
    meta = {"channel": "channel", "invitee": invitee.name, "inviter": inviter.name}

    before = {side: len(event_rows(db, bid)) for side, (_, bid) in instances.items()}
    join = consortium.join()
    joined = {side: event_rows(db, bid)[before[side] :] for side, (_, bid) in instances.items()}
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
    left = {side: event_rows(db, bid)[before[side] :] for side, (_, bid) in instances.items()}
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
        listed = [
            shown(r, bid)
            for r in events(
                client,
                _tenant(party),
                bid,
                metadata_relation=[{"key": "invitee", "value": [invitee.name], "relation": "AND"}],
            )
        ]
        assert [(e.name, e.message, e.metadata) for e in listed] == [
            (r.name, r.message, r.metadata) for r in reversed(stored) if r.name.startswith("Member")
        ], side
        assert [e.name for e in listed] == ["MemberQuit", "MemberJoined"]


def _tenant(party: Any) -> Tenant:
    return Tenant(party.account, party.token)


def test_certificate_freeze_and_unfreeze(client: TestClient, tenant: Tenant, db: Database) -> None:
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    certs = Certs(client, tenant)
    certs.issue(bid, "orga", "alice", hosted=True)
    before = len(event_rows(db, bid))

    response = certs.set_frozen(bid, "orga", "alice", "freeze")
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
    assert certs.set_frozen(bid, "orga", "alice", "freeze").status_code == 400
    assert len(event_rows(db, bid)) == before + 1

    response = certs.set_frozen(bid, "orga", "alice", "unfreeze")
    assert response.status_code == 200
    (unfrozen,) = event_rows(db, bid)[before + 1 :]
    assert (unfrozen.name, unfrozen.message, unfrozen.metadata) == (
        "CertUnfrozen",
        "1 certificate(s) of alice in orga unfrozen",
        {"org": "orga", "user": "alice", "serials": serial},
    )
    _check_listed(client, tenant, bid, db)
    found = events(client, tenant, bid, search=serial)
    assert [shown(r, bid).name for r in found] == ["CertUnfrozen", "CertFrozen"]
