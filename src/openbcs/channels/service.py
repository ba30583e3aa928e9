"""Channel rules: BatchCreateChannels, BatchAddPeersToChannel, BatchRemoveOrgsFromChannel,
BatchRemovePeersFromChannel and DeleteChannel start operations (:mod:`openbcs.channels.kinds`); the configuration
history is read from the network model."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.channels import kinds
from openbcs.channels.schemas import (
    BLOCK_NUMBER_MAX,
    HISTORY_LIMIT_DEFAULT,
    BatchAddPeersToChannelRequestBody,
    BatchCreateChannelsRequestBody,
    BatchRemoveOrgsFromChannelRequestBody,
    BatchRemovePeersFromChannelRequestBody,
)
from openbcs.engine import engine
from openbcs.engine.kinds import OperationKind, P
from openbcs.engine.locks import Lock
from openbcs.kernel import errors
from openbcs.network import limits, lookups
from openbcs.network.config_history import page as config_page
from openbcs.network.guards import require_idle
from openbcs.network.models import Channel, ConfigBlock, Instance
from openbcs.network.naming import check_channel_name


def _start(session: Session, instance: Instance, kind: OperationKind[P], payload: P) -> str:
    return engine.start(
        session,
        kind,
        payload,
        domain_id=instance.domain_id,
        project_id=instance.project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        locks_taken=[Lock(instance.id)],
    )


def _mutable_instance(session: Session, *, project_id: str, blockchain_id: str) -> Instance:
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    require_idle(session, instance)
    return instance


def batch_create(session: Session, *, project_id: str, blockchain_id: str, body: BatchCreateChannelsRequestBody) -> str:
    """Start creating channels (each begins with no organisations; peers join with BatchAddPeersToChannel)."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    if instance.is_invitee:
        raise errors.invalid_parameter(
            "blockchain_id", "an invitee instance has no orderers and cannot create channels"
        )
    existing = set(lookups.channel_names_of(session, blockchain_id=instance.id))
    wanted = [c.channel_name for c in body.channels]
    for index, name in enumerate(wanted):
        check_channel_name(name)
        if name in existing or wanted.index(name) != index:
            raise errors.invalid_parameter(f"channels[{index}].channel_name", f"channel {name} exists already")
    if len(existing) + len(wanted) > limits.CHANNELS_MAX:
        raise errors.invalid_parameter("channels", f"an instance has at most {limits.CHANNELS_MAX} channels")
    payload = kinds.CreatePayload(
        channels=[kinds.NewChannel(name=c.channel_name, description=c.channel_description or "") for c in body.channels]
    )
    return _start(session, instance, kinds.CREATE, payload)


def add_peers(session: Session, *, project_id: str, blockchain_id: str, body: BatchAddPeersToChannelRequestBody) -> str:
    """Start adding peers of organisations (``org -> how many more``) to one channel."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    (wanted,) = body.channel_peers  # one channel per call (the schema allows exactly one)
    channel = lookups.channel_named(session, blockchain_id=instance.id, name=wanted.channel_name)
    joined = lookups.peer_ids_in(session, channel)
    for org_name, count in wanted.peers.items():
        org = lookups.org_named(session, instance.id, org_name)
        free = [n for n in lookups.nodes_of(session, org.id) if n.id not in joined]
        if not free:
            raise errors.wrong_state(f"org {org_name}", f"all its peers are in channel {channel.name} already")
        if not 1 <= count <= len(free):
            raise errors.invalid_parameter(
                f"channel_peers[0].peers.{org_name}", f"1 to {len(free)} (peers of {org_name} not yet in the channel)"
            )
    return _start(session, instance, kinds.ADD_PEERS, kinds.AddPeersPayload(channel=channel.name, peers=wanted.peers))


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
    channel = lookups.channel_named(session, blockchain_id=instance.id, name=channel_name)
    if len(set(body.org_names)) != len(body.org_names):
        raise errors.invalid_parameter("org_names", "each organisation at most once")
    members = set(lookups.org_ids_in(session, channel))
    for name in body.org_names:
        org = lookups.org_named(session, instance.id, name)
        if org.id not in members:
            raise errors.wrong_state(f"org {name}", f"not in channel {channel.name}")
    payload = kinds.RemoveOrgsPayload(channel=channel.name, orgs=list(body.org_names))
    return _start(session, instance, kinds.REMOVE_ORGS, payload)


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
    channel = lookups.channel_named(session, blockchain_id=instance.id, name=channel_name)
    org = lookups.org_named(session, instance.id, body.org_name)
    if org.id not in lookups.org_ids_in(session, channel):
        raise errors.wrong_state(f"org {body.org_name}", f"not in channel {channel.name}")
    joined = lookups.peer_ids_in(session, channel)
    in_channel = [n for n in lookups.nodes_of(session, org.id) if n.id in joined]
    if not 0 < body.peers < len(in_channel):
        raise errors.invalid_parameter(
            "peers",
            f"more than 0 and fewer than the {len(in_channel)} peer(s) of {org.name} in the channel; "
            "to take the organisation out use BatchRemoveOrgsFromChannel",
        )
    payload = kinds.RemovePeersPayload(channel=channel.name, org=org.name, peers=body.peers)
    return _start(session, instance, kinds.REMOVE_PEERS, payload)


def delete_channel(session: Session, *, project_id: str, blockchain_id: str, channel_name: str) -> str:
    """Start deleting a channel that has no organisations left."""
    instance = _mutable_instance(session, project_id=project_id, blockchain_id=blockchain_id)
    channel = lookups.channel_named(session, blockchain_id=instance.id, name=channel_name)
    if lookups.org_ids_in(session, channel):
        raise errors.wrong_state(f"channel {channel.name}", "only an empty channel can be deleted")
    return _start(session, instance, kinds.DELETE, kinds.ChannelPayload(channel=channel.name))


def _visible(session: Session, *, project_id: str, blockchain_id: str, channel_name: str) -> Channel:
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    return lookups.visible_channel(session, instance, channel_name)


def config_history(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    channel_name: str,
    limit: int = HISTORY_LIMIT_DEFAULT,
    marker: int | None = None,
) -> tuple[list[ConfigBlock], list[str]]:
    """A page of a channel's configuration blocks (the newest ``limit`` numbered below ``marker``) and the problems
    verification finds in it (none when it verifies). The channel's instance owner reads it through its instance; a
    consortium member through its own instance, while it is one."""
    channel = _visible(session, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name)
    return config_page(session, channel, limit=limit, marker=marker)


def _block(session: Session, *, project_id: str, blockchain_id: str, channel_name: str, number: int) -> ConfigBlock:
    if not 0 <= number <= BLOCK_NUMBER_MAX:
        raise errors.invalid_parameter("number", f"a block number from 0 to {BLOCK_NUMBER_MAX}")
    channel = _visible(session, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name)
    block = session.scalar(
        select(ConfigBlock).where(ConfigBlock.channel_id == channel.id, ConfigBlock.number == number)
    )
    if block is None:
        raise errors.BCSError(errors.NOT_FOUND, f"channel {channel_name} has no block {number}")
    return block


def block_bytes(session: Session, *, project_id: str, blockchain_id: str, channel_name: str, number: int) -> bytes:
    """The serialized ``common.Block`` number ``number`` of the channel."""
    return _block(
        session, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name, number=number
    ).block


def update_bytes(session: Session, *, project_id: str, blockchain_id: str, channel_name: str, number: int) -> bytes:
    """The serialized CONFIG_UPDATE ``common.Envelope`` that produced block ``number`` (block 0 has none)."""
    found = _block(
        session, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name, number=number
    )
    if found.config_update is None:
        raise errors.BCSError(errors.NOT_FOUND, f"block {number} of channel {channel_name} has no config update")
    return found.config_update
