"""What the channel tests share beyond ``tests/support``: channel operation ids, a configuration block's expected
organisations, and the checks of a configuration history's chain of Fabric block headers."""

from __future__ import annotations

from typing import Any

from fabric_protos.common import common_pb2

from openbcs.kernel.db import Database
from tests.support import expected
from tests.support.expected import block_header_hash
from tests.support.snapshots import config_blocks

# Channel operations: 04 creates channels or adds peers, 06 removes peers or organisations or deletes a channel.
OPERATION_ID = r"^BCSSVC01-(04|06)-\d{19}$"


def block_orgs(blockchain_id: str, *orgs: str) -> list[dict[str, str]]:
    """The organisations of one instance as a configuration block lists them (sorted by MSP id)."""
    return expected.block_orgs(*((blockchain_id, org) for org in orgs))


def check_links(history: dict[str, Any]) -> None:
    """The blocks of a config-history answer are numbered from 0, block 0 has no predecessor (an empty hash, as in
    Fabric) and each later one names its predecessor's header hash."""
    previous = ""
    for number, block in enumerate(history["blocks"]):
        assert block["number"] == number
        assert block["previous_hash"] == previous
        assert len(block["hash"]) == 64
        previous = block["hash"]


def header_hashes(db: Database, blockchain_id: str, channel: str) -> list[tuple[str, str]]:
    """``(stored hash, hash recomputed from the stored block's header)`` of every block of the channel, oldest first."""
    return [
        (block["hash"], block_header_hash(common_pb2.Block.FromString(block["block"]).header))
        for block in config_blocks(db, blockchain_id, channel)
    ]
