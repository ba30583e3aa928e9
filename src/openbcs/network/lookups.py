"""Reading the network model: an instance by tenant, its organisations and nodes, channels and who is in them.

Tenancy lives here: :func:`get_owned` is how a caller's path id becomes an instance, and another tenant's instance is
indistinguishable from none. :func:`find` is only for rules that span tenants (an invitee checking its inviter).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, undefer

from openbcs.kernel import errors
from openbcs.network.guards import NODE_NORMAL
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, Instance, Node, Organization

# --- instances, organisations, nodes --------------------------------------------------------------------------------

_PINNED = "openbcs.pinned_instances"
# An instance a call changes is loaded with its runtime (deferred in the model for old migrations' sake): its channel
# changes read it, and a column loaded on first read is one more statement.
_WITH_RUNTIME = undefer(Instance.runtime)


def _pinned(session: Session, instance: Instance) -> Instance:
    """Keep ``instance`` loaded for the rest of the unit of work (a session lives for one transaction).

    The session's identity map holds objects weakly: an instance the call's rules read and let go would be selected
    again by the operation steps that run before the same transaction commits (a quit reads both instances about
    eight times). Pinned, :func:`find` answers from the identity map instead."""
    session.info.setdefault(_PINNED, {})[instance.id] = instance
    return instance


def get_owned(session: Session, *, project_id: str, blockchain_id: str, lock: bool = False) -> Instance:
    """The project's instance, or ``BCS.4001011`` (another tenant's instance is indistinguishable from none)."""
    query = select(Instance).where(Instance.id == blockchain_id, Instance.project_id == project_id)
    query = query.options(_WITH_RUNTIME)
    if lock:
        # populate_existing: a caller may have read the instance (find) before waiting for its lock; the values the
        # lock's previous holder committed must replace the ones read then.
        query = query.with_for_update().execution_options(populate_existing=True)
    instance = session.scalar(query)
    if instance is None:
        raise errors.BCSError(errors.INSTANCE_NOT_FOUND)
    return _pinned(session, instance)


def find(session: Session, *, blockchain_id: str, lock: bool = False) -> Instance | None:
    """Any tenant's instance by id: only for rules that span tenants (an invitee checking its inviter); ``lock``: under
    its row lock, with the values its previous holder committed (as :func:`get_owned`)."""
    if lock:
        query = select(Instance).where(Instance.id == blockchain_id).options(_WITH_RUNTIME).with_for_update()
        instance = session.scalar(query.execution_options(populate_existing=True))
    else:
        instance = session.get(Instance, blockchain_id)
    return None if instance is None else _pinned(session, instance)


def orgs_of(session: Session, blockchain_id: str, *, role: str | None = None) -> list[Organization]:
    """The instance's organisations in creation order (peer orgs only with ``role="peer"``)."""
    query = select(Organization).where(Organization.blockchain_id == blockchain_id)
    if role is not None:
        query = query.where(Organization.role == role)
    return list(session.scalars(query.order_by(Organization.id)))


def org_named(session: Session, blockchain_id: str, name: str, *, role: str | None = "peer") -> Organization:
    """A peer organisation of the instance by name, or ``BCS.4001051``."""
    query = select(Organization).where(Organization.blockchain_id == blockchain_id, Organization.name == name)
    if role is not None:
        query = query.where(Organization.role == role)
    org = session.scalar(query)
    if org is None:
        raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {name} is not exist")
    return org


def org_by_id(session: Session, org_id: int) -> Organization:
    """An organisation by its row id (for channel and consortium views)."""
    return session.get_one(Organization, org_id)


def nodes_of(session: Session, org_id: int) -> list[Node]:
    """An organisation's nodes by ordinal."""
    return list(session.scalars(select(Node).where(Node.org_id == org_id).order_by(Node.ordinal)))


def nodes_by_org(session: Session, blockchain_id: str) -> dict[int, list[Node]]:
    """Every node of the instance by organisation id, each list by ordinal (one statement for all organisations)."""
    found: dict[int, list[Node]] = {}
    query = (
        select(Node)
        .join(Organization, Organization.id == Node.org_id)
        .where(Organization.blockchain_id == blockchain_id)
        .order_by(Node.org_id, Node.ordinal)
    )
    for node in session.scalars(query):
        found.setdefault(node.org_id, []).append(node)
    return found


@dataclass(frozen=True)
class OrgHealth:
    """An organisation's hash and how many of its nodes there are and are Normal."""

    name_hash: str
    nodes: int
    healthy: int


def org_health_query() -> Select[str, str, str, int, int]:
    """Organisations with their name hash, node count and Normal node count (add a where clause)."""
    return (
        select(
            Organization.blockchain_id,
            Organization.name,
            Organization.name_hash,
            func.count(Node.id),
            func.count(case((Node.status == NODE_NORMAL, 1))),
        )
        .outerjoin(Node, Node.org_id == Organization.id)
        .group_by(Organization.id, Organization.blockchain_id, Organization.name, Organization.name_hash)
    )


def org_health(session: Session, *, blockchain_ids: list[str]) -> dict[tuple[str, str], OrgHealth]:
    """``{(instance id, org name): OrgHealth}`` for every organisation of the instances, in one query."""
    if not blockchain_ids:
        return {}
    rows = session.execute(org_health_query().where(Organization.blockchain_id.in_(blockchain_ids)))
    return {
        (bid, name): OrgHealth(name_hash, int(nodes), int(healthy)) for bid, name, name_hash, nodes, healthy in rows
    }


# --- channels -------------------------------------------------------------------------------------------------------


def channel_named(session: Session, *, blockchain_id: str, name: str) -> Channel:
    """The instance's channel by name, or ``BCS.4001052``."""
    channel = find_channel(session, blockchain_id=blockchain_id, name=name)
    if channel is None:
        raise errors.BCSError(errors.CHANNEL_NOT_FOUND, f"Input channel {name} is not exist")
    return channel


def find_channel(session: Session, *, blockchain_id: str, name: str) -> Channel | None:
    """The channel, or None (for rules that refer to channels of other tenants' instances)."""
    return session.scalar(select(Channel).where(Channel.blockchain_id == blockchain_id, Channel.name == name))


def org_ids_in(session: Session, channel: Channel) -> list[int]:
    """The organisations in a channel's configuration."""
    return list(session.scalars(select(ChannelOrg.org_id).where(ChannelOrg.channel_id == channel.id)))


def peer_ids_in(session: Session, channel: Channel) -> set[int]:
    """The nodes that joined a channel."""
    return set(session.scalars(select(ChannelPeer.node_id).where(ChannelPeer.channel_id == channel.id)))


def channel_names_of(session: Session, *, blockchain_id: str) -> list[str]:
    """The names of the instance's channels."""
    return list(session.scalars(select(Channel.name).where(Channel.blockchain_id == blockchain_id)))


def foreign_memberships(session: Session, *, blockchain_id: str) -> list[tuple[Channel, list[int]]]:
    """Channels of *other* instances that organisations of this instance are in, with those organisations."""
    own = [org.id for org in orgs_of(session, blockchain_id)]
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


def visible_channel(session: Session, instance: Instance, name: str) -> Channel:
    """A channel the instance may read: its own by that name, else a consortium channel its organisations are in now
    (an invitee instance joins channels of its one inviter instance only, so the name is unambiguous); ``BCS.4001052``
    otherwise — also once its organisations have left (quit) the channel."""
    own = find_channel(session, blockchain_id=instance.id, name=name)
    if own is not None:
        return own
    for channel, _orgs in foreign_memberships(session, blockchain_id=instance.id):
        if channel.name == name:
            return channel
    raise errors.BCSError(errors.CHANNEL_NOT_FOUND, f"Input channel {name} is not exist")


def channels_with_org(session: Session, org_id: int) -> list[str]:
    """Names of the channels an organisation is in."""
    return list(
        session.scalars(
            select(Channel.name)
            .join(ChannelOrg, ChannelOrg.channel_id == Channel.id)
            .where(ChannelOrg.org_id == org_id)
        )
    )


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


@dataclass
class ChannelView:
    """A channel with its organisations and peers by organisation name."""

    name: str
    description: str
    created_time: int
    org_names: list[str] = field(default_factory=list)
    org_hashes: list[str] = field(default_factory=list)
    peers: dict[str, list[str]] = field(default_factory=dict)


_REMEMBERED = "openbcs.lookups.channel_views"


@contextmanager
def channel_views_remembered(session: Session) -> Iterator[None]:
    """Within the block, :func:`channel_views` reads each instance's channels once (a read-only page that shows
    several of the API's views of one instance); nothing may change them in the block."""
    session.info[_REMEMBERED] = {}
    try:
        yield
    finally:
        session.info.pop(_REMEMBERED, None)


def channel_views(session: Session, *, blockchain_id: str) -> list[ChannelView]:
    """Every channel of the instance, organisations in joining order, peers by ordinal: four statements whatever the
    number of channels, organisations and peers (this is ShowBlockchainDetail's, ListBlockchainChannels' and the
    console's instance page's read)."""
    remembered: dict[str, list[ChannelView]] | None = session.info.get(_REMEMBERED)
    if remembered is not None:
        if blockchain_id not in remembered:
            remembered[blockchain_id] = _channel_views(session, blockchain_id)
        return remembered[blockchain_id]
    return _channel_views(session, blockchain_id)


def _channel_views(session: Session, blockchain_id: str) -> list[ChannelView]:
    channels = session.execute(
        select(Channel.id, Channel.name, Channel.description, Channel.created_time)
        .where(Channel.blockchain_id == blockchain_id)
        .order_by(Channel.id)
    ).all()
    if not channels:
        return []
    of_instance = select(Channel.id).where(Channel.blockchain_id == blockchain_id).scalar_subquery()
    members = session.execute(
        select(ChannelOrg.channel_id, Organization.id, Organization.name, Organization.name_hash)
        .join(Organization, Organization.id == ChannelOrg.org_id)
        .where(ChannelOrg.channel_id.in_(of_instance))
        .order_by(ChannelOrg.id)
    ).all()
    joined = {
        (channel_id, node_id)
        for channel_id, node_id in session.execute(
            select(ChannelPeer.channel_id, ChannelPeer.node_id).where(ChannelPeer.channel_id.in_(of_instance))
        )
    }
    member_orgs = select(ChannelOrg.org_id).where(ChannelOrg.channel_id.in_(of_instance)).scalar_subquery()
    nodes: dict[int, list[tuple[int, str]]] = {}
    for org_id, node_id, node_name in session.execute(
        select(Node.org_id, Node.id, Node.name).where(Node.org_id.in_(member_orgs)).order_by(Node.org_id, Node.ordinal)
    ):
        nodes.setdefault(org_id, []).append((node_id, node_name))
    views = {channel_id: ChannelView(name, description, created) for channel_id, name, description, created in channels}
    for channel_id, org_id, org_name, name_hash in members:
        view = views[channel_id]
        # A consortium member's organisation may share its name with one of the channel's own ones
        # ("organization" is everyone's default): it is then told apart by the start of its name hash.
        label = org_name if org_name not in view.peers else f"{org_name}-{name_hash[:8]}"
        view.org_names.append(label)
        view.org_hashes.append(name_hash)
        view.peers[label] = [name for node_id, name in nodes.get(org_id, []) if (channel_id, node_id) in joined]
    return list(views.values())
