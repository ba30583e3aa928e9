"""BatchRemoveOrgsFromChannel and DeleteChannel."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.channels.helpers import Bcs, block_orgs, count_rows, error, peer_names, snapshot


def _instance(bcs: Bcs) -> str:
    """orga (3 peers) and orgb (2 peers), both wholly in channel ``trade``; orgc (1 peer) in no channel."""
    bid = bcs.create_instance(
        "chan-orgs", peer_orgs=[("orga", 3), ("orgb", 2), ("orgc", 1)], channels=[("trade", ["orga", "orgb"])]
    )
    return bid


# --- removing organisations --------------------------------------------------------------------------------------


def test_removing_an_organisation_takes_its_peers_and_adds_a_block(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    response = bcs.remove_orgs(bid, "trade", ["orga"])
    record = bcs.run(response)

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "06")
    assert bcs.channel(bid, "trade")["peers"] == {"orgb": peer_names(bid, "orgb", 2)}
    nodes = bcs.nodes(bid)
    assert all(p["channels"] == [] for p in nodes["orga"]["peers"].values())
    assert all(p["channels"] == ["trade"] for p in nodes["orgb"]["peers"].values())
    history = bcs.history(bid, "trade")
    assert history["verified"] is True
    assert [b["event"] for b in history["blocks"]] == ["create", "org_removed"]
    removed = history["blocks"][1]
    assert removed["orgs"] == block_orgs(bid, "orgb")
    assert removed["cause"] == response.json()["operation_id"]
    detail = {c["name"]: c for c in bcs.detail(bid)["channels"]}["trade"]
    assert detail["org_names"] == ["orgb"]
    assert count_rows(db, "channel_orgs") == 1
    assert count_rows(db, "channel_peers") == 2


def test_removing_every_organisation_leaves_an_empty_channel(bcs: Bcs) -> None:
    bid = _instance(bcs)
    bcs.run(bcs.remove_orgs(bid, "trade", ["orgb", "orga"]))
    assert bcs.channel(bid, "trade")["peers"] == {}
    history = bcs.history(bid, "trade")
    assert history["verified"] is True
    assert [(b["event"], b["orgs"]) for b in history["blocks"]] == [
        ("create", block_orgs(bid, "orga", "orgb")),
        ("org_removed", []),
    ]


def test_an_organisation_that_left_can_join_again(bcs: Bcs) -> None:
    bid = _instance(bcs)
    bcs.run(bcs.remove_orgs(bid, "trade", ["orga"]))
    bcs.run(bcs.add_peers(bid, "trade", {"orga": 1}))
    assert bcs.channel(bid, "trade")["peers"] == {
        "orgb": peer_names(bid, "orgb", 2),
        "orga": peer_names(bid, "orga", 1),
    }
    history = bcs.history(bid, "trade")
    assert [b["event"] for b in history["blocks"]] == ["create", "org_removed", "org_added"]
    assert history["blocks"][-1]["orgs"] == block_orgs(bid, "orga", "orgb")
    assert history["verified"] is True


@pytest.mark.parametrize(
    ("org_names", "code", "message"),
    [
        (["orgc"], "BCS.4006003", "Invalid Parameter org orgc status : not in channel trade"),
        (["orga", "orgc"], "BCS.4006003", "Invalid Parameter org orgc status : not in channel trade"),
        (["orga", "orga"], "BCS.4006014", "each organisation at most once"),
        (["orgz"], "BCS.4001051", "Input org orgz is not exist"),
        (["orderer"], "BCS.4001051", "Input org orderer is not exist"),
        ([], "BCS.4006014", "org_names"),
    ],
    ids=["not-in-channel", "one-of-two-not-in", "duplicate", "unknown-org", "orderer-org", "empty-list"],
)
def test_a_refused_removal_changes_nothing(
    bcs: Bcs, db: Database, org_names: list[str], code: str, message: str
) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    response = bcs.remove_orgs(bid, "trade", org_names)
    assert error(response) == (400, code)
    assert message in response.json()["error_msg"]
    assert snapshot(db) == before


def test_removing_organisations_from_an_unknown_channel_is_refused(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    response = bcs.remove_orgs(bid, "nochan", ["orga"])
    assert error(response) == (400, "BCS.4001052")
    assert response.json()["error_msg"] == "Input channel nochan is not exist"
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "BCS.4006009"), ({"org_names": "orga"}, "BCS.4006003"), ({"org_names": [1]}, "BCS.4006003")],
    ids=["missing", "not-a-list", "not-strings"],
)
def test_a_malformed_org_removal_body_is_refused(bcs: Bcs, db: Database, body: dict[str, Any], code: str) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    response = bcs.call("PUT", f"/blockchains/{bid}/trade/orgs/quit", body)
    assert error(response) == (400, code)
    assert snapshot(db) == before


def test_an_organisation_in_a_channel_cannot_be_deleted_until_it_leaves(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    refused = bcs.update(bid, {"node_orgs": [{"name": "orga", "node_count": 3}], "is_delete_org": True})
    assert error(refused) == (400, "BCS.4006003")
    assert "trade" in refused.json()["error_msg"]
    assert snapshot(db) == before

    bcs.run(bcs.remove_orgs(bid, "trade", ["orga"]))
    bcs.run(bcs.update(bid, {"node_orgs": [{"name": "orga", "node_count": 3}], "is_delete_org": True}))
    assert sorted(bcs.nodes(bid)) == ["orgb", "orgc"]
    history = bcs.history(bid, "trade")
    assert history["verified"] is True
    assert history["blocks"][-1]["orgs"] == block_orgs(bid, "orgb")


# --- deleting channels -------------------------------------------------------------------------------------------


def test_a_channel_with_organisations_cannot_be_deleted(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    response = bcs.delete_channel(bid, "trade")
    assert error(response) == (400, "BCS.4006003")
    assert response.json()["error_msg"].startswith("Invalid Parameter channel trade status : ")
    assert snapshot(db) == before
    assert [c["name"] for c in bcs.channels(bid)] == ["trade"]


def test_an_empty_channel_is_deleted_with_its_history(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    bcs.run(bcs.create_channels(bid, "spare"))
    bcs.run(bcs.remove_orgs(bid, "trade", ["orga", "orgb"]))
    blocks_of_spare = count_rows(db, "channel_config_blocks") - 2

    record = bcs.run(bcs.delete_channel(bid, "trade"))

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "06")
    assert [c["name"] for c in bcs.channels(bid)] == ["spare"]
    assert [c["name"] for c in bcs.detail(bid)["channels"]] == ["spare"]
    gone = bcs.call("GET", f"/blockchains/{bid}/channels/trade/config-history")
    assert error(gone) == (400, "BCS.4001052")
    assert count_rows(db, "channels") == 1
    assert count_rows(db, "channel_config_blocks") == blocks_of_spare == 1
    assert count_rows(db, "channel_orgs") == count_rows(db, "channel_peers") == 0

    # The name is free again: a new channel of that name starts a new history.
    bcs.run(bcs.create_channels(bid, "trade"))
    history = bcs.history(bid, "trade")
    assert [(b["number"], b["event"], b["orgs"]) for b in history["blocks"]] == [(0, "create", [])]
    assert history["verified"] is True


def test_a_freshly_created_channel_can_be_deleted(bcs: Bcs, db: Database) -> None:
    bid = bcs.create_instance("chan-fresh", channels=[])
    bcs.run(bcs.create_channels(bid, "brief"))
    bcs.run(bcs.delete_channel(bid, "brief"))
    assert bcs.channels(bid) == []
    assert count_rows(db, "channels") == count_rows(db, "channel_config_blocks") == 0


def test_deleting_an_unknown_channel_is_refused(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    before = snapshot(db)
    response = bcs.delete_channel(bid, "nochan")
    assert error(response) == (400, "BCS.4001052")
    assert response.json()["error_msg"] == "Input channel nochan is not exist"
    assert snapshot(db) == before


def test_deleting_the_instance_deletes_its_channels(bcs: Bcs, db: Database) -> None:
    bid = _instance(bcs)
    bcs.run(bcs.create_channels(bid, "spare"))
    response = bcs.delete_instance(bid)
    assert response.status_code == 200
    bcs.wait(response.json()["operation_id"])
    assert bcs.instances() == []
    for table in ("channels", "channel_orgs", "channel_peers", "channel_config_blocks"):
        assert count_rows(db, table) == 0, table
