"""Channel changes made real by the local runtime, for the actions of the channel, instance and consortium kinds.

:func:`through_runtime` wraps an action's change of the model (organisations or peers joining or leaving channels):

1. The change runs in a savepoint that is rolled back, with :mod:`config_history` capturing the signed CONFIG_UPDATE
   of each changed channel instead of cutting a block; each goes to the channel's orderers (an ``order`` task).
2. Once the orderers have committed them, the change runs for real, and each channel stores the block the orderers
   cut (their bytes, their numbering). If an orderer refused, the operation fails with its status and message and
   the model is as it was.
3. Peers that the change brought into a channel join it with block 0; peers it took out leave it.

In the modelled runtime the change simply runs (nothing is handed off), as before the local runtime existed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from openbcs.engine.kinds import OperationContext, OperationFailed, Pending
from openbcs.network import config_history, lookups
from openbcs.network.gate import SignatureGate
from openbcs.network.models import Channel, ChannelPeer, ConfigBlock, Node, Organization
from openbcs.runtime import tasks
from openbcs.runtime.config import RuntimeConfig
from openbcs.runtime.models import RuntimeTask, TaskKind, TaskStatus

_MODELLED = RuntimeConfig(kind="modelled")


def runtime_of(ctx: OperationContext[Any]) -> RuntimeConfig:
    """The server's runtime settings (modelled where the server provides none: tools, tests of the model)."""
    return ctx.service(RuntimeConfig, _MODELLED)


def through_runtime(
    session: Session, ctx: OperationContext[Any], change: Callable[[], str], *, instance_ids: Sequence[str]
) -> str | Pending:
    """Run ``change`` (which may change channels of, or peers of, ``instance_ids``) so that real nodes follow it.
    A change whose config update needs signatures OpenBCS cannot make waits for them (the governance domain's
    signature gate, docs/governance.md) before anything below runs."""
    signature_gate: SignatureGate | None = ctx.services.get(SignatureGate)
    if signature_gate is not None:
        return signature_gate.check(session, ctx, lambda: _through_runtime(session, ctx, change, instance_ids))
    return _through_runtime(session, ctx, change, instance_ids)


def _through_runtime(
    session: Session, ctx: OperationContext[Any], change: Callable[[], str], instance_ids: Sequence[str]
) -> str | Pending:
    if not runtime_of(ctx).local:
        return change()
    key = ctx.sub_step_name
    peer_tasks = tasks.handed_off(session, ctx.operation_id, f"{key}/peers")
    if peer_tasks:
        return tasks.outcome(peer_tasks, "peers joining and leaving channels") or peer_tasks[0].message
    order_tasks = tasks.handed_off(session, ctx.operation_id, f"{key}/order")
    if order_tasks:
        waiting = tasks.outcome(order_tasks, "the orderers ordering the config update")
        if waiting is not None:
            return waiting
        return _apply(session, ctx, change, instance_ids, _delivered(session, order_tasks))
    captured = {c: e for c, e in _capture(session, change).items() if _live(session, session.get_one(Channel, c))}
    if not captured:
        return _apply(session, ctx, change, instance_ids, {})
    for channel_id, envelope in captured.items():
        channel = session.get_one(Channel, channel_id)
        tasks.hand_off(
            session,
            operation_id=ctx.operation_id,
            step_key=f"{key}/order",
            blockchain_id=channel.blockchain_id,
            kind=TaskKind.ORDER,
            channel=channel.name,
            data=envelope,
        )
    return Pending(f"{len(captured)} config update(s) sent to the orderers")


def _capture(session: Session, change: Callable[[], str]) -> dict[int, bytes]:
    """The CONFIG_UPDATE envelope of each channel ``change`` would change, the model left as it was."""
    savepoint = session.begin_nested()
    try:
        with config_history.ordered_by(session, config_history.Ordering()) as ordering:
            change()
    finally:
        savepoint.rollback()
    return ordering.captured


def _delivered(session: Session, order_tasks: Sequence[RuntimeTask]) -> dict[int, tuple[bytes, bytes]]:
    """``{channel id: (block the orderers committed, envelope sent)}``."""
    delivered = {}
    for task in order_tasks:
        channel = lookups.channel_named(session, blockchain_id=task.blockchain_id, name=task.channel)
        assert task.result is not None
        assert task.data is not None
        delivered[channel.id] = (task.result, task.data)
    return delivered


def _apply(
    session: Session,
    ctx: OperationContext[Any],
    change: Callable[[], str],
    instance_ids: Sequence[str],
    delivered: dict[int, tuple[bytes, bytes]],
) -> str | Pending:
    before = _memberships(session, instance_ids)
    with config_history.ordered_by(session, config_history.Ordering(delivered=delivered)) as ordering:
        detail = change()
    after = _memberships(session, instance_ids)
    joined, left = sorted(after - before), sorted(before - after)
    # A changed channel the orderers did not order was not live (no organisation until now): it goes live now,
    # born again with a block 0 that has its first organisations, which its orderers join.
    reborn = [session.get_one(Channel, channel_id) for channel_id in ordering.captured]
    if any(_live(session, channel) for channel in reborn):  # the change is not the one the orderers ordered
        raise OperationFailed("the channel changed since its update was sent to the orderers; run the call again")
    for channel in reborn:
        session.execute(delete(ConfigBlock).where(ConfigBlock.channel_id == channel.id))
        config_history.genesis(session, channel, cause=ctx.operation_id)
        _go_live(session, ctx, f"{ctx.sub_step_name}/peers", channel, _genesis(session, channel), message=detail)
    handed = len(reborn)
    for kind, pairs in ((TaskKind.LEAVE, left), (TaskKind.JOIN, joined)):
        for channel_id, node_id in pairs:
            changed = session.get(Channel, channel_id)
            # The channel itself went (its peers leave with DeleteChannel's own task), or the peer did (UpdateInstance
            # deleted it: its process goes with its row).
            if changed is None or session.get(Node, node_id) is None:
                continue
            block = _genesis(session, changed) if kind is TaskKind.JOIN else None
            _node_task(session, ctx, f"{ctx.sub_step_name}/peers", kind, changed, node_id, data=block, message=detail)
            handed += 1
    handed += _go_dark(session, ctx, delivered, detail)
    if handed:
        return Pending(f"{detail}; {len(joined)} peer(s) joining, {len(left)} leaving")
    return detail


def _go_live(
    session: Session, ctx: OperationContext[Any], key: str, channel: Channel, block: bytes, *, message: str = ""
) -> list[RuntimeTask]:
    """The channel's orderers join it with ``block`` (its block 0), then serve it (a Raft leader elected)."""
    handed = [
        _node_task(session, ctx, key, TaskKind.JOIN, channel, node_id, data=block, message=message)
        for node_id in _orderer_ids(session, channel.blockchain_id)
    ]
    serve = tasks.hand_off(
        session,
        operation_id=ctx.operation_id,
        step_key=key,
        blockchain_id=channel.blockchain_id,
        kind=TaskKind.SERVE,
        channel=channel.name,
        message=message,
    )
    return [*handed, serve]


def _node_task(
    session: Session,
    ctx: OperationContext[Any],
    key: str,
    kind: TaskKind,
    channel: Channel,
    node_id: int,
    *,
    data: bytes | None = None,
    message: str = "",
) -> RuntimeTask:
    """One node's task for the channel, done by the node's own instance's runtime."""
    return tasks.hand_off(
        session,
        operation_id=ctx.operation_id,
        step_key=key,
        blockchain_id=_instance_of_node(session, node_id),
        kind=kind,
        channel=channel.name,
        node_id=node_id,
        data=data,
        message=message,
    )


def _go_dark(
    session: Session, ctx: OperationContext[Any], delivered: dict[int, tuple[bytes, bytes]], detail: str
) -> int:
    """A channel whose last organisation just left is no longer served: its policies could be satisfied without any
    signature. Its orderers leave it (after its peers); it goes live again with a new first organisation."""
    handed = 0
    for channel_id in delivered:
        channel = session.get(Channel, channel_id)
        if channel is None or lookups.org_ids_in(session, channel):
            continue
        for node_id in _orderer_ids(session, channel.blockchain_id):
            _node_task(session, ctx, f"{ctx.sub_step_name}/peers", TaskKind.LEAVE, channel, node_id, message=detail)
            handed += 1
    return handed


def _orderer_ids(session: Session, blockchain_id: str) -> list[int]:
    return list(
        session.scalars(
            select(Node.id)
            .join(Organization, Organization.id == Node.org_id)
            .where(Organization.blockchain_id == blockchain_id, Organization.role == "orderer")
            .order_by(Node.id)
        )
    )


def _memberships(session: Session, instance_ids: Sequence[str]) -> set[tuple[int, int]]:
    """``(channel id, peer node id)`` of the channels of these instances and of the channels their peers are in."""
    own_nodes = select(Node.id).join(Organization, Organization.id == Node.org_id)
    own_nodes = own_nodes.where(Organization.blockchain_id.in_(instance_ids))
    rows = session.execute(
        select(ChannelPeer.channel_id, ChannelPeer.node_id)
        .join(Channel, Channel.id == ChannelPeer.channel_id)
        .where(or_(Channel.blockchain_id.in_(instance_ids), ChannelPeer.node_id.in_(own_nodes)))
    )
    return {(channel_id, node_id) for channel_id, node_id in rows.all()}


def _instance_of_node(session: Session, node_id: int) -> str:
    return session.execute(
        select(Organization.blockchain_id).join(Node, Node.org_id == Organization.id).where(Node.id == node_id)
    ).scalar_one()


def _genesis(session: Session, channel: Channel) -> bytes:
    return session.execute(
        select(ConfigBlock.block).where(ConfigBlock.channel_id == channel.id, ConfigBlock.number == 0)
    ).scalar_one()


def join_channels(session: Session, ctx: OperationContext[Any], channels: Sequence[Channel]) -> Pending | None:
    """New channels go live: the instance's orderers join each with its block 0 (channel participation API), then
    the peers in it (``JoinChain``). A channel with no organisation yet is not served: its policies could be
    satisfied without any signature, so no orderer takes it until its first organisation joins."""
    if not runtime_of(ctx).local:
        return None
    key = f"{ctx.sub_step_name}/join"
    handed = tasks.handed_off(session, ctx.operation_id, key)
    if handed:
        return tasks.outcome(handed, "nodes joining channels")
    for channel in channels:
        if not lookups.org_ids_in(session, channel):
            continue
        block = _genesis(session, channel)
        handed.extend(_go_live(session, ctx, key, channel, block))
        for node_id in sorted(lookups.peer_ids_in(session, channel)):
            handed.append(_node_task(session, ctx, key, TaskKind.JOIN, channel, node_id, data=block))
    return Pending(f"{len(handed)} node(s) joining {len(channels)} channel(s)") if handed else None


def _live(session: Session, channel: Channel) -> bool:
    """Whether the channel's orderers serve it: the last thing done to it on an orderer was a join (a channel deleted
    and made again under its name is not live until its orderers join it again)."""
    last = session.scalar(
        select(RuntimeTask.kind)
        .where(
            RuntimeTask.kind.in_((TaskKind.JOIN, TaskKind.LEAVE)),
            RuntimeTask.status == TaskStatus.DONE,
            RuntimeTask.blockchain_id == channel.blockchain_id,
            RuntimeTask.channel == channel.name,
            RuntimeTask.node_id.in_(_orderer_ids(session, channel.blockchain_id)),
        )
        .order_by(RuntimeTask.id.desc())
        .limit(1)
    )
    return last == TaskKind.JOIN


def leave_channel(session: Session, ctx: OperationContext[Any], channel: Channel) -> Pending | None:
    """A channel being deleted: its peers leave it and its orderers stop serving it (None once done)."""
    if not runtime_of(ctx).local:
        return None
    key = f"{ctx.sub_step_name}/leave"
    handed = tasks.handed_off(session, ctx.operation_id, key)
    if handed:
        return tasks.outcome(handed, "nodes leaving the channel")
    if not _live(session, channel):
        return None
    for node_id in [*sorted(lookups.peer_ids_in(session, channel)), *_orderer_ids(session, channel.blockchain_id)]:
        handed.append(_node_task(session, ctx, key, TaskKind.LEAVE, channel, node_id))
    return Pending(f"{len(handed)} node(s) leaving channel {channel.name}")
