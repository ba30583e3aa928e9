"""The configuration history of channels: the endpoint, the chain of Fabric config blocks, tampering with what is
stored, and ``openbcs channel verify`` (the Fabric-level checks of single blocks are in tests/network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fabric_protos.common import common_pb2
from sqlalchemy import delete, text, update
from typer.testing import CliRunner, Result

from openbcs.cli import app
from openbcs.kernel.db import Database
from openbcs.network.models import ChannelOrg, ConfigBlock
from tests.channels.conftest import BLOCK_FIELDS, FourBlocks, tamper
from tests.channels.helpers import block_orgs, check_links, header_hashes
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error
from tests.support.expected import msp_id
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant

MEMBERS_DIFFER = "block 3: its organisations differ from the channel's current ones"


@pytest.fixture
def verify_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``openbcs channel verify --database-url URL [ARGS]`` in-process (the CLI exports its flags: undone after)."""
    monkeypatch.delenv("OPENBCS_DATABASE_URL", raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["channel", "verify", "--database-url", database_url, *args])

    return run


def _block(db: Database, bid: str, channel: str, number: int) -> dict[str, Any]:
    """The stored block ``number`` of the channel, as a dict of its columns."""
    (block,) = [b for b in config_blocks(db, bid, channel) if b["number"] == number]
    return block


def test_the_history_is_a_chain_of_fabric_config_blocks(tenant: Tenant, four_blocks: FourBlocks, db: Database) -> None:
    bid, causes = four_blocks
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
    assert all(set(b) == BLOCK_FIELDS for b in blocks)
    assert [b["config_sequence"] for b in blocks] == [0, 1, 2, 3]
    # Nobody's admin was needed to add the first organisation; orga's admin let orgb in; taking orga out needed a
    # majority of the two members' admins.
    orga, orgb = msp_id(bid, "orga"), msp_id(bid, "orgb")
    assert [sorted(b["signers"]) for b in blocks] == [[], [], [orga], sorted([orga, orgb])]
    assert len({b["tx_id"] for b in blocks}) == 4
    assert all(len(b["tx_id"]) == 64 for b in blocks)
    check_links(history)
    # Every hash, recomputed here from the stored block's header, is the one stored and the one shown.
    recomputed = header_hashes(db, bid, "trade")
    assert recomputed == [(b["hash"], b["hash"]) for b in blocks]
    assert len({b["hash"] for b in blocks}) == 4
    # The last block's org set is the channel's organisations now.
    assert sorted(tenant.channel(bid, "trade")["peers"]) == [o["name"] for o in blocks[-1]["orgs"]]


def test_channels_made_by_one_operation_have_blocks_of_their_own(tenant: Tenant, db: Database) -> None:
    # Two channels created by the same operation with the same (empty) org set differ in their channel id.
    bid = tenant.create_instance("chan-label", channels=[])
    tenant.run(tenant.create_channels(bid, "first", "second"))
    (first,) = tenant.history(bid, "first")["blocks"]
    (second,) = tenant.history(bid, "second")["blocks"]
    assert first["cause"] == second["cause"]
    assert first["hash"] != second["hash"]
    for name in ("first", "second"):
        block = common_pb2.Block.FromString(_block(db, bid, name, 0)["block"])
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(block.data.data[0]).payload)
        assert common_pb2.ChannelHeader.FromString(payload.header.channel_header).channel_id == name


def test_the_cli_passes_intact_chains(
    tenant: Tenant, four_blocks: FourBlocks, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
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


def test_a_block_whose_shown_orgs_were_changed_is_detected(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    forged = block_orgs(bid, "orgb")
    tamper(db, update(ConfigBlock).where(ConfigBlock.id == _block(db, bid, "trade", 1)["id"]).values(orgs=forged))

    history = tenant.history(bid, "trade")
    assert history["verified"] is False
    assert history["blocks"][1]["orgs"] == forged  # shown as stored, flagged by verified
    _assert_broken(tenant, bid, verify_cli, ["block 1: the stored organisations are not the block's"])


def test_a_replaced_hash_is_detected(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    block_id = _block(db, bid, "trade", 2)["id"]
    tamper(db, text("UPDATE channel_config_blocks SET hash = :h WHERE id = :id"), h="f" * 64, id=block_id)
    _assert_broken(tenant, bid, verify_cli, ["block 2: the stored hash is not the block header's hash"])


def test_a_block_swapped_for_another_channels_is_detected(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    keep = _block(db, bid, "keep", 0)
    tamper(
        db,
        update(ConfigBlock).where(ConfigBlock.id == _block(db, bid, "trade", 0)["id"]).values(block=keep["block"]),
    )
    result = verify_cli()
    assert result.exit_code == 1
    assert f"BROKEN\t{bid}/trade" in result.stdout
    assert "  block 0: " in result.stdout or "  block 1: " in result.stdout, result.stdout


def test_a_membership_changed_behind_the_history_is_detected(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    channel_id = _block(db, bid, "trade", 0)["channel_id"]
    tamper(db, delete(ChannelOrg).where(ChannelOrg.channel_id == channel_id))
    _assert_broken(tenant, bid, verify_cli, [MEMBERS_DIFFER])


def test_a_removed_block_is_detected(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    tamper(db, delete(ConfigBlock).where(ConfigBlock.id == _block(db, bid, "trade", 1)["id"]))
    assert [b["number"] for b in tenant.history(bid, "trade")["blocks"]] == [0, 2, 3]
    assert tenant.history(bid, "trade")["verified"] is False
    result = verify_cli()
    assert result.exit_code == 1
    assert f"BROKEN\t{bid}/trade\n  block 1: " in result.stdout, result.stdout


def test_a_channel_without_blocks_does_not_verify(
    tenant: Tenant, four_blocks: FourBlocks, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = four_blocks
    tamper(db, delete(ConfigBlock).where(ConfigBlock.channel_id == _block(db, bid, "trade", 0)["channel_id"]))
    assert tenant.history(bid, "trade")["blocks"] == []
    _assert_broken(tenant, bid, verify_cli, ["no configuration blocks"])


def test_the_history_of_an_unknown_channel_or_instance_is_refused(tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-hist-404", channels=[])
    response = tenant.call("GET", f"/blockchains/{bid}/channels/nochan/config-history")
    assert_error(response, 400, "BCS.4001052", "Input channel nochan is not exist")
    response = tenant.call("GET", "/blockchains/00000000-0000-0000-0000-000000000000/channels/channel/config-history")
    assert_error(response, *INSTANCE_NOT_FOUND)
