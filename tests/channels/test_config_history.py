"""The configuration history of channels: the endpoint, the hash chain, tampering, and ``openbcs channel verify``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from openbcs.network.models import Channel, ChannelOrg, ConfigBlock
from openbcs.network.config_history import GENESIS_PREVIOUS_HASH, block_hash
from openbcs.cli import app
from openbcs.kernel.db import Database
from tests.channels.helpers import Bcs, block_orgs, check_links, error, recompute_hashes


@pytest.fixture
def verify_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``openbcs channel verify --database-url URL [ARGS]`` in-process (the CLI exports its flags: undone after)."""
    monkeypatch.delenv("OPENBCS_DATABASE_URL", raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["channel", "verify", "--database-url", database_url, *args])

    return run


def _history_of_four_blocks(bcs: Bcs) -> tuple[str, list[str]]:
    """Channel ``trade``: created empty, orga joins, orgb joins, orga leaves; returns the instance and op ids."""
    bid = bcs.create_instance("chan-history", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("keep", ["orga"])])
    causes = []
    for call in (
        lambda: bcs.create_channels(bid, "trade"),
        lambda: bcs.add_peers(bid, "trade", {"orga": 2}),
        lambda: bcs.add_peers(bid, "trade", {"orgb": 1}),
        lambda: bcs.remove_peers(bid, "trade", "orga", 1),  # no block
        lambda: bcs.remove_orgs(bid, "trade", ["orga"]),
    ):
        response = call()
        bcs.run(response)
        causes.append(response.json()["operation_id"])
    del causes[3]
    return bid, causes


def _block_row(db: Database, bid: str, channel: str, number: int) -> Any:
    def find(s: Any) -> Any:
        channel_id = s.scalar(select(Channel.id).where(Channel.blockchain_id == bid, Channel.name == channel))
        return s.scalar(select(ConfigBlock).where(ConfigBlock.channel_id == channel_id, ConfigBlock.number == number))

    return db.run_read(lambda s: (lambda b: (b.id, b.channel_id, b.orgs, b.hash, b.time))(find(s)))


def test_the_history_is_a_hash_chain_of_org_sets(bcs: Bcs, db: Database) -> None:
    bid, causes = _history_of_four_blocks(bcs)
    response = bcs.call("GET", f"/blockchains/{bid}/channels/trade/config-history")
    assert response.status_code == 200
    history = response.json()
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
    assert sorted(bcs.channel(bid, "trade")["peers"]) == [o["name"] for o in blocks[-1]["orgs"]]


def test_the_hash_covers_the_channel_label(bcs: Bcs, db: Database) -> None:
    # Two channels created by the same operation with the same (empty) org set differ only in their label.
    bid = bcs.create_instance("chan-label", channels=[])
    bcs.run(bcs.create_channels(bid, "first", "second"))
    (first,) = bcs.history(bid, "first")["blocks"]
    (second,) = bcs.history(bid, "second")["blocks"]
    assert first["cause"] == second["cause"]
    assert first["hash"] != second["hash"]
    _, _, orgs, stored_hash, time = _block_row(db, bid, "first", 0)
    assert stored_hash == block_hash(
        channel=f"{bid}/first",
        number=0,
        previous_hash=GENESIS_PREVIOUS_HASH,
        event="create",
        orgs=orgs,
        cause=first["cause"],
        time=time,
    )
    assert stored_hash != block_hash(
        channel=f"{bid}/second",
        number=0,
        previous_hash=GENESIS_PREVIOUS_HASH,
        event="create",
        orgs=orgs,
        cause=first["cause"],
        time=time,
    )


def test_the_cli_passes_intact_chains(bcs: Bcs, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    result = verify_cli()
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted([f"ok\t{bid}/keep", f"ok\t{bid}/trade"])
    as_json = verify_cli("--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"channels": {f"{bid}/keep": [], f"{bid}/trade": []}, "verified": True}


def test_the_cli_with_no_channels(db: Database, verify_cli: Callable[..., Result]) -> None:
    result = verify_cli()
    assert (result.exit_code, result.stdout.strip()) == (0, "no channels")


def _assert_broken(
    bcs: Bcs, bid: str, verify_cli: Callable[..., Result], problems: list[str], *, tampered: str = "trade"
) -> None:
    assert bcs.history(bid, tampered)["verified"] is False
    assert bcs.history(bid, "keep")["verified"] is True
    result = verify_cli()
    assert result.exit_code == 1, result.output
    assert f"BROKEN\t{bid}/{tampered}" in result.stdout
    assert f"ok\t{bid}/keep" in result.stdout
    for problem in problems:
        assert f"  {problem}" in result.stdout.splitlines(), result.stdout
    report = json.loads(verify_cli("--json").stdout)
    assert report["verified"] is False
    assert report["channels"] == {f"{bid}/keep": [], f"{bid}/{tampered}": problems}


def test_a_block_whose_orgs_were_changed_is_detected(bcs: Bcs, db: Database, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    block_id, *_ = _block_row(db, bid, "trade", 1)
    forged = block_orgs(bid, "orgb")
    db.run_write(lambda s: s.execute(update(ConfigBlock).where(ConfigBlock.id == block_id).values(orgs=forged)))

    history = bcs.history(bid, "trade")
    assert history["verified"] is False
    assert history["blocks"][1]["orgs"] == forged  # shown as stored, flagged by verified
    _assert_broken(bcs, bid, verify_cli, ["block 1: hash does not match its contents"])


def test_a_replaced_hash_breaks_its_block_and_the_next_link(
    bcs: Bcs, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    block_id, *_ = _block_row(db, bid, "trade", 2)
    db.run_write(
        lambda s: s.execute(
            text("UPDATE channel_config_blocks SET hash = :h WHERE id = :id"), {"h": "f" * 64, "id": block_id}
        )
    )
    _assert_broken(
        bcs,
        bid,
        verify_cli,
        ["block 2: hash does not match its contents", "block 3: previous_hash does not match block 2"],
    )


def test_a_rewritten_last_block_with_a_valid_hash_still_differs_from_the_members(
    bcs: Bcs, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, causes = _history_of_four_blocks(bcs)
    block_id, _, _, _, time = _block_row(db, bid, "trade", 3)
    _, _, _, previous_hash, _ = _block_row(db, bid, "trade", 2)
    forged = block_orgs(bid, "orga", "orgb")
    forged_hash = block_hash(
        channel=f"{bid}/trade",
        number=3,
        previous_hash=previous_hash,
        event="org_removed",
        orgs=forged,
        cause=causes[3],
        time=time,
    )
    db.run_write(
        lambda s: s.execute(update(ConfigBlock).where(ConfigBlock.id == block_id).values(orgs=forged, hash=forged_hash))
    )
    _assert_broken(bcs, bid, verify_cli, ["the last block's org set differs from the channel's current organisations"])


def test_a_membership_changed_behind_the_history_is_detected(
    bcs: Bcs, db: Database, verify_cli: Callable[..., Result]
) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    _, channel_id, *_ = _block_row(db, bid, "trade", 0)
    db.run_write(lambda s: s.execute(delete(ChannelOrg).where(ChannelOrg.channel_id == channel_id)))
    _assert_broken(bcs, bid, verify_cli, ["the last block's org set differs from the channel's current organisations"])


def test_a_removed_block_is_detected(bcs: Bcs, db: Database, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    block_id, *_ = _block_row(db, bid, "trade", 1)
    db.run_write(lambda s: s.execute(delete(ConfigBlock).where(ConfigBlock.id == block_id)))
    history = bcs.history(bid, "trade")
    assert [b["number"] for b in history["blocks"]] == [0, 2, 3]
    _assert_broken(
        bcs,
        bid,
        verify_cli,
        [
            "block 2: expected number 1",
            "block 2: previous_hash does not match block 1",
            "block 3: expected number 2",
        ],
    )


def test_a_channel_without_blocks_does_not_verify(bcs: Bcs, db: Database, verify_cli: Callable[..., Result]) -> None:
    bid, _ = _history_of_four_blocks(bcs)
    _, channel_id, *_ = _block_row(db, bid, "trade", 0)
    db.run_write(lambda s: s.execute(delete(ConfigBlock).where(ConfigBlock.channel_id == channel_id)))
    assert bcs.history(bid, "trade")["blocks"] == []
    _assert_broken(bcs, bid, verify_cli, ["no configuration blocks"])


def test_the_history_of_an_unknown_channel_or_instance_is_refused(bcs: Bcs) -> None:
    bid = bcs.create_instance("chan-hist-404", channels=[])
    response = bcs.call("GET", f"/blockchains/{bid}/channels/nochan/config-history")
    assert error(response) == (400, "BCS.4001052")
    response = bcs.call("GET", "/blockchains/00000000-0000-0000-0000-000000000000/channels/channel/config-history")
    assert error(response) == (400, "BCS.4001011")
