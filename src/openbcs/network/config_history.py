"""Each channel's configuration history: one block per change of its organisation set, chained by SHA-256.

A block holds its number, the previous block's hash, the sorted org set with MSP ids, the event, the cause (an
operation id) and time, and its own hash over a canonical encoding of all that. ``verify`` re-checks the chain.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.kernel.clock import now_ns
from openbcs.network import lookups
from openbcs.network.models import Channel, ConfigBlock
from openbcs.network.naming import msp_id

GENESIS_PREVIOUS_HASH = "0" * 64
_EVENT_NAMES = {"create": "ChannelCreated", "org_added": "ChannelOrgAdded", "org_removed": "ChannelOrgRemoved"}


def block_hash(
    *, channel: str, number: int, previous_hash: str, event: str, orgs: list[dict[str, Any]], cause: str, time: int
) -> str:
    """SHA-256 over the canonical JSON of a block's contents (sorted keys, no spaces)."""
    canonical = json.dumps(
        {
            "channel": channel,
            "number": number,
            "previous_hash": previous_hash,
            "event": event,
            "orgs": orgs,
            "cause": cause,
            "time": time,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _label(channel: Channel) -> str:
    return f"{channel.blockchain_id}/{channel.name}"


def _org_entry(session: Session, org_id: int) -> dict[str, str]:
    org = lookups.org_by_id(session, org_id)
    return {"blockchain_id": org.blockchain_id, "name": org.name, "msp_id": msp_id(org)}


def append(session: Session, channel: Channel, *, event: str, cause: str) -> ConfigBlock:
    """Add the block that records the channel's current organisation set after ``event``."""
    # Lock the channel first: two transactions appending to one chain would otherwise both take the next number.
    session.execute(select(Channel.id).where(Channel.id == channel.id).with_for_update())
    last = session.scalar(
        select(ConfigBlock).where(ConfigBlock.channel_id == channel.id).order_by(ConfigBlock.number.desc()).limit(1)
    )
    number = 0 if last is None else last.number + 1
    previous = GENESIS_PREVIOUS_HASH if last is None else last.hash
    orgs = sorted(
        (_org_entry(session, org_id) for org_id in lookups.org_ids_in(session, channel)),
        key=lambda o: (o["msp_id"], o["name"]),
    )
    time = now_ns()
    block = ConfigBlock(
        channel_id=channel.id,
        number=number,
        previous_hash=previous,
        event=event,
        orgs=orgs,
        cause=cause,
        time=time,
        hash=block_hash(
            channel=_label(channel),
            number=number,
            previous_hash=previous,
            event=event,
            orgs=orgs,
            cause=cause,
            time=time,
        ),
    )
    session.add(block)
    session.flush()
    instance = lookups.find(session, blockchain_id=channel.blockchain_id)
    if instance is not None:
        events.record(
            session,
            blockchain_id=instance.id,
            project_id=instance.project_id,
            name=_EVENT_NAMES.get(event, event),
            message=f"channel {channel.name}: {event.replace('_', ' ')} (block {number})",
            metadata={"channel": channel.name, "block": number, "operation_id": cause},
        )
    return block


def history(session: Session, channel: Channel) -> list[ConfigBlock]:
    """The channel's configuration blocks, oldest first."""
    return list(
        session.scalars(select(ConfigBlock).where(ConfigBlock.channel_id == channel.id).order_by(ConfigBlock.number))
    )


def verify(session: Session, channel: Channel) -> list[str]:
    """Problems found re-checking the chain and its match with the current org set (empty when it verifies)."""
    problems: list[str] = []
    previous = GENESIS_PREVIOUS_HASH
    blocks = history(session, channel)
    for expected_number, block in enumerate(blocks):
        if block.number != expected_number:
            problems.append(f"block {block.number}: expected number {expected_number}")
        if block.previous_hash != previous:
            problems.append(f"block {block.number}: previous_hash does not match block {block.number - 1}")
        recomputed = block_hash(
            channel=_label(channel),
            number=block.number,
            previous_hash=block.previous_hash,
            event=block.event,
            orgs=block.orgs,
            cause=block.cause,
            time=block.time,
        )
        if recomputed != block.hash:
            problems.append(f"block {block.number}: hash does not match its contents")
        previous = block.hash
    if not blocks:
        problems.append("no configuration blocks")
    else:
        current = sorted(_org_entry(session, i)["msp_id"] for i in lookups.org_ids_in(session, channel))
        if sorted(o["msp_id"] for o in blocks[-1].orgs) != current:
            problems.append("the last block's org set differs from the channel's current organisations")
    return problems


def verify_all(session: Session) -> dict[str, list[str]]:
    """``{"<blockchain id>/<channel>": problems}`` for every channel on the server (``openbcs channel verify``)."""
    return {_label(c): verify(session, c) for c in session.scalars(select(Channel).order_by(Channel.id))}
