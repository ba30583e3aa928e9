"""BatchAddPeersToChannel and BatchRemovePeersFromChannel."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.channels.helpers import block_orgs
from tests.support.errors import assert_error
from tests.support.expected import peer_names
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant


def _instance(tenant: Tenant) -> str:
    """orga with 3 peers, orgb with 2, and an empty channel ``trade``."""
    bid = tenant.create_instance("chan-peers", peer_orgs=[("orga", 3), ("orgb", 2)], channels=[])
    tenant.run(tenant.create_channels(bid, "trade"))
    return bid


def _channels_of_peers(tenant: Tenant, bid: str) -> dict[str, list[str]]:
    return {name: peer["channels"] for org in tenant.nodes(bid).values() for name, peer in org["peers"].items()}


# --- adding ------------------------------------------------------------------------------------------------------


def test_an_organisation_new_to_the_channel_joins_with_a_configuration_block(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    response = tenant.add_peers(bid, "trade", {"orga": 2})
    record = tenant.run(response)

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "04")
    assert tenant.channel(bid, "trade")["peers"] == {"orga": peer_names(bid, "orga", 2)}
    history = tenant.history(bid, "trade")
    assert history["verified"] is True
    assert [b["event"] for b in history["blocks"]] == ["create", "org_added"]
    added = history["blocks"][1]
    assert added["orgs"] == block_orgs(bid, "orga")
    assert added["orgs"][0]["msp_id"] == tenant.nodes(bid)["orga"]["org_msp_id"]
    assert added["cause"] == response.json()["operation_id"]
    assert added["previous_hash"] == history["blocks"][0]["hash"]
    # The nodes view shows each peer's channels: the two lowest-numbered peers of orga joined.
    a, b = peer_names(bid, "orga", 3), peer_names(bid, "orgb", 2)
    assert _channels_of_peers(tenant, bid) == {a[0]: ["trade"], a[1]: ["trade"], a[2]: [], b[0]: [], b[1]: []}
    detail = {c["name"]: c for c in tenant.detail(bid)["channels"]}["trade"]
    assert detail["org_names"] == ["orga"]
    assert detail["peers"] == {"orga": a[:2]}
    assert row_count(db, "channel_orgs") == 1
    assert row_count(db, "channel_peers") == 2


def test_more_peers_of_an_organisation_already_in_add_no_block(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 1}))
    blocks_before = tenant.history(bid, "trade")["blocks"]

    tenant.run(tenant.add_peers(bid, "trade", {"orga": 2}))

    assert tenant.history(bid, "trade")["blocks"] == blocks_before
    assert tenant.channel(bid, "trade")["peers"] == {"orga": peer_names(bid, "orga", 3)}
    assert row_count(db, "channel_config_blocks") == 2
    # Every peer of orga is in now: asking for more is a state error, and changes nothing.
    before = snapshot(db)
    response = tenant.add_peers(bid, "trade", {"orga": 1})
    assert_error(response, 400, "BCS.4006003", contains="all its peers are in channel trade already")
    assert snapshot(db) == before


def test_two_new_organisations_in_one_call_add_one_block(tenant: Tenant) -> None:
    """One configuration change per call, as when organisations leave (docs/instances.md)."""
    bid = _instance(tenant)
    response = tenant.add_peers(bid, "trade", {"orga": 3, "orgb": 1})
    tenant.run(response)
    history = tenant.history(bid, "trade")
    assert history["verified"] is True
    assert [b["event"] for b in history["blocks"]] == ["create", "org_added"]
    assert history["blocks"][1]["orgs"] == block_orgs(bid, "orga", "orgb")
    assert history["blocks"][1]["cause"] == response.json()["operation_id"]
    assert tenant.channel(bid, "trade")["peers"] == {
        "orga": peer_names(bid, "orga", 3),
        "orgb": peer_names(bid, "orgb", 1),
    }


def test_peers_join_channels_independently(tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-two", peer_orgs=[("orga", 2)])  # default channel "channel" has both peers
    tenant.run(tenant.create_channels(bid, "second"))
    tenant.run(tenant.add_peers(bid, "second", {"orga": 1}))
    a = peer_names(bid, "orga", 2)
    assert _channels_of_peers(tenant, bid) == {a[0]: ["channel", "second"], a[1]: ["channel"]}


@pytest.mark.parametrize(
    ("channel_peers", "code", "message"),
    [
        (
            [{"channel_name": "trade", "peers": {"orga": 1}}, {"channel_name": "trade", "peers": {"orgb": 1}}],
            "BCS.4006014",
            "Invalid Parameter channel_peers : List should have at most 1 item after validation, not 2",
        ),
        ([{"channel_name": "nochan", "peers": {"orga": 1}}], "BCS.4001052", "Input channel nochan is not exist"),
        ([{"channel_name": "trade", "peers": {"orgz": 1}}], "BCS.4001051", "Input org orgz is not exist"),
        ([{"channel_name": "trade", "peers": {"orderer": 1}}], "BCS.4001051", "Input org orderer is not exist"),
        ([{"channel_name": "trade", "peers": {"orga": 0}}], "BCS.4006014", "peers.orga : Input should be greater"),
        ([{"channel_name": "trade", "peers": {"orga": 4}}], "BCS.4006014", "1 to 3"),
        ([{"channel_name": "trade", "peers": {"orga": -1}}], "BCS.4006014", "peers.orga : Input should be greater"),
        ([{"channel_name": "trade", "peers": {"orga": 6}}], "BCS.4006014", "peers.orga : Input should be less than"),
        ([{"channel_name": "trade", "peers": {"orga": 2**63}}], "BCS.4006014", "Input should be less than or equal"),
        ([{"channel_name": "trade", "peers": {"orga": 1, "orgb": 3}}], "BCS.4006014", "1 to 2"),
        ([{"channel_name": "trade", "peers": {"orga": "1"}}], "BCS.4006003", "integer"),
        ([{"channel_name": "trade", "peers": {}}], "BCS.4006014", "peers"),
        ([], "BCS.4006014", "channel_peers"),
    ],
    ids=[
        "two-channels",
        "unknown-channel",
        "unknown-org",
        "orderer-org",
        "zero",
        "more-than-available",
        "negative",
        "over-the-flavor",
        "beyond-64-bits",
        "second-org-too-many",
        "count-as-string",
        "no-orgs",
        "no-channels",
    ],
)
def test_a_refused_addition_changes_nothing(
    tenant: Tenant, db: Database, channel_peers: list[dict[str, Any]], code: str, message: str
) -> None:
    bid = _instance(tenant)
    before = snapshot(db)
    response = tenant.call("POST", f"/blockchains/{bid}/channels/peers", {"channel_peers": channel_peers})
    assert_error(response, 400, code, contains=message)
    assert snapshot(db) == before
    assert tenant.channel(bid, "trade")["peers"] == {}


# --- removing ----------------------------------------------------------------------------------------------------


def test_removing_peers_takes_the_highest_numbered_and_adds_no_block(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 3, "orgb": 2}))
    blocks_before = tenant.history(bid, "trade")["blocks"]

    record = tenant.run(tenant.remove_peers(bid, "trade", "orga", 2))

    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "06")
    a, b = peer_names(bid, "orga", 3), peer_names(bid, "orgb", 2)
    assert tenant.channel(bid, "trade")["peers"] == {"orga": a[:1], "orgb": b}
    assert tenant.history(bid, "trade")["blocks"] == blocks_before
    assert _channels_of_peers(tenant, bid) == {a[0]: ["trade"], a[1]: [], a[2]: [], b[0]: ["trade"], b[1]: ["trade"]}
    assert row_count(db, "channel_peers") == 3

    # The freed peers can join again: the lowest-numbered ones not in come back.
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 1}))
    assert tenant.channel(bid, "trade")["peers"]["orga"] == a[:2]
    assert tenant.history(bid, "trade")["blocks"] == blocks_before


FEWER = "fewer than the 3 peer(s) of orga"


@pytest.mark.parametrize(
    ("channel", "body", "code", "message"),
    [
        (
            "trade",
            {"org_name": "orga", "peers": 0},
            "BCS.4006014",
            "peers : Input should be greater than or equal to 1",
        ),
        ("trade", {"org_name": "orga", "peers": 3}, "BCS.4006014", FEWER),
        ("trade", {"org_name": "orga", "peers": 4}, "BCS.4006014", FEWER),
        (
            "trade",
            {"org_name": "orga", "peers": -1},
            "BCS.4006014",
            "peers : Input should be greater than or equal to 1",
        ),
        ("trade", {"org_name": "orga", "peers": 5}, "BCS.4006014", "peers : Input should be less than or equal to 4"),
        ("trade", {"org_name": "orga", "peers": -(2**70)}, "BCS.4006014", "Input should be greater than or equal to 1"),
        (
            "trade",
            {"org_name": "orgb", "peers": 1},
            "BCS.4006003",
            "Invalid Parameter org orgb status : not in channel trade",
        ),
        ("trade", {"org_name": "orgz", "peers": 1}, "BCS.4001051", "Input org orgz is not exist"),
        ("nochan", {"org_name": "orga", "peers": 1}, "BCS.4001052", "Input channel nochan is not exist"),
        ("trade", {"org_name": "orga"}, "BCS.4006009", "peers"),
        ("trade", {"peers": 1}, "BCS.4006009", "org_name"),
        ("trade", {"org_name": "orga", "peers": "1"}, "BCS.4006003", "peers"),
        ("trade", {"org_name": "orga", "peers": 1.5}, "BCS.4006003", "peers"),
        ("trade", {"org_name": "orga", "peers": 1, "extra": True}, "BCS.4006014", "extra"),
    ],
    ids=[
        "zero",
        "all-of-them",
        "more",
        "negative",
        "over-the-flavor",
        "beyond-64-bits",
        "org-not-in-channel",
        "unknown-org",
        "unknown-channel",
        "no-peers",
        "no-org",
        "peers-string",
        "peers-float",
        "unknown-field",
    ],
)
def test_a_refused_peer_removal_changes_nothing(
    tenant: Tenant, db: Database, channel: str, body: dict[str, Any], code: str, message: str
) -> None:
    """No peer, all of them or more, an organisation or channel that does not fit, or a malformed body."""
    bid = _instance(tenant)
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 3}))
    before = snapshot(db)
    assert_error(tenant.call("PUT", f"/blockchains/{bid}/{channel}/peers/quit", body), 400, code, contains=message)
    assert snapshot(db) == before
    assert tenant.channel(bid, "trade")["peers"] == {"orga": peer_names(bid, "orga", 3)}


def test_the_only_peer_of_an_organisation_in_a_channel_cannot_leave_this_way(tenant: Tenant, db: Database) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.add_peers(bid, "trade", {"orgb": 1}))
    before = snapshot(db)
    response = tenant.remove_peers(bid, "trade", "orgb", 1)
    assert_error(response, 400, "BCS.4006014", contains="BatchRemoveOrgsFromChannel")
    assert snapshot(db) == before


def test_deleting_peers_of_the_instance_takes_them_out_of_channels_without_a_block(tenant: Tenant) -> None:
    bid = _instance(tenant)
    tenant.run(tenant.add_peers(bid, "trade", {"orga": 3}))
    blocks_before = tenant.history(bid, "trade")["blocks"]
    tenant.run(tenant.update(bid, {"node_orgs": [{"name": "orga", "node_count": 1}]}))
    assert tenant.channel(bid, "trade")["peers"] == {"orga": peer_names(bid, "orga", 1)}
    history = tenant.history(bid, "trade")
    assert history["blocks"] == blocks_before
    assert history["verified"] is True
