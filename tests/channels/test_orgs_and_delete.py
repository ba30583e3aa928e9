"""BatchRemoveOrgsFromChannel and DeleteChannel."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.channels.helpers import block_orgs
from tests.support.errors import assert_error
from tests.support.expected import peer_names
from tests.support.operations import operation_locks
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant

NO_CHANNEL = "Input channel nochan is not exist"


def _instance(tenant: Tenant) -> str:
    """orga (3 peers) and orgb (2 peers), both wholly in channel ``trade``; orgc (1 peer) in no channel."""
    return tenant.create_instance(
        "chan-orgs", peer_orgs=[("orga", 3), ("orgb", 2), ("orgc", 1)], channels=[("trade", ["orga", "orgb"])]
    )


# --- removing organisations --------------------------------------------------------------------------------------


def test_removing_an_organisation_takes_its_peers_and_adds_a_block(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    response = tenant.remove_orgs(bid, "trade", ["orga"])
    record = tenant.run(response)

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "06")
    assert tenant.channel(bid, "trade")["peers"] == {"orgb": peer_names(bid, "orgb", 2)}
    nodes = tenant.nodes(bid)
    assert all(p["channels"] == [] for p in nodes["orga"]["peers"].values())
    assert all(p["channels"] == ["trade"] for p in nodes["orgb"]["peers"].values())
    history = tenant.history(bid, "trade")
    assert history["verified"] is True
    assert [b["event"] for b in history["blocks"]] == ["create", "org_removed"]
    removed = history["blocks"][1]
    assert removed["orgs"] == block_orgs(bid, "orgb")
    assert removed["cause"] == response.json()["operation_id"]
    detail = {c["name"]: c for c in tenant.detail(bid)["channels"]}["trade"]
    assert detail["org_names"] == ["orgb"]
    assert row_count(db, "channel_orgs") == 1
    assert row_count(db, "channel_peers") == 2
    assert operation_locks(db) == []


def test_removing_every_organisation_leaves_an_empty_channel(tenant: Tenant) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.remove_orgs(bid, "trade", ["orgb", "orga"]))
    assert tenant.channel(bid, "trade")["peers"] == {}
    history = tenant.history(bid, "trade")
    assert history["verified"] is True
    assert [(b["event"], b["orgs"]) for b in history["blocks"]] == [
        ("create", block_orgs(bid, "orga", "orgb")),
        ("org_removed", []),
    ]


def test_an_organisation_that_left_can_join_again(tenant: Tenant) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.remove_orgs(bid, "trade", ["orga"]))
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 1}))
    assert tenant.channel(bid, "trade")["peers"] == {
        "orgb": peer_names(bid, "orgb", 2),
        "orga": peer_names(bid, "orga", 1),
    }
    history = tenant.history(bid, "trade")
    assert [b["event"] for b in history["blocks"]] == ["create", "org_removed", "org_added"]
    assert history["blocks"][-1]["orgs"] == block_orgs(bid, "orga", "orgb")
    assert history["verified"] is True


@pytest.mark.parametrize(
    ("channel", "body", "code", "message"),
    [
        ("trade", {"org_names": ["orgc"]}, "BCS.4006003", "Invalid Parameter org orgc status : not in channel trade"),
        (
            "trade",
            {"org_names": ["orga", "orgc"]},
            "BCS.4006003",
            "Invalid Parameter org orgc status : not in channel trade",
        ),
        ("trade", {"org_names": ["orga", "orga"]}, "BCS.4006014", "each organisation at most once"),
        ("trade", {"org_names": ["orgz"]}, "BCS.4001051", "Input org orgz is not exist"),
        ("trade", {"org_names": ["orderer"]}, "BCS.4001051", "Input org orderer is not exist"),
        ("trade", {"org_names": []}, "BCS.4006014", "org_names"),
        ("nochan", {"org_names": ["orga"]}, "BCS.4001052", NO_CHANNEL),
        ("trade", {}, "BCS.4006009", "org_names"),
        ("trade", {"org_names": "orga"}, "BCS.4006003", "org_names"),
        ("trade", {"org_names": [1]}, "BCS.4006003", "org_names"),
    ],
    ids=[
        "not-in-channel",
        "one-of-two-not-in",
        "duplicate",
        "unknown-org",
        "orderer-org",
        "empty-list",
        "unknown-channel",
        "missing",
        "not-a-list",
        "not-strings",
    ],
)
def test_a_refused_removal_changes_nothing(
    tenant: Tenant, db: Database, channel: str, body: dict[str, Any], code: str, message: str
) -> None:
    bid = _instance(tenant)
    before = snapshot(db)
    assert_error(tenant.call("PUT", f"/blockchains/{bid}/{channel}/orgs/quit", body), 400, code, contains=message)
    assert snapshot(db) == before
    assert sorted(tenant.channel(bid, "trade")["peers"]) == ["orga", "orgb"]


def test_an_organisation_in_a_channel_cannot_be_deleted_until_it_leaves(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    delete_orga = {"node_orgs": [{"name": "orga", "node_count": 2}], "is_delete_org": True}
    before = snapshot(db)
    assert_error(tenant.update(bid, delete_orga), 400, "BCS.4006003", contains="trade")
    assert snapshot(db) == before

    tenant.run(tenant.remove_orgs(bid, "trade", ["orga"]))
    tenant.run(tenant.update(bid, delete_orga))
    assert sorted(tenant.nodes(bid)) == ["orgb", "orgc"]
    history = tenant.history(bid, "trade")
    assert history["verified"] is True
    assert history["blocks"][-1]["orgs"] == block_orgs(bid, "orgb")


# --- deleting channels -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "code", "message"),
    [
        ("trade", "BCS.4006003", r"^Invalid Parameter channel trade status : "),
        ("nochan", "BCS.4001052", rf"^{NO_CHANNEL}$"),
    ],
    ids=["with-organisations", "unknown"],
)
def test_a_channel_with_organisations_or_unknown_cannot_be_deleted(
    tenant: Tenant, db: Database, channel: str, code: str, message: str
) -> None:
    bid = _instance(tenant)
    before = snapshot(db)
    assert_error(tenant.delete_channel(bid, channel), 400, code, matches=message)
    assert snapshot(db) == before
    assert [c["name"] for c in tenant.channels(bid)] == ["trade"]


def test_an_empty_channel_is_deleted_with_its_history(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.create_channels(bid, "spare"))
    tenant.run(tenant.remove_orgs(bid, "trade", ["orga", "orgb"]))
    blocks_of_spare = row_count(db, "channel_config_blocks") - 2

    record = tenant.run(tenant.delete_channel(bid, "trade"))

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "06")
    assert [c["name"] for c in tenant.channels(bid)] == ["spare"]
    assert [c["name"] for c in tenant.detail(bid)["channels"]] == ["spare"]
    gone = tenant.call("GET", f"/blockchains/{bid}/channels/trade/config-history")
    assert_error(gone, 400, "BCS.4001052", "Input channel trade is not exist")
    assert row_count(db, "channels") == 1
    assert row_count(db, "channel_config_blocks") == blocks_of_spare == 1
    assert row_count(db, "channel_orgs") == row_count(db, "channel_peers") == 0

    # The name is free again: a new channel of that name starts a new history.
    tenant.run(tenant.create_channels(bid, "trade"))
    history = tenant.history(bid, "trade")
    assert [(b["number"], b["event"], b["orgs"]) for b in history["blocks"]] == [(0, "create", [])]
    assert history["verified"] is True


def test_a_freshly_created_channel_can_be_deleted(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("chan-fresh", channels=[])
    tenant.run(tenant.create_channels(bid, "brief"))
    tenant.run(tenant.delete_channel(bid, "brief"))
    assert tenant.channels(bid) == []
    assert row_count(db, "channels") == row_count(db, "channel_config_blocks") == 0


def test_deleting_the_instance_deletes_its_channels(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.create_channels(bid, "spare"))
    tenant.run(tenant.delete_instance(bid))
    assert tenant.instance_ids() == []
    for table in ("channels", "channel_orgs", "channel_peers", "channel_config_blocks"):
        assert row_count(db, table) == 0, table
