"""``openbcs channel verify`` re-checks every channel as a Fabric orderer would and names the first broken block;
``openbcs channel fetch`` writes the blocks and updates as Fabric's tools read them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from openbcs import fabric
from openbcs.cli import app
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network import channel_config, lookups
from openbcs.network.config_history import history
from openbcs.network.models import ConfigBlock
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``openbcs ARGS --database-url URL`` in-process (the CLI exports nothing for these commands)."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--database-url", database_url, "--data-dir", str(tmp_path / "cli")])

    return run


@pytest.fixture
def two_blocks(tenant: Tenant) -> str:
    """An instance whose default channel has two organisations, one of which then left: blocks 0 and 1."""
    bid = tenant.create_instance("bcs-verify", peer_orgs=[("org-a", 1), ("org-b", 1)])
    tenant.run(tenant.remove_orgs(bid, "channel", ["org-b"]))
    assert len(tenant.history(bid)["blocks"]) == 2
    return bid


def _store(db: Database, bid: str, number: int, **values: bytes) -> None:
    (channel_id,) = {b["channel_id"] for b in config_blocks(db, bid)}
    with db.engine.begin() as conn:
        conn.execute(
            update(ConfigBlock)
            .where(ConfigBlock.channel_id == channel_id, ConfigBlock.number == number)
            .values(**values)
        )


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_a_clean_history_verifies(two_blocks: str, cli: Callable[..., Result]) -> None:
    result = cli("channel", "verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"channels": {f"{two_blocks}/channel": []}, "verified": True}


@pytest.mark.parametrize("where", ["header", "data", "metadata"])
@pytest.mark.parametrize("number", [0, 1])
def test_one_flipped_byte_in_a_stored_block_is_named(
    db: Database, two_blocks: str, cli: Callable[..., Result], where: str, number: int
) -> None:
    stored = config_blocks(db, two_blocks)[number]["block"]
    block = common_pb2.Block.FromString(stored)
    part = {"header": block.header, "data": block.data, "metadata": block.metadata}[where].SerializeToString()
    at = stored.index(part) + len(part) // 2
    _store(db, two_blocks, number, block=_flipped(stored, at))
    result = cli("channel", "verify")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"BROKEN\t{two_blocks}/channel\n  block {number}:"), result.output


def test_one_flipped_byte_in_a_stored_update_is_named(
    db: Database, two_blocks: str, cli: Callable[..., Result]
) -> None:
    stored = config_blocks(db, two_blocks)[1]["config_update"]
    _store(db, two_blocks, 1, config_update=_flipped(stored, len(stored) // 2))
    result = cli("channel", "verify")
    assert result.exit_code == 1
    assert "  block 1:" in result.output, result.output


def _forged_removal(session: Session, bid: str, keys: ServerKey) -> tuple[bytes, bytes]:
    """Block 1 made again, but its update signed by one admin where the previous config needs a majority of two."""
    channel = lookups.channel_named(session, blockchain_id=bid, name="channel")
    previous = common_pb2.Block.FromString(history(session, channel)[0].block)
    current = fabric.config_of(previous)
    change = fabric.compute_update(
        "channel", current, fabric.build_config(channel_config.channel_spec(session, channel))
    )
    admin = channel_config.admin_signer(session, lookups.org_named(session, bid, "org-a"), keys)
    now = dt.datetime.now(dt.UTC)
    envelope, _ = fabric.config_update_tx("channel", fabric.sign_update(change, [admin]), admin, now)
    orderer = channel_config.orderer_signer(session, bid, keys)
    config = fabric.apply_update(current, change, channel_id="channel")
    block = fabric.config_block(1, previous.header, config, envelope, orderer, now)
    return block.SerializeToString(), envelope.SerializeToString()


def test_an_update_signed_by_too_few_admins_is_named(
    db: Database, server_key: ServerKey, two_blocks: str, cli: Callable[..., Result]
) -> None:
    block, envelope = db.run_read(_forged_removal, two_blocks, server_key)
    _store(db, two_blocks, 1, block=block, config_update=envelope)
    result = cli("channel", "verify")
    assert result.exit_code == 1
    assert "  block 1: " in result.output
    assert "Admins" in result.output, result.output


def test_fetch_writes_what_fabric_tools_read(
    tenant: Tenant, two_blocks: str, cli: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "fetched"
    result = cli("channel", "fetch", two_blocks, "channel", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["0.block", "1.block", "1.update.envelope"]
    for number in (0, 1):
        served = tenant.call("GET", f"/blockchains/{two_blocks}/channels/channel/blocks/{number}").content
        assert (out / f"{number}.block").read_bytes() == served
        assert common_pb2.Block.FromString(served).header.number == number
    update_bytes = (out / "1.update.envelope").read_bytes()
    assert update_bytes == tenant.call("GET", f"/blockchains/{two_blocks}/channels/channel/blocks/1/update").content
    assert fabric.signers_of(update_bytes) == tenant.history(two_blocks)["blocks"][1]["signers"]
    unknown = cli("channel", "fetch", two_blocks, "nochannel", "--output", str(out))
    assert unknown.exit_code == 1
    assert "nochannel" in unknown.output
