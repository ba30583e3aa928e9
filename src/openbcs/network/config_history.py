"""Each channel's configuration history as Hyperledger Fabric keeps it: block 0 is the channel's genesis config
block (as ``configtxgen`` makes one for the channel participation API), and every change of the channel's
organisation set or anchor peers is a ``ConfigUpdate`` signed by the member organisations' admins that the channel's
policies require, wrapped in a CONFIG_UPDATE envelope, and ordered into the next config block signed by an orderer
of the channel's instance (:mod:`openbcs.fabric` does the Fabric parts; ``docs/fabric-config.md`` explains them).

``verify`` re-checks a channel as a Fabric orderer would (``openbcs channel verify``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fabric_protos.common.common_pb2 import Block, Envelope
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import events, fabric
from openbcs.fabric.read import config_envelope_of, update_envelope_of
from openbcs.kernel.clock import now_ns, utcnow
from openbcs.kernel.keys import ServerKey
from openbcs.network import channel_config, gate, lookups
from openbcs.network.models import Channel, ConfigBlock, Organization
from openbcs.network.naming import msp_id

_ORDERING = "openbcs.config_ordering"


@dataclass
class Ordering:
    """Config updates that real orderers order (the local runtime): while it is in force, :func:`append` records
    each channel's signed CONFIG_UPDATE envelope in ``captured`` instead of cutting a block itself, or, for a channel
    in ``delivered`` (``(block, envelope)``: what the orderers committed for the envelope that was sent), stores
    that block, its bytes as they are, with that envelope, in place of its own."""

    captured: dict[int, bytes] = field(default_factory=dict)
    delivered: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)


@contextmanager
def ordered_by(session: Session, ordering: Ordering) -> Iterator[Ordering]:
    """Let ``ordering`` handle the config updates this unit of work makes until the block ends."""
    session.info[_ORDERING] = ordering
    try:
        yield ordering
    finally:
        session.info.pop(_ORDERING, None)


_EVENT_NAMES = {"create": "ChannelCreated", "org_added": "ChannelOrgAdded", "org_removed": "ChannelOrgRemoved"}


def _ser(message: Block) -> bytes:
    serialized: bytes = message.SerializeToString(deterministic=True)
    return serialized


def _label(channel: Channel) -> str:
    return f"{channel.blockchain_id}/{channel.name}"


def _org_entries(orgs: list[Organization]) -> list[dict[str, str]]:
    entries = [{"blockchain_id": org.blockchain_id, "name": org.name, "msp_id": msp_id(org)} for org in orgs]
    return sorted(entries, key=lambda o: (o["msp_id"], o["name"]))


def _latest(session: Session, channel: Channel) -> ConfigBlock | None:
    return session.scalar(
        select(ConfigBlock).where(ConfigBlock.channel_id == channel.id).order_by(ConfigBlock.number.desc()).limit(1)
    )


def _next_block(
    session: Session, channel: Channel, previous: Block, spec: fabric.ChannelSpec, acting: str | None, keys: ServerKey
) -> tuple[Block, bytes, str, list[str]] | None:
    """The signed update and block that bring the channel from ``previous`` to ``spec`` (None if nothing changes)."""
    members = fabric.application_orgs(fabric.config_of(previous))
    admins = channel_config.admins_by_msp(session, members, first=acting, server_key=keys)
    # The submitter must satisfy /Channel/Writers of the current config: a member's admin, or (a channel with no
    # member yet) the orderer organisation's admin.
    if admins:
        submitter = admins[0]
    else:
        submitter = channel_config.admin_signer(
            session, channel_config.orderer_org(session, channel.blockchain_id), keys
        )
    orderer = channel_config.orderer_signer(session, channel.blockchain_id, keys)
    # Through the signature gate: an update that needs an external organisation's signature waits for it there.
    made = gate.next_block(session, channel.id, previous, spec, admins, submitter, orderer, utcnow())
    if made is None:
        return None
    block, envelope, signers = made
    tx_id = update_envelope_of(envelope)[0].tx_id
    return block, envelope.SerializeToString(deterministic=True), str(tx_id), signers


def append(
    session: Session, channel: Channel, *, event: str, cause: str, keys: ServerKey, acting: str | None = None
) -> ConfigBlock | None:
    """Make the channel's Fabric configuration match the model now: its genesis block if it has none, else the next
    config block (None when nothing in the configuration changes, as when a non-anchor peer joins). ``acting`` is
    the instance whose organisations' admins sign first."""
    # Lock the channel first: two transactions appending to one chain would otherwise both take the next number.
    session.execute(select(Channel.id).where(Channel.id == channel.id).with_for_update())
    last = _latest(session, channel)
    if last is None:
        return genesis(session, channel, cause=cause)
    orgs, spec = channel_config.members_and_spec(session, channel)
    made = _next_block(session, channel, Block.FromString(last.block), spec, acting, keys)
    if made is None:
        return None
    block, update, tx_id, signers = made
    ordering: Ordering | None = session.info.get(_ORDERING)
    if ordering is not None:
        if channel.id not in ordering.delivered:
            ordering.captured[channel.id] = update
            return None
        # The envelope the orderers ordered, not the one just made again (its signatures and nonce differ).
        raw, sent = ordering.delivered[channel.id]
        tx_id = str(update_envelope_of(Envelope.FromString(sent))[0].tx_id)
        signers = fabric.signers_of(sent)
        return _store(
            session, channel, orgs, Block.FromString(raw), sent, tx_id, signers, event=event, cause=cause, raw=raw
        )
    return _store(session, channel, orgs, block, update, tx_id, signers, event=event, cause=cause)


def genesis(session: Session, channel: Channel, *, cause: str, record: bool = True) -> ConfigBlock:
    """Block 0 of the channel from its state now (unsigned, as ``configtxgen`` makes it); ``record`` False records no
    event (a migration rebuilding history)."""
    orgs, spec = channel_config.members_and_spec(session, channel)
    block = fabric.genesis_block(channel.name, fabric.build_config(spec), utcnow())
    tx_id = str(config_envelope_of(block)[0].tx_id)
    return _store(session, channel, orgs, block, None, tx_id, [], event="create", cause=cause, record=record)


def _store(
    session: Session,
    channel: Channel,
    orgs: list[Organization],
    block: Block,
    update: bytes | None,
    tx_id: str,
    signers: list[str],
    *,
    event: str,
    cause: str,
    record: bool = True,
    raw: bytes | None = None,
) -> ConfigBlock:
    """Keep the block (``raw``: its bytes as real orderers wrote them) with what the API shows of it."""
    number = int(block.header.number)
    row = ConfigBlock(
        channel_id=channel.id,
        number=number,
        block=raw if raw is not None else _ser(block),
        config_update=update,
        hash=fabric.block_header_hash(block.header).hex(),
        previous_hash=bytes(block.header.previous_hash).hex(),
        tx_id=tx_id,
        config_sequence=int(fabric.config_of(block).sequence),
        signers=signers,
        event=event,
        orgs=_org_entries(orgs),
        cause=cause,
        time=now_ns(),
    )
    session.add(row)
    session.flush()
    instance = lookups.find(session, blockchain_id=channel.blockchain_id)
    if instance is not None and record:
        events.record(
            session,
            blockchain_id=instance.id,
            project_id=instance.project_id,
            name=_EVENT_NAMES.get(event, event),
            message=f"channel {channel.name}: {event.replace('_', ' ')} (block {number})",
            metadata={"channel": channel.name, "block": number, "operation_id": cause, "tx_id": tx_id},
        )
    return row


def history(session: Session, channel: Channel) -> list[ConfigBlock]:
    """The channel's configuration blocks, oldest first."""
    return list(
        session.scalars(select(ConfigBlock).where(ConfigBlock.channel_id == channel.id).order_by(ConfigBlock.number))
    )


def _row_problems(row: ConfigBlock, expected_number: int) -> list[str]:
    """Where the row's own columns disagree with the block it stores."""
    try:
        block = Block.FromString(row.block)
        config = fabric.config_of(block)
    except Exception:  # the chain check names the block; the columns cannot be compared then
        return []
    problems = []
    if row.number != expected_number or block.header.number != row.number:
        problems.append(f"block {row.number}: stored as number {row.number}, expected {expected_number}")
    if row.hash != fabric.block_header_hash(block.header).hex():
        problems.append(f"block {row.number}: the stored hash is not the block header's hash")
    if row.previous_hash != bytes(block.header.previous_hash).hex():
        problems.append(f"block {row.number}: the stored previous_hash is not the block header's")
    if row.config_sequence != config.sequence:
        problems.append(f"block {row.number}: the stored config sequence is not the block's")
    if sorted(o["msp_id"] for o in row.orgs) != fabric.application_orgs(config):
        problems.append(f"block {row.number}: the stored organisations are not the block's")
    return problems


def verify(session: Session, channel: Channel) -> list[str]:
    """What a Fabric orderer would refuse in the channel's stored history (empty when it verifies): every block
    chained and hashed, each config the previous one with its update applied, every signature valid and low-S, every
    update satisfying the previous config's policies; and the last config holds exactly the channel's organisations."""
    rows = history(session, channel)
    if not rows:
        return ["no configuration blocks"]
    updates = {row.number: row.config_update for row in rows if row.config_update is not None}
    problems = [str(p) for p in fabric.verify_chain([row.block for row in rows], updates)]
    for expected, row in enumerate(rows):
        problems.extend(_row_problems(row, expected))
    if not problems:
        current = sorted(msp_id(org) for org in channel_config.member_orgs(session, channel))
        if fabric.application_orgs(fabric.config_of(Block.FromString(rows[-1].block))) != current:
            problems.append(f"block {rows[-1].number}: its organisations differ from the channel's current ones")
    return problems


def page(session: Session, channel: Channel, *, limit: int, marker: int | None) -> tuple[list[ConfigBlock], list[str]]:
    """The channel's newest ``limit`` blocks numbered below ``marker`` (all, without one), oldest first, and what a
    Fabric orderer would refuse in them (:func:`verify`'s checks, bounded by the page): each block chained to and
    allowed by the one before it, the block before the page included; and, on the page holding the newest block, its
    organisations the channel's current ones. Reads ``limit`` + 1 blocks whatever the history's length."""
    query = select(ConfigBlock).where(ConfigBlock.channel_id == channel.id)
    if marker is not None:
        query = query.where(ConfigBlock.number < marker)
    rows = list(session.scalars(query.order_by(ConfigBlock.number.desc()).limit(limit + 1)))[::-1]
    before = rows.pop(0) if len(rows) > limit else None
    if not rows:
        return [], ["no configuration blocks"]
    updates = {row.number: row.config_update for row in rows if row.config_update is not None}
    after = before.block if before is not None else None
    problems = [str(p) for p in fabric.verify_chain([row.block for row in rows], updates, after=after)]
    first = before.number + 1 if before is not None else 0
    for expected, row in enumerate(rows, first):
        problems.extend(_row_problems(row, expected))
    newest = (
        marker is None
        or session.scalar(
            select(ConfigBlock.number)
            .where(ConfigBlock.channel_id == channel.id, ConfigBlock.number >= marker)
            .limit(1)
        )
        is None
    )
    if not problems and newest:
        current = sorted(msp_id(org) for org in channel_config.member_orgs(session, channel))
        if fabric.application_orgs(fabric.config_of(Block.FromString(rows[-1].block))) != current:
            problems.append(f"block {rows[-1].number}: its organisations differ from the channel's current ones")
    return rows, problems


def history_of(session: Session, *, blockchain_id: str, name: str) -> list[tuple[int, bytes, bytes | None]]:
    """``(number, block, update)`` of a channel named by its instance id (operators' ``openbcs channel fetch``)."""
    channel = lookups.channel_named(session, blockchain_id=blockchain_id, name=name)
    return [(row.number, row.block, row.config_update) for row in history(session, channel)]


def verify_all(session: Session) -> dict[str, list[str]]:
    """``{"<blockchain id>/<channel>": problems}`` for every channel on the server (``openbcs channel verify``)."""
    return {_label(c): verify(session, c) for c in session.scalars(select(Channel).order_by(Channel.id))}
