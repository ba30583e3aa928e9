"""BatchCreateChannels and ListBlockchainChannels."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.channels.helpers import OPERATION_ID, block_orgs, header_hashes
from tests.support.bodies import DEFAULT_ORG, invitee_instance_body, union_instance_body
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error
from tests.support.expected import orderer_names, org_hash, peer_names
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant

CHANNEL_KEYS = {"name", "description", "create_time", "consensus", "peers", "consensusNodes"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _refused_creation(tenant: Tenant, db: Database, bid: str, body: Any, code: str, **message: str) -> None:
    """BatchCreateChannels of ``body`` is refused with ``code`` (``message``: ``contains=`` or the whole ``message=``)
    and changes nothing: no channel, no block, no operation."""
    before = snapshot(db)
    assert_error(tenant.call("POST", f"/blockchains/{bid}/channels", body), 400, code, **message)
    assert snapshot(db) == before
    assert tenant.records(blockchain_id=bid, operation_type="04") == []


def _named(*names: str) -> dict[str, list[dict[str, str]]]:
    return {"channels": [{"channel_name": name} for name in names]}


def test_new_channels_start_empty_with_a_genesis_block(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("chan-create", peer_orgs=[("orga", 2)], channels=[])
    assert tenant.channels(bid) == []

    response = tenant.create_channels(bid, "alpha", "beta2", description="payments")
    record = tenant.run(response)
    operation_id = response.json()["operation_id"]

    assert re.match(OPERATION_ID, operation_id)
    assert (record["resource_type"], record["operation_type"], record["blockchain_id"]) == ("BCSSVC01", "04", bid)
    assert record["operation_id"] == operation_id
    listed = {c["name"]: c for c in tenant.channels(bid)}
    assert list(listed) == ["alpha", "beta2"]
    for name in ("alpha", "beta2"):
        assert listed[name]["peers"] == {}
        assert listed[name]["description"] == "payments"
        history = tenant.history(bid, name)
        assert history["verified"] is True
        assert history["channel_name"] == name
        (genesis,) = history["blocks"]
        assert genesis["number"] == 0
        assert genesis["event"] == "create"
        assert genesis["orgs"] == []
        assert genesis["previous_hash"] == ""
        assert genesis["cause"] == operation_id
        assert header_hashes(db, bid, name) == [(genesis["hash"], genesis["hash"])]
    # Empty channels: ShowBlockchainDetail lists them without organisations, no peer is in them.
    detail_channels = {c["name"]: c for c in tenant.detail(bid)["channels"]}
    assert detail_channels["alpha"] == {"name": "alpha", "org_names": [], "org_name_hash": [], "peers": {}}
    assert all(p["channels"] == [] for p in tenant.nodes(bid)["orga"]["peers"].values())
    assert row_count(db, "channels") == 2
    assert row_count(db, "channel_orgs") == row_count(db, "channel_peers") == 0
    assert row_count(db, "channel_config_blocks") == 2


def test_a_channel_without_description_has_an_empty_one(tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-nodesc", channels=[])
    tenant.run(tenant.create_channels(bid, "plain"))
    assert tenant.channel(bid, "plain")["description"] == ""


@pytest.mark.parametrize("name", ["abcd", "a" * 24, "a1b2", "z0000000000000000000009"])
def test_names_of_4_to_24_lower_case_letters_and_digits_starting_with_a_letter_are_accepted(
    tenant: Tenant, name: str
) -> None:
    bid = tenant.create_instance("chan-names", channels=[])
    tenant.run(tenant.create_channels(bid, name))
    assert [c["name"] for c in tenant.channels(bid)] == [name]
    assert [b["event"] for b in tenant.history(bid, name)["blocks"]] == ["create"]


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
def test_a_bad_channel_name_is_refused_and_nothing_is_created(tenant: Tenant, db: Database, bad: str) -> None:
    bid = tenant.create_instance("chan-badname", channels=[])
    # The valid name in the same batch is not created either.
    _refused_creation(tenant, db, bid, _named("goodname", bad), "BCS.4006012", matches=r"^Invalid channel name\.")
    assert tenant.channels(bid) == []


def test_duplicate_names_within_a_request_or_with_an_existing_channel_are_refused(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("chan-dupes")  # has the default channel "channel"
    _refused_creation(
        tenant, db, bid, _named("twice", "other", "twice"), "BCS.4006014", contains="channels[2].channel_name"
    )
    _refused_creation(
        tenant, db, bid, _named("fresh", "channel"), "BCS.4006014", contains="channel channel exists already"
    )
    assert [c["name"] for c in tenant.channels(bid)] == ["channel"]


def test_an_instance_holds_at_most_20_channels(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance("chan-max")
    tenant.run(tenant.create_channels(bid, *(f"chan{n:02d}" for n in range(19))))
    assert len(tenant.channels(bid)) == 20
    before = snapshot(db)
    assert_error(tenant.create_channels(bid, "onemore"), 400, "BCS.4006014", contains="at most 20 channels")
    assert snapshot(db) == before
    assert len(tenant.channels(bid)) == 20


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "BCS.4006009"),
        ({"channels": []}, "BCS.4006014"),
        ({"channels": [{"channel_name": ""}]}, "BCS.4006009"),
        ({"channels": [{"channel_name": 5}]}, "BCS.4006003"),
        ({"channels": [{"channel_name": "okname", "extra": 1}]}, "BCS.4006014"),
        (_named(*(f"chan{n:02d}" for n in range(21))), "BCS.4006014"),
    ],
    ids=["no-channels", "empty-list", "empty-name", "name-not-string", "unknown-field", "21-in-one-call"],
)
def test_a_malformed_create_body_is_refused(tenant: Tenant, db: Database, body: dict[str, object], code: str) -> None:
    bid = tenant.create_instance("chan-malformed", channels=[])
    _refused_creation(tenant, db, bid, body, code)
    assert tenant.channels(bid) == []


def test_an_invitee_instance_cannot_create_channels(make_tenant: Callable[..., Tenant], db: Database) -> None:
    inviter, invitee = make_tenant(), make_tenant()
    union = inviter.create_instance(union_instance_body("chan-union"))
    assert inviter.invite(union, "channel", invitee.name).status_code == 200  # an invitee instance needs one
    invitee_bid = invitee.create_instance(
        invitee_instance_body(
            domain_id=inviter.domain_id, project_id=inviter.project_id, inviter_bcs_id=union, name="chan-invitee"
        )
    )
    assert invitee.channels(invitee_bid) == []
    _refused_creation(invitee, db, invitee_bid, _named("mychan"), "BCS.4006014", contains="invitee")
    assert invitee.channels(invitee_bid) == []


def test_list_shows_peers_orderers_consensus_and_creation_time(tenant: Tenant) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    bid = tenant.create_instance(
        "chan-list",
        peer_orgs=[("orga", 3), ("orgb", 1)],
        channels=[("both", ["orga", "orgb"]), ("onlyb", ["orgb"])],
    )
    tenant.run(tenant.create_channels(bid, "emptyone", description="nobody yet"))
    finished = datetime.now(UTC)

    body = tenant.ok("GET", f"/blockchains/{bid}/channels")
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
    (genesis,) = tenant.history(bid, "both")["blocks"]
    assert (genesis["event"], genesis["orgs"]) == ("create", block_orgs(bid, "orga", "orgb"))


def test_list_of_the_default_channel_and_of_an_sflic_instance(tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-sflic", consensus="SFLIC", orderer_node_number=4)
    (channel,) = tenant.channels(bid)
    assert channel["name"] == "channel"
    assert channel["consensus"] == "SFLIC"
    assert channel["consensusNodes"] == {"orderer": orderer_names(bid, 4)}
    assert channel["peers"] == {DEFAULT_ORG: peer_names(bid, DEFAULT_ORG, 2)}
    assert channel["peers"][DEFAULT_ORG][0] == f"peer-{org_hash(bid, DEFAULT_ORG)}-0"


def test_list_of_an_unknown_instance_is_refused(tenant: Tenant) -> None:
    response = tenant.call("GET", "/blockchains/00000000-0000-0000-0000-000000000000/channels")
    assert_error(response, *INSTANCE_NOT_FOUND)
