"""Changing who is in a channel: creating it with organisations, organisations and peers joining and leaving.

Every change of a channel's organisation set or of an organisation's anchor peer (its lowest-numbered peer in the
channel) adds one Fabric config block (:mod:`openbcs.network.config_history`); peers joining or leaving without
changing either add none, as in Fabric. ``keys`` is the server key (the admins' and orderers' private keys are sealed
with it); ``acting`` is the instance whose organisations' admins sign first.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import config_history, lookups
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, Node


def create_channel(
    session: Session,
    *,
    blockchain_id: str,
    name: str,
    description: str,
    org_ids: list[int],
    all_peers: bool,
    cause: str,
    keys: ServerKey,
) -> Channel:
    """A channel with these organisations (and all their peers if ``all_peers``), and its genesis block."""
    channel = Channel(blockchain_id=blockchain_id, name=name, description=description, created_time=now_ns())
    session.add(channel)
    session.flush()
    # Bulk inserts (one statement per table): a creation makes up to 20 channels of 10 organisations of 5 peers in
    # one step, which must hold the database for well under a second (docs/limits.md).
    if org_ids:
        session.execute(
            insert(ChannelOrg), [{"channel_id": channel.id, "org_id": o, "joined_time": now_ns()} for o in org_ids]
        )
    if all_peers and org_ids:
        node_ids = session.scalars(select(Node.id).where(Node.org_id.in_(org_ids)).order_by(Node.id)).all()
        if node_ids:
            session.execute(insert(ChannelPeer), [{"channel_id": channel.id, "node_id": n} for n in node_ids])
    config_history.append(session, channel, event="create", cause=cause, keys=keys, acting=blockchain_id)
    return channel


def add_peers(session: Session, channel: Channel, *, peer_counts: dict[int, int], cause: str, keys: ServerKey) -> None:
    """Bring ``peer_counts[org]`` more peers of each organisation into the channel; organisations new to it join
    its configuration with one new block for the whole call."""
    present = set(lookups.org_ids_in(session, channel))
    new_orgs = [org_id for org_id in peer_counts if org_id not in present]
    for org_id in new_orgs:
        session.add(ChannelOrg(channel_id=channel.id, org_id=org_id, joined_time=now_ns()))
    joined = lookups.peer_ids_in(session, channel)
    for org_id, count in peer_counts.items():
        waiting = [n for n in lookups.nodes_of(session, org_id) if n.id not in joined]
        for node in waiting[:count]:
            session.add(ChannelPeer(channel_id=channel.id, node_id=node.id))
    session.flush()
    event = "org_added" if new_orgs else "anchor_peers"
    config_history.append(session, channel, event=event, cause=cause, keys=keys, acting=channel.blockchain_id)


def join_orgs(
    session: Session, channel: Channel, *, org_ids: list[int], cause: str, keys: ServerKey, acting: str
) -> None:
    """Bring organisations with all their peers into the channel, with one new block (a consortium member joins)."""
    present = set(lookups.org_ids_in(session, channel))
    for org_id in org_ids:
        if org_id not in present:
            session.add(ChannelOrg(channel_id=channel.id, org_id=org_id, joined_time=now_ns()))
        joined = lookups.peer_ids_in(session, channel)
        for node in lookups.nodes_of(session, org_id):
            if node.id not in joined:
                session.add(ChannelPeer(channel_id=channel.id, node_id=node.id))
    session.flush()
    config_history.append(session, channel, event="org_added", cause=cause, keys=keys, acting=acting)


def leave(session: Session, channel: Channel, *, org_ids: list[int], cause: str, keys: ServerKey, acting: str) -> None:
    """Take organisations and their peers out of the channel, with one new block."""
    node_ids = list(session.scalars(select(Node.id).where(Node.org_id.in_(org_ids))))
    if node_ids:
        session.execute(
            delete(ChannelPeer).where(ChannelPeer.channel_id == channel.id, ChannelPeer.node_id.in_(node_ids))
        )
    session.execute(delete(ChannelOrg).where(ChannelOrg.channel_id == channel.id, ChannelOrg.org_id.in_(org_ids)))
    session.flush()
    config_history.append(session, channel, event="org_removed", cause=cause, keys=keys, acting=acting)


def remove_peers(session: Session, channel: Channel, *, node_ids: list[int], cause: str, keys: ServerKey) -> None:
    """Some peers leave the channel; their organisation stays (a new block only if an anchor peer changed)."""
    if node_ids:
        session.execute(
            delete(ChannelPeer).where(ChannelPeer.channel_id == channel.id, ChannelPeer.node_id.in_(node_ids))
        )
        session.flush()
        config_history.append(
            session, channel, event="anchor_peers", cause=cause, keys=keys, acting=channel.blockchain_id
        )


def _anchors(session: Session, channel_ids: list[int]) -> dict[tuple[int, int], int]:
    """``{(channel id, org id): node id}`` of each organisation's anchor peer (its lowest-numbered peer there)."""
    rows = session.execute(
        select(ChannelPeer.channel_id, Node.org_id, Node.id)
        .join(Node, Node.id == ChannelPeer.node_id)
        .where(ChannelPeer.channel_id.in_(channel_ids))
        .order_by(ChannelPeer.channel_id, Node.org_id, Node.ordinal.desc())
    )
    return {(channel_id, org_id): node_id for channel_id, org_id, node_id in rows}


def remove_nodes(session: Session, node_ids: list[int], *, cause: str, keys: ServerKey) -> None:
    """Peers being deleted leave every channel (the org set is unchanged; a block only where an anchor peer
    changed: only those channels' configurations are rebuilt, each once, however many peers leave it)."""
    if not node_ids:
        return
    channels = list(
        session.scalars(
            select(Channel)
            .join(ChannelPeer, ChannelPeer.channel_id == Channel.id)
            .where(ChannelPeer.node_id.in_(node_ids))
            .order_by(Channel.id)
        ).unique()
    )
    before = _anchors(session, [channel.id for channel in channels])
    session.execute(delete(ChannelPeer).where(ChannelPeer.node_id.in_(node_ids)))
    session.flush()
    after = _anchors(session, [channel.id for channel in channels])
    for channel in channels:
        if any(after.get(key) != anchor for key, anchor in before.items() if key[0] == channel.id):
            config_history.append(
                session, channel, event="anchor_peers", cause=cause, keys=keys, acting=channel.blockchain_id
            )


def delete_channels_of(session: Session, *, blockchain_id: str) -> None:
    """Remove an instance's channels (its deletion is completing)."""
    for channel in session.scalars(select(Channel).where(Channel.blockchain_id == blockchain_id)):
        session.delete(channel)
    session.flush()
