"""Channel rules: naming, who is in a channel, the channel operations, and the configuration history.

Every change of a channel's organisation set appends a configuration block: number, previous block's hash, the sorted
org set with MSP ids, the event, the cause (an operation id) and time, and the block's own SHA-256 over a canonical
encoding of all that. The chain is the audit trail of who was in a consortium when; ``verify`` re-checks it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.blockchains import service as blockchains
from openbcs.channels.models import Channel, ChannelOrg, ChannelPeer, ConfigBlock
from openbcs.channels.schemas import (
    BatchAddPeersToChannelRequestBody,
    BatchCreateChannelsRequestBody,
    BatchRemoveOrgsFromChannelRequestBody,
    BatchRemovePeersFromChannelRequestBody,
)
from openbcs.db import now_ns
from openbcs.monitoring import service as monitoring
from openbcs.operations import kinds
from openbcs.operations import service as operations
from openbcs.operations.kinds import OperationContext, OperationKind, Step, SubStep

# Called with (session, instance id, channel name) in the transaction that deletes a channel: the consortium domain
# cancels the invitations into it.
ChannelDeletionHook = Callable[[Session, str, str], None]
_deletion_hooks: list[ChannelDeletionHook] = []


def on_channel_deleted(hook: ChannelDeletionHook) -> ChannelDeletionHook:
    """Register a function to run when a channel is deleted."""
    _deletion_hooks.append(hook)
    return hook


CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9]{2,22}[a-z0-9]$")
GENESIS_PREVIOUS_HASH = "0" * 64
CHANNELS_MAX = 20


def check_name(name: str) -> None:
    """4-24 lower-case letters and digits, starting with a letter (``BCS.4006012`` otherwise)."""
    if not CHANNEL_NAME.fullmatch(name):
        raise errors.BCSError(
            errors.INVALID_CHANNEL_NAME,
            f"Invalid channel name. ({name!r}: 4-24 characters of a-z and 0-9, starting with a letter)",
        )


# --- configuration history -----------------------------------------------------------------------------------------


def _org_entry(session: Session, org_id: int) -> dict[str, str]:
    org = blockchains.org_by_id(session, org_id)
    return {"blockchain_id": org.blockchain_id, "name": org.name, "msp_id": blockchains.msp_id(org)}


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


def _channel_label(channel: Channel) -> str:
    return f"{channel.blockchain_id}/{channel.name}"


def _append_block(session: Session, channel: Channel, *, event: str, cause: str) -> ConfigBlock:
    # Lock the channel first: two transactions appending to one chain would otherwise both take the next number.
    session.execute(select(Channel.id).where(Channel.id == channel.id).with_for_update())
    last = session.scalar(
        select(ConfigBlock).where(ConfigBlock.channel_id == channel.id).order_by(ConfigBlock.number.desc()).limit(1)
    )
    number = 0 if last is None else last.number + 1
    previous = GENESIS_PREVIOUS_HASH if last is None else last.hash
    org_ids = session.scalars(select(ChannelOrg.org_id).where(ChannelOrg.channel_id == channel.id))
    orgs = sorted((_org_entry(session, org_id) for org_id in org_ids), key=lambda o: (o["msp_id"], o["name"]))
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
            channel=_channel_label(channel),
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
    instance = blockchains.find(session, blockchain_id=channel.blockchain_id)
    if instance is not None:
        names = {"create": "ChannelCreated", "org_added": "ChannelOrgAdded", "org_removed": "ChannelOrgRemoved"}
        monitoring.record(
            session,
            blockchain_id=instance.id,
            project_id=instance.project_id,
            name=names.get(event, event),
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
            channel=_channel_label(channel),
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
        current = sorted(o["msp_id"] for o in (_org_entry(session, i) for i in _org_ids(session, channel.id)))
        if sorted(o["msp_id"] for o in blocks[-1].orgs) != current:
            problems.append("the last block's org set differs from the channel's current organisations")
    return problems


def verify_all(session: Session) -> dict[str, list[str]]:
    """``{"<blockchain id>/<channel>": problems}`` for every channel on the server (``openbcs channel verify``)."""
    return {_channel_label(c): verify(session, c) for c in session.scalars(select(Channel).order_by(Channel.id))}


# --- membership -----------------------------------------------------------------------------------------------------


def _org_ids(session: Session, channel_id: int) -> list[int]:
    return list(session.scalars(select(ChannelOrg.org_id).where(ChannelOrg.channel_id == channel_id)))


def _peer_ids(session: Session, channel_id: int) -> set[int]:
    return set(session.scalars(select(ChannelPeer.node_id).where(ChannelPeer.channel_id == channel_id)))


def create_channel(
    session: Session,
    *,
    blockchain_id: str,
    name: str,
    description: str,
    org_ids: list[int],
    all_peers: bool,
    cause: str,
) -> Channel:
    """A channel with these organisations (and all their peers if ``all_peers``), and its genesis block."""
    channel = Channel(blockchain_id=blockchain_id, name=name, description=description, created_time=now_ns())
    session.add(channel)
    session.flush()
    for org_id in org_ids:
        session.add(ChannelOrg(channel_id=channel.id, org_id=org_id, joined_time=now_ns()))
        if all_peers:
            for node in blockchains.nodes_of(session, org_id):
                session.add(ChannelPeer(channel_id=channel.id, node_id=node.id))
    session.flush()
    _append_block(session, channel, event="create", cause=cause)
    return channel


def join(session: Session, channel: Channel, *, peer_counts: dict[int, int], cause: str) -> None:
    """Bring ``peer_counts[org]`` more peers of each organisation into the channel; organisations new to it join
    its configuration with one new block for the whole call (as when organisations leave)."""
    present = set(_org_ids(session, channel.id))
    new_orgs = [org_id for org_id in peer_counts if org_id not in present]
    for org_id in new_orgs:
        session.add(ChannelOrg(channel_id=channel.id, org_id=org_id, joined_time=now_ns()))
    joined = _peer_ids(session, channel.id)
    for org_id, count in peer_counts.items():
        waiting = [n for n in blockchains.nodes_of(session, org_id) if n.id not in joined]
        for node in waiting[:count]:
            session.add(ChannelPeer(channel_id=channel.id, node_id=node.id))
    session.flush()
    if new_orgs:
        _append_block(session, channel, event="org_added", cause=cause)


def join_orgs(session: Session, channel: Channel, *, org_ids: list[int], cause: str) -> None:
    """Bring organisations with all their peers into the channel, with one new block (a consortium member joins)."""
    present = set(_org_ids(session, channel.id))
    for org_id in org_ids:
        if org_id not in present:
            session.add(ChannelOrg(channel_id=channel.id, org_id=org_id, joined_time=now_ns()))
        joined = _peer_ids(session, channel.id)
        for node in blockchains.nodes_of(session, org_id):
            if node.id not in joined:
                session.add(ChannelPeer(channel_id=channel.id, node_id=node.id))
    session.flush()
    _append_block(session, channel, event="org_added", cause=cause)


def org_ids_in(session: Session, channel: Channel) -> list[int]:
    """The organisations in a channel's configuration."""
    return _org_ids(session, channel.id)


def peer_ids_in(session: Session, channel: Channel) -> set[int]:
    """The nodes that joined a channel."""
    return _peer_ids(session, channel.id)


def find_channel(session: Session, *, blockchain_id: str, name: str) -> Channel | None:
    """The channel, or None (for rules that refer to channels of other tenants' instances)."""
    return session.scalar(select(Channel).where(Channel.blockchain_id == blockchain_id, Channel.name == name))


def foreign_memberships(session: Session, *, blockchain_id: str) -> list[tuple[Channel, list[int]]]:
    """Channels of *other* instances that organisations of this instance are in, with those organisations."""
    own = [org.id for org in blockchains.orgs_of(session, blockchain_id)]
    found: dict[int, tuple[Channel, list[int]]] = {}
    if own:
        rows = session.execute(
            select(Channel, ChannelOrg.org_id)
            .join(ChannelOrg, ChannelOrg.channel_id == Channel.id)
            .where(ChannelOrg.org_id.in_(own), Channel.blockchain_id != blockchain_id)
            .order_by(Channel.id)
        )
        for channel, org_id in rows:
            found.setdefault(channel.id, (channel, []))[1].append(org_id)
    return list(found.values())


def leave(session: Session, channel: Channel, *, org_ids: list[int], cause: str) -> None:
    """Take organisations and their peers out of the channel, with one new block."""
    node_ids = [n.id for org_id in org_ids for n in blockchains.nodes_of(session, org_id)]
    if node_ids:
        session.execute(
            delete(ChannelPeer).where(ChannelPeer.channel_id == channel.id, ChannelPeer.node_id.in_(node_ids))
        )
    session.execute(delete(ChannelOrg).where(ChannelOrg.channel_id == channel.id, ChannelOrg.org_id.in_(org_ids)))
    session.flush()
    _append_block(session, channel, event="org_removed", cause=cause)


def remove_nodes(session: Session, node_ids: list[int], *, cause: str) -> None:
    """Peers being deleted leave every channel (the org set, and so the history, is unchanged)."""
    del cause  # peers leaving change no channel configuration
    if node_ids:
        session.execute(delete(ChannelPeer).where(ChannelPeer.node_id.in_(node_ids)))


def channels_with_org(session: Session, org_id: int) -> list[str]:
    """Names of the channels an organisation is in."""
    return list(
        session.scalars(
            select(Channel.name)
            .join(ChannelOrg, ChannelOrg.channel_id == Channel.id)
            .where(ChannelOrg.org_id == org_id)
        )
    )


def delete_all_of(session: Session, *, blockchain_id: str) -> None:
    """Remove an instance's channels (its deletion is completing)."""
    for channel in session.scalars(select(Channel).where(Channel.blockchain_id == blockchain_id)):
        session.delete(channel)
    session.flush()


def channel_named(session: Session, *, blockchain_id: str, name: str) -> Channel:
    """The instance's channel by name, or ``BCS.4001052``."""
    channel = session.scalar(select(Channel).where(Channel.blockchain_id == blockchain_id, Channel.name == name))
    if channel is None:
        raise errors.BCSError(errors.CHANNEL_NOT_FOUND, f"Input channel {name} is not exist")
    return channel


# --- views ----------------------------------------------------------------------------------------------------------


@dataclass
class ChannelView:
    """A channel with its organisations and peers by organisation name."""

    name: str
    description: str
    created_time: int
    org_names: list[str] = field(default_factory=list)
    org_hashes: list[str] = field(default_factory=list)
    peers: dict[str, list[str]] = field(default_factory=dict)


def views_of(session: Session, *, blockchain_id: str) -> list[ChannelView]:
    """Every channel of the instance, organisations in joining order, peers by ordinal."""
    views = []
    for channel in session.scalars(select(Channel).where(Channel.blockchain_id == blockchain_id).order_by(Channel.id)):
        view = ChannelView(channel.name, channel.description, channel.created_time)
        joined = _peer_ids(session, channel.id)
        for member in session.scalars(
            select(ChannelOrg).where(ChannelOrg.channel_id == channel.id).order_by(ChannelOrg.id)
        ):
            org = blockchains.org_by_id(session, member.org_id)
            # A consortium member's organisation may share its name with one of the channel's own ones
            # ("organization" is everyone's default): it is then told apart by the start of its name hash.
            label = org.name if org.name not in view.peers else f"{org.name}-{org.name_hash[:8]}"
            view.org_names.append(label)
            view.org_hashes.append(org.name_hash)
            view.peers[label] = [n.name for n in blockchains.nodes_of(session, org.id) if n.id in joined]
        views.append(view)
    return views


def channels_by_node(session: Session, *, node_ids: list[int]) -> dict[int, list[str]]:
    """``{node id: [channel names]}`` for the given nodes."""
    found: dict[int, list[str]] = {node_id: [] for node_id in node_ids}
    if node_ids:
        rows = session.execute(
            select(ChannelPeer.node_id, Channel.name)
            .join(Channel, Channel.id == ChannelPeer.channel_id)
            .where(ChannelPeer.node_id.in_(node_ids))
            .order_by(Channel.id)
        )
        for node_id, name in rows:
            found[node_id].append(name)
    return found


def config_history(
    session: Session, *, project_id: str, blockchain_id: str, channel_name: str
) -> tuple[list[ConfigBlock], list[str]]:
    """A channel's configuration blocks and the problems verification finds (none when the chain is intact)."""
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    channel = channel_named(session, blockchain_id=instance.id, name=channel_name)
    return history(session, channel), verify(session, channel)


# --- operations -----------------------------------------------------------------------------------------------------


def _start(session: Session, instance: Any, kind: OperationKind, payload: dict[str, Any]) -> str:
    operation_id = operations.start(
        session,
        kind=kind.name,
        domain_id=instance.domain_id,
        project_id=instance.project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        payload=payload,
    )
    blockchains.mark_busy(instance, operation_id)
    return operation_id


def _mutable_instance(session: Session, *, project_id: str, blockchain_id: str) -> Any:
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    blockchains.require_idle(instance)
    return instance


def batch_create(session: Session, *, project_id: str, blockchain_id: str, body: BatchCreateChannelsRequestBody) -> str:
    """Start creating channels (each begins with no organisations; peers join with BatchAddPeersToChannel)."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    if instance.is_invitee:
        raise errors.invalid_parameter(
            "blockchain_id", "an invitee instance has no orderers and cannot create channels"
        )
    existing = {view.name for view in views_of(session, blockchain_id=instance.id)}
    wanted = [c.channel_name for c in body.channels]
    for index, name in enumerate(wanted):
        check_name(name)
        if name in existing or wanted.index(name) != index:
            raise errors.invalid_parameter(f"channels[{index}].channel_name", f"channel {name} exists already")
    if len(existing) + len(wanted) > CHANNELS_MAX:
        raise errors.invalid_parameter("channels", f"an instance has at most {CHANNELS_MAX} channels")
    payload = {
        "channels": [{"name": c.channel_name, "description": c.channel_description or ""} for c in body.channels]
    }
    return _start(session, instance, CREATE, payload)


def add_peers(session: Session, *, project_id: str, blockchain_id: str, body: BatchAddPeersToChannelRequestBody) -> str:
    """Start adding peers of organisations (``org -> how many more``) to one channel."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    if len(body.channel_peers) != 1:
        raise errors.invalid_parameter("channel_peers", "one channel per call")
    wanted = body.channel_peers[0]
    channel = channel_named(session, blockchain_id=instance.id, name=wanted.channel_name)
    joined = _peer_ids(session, channel.id)
    for org_name, count in wanted.peers.items():
        org = blockchains.org_named(session, instance.id, org_name)
        free = [n for n in blockchains.nodes_of(session, org.id) if n.id not in joined]
        if not free:
            raise errors.wrong_state(f"org {org_name}", f"all its peers are in channel {channel.name} already")
        if not 1 <= count <= len(free):
            raise errors.invalid_parameter(
                f"channel_peers[0].peers.{org_name}", f"1 to {len(free)} (peers of {org_name} not yet in the channel)"
            )
    return _start(session, instance, ADD_PEERS, {"channel": channel.name, "peers": dict(wanted.peers)})


def remove_orgs(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    channel_name: str,
    body: BatchRemoveOrgsFromChannelRequestBody,
) -> str:
    """Start taking organisations (with their peers) out of a channel."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    channel = channel_named(session, blockchain_id=instance.id, name=channel_name)
    if len(set(body.org_names)) != len(body.org_names):
        raise errors.invalid_parameter("org_names", "each organisation at most once")
    members = set(_org_ids(session, channel.id))
    for name in body.org_names:
        org = blockchains.org_named(session, instance.id, name)
        if org.id not in members:
            raise errors.wrong_state(f"org {name}", f"not in channel {channel.name}")
    return _start(session, instance, REMOVE_ORGS, {"channel": channel.name, "orgs": list(body.org_names)})


def remove_peers(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    channel_name: str,
    body: BatchRemovePeersFromChannelRequestBody,
) -> str:
    """Start taking some peers of one organisation out of a channel (never its last: that is the org-quit call)."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    channel = channel_named(session, blockchain_id=instance.id, name=channel_name)
    org = blockchains.org_named(session, instance.id, body.org_name)
    if org.id not in _org_ids(session, channel.id):
        raise errors.wrong_state(f"org {body.org_name}", f"not in channel {channel.name}")
    joined = _peer_ids(session, channel.id)
    in_channel = [n for n in blockchains.nodes_of(session, org.id) if n.id in joined]
    if not 0 < body.peers < len(in_channel):
        raise errors.invalid_parameter(
            "peers",
            f"more than 0 and fewer than the {len(in_channel)} peer(s) of {org.name} in the channel; "
            "to take the organisation out use BatchRemoveOrgsFromChannel",
        )
    return _start(session, instance, REMOVE_PEERS, {"channel": channel.name, "org": org.name, "peers": body.peers})


def delete_channel(session: Session, *, project_id: str, blockchain_id: str, channel_name: str) -> str:
    """Start deleting a channel that has no organisations left."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    channel = channel_named(session, blockchain_id=instance.id, name=channel_name)
    if _org_ids(session, channel.id):
        raise errors.wrong_state(f"channel {channel.name}", "only an empty channel can be deleted")
    return _start(session, instance, DELETE, {"channel": channel.name})


# --- actions --------------------------------------------------------------------------------------------------------


def _instance(session: Session, ctx: OperationContext) -> Any:
    assert ctx.blockchain_id is not None
    instance = blockchains.find(session, blockchain_id=ctx.blockchain_id)
    assert instance is not None
    return instance


def _channel(session: Session, ctx: OperationContext) -> Channel:
    return channel_named(session, blockchain_id=_instance(session, ctx).id, name=ctx.payload["channel"])


def _create_channels(session: Session, ctx: OperationContext) -> str:
    instance = _instance(session, ctx)
    for wanted in ctx.payload["channels"]:
        create_channel(
            session,
            blockchain_id=instance.id,
            name=wanted["name"],
            description=wanted["description"],
            org_ids=[],
            all_peers=False,
            cause=ctx.operation_id,
        )
    return f"{len(ctx.payload['channels'])} channel(s) created"


def _add_peers(session: Session, ctx: OperationContext) -> str:
    channel = _channel(session, ctx)
    counts = {
        blockchains.org_named(session, channel.blockchain_id, org_name).id: count
        for org_name, count in ctx.payload["peers"].items()
    }
    join(session, channel, peer_counts=counts, cause=ctx.operation_id)
    return f"peers joined channel {channel.name}"


def _remove_orgs(session: Session, ctx: OperationContext) -> str:
    channel = _channel(session, ctx)
    org_ids = [blockchains.org_named(session, channel.blockchain_id, name).id for name in ctx.payload["orgs"]]
    leave(session, channel, org_ids=org_ids, cause=ctx.operation_id)
    return f"{len(org_ids)} organisation(s) left channel {channel.name}"


def _remove_peers(session: Session, ctx: OperationContext) -> str:
    channel = _channel(session, ctx)
    org = blockchains.org_named(session, channel.blockchain_id, ctx.payload["org"])
    joined = _peer_ids(session, channel.id)
    in_channel = [n for n in blockchains.nodes_of(session, org.id) if n.id in joined]
    leaving = [n.id for n in in_channel[-ctx.payload["peers"] :]]
    session.execute(delete(ChannelPeer).where(ChannelPeer.channel_id == channel.id, ChannelPeer.node_id.in_(leaving)))
    return f"{len(leaving)} peer(s) of {org.name} left channel {channel.name}"


def _delete_channel(session: Session, ctx: OperationContext) -> str:
    channel = _channel(session, ctx)
    instance = _instance(session, ctx)
    monitoring.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name="ChannelDeleted",
        message=f"channel {channel.name} deleted",
        metadata={"channel": channel.name, "operation_id": ctx.operation_id},
    )
    for hook in _deletion_hooks:
        hook(session, channel.blockchain_id, channel.name)
    session.delete(channel)
    return f"channel {channel.name} deleted"


def _done(session: Session, ctx: OperationContext) -> str:
    blockchains.mark_idle(_instance(session, ctx))
    return "done"


def _failed(session: Session, ctx: OperationContext, _message: str) -> None:
    blockchains.mark_idle(_instance(session, ctx))


def _kind(
    name: str, operation_type: str, description: str, step: str, sub_step: str, action: kinds.Action
) -> OperationKind:
    return kinds.register(
        OperationKind(
            name=name,
            resource_type="BCSSVC01",
            operation_type=operation_type,
            description=description,
            on_failure=_failed,
            steps=(Step(step, (SubStep(sub_step, action),)), Step("Finish", (SubStep("Update instance", _done),))),
        )
    )


CREATE = _kind(
    "channel.create", "04", "create channels", "Create channels", "Create channel configuration", _create_channels
)
ADD_PEERS = _kind("channel.add_peers", "04", "add peers to a channel", "Join channel", "Join peers", _add_peers)
REMOVE_ORGS = _kind(
    "channel.remove_orgs",
    "06",
    "remove organisations from a channel",
    "Quit channel",
    "Update channel configuration",
    _remove_orgs,
)
REMOVE_PEERS = _kind(
    "channel.remove_peers", "06", "remove peers from a channel", "Quit channel", "Remove peers", _remove_peers
)
DELETE = _kind("channel.delete", "06", "delete a channel", "Delete channel", "Remove channel", _delete_channel)
