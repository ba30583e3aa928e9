"""The configuration history of channels: the endpoint, the hash chain, tampering, and ``openbcs channel verify``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openbcs.cli import app
from openbcs.kernel.db import Database
from openbcs.network.config_history import GENESIS_PREVIOUS_HASH, block_hash
from openbcs.network.models import ChannelOrg, ConfigBlock
from tests.channels.helpers import block_orgs, check_links, recompute_hashes
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant

MEMBERS_DIFFER = "the last block's org set differs from the channel's current organisations"


@pytest.fixture
def verify_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``openbcs channel verify --database-url URL [ARGS]`` in-process (the CLI exports its flags: undone after)."""
    monkeypatch.delenv("OPENBCS_DATABASE_URL", raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["channel", "verify", "--database-url", database_url, *args])

    return run


def _history_of_four_blocks(tenant: Tenant) -> tuple[str, list[str]]:
    """Channel ``trade``: created empty, orga joins, orgb joins, orga leaves (and ``keep`` with orga, untouched);
    the instance and the ids of the operations that made the four blocks."""
    bid = tenant.create_instance("chan-history", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("keep", ["orga"])])
    causes = []
    for call in (
        lambda: tenant.create_channels(bid, "trade"),
        lambda: tenant.add_peers(bid, "trade", {"orga": 2}),
        lambda: tenant.add_peers(bid, "trade", {"orgb": 1}),
        lambda: tenant.remove_peers(bid, "trade", "orga", 1),  # no block
        lambda: tenant.remove_orgs(bid, "trade", ["orga"]),
    ):
        response = call()
        tenant.run(response)
        causes.append(response.json()["operation_id"])
    del causes[3]
    return bid, causes


def _block(db: Database, bid: str, channel: str, number: int) -> dict[str, Any]:
    """The stored block ``number`` of the channel, as a dict of its columns."""
    (block,) = [b for b in config_blocks(db, bid, channel) if b["number"] == number]
    return block


def _tamper(db: Database, statement: Any, **params: Any) -> None:
    """Change stored rows behind the API's back."""
    db.run_write(Session.execute, statement, params)


def test_the_history_is_a_hash_chain_of_org_sets(tenant: Tenant, db: Database) -> None:
    bid, causes = _history_of_four_blocks(tenant)
    history = tenant.history(bid, "trade")
    assert set(history) == {"channel_name", "blocks", "verified"}
    assert (history["channel_name"], history["verified"]) == ("trade", True)
    blocks = history["blocks"]
    assert [(b["event"], b["orgs"], b["cause"]) for b in blocks] == [
        ("create", [], causes[0]),
        ("org_added", block_orgs(bid, "orga"), causes[1]),
        ("org_added", block_orgs(bid, "orga", "orgb"), causes[2]),
        ("org_removed", block_orgs(bid, "orgb"), causes[3]),
    ]
    assert all(set(b) == {"number", "previous_hash", "hash", "event", "orgs", "cause", "time"} for b in blocks)
    assert blocks[0]["previous_hash"] == GENESIS_PREVIOUS_HASH
    check_links(history)
    # Every hash, recomputed here from the stored contents, is the one stored and the one shown.
    recomputed = recompute_hashes(db, bid, "trade")
    assert [stored for stored, _ in recomputed] == [b["hash"] for b in blocks]
    assert all(stored == again for stored, again in recomputed)
    assert len({b["hash"] for b in blocks}) == 4
    # The last block's org set is the channel's organisations now.
    assert sorted(tenant.channel(bid, "trade")["peers"]) == [o["name"] for o in blocks[-1]["orgs"]]


def test_the_hash_covers_the_channel_label(tenant: Tenant, db: Database) -> None:
    # Two channels created by the same operation with the same (empty) org set differ only in their label.
    bid = tenant.create_instance("chan-label", channels=[])
    tenant.run(tenant.create_channels(bid, "first", "second"))
    (first,) = tenant.history(bid, "first")["blocks"]
    (second,) = tenant.history(bid, "second")["blocks"]
    assert first["cause"] == second["cause"]
    assert first["hash"] != second["hash"]
    stored = _block(db, bid, "first", 0)
    contents = {
        "number": 0,
        "previous_hash": GENESIS_PREVIOUS_HASH,
        "event": "create",
        "orgs": stored["orgs"],
        "cause": first["cause"],
        "time": stored["time"],
    }
    assert stored["hash"] == block_hash(channel=f"{bid}/first", **contents)
    assert stored["hash"] != block_hash(channel=f"{bid}/second", **contents)


def test_the_cli_passes_intact_chains(tenant: Tenant, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    result = verify_cli()
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted([f"ok\t{bid}/keep", f"ok\t{bid}/trade"])
    as_json = verify_cli("--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"channels": {f"{bid}/keep": [], f"{bid}/trade": []}, "verified": True}


def test_the_cli_with_no_channels(db: Database, verify_cli: Callable[..., Result]) -> None:
    result = verify_cli()
    assert (result.exit_code, result.stdout.strip()) == (0, "no channels")


def _assert_broken(tenant: Tenant, bid: str, verify_cli: Callable[..., Result], problems: list[str]) -> None:
    """``trade`` no longer verifies, with exactly ``problems``; ``keep`` still does (API and CLI agree)."""
    assert tenant.history(bid, "trade")["verified"] is False
    assert tenant.history(bid, "keep")["verified"] is True
    result = verify_cli()
    assert result.exit_code == 1, result.output
    assert f"BROKEN\t{bid}/trade" in result.stdout
    assert f"ok\t{bid}/keep" in result.stdout
    for problem in problems:
        assert f"  {problem}" in result.stdout.splitlines(), result.stdout
    report = json.loads(verify_cli("--json").stdout)
    assert report["verified"] is False
    assert report["channels"] == {f"{bid}/keep": [], f"{bid}/trade": problems}


def test_a_block_whose_orgs_were_changed_is_detected(
    tenant: Tenant, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    forged = block_orgs(bid, "orgb")
    _tamper(db, update(ConfigBlock).where(ConfigBlock.id == _block(db, bid, "trade", 1)["id"]).values(orgs=forged))

    history = tenant.history(bid, "trade")
    assert history["verified"] is False
    assert history["blocks"][1]["orgs"] == forged  # shown as stored, flagged by verified
    _assert_broken(tenant, bid, verify_cli, ["block 1: hash does not match its contents"])


def test_a_replaced_hash_breaks_its_block_and_the_next_link(
    tenant: Tenant, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    block_id = _block(db, bid, "trade", 2)["id"]
    _tamper(db, text("UPDATE channel_config_blocks SET hash = :h WHERE id = :id"), h="f" * 64, id=block_id)
    _assert_broken(
        tenant,
        bid,
        verify_cli,
        ["block 2: hash does not match its contents", "block 3: previous_hash does not match block 2"],
    )


def test_a_rewritten_last_block_with_a_valid_hash_still_differs_from_the_members(
    tenant: Tenant, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, causes = _history_of_four_blocks(tenant)
    last, previous = _block(db, bid, "trade", 3), _block(db, bid, "trade", 2)
    forged = block_orgs(bid, "orga", "orgb")
    forged_hash = block_hash(
        channel=f"{bid}/trade",
        number=3,
        previous_hash=previous["hash"],
        event="org_removed",
        orgs=forged,
        cause=causes[3],
        time=last["time"],
    )
    _tamper(db, update(ConfigBlock).where(ConfigBlock.id == last["id"]).values(orgs=forged, hash=forged_hash))
    _assert_broken(tenant, bid, verify_cli, [MEMBERS_DIFFER])


def test_a_membership_changed_behind_the_history_is_detected(
    tenant: Tenant, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    channel_id = _block(db, bid, "trade", 0)["channel_id"]
    _tamper(db, delete(ChannelOrg).where(ChannelOrg.channel_id == channel_id))
    _assert_broken(tenant, bid, verify_cli, [MEMBERS_DIFFER])


def test_a_removed_block_is_detected(tenant: Tenant, db: Database, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    _tamper(db, delete(ConfigBlock).where(ConfigBlock.id == _block(db, bid, "trade", 1)["id"]))
    assert [b["number"] for b in tenant.history(bid, "trade")["blocks"]] == [0, 2, 3]
    _assert_broken(
        tenant,
        bid,
        verify_cli,
        [
            "block 2: expected number 1",
            "block 2: previous_hash does not match block 1",
            "block 3: expected number 2",
        ],
    )


def test_a_channel_without_blocks_does_not_verify(
    tenant: Tenant, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(tenant)
    _tamper(db, delete(ConfigBlock).where(ConfigBlock.channel_id == _block(db, bid, "trade", 0)["channel_id"]))
    assert tenant.history(bid, "trade")["blocks"] == []
    _assert_broken(tenant, bid, verify_cli, ["no configuration blocks"])


def test_the_history_of_an_unknown_channel_or_instance_is_refused(tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-hist-404", channels=[])
    response = tenant.call("GET", f"/blockchains/{bid}/channels/nochan/config-history")
    assert_error(response, 400, "BCS.4001052", "Input channel nochan is not exist")
    response = tenant.call("GET", "/blockchains/00000000-0000-0000-0000-000000000000/channels/channel/config-history")
    assert_error(response, *INSTANCE_NOT_FOUND)
