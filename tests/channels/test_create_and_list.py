"""BatchCreateChannels and ListBlockchainChannels."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from openbcs.network.config_history import GENESIS_PREVIOUS_HASH
from openbcs.kernel.db import Database
from tests.channels.helpers import (
    DEFAULT_ORG,
    OPERATION_ID,
    Bcs,
    block_orgs,
    count_rows,
    error,
    orderer_names,
    org_hash,
    peer_names,
    recompute_hashes,
    snapshot,
)

CHANNEL_KEYS = {"name", "description", "create_time", "consensus", "peers", "consensusNodes"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_new_channels_start_empty_with_a_genesis_block(bcs: Bcs, db: Database) -> None:
    bid = bcs.create_instance("chan-create", peer_orgs=[("orga", 2)], channels=[])
    assert bcs.channels(bid) == []

    response = bcs.create_channels(bid, "alpha", "beta2", description="payments")
    record = bcs.run(response)
    operation_id = response.json()["operation_id"]

    assert re.match(OPERATION_ID, operation_id)
    assert (record["resource_type"], record["operation_type"], record["blockchain_id"]) == ("BCSSVC01", "04", bid)
    assert record["operation_id"] == operation_id
    listed = {c["name"]: c for c in bcs.channels(bid)}
    assert list(listed) == ["alpha", "beta2"]
    for name in ("alpha", "beta2"):
        assert listed[name]["peers"] == {}
        assert listed[name]["description"] == "payments"
        history = bcs.history(bid, name)
        assert history["verified"] is True
        assert history["channel_name"] == name
        (genesis,) = history["blocks"]
        assert genesis["number"] == 0
        assert genesis["event"] == "create"
        assert genesis["orgs"] == []
        assert genesis["previous_hash"] == GENESIS_PREVIOUS_HASH == "0" * 64
        assert genesis["cause"] == operation_id
        assert [stored for stored, _ in recompute_hashes(db, bid, name)] == [genesis["hash"]]
    # Empty channels: ShowBlockchainDetail lists them without organisations, no peer is in them.
    detail_channels = {c["name"]: c for c in bcs.detail(bid)["channels"]}
    assert detail_channels["alpha"] == {"name": "alpha", "org_names": [], "org_name_hash": [], "peers": {}}
    assert all(p["channels"] == [] for p in bcs.nodes(bid)["orga"]["peers"].values())
    assert count_rows(db, "channels") == 2
    assert count_rows(db, "channel_orgs") == count_rows(db, "channel_peers") == 0
    assert count_rows(db, "channel_config_blocks") == 2


def test_a_channel_without_description_has_an_empty_one(bcs: Bcs) -> None:
    bid = bcs.create_instance("chan-nodesc", channels=[])
    bcs.run(bcs.create_channels(bid, "plain"))
    assert bcs.channel(bid, "plain")["description"] == ""


@pytest.mark.parametrize("name", ["abcd", "a" * 24, "a1b2", "z0000000000000000000009"])
def test_names_of_4_to_24_lower_case_letters_and_digits_starting_with_a_letter_are_accepted(
    bcs: Bcs, name: str
) -> None:
    bid = bcs.create_instance("chan-names", channels=[])
    bcs.run(bcs.create_channels(bid, name))
    assert [c["name"] for c in bcs.channels(bid)] == [name]


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "Alpha",
        "alphA",
        "1alpha",
        "alpha_",
        "al_pha",
        "al-pha",
        "a" * 25,
        "a" * 65,
        "alpha ",
        "alpha\n",
        "ch\u00e4nnel",
    ],
    ids=[
        "3-chars",
        "upper-first",
        "upper-last",
        "digit-first",
        "ends-underscore",
        "underscore",
        "dash",
        "25-chars",
        "65-chars",
        "space",
        "trailing-newline",
        "non-ascii",
    ],
)
def test_a_bad_channel_name_is_refused_and_nothing_is_created(bcs: Bcs, db: Database, bad: str) -> None:
    bid = bcs.create_instance("chan-badname", channels=[])
    before = snapshot(db)
    # The valid name in the same batch is not created either.
    response = bcs.create_channels(bid, "goodname", bad)
    assert error(response) == (400, "BCS.4006012")
    assert response.json()["error_msg"].startswith("Invalid channel name.")
    assert snapshot(db) == before
    assert bcs.channels(bid) == []
    assert bcs.records(blockchain_id=bid, operation_type="04") == []


def test_duplicate_names_within_a_request_or_with_an_existing_channel_are_refused(bcs: Bcs, db: Database) -> None:
    bid = bcs.create_instance("chan-dupes")  # has the default channel "channel"
    before = snapshot(db)

    within = bcs.create_channels(bid, "twice", "other", "twice")
    assert error(within) == (400, "BCS.4006014")
    assert "channels[2].channel_name" in within.json()["error_msg"]
    existing = bcs.create_channels(bid, "fresh", "channel")
    assert error(existing) == (400, "BCS.4006014")
    assert "channel channel exists already" in existing.json()["error_msg"]

    assert snapshot(db) == before
    assert [c["name"] for c in bcs.channels(bid)] == ["channel"]
    assert bcs.records(blockchain_id=bid, operation_type="04") == []


def test_an_instance_holds_at_most_20_channels(bcs: Bcs, db: Database) -> None:
    bid = bcs.create_instance("chan-max")
    names = [f"chan{n:02d}" for n in range(19)]
    bcs.run(bcs.create_channels(bid, *names))
    assert len(bcs.channels(bid)) == 20
    before = snapshot(db)
    response = bcs.create_channels(bid, "onemore")
    assert error(response) == (400, "BCS.4006014")
    assert "at most 20 channels" in response.json()["error_msg"]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "BCS.4006009"),
        ({"channels": []}, "BCS.4006014"),
        ({"channels": [{"channel_name": ""}]}, "BCS.4006009"),
        ({"channels": [{"channel_name": 5}]}, "BCS.4006003"),
        ({"channels": [{"channel_name": "okname", "extra": 1}]}, "BCS.4006014"),
        ({"channels": [{"channel_name": f"chan{n:02d}"} for n in range(21)]}, "BCS.4006014"),
    ],
    ids=["no-channels", "empty-list", "empty-name", "name-not-string", "unknown-field", "21-in-one-call"],
)
def test_a_malformed_create_body_is_refused(bcs: Bcs, db: Database, body: dict[str, object], code: str) -> None:
    bid = bcs.create_instance("chan-malformed", channels=[])
    before = snapshot(db)
    response = bcs.call("POST", f"/blockchains/{bid}/channels", body)
    assert error(response) == (400, code)
    assert snapshot(db) == before


def test_an_invitee_instance_cannot_create_channels(make_bcs: Callable[..., Bcs], db: Database) -> None:
    inviter = make_bcs()
    union = inviter.create_instance("chan-union", blockchain_type="union")
    invitee = make_bcs()
    invitee_bid = invitee.create_instance(
        "chan-invitee",
        blockchain_type="union",
        is_invitee=True,
        orderer_node_number=None,
        invitor_infos={
            "tenant_id": inviter.account.domain_id,
            "project_id": inviter.project_id,
            "blockchain_id": union,
        },
    )
    assert invitee.channels(invitee_bid) == []
    before = snapshot(db)
    response = invitee.create_channels(invitee_bid, "mychan")
    assert error(response) == (400, "BCS.4006014")
    assert "invitee" in response.json()["error_msg"]
    assert snapshot(db) == before


def test_list_shows_peers_orderers_consensus_and_creation_time(bcs: Bcs) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    bid = bcs.create_instance(
        "chan-list",
        peer_orgs=[("orga", 3), ("orgb", 1)],
        channels=[("both", ["orga", "orgb"]), ("onlyb", ["orgb"])],
    )
    bcs.run(bcs.create_channels(bid, "emptyone", description="nobody yet"))
    finished = datetime.now(UTC)

    response = bcs.call("GET", f"/blockchains/{bid}/channels")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["channels"]
    channels = body["channels"]
    assert [c["name"] for c in channels] == ["both", "onlyb", "emptyone"]
    for channel in channels:
        assert set(channel) == CHANNEL_KEYS  # consensusNodes camelCase, no consensus_nodes
        assert channel["consensus"] == "etcdraft"
        assert channel["consensusNodes"] == {"orderer": orderer_names(bid, 3)}
        assert RFC3339.match(channel["create_time"])
        created = datetime.strptime(channel["create_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert started - timedelta(seconds=1) <= created <= finished + timedelta(seconds=1)
    assert channels[0]["peers"] == {"orga": peer_names(bid, "orga", 3), "orgb": peer_names(bid, "orgb", 1)}
    assert channels[1]["peers"] == {"orgb": peer_names(bid, "orgb", 1)}
    assert channels[2]["peers"] == {}
    assert [c["description"] for c in channels] == ["", "", "nobody yet"]
    # Channels planned at creation begin with their organisations in the genesis block.
    (genesis,) = bcs.history(bid, "both")["blocks"]
    assert (genesis["event"], genesis["orgs"]) == ("create", block_orgs(bid, "orga", "orgb"))


def test_list_of_the_default_channel_and_of_an_sflic_instance(bcs: Bcs) -> None:
    bid = bcs.create_instance("chan-sflic", consensus="SFLIC", orderer_node_number=4)
    (channel,) = bcs.channels(bid)
    assert channel["name"] == "channel"
    assert channel["consensus"] == "SFLIC"
    assert channel["consensusNodes"] == {"orderer": orderer_names(bid, 4)}
    assert channel["peers"] == {DEFAULT_ORG: peer_names(bid, DEFAULT_ORG, 2)}
    assert channel["peers"][DEFAULT_ORG][0] == f"peer-{org_hash(bid, DEFAULT_ORG)}-0"


def test_list_of_an_unknown_instance_is_refused(bcs: Bcs) -> None:
    response = bcs.call("GET", "/blockchains/00000000-0000-0000-0000-000000000000/channels")
    assert error(response) == (400, "BCS.4001011")
