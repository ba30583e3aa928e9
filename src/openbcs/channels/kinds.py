"""The channel operations with their typed payloads: create channels, add peers, remove organisations or peers,
delete a channel. Each changes the network model in one step, then finishes."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from openbcs import events
from openbcs.engine.kinds import Action, OperationContext, OperationKind, P, Payload, Pending, Step, SubStep
from openbcs.network import lookups, membership
from openbcs.network.models import Channel, Instance
from openbcs.network.signals import ChannelRemoving
from openbcs.runtime import ordering


class NewChannel(Payload):
    """A channel to create."""

    name: str
    description: str = ""


C = TypeVar("C", bound="ChannelPayload")


class CreatePayload(Payload):
    """BatchCreateChannels: the channels to create."""

    channels: list[NewChannel]


class ChannelPayload(Payload):
    """An operation on one channel of the instance."""

    channel: str


class AddPeersPayload(ChannelPayload):
    """How many more peers of each organisation join the channel."""

    peers: dict[str, int]


class RemoveOrgsPayload(ChannelPayload):
    """The organisations leaving the channel."""

    orgs: list[str]


class RemovePeersPayload(ChannelPayload):
    """How many peers of one organisation leave the channel (its last ones by ordinal)."""

    org: str
    peers: int


def _instance(session: Session, ctx: OperationContext[Any]) -> Instance:
    assert ctx.blockchain_id is not None
    return session.get_one(Instance, ctx.blockchain_id)


def _channel(session: Session, ctx: OperationContext[C]) -> Channel:
    return lookups.channel_named(session, blockchain_id=_instance(session, ctx).id, name=ctx.payload.channel)


def _create_channels(session: Session, ctx: OperationContext[CreatePayload]) -> str:
    instance = _instance(session, ctx)
    for wanted in ctx.payload.channels:
        membership.create_channel(
            session,
            blockchain_id=instance.id,
            name=wanted.name,
            description=wanted.description,
            org_ids=[],
            all_peers=False,
            cause=ctx.operation_id,
            keys=ctx.keys(),
        )
    return f"{len(ctx.payload.channels)} channel(s) created"


def _add_peers(session: Session, ctx: OperationContext[AddPeersPayload]) -> str | Pending:
    channel = _channel(session, ctx)
    counts = {
        lookups.org_named(session, channel.blockchain_id, org_name).id: count
        for org_name, count in ctx.payload.peers.items()
    }

    def add() -> str:
        membership.add_peers(session, channel, peer_counts=counts, cause=ctx.operation_id, keys=ctx.keys())
        return f"peers joined channel {channel.name}"

    return ordering.through_runtime(session, ctx, add, instance_ids=[channel.blockchain_id])


def _remove_orgs(session: Session, ctx: OperationContext[RemoveOrgsPayload]) -> str | Pending:
    channel = _channel(session, ctx)
    org_ids = [lookups.org_named(session, channel.blockchain_id, name).id for name in ctx.payload.orgs]

    def remove() -> str:
        membership.leave(
            session, channel, org_ids=org_ids, cause=ctx.operation_id, keys=ctx.keys(), acting=channel.blockchain_id
        )
        return f"{len(org_ids)} organisation(s) left channel {channel.name}"

    return ordering.through_runtime(session, ctx, remove, instance_ids=[channel.blockchain_id])


def _remove_peers(session: Session, ctx: OperationContext[RemovePeersPayload]) -> str | Pending:
    channel = _channel(session, ctx)
    org = lookups.org_named(session, channel.blockchain_id, ctx.payload.org)
    joined = lookups.peer_ids_in(session, channel)
    in_channel = [n for n in lookups.nodes_of(session, org.id) if n.id in joined]
    leaving = [n.id for n in in_channel[-ctx.payload.peers :]]

    def remove() -> str:
        membership.remove_peers(session, channel, node_ids=leaving, cause=ctx.operation_id, keys=ctx.keys())
        return f"{len(leaving)} peer(s) of {org.name} left channel {channel.name}"

    return ordering.through_runtime(session, ctx, remove, instance_ids=[channel.blockchain_id])


def _delete_channel(session: Session, ctx: OperationContext[ChannelPayload]) -> str | Pending:
    channel = _channel(session, ctx)
    instance = _instance(session, ctx)
    waiting = ordering.leave_channel(session, ctx, channel)  # local runtime: its nodes leave it first
    if waiting is not None:
        return waiting
    events.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name="ChannelDeleted",
        message=f"channel {channel.name} deleted",
        metadata={"channel": channel.name, "operation_id": ctx.operation_id},
    )
    # The consortium cancels the invitations still waiting to join it.
    ctx.emit(session, ChannelRemoving(channel, ctx.operation_id))
    session.delete(channel)
    return f"channel {channel.name} deleted"


def _done(_session: Session, _ctx: OperationContext[Any]) -> str:
    return "done"


def _kind(
    name: str, operation_type: str, description: str, step: str, sub_step: str, payload: type[P], action: Action[P]
) -> OperationKind[P]:
    return OperationKind(
        name=name,
        resource_type="BCSSVC01",
        operation_type=operation_type,
        payload=payload,
        description=description,
        steps=(Step(step, (SubStep(sub_step, action),)), Step("Finish", (SubStep("Update instance", _done),))),
    )


CREATE = _kind(
    "channel.create",
    "04",
    "create channels",
    "Create channels",
    "Create channel configuration",
    CreatePayload,
    _create_channels,
)
ADD_PEERS = _kind(
    "channel.add_peers", "04", "add peers to a channel", "Join channel", "Join peers", AddPeersPayload, _add_peers
)
REMOVE_ORGS = _kind(
    "channel.remove_orgs",
    "06",
    "remove organisations from a channel",
    "Quit channel",
    "Update channel configuration",
    RemoveOrgsPayload,
    _remove_orgs,
)
REMOVE_PEERS = _kind(
    "channel.remove_peers",
    "06",
    "remove peers from a channel",
    "Quit channel",
    "Remove peers",
    RemovePeersPayload,
    _remove_peers,
)
DELETE = _kind(
    "channel.delete", "06", "delete a channel", "Delete channel", "Remove channel", ChannelPayload, _delete_channel
)

KINDS = (CREATE, ADD_PEERS, REMOVE_ORGS, REMOVE_PEERS, DELETE)
