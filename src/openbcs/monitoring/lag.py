"""A peer that falls behind: after each sampling of the local runtime's nodes, every peer's height in each channel it
is in is compared with the highest of the channel's orderers. A peer :data:`LAG_BLOCKS` or more behind raises the
alarm ``NodeBehind`` (one per peer and channel), cleared once it has caught up; a height nobody reported (a node down
or not sampled yet: the health check's alarm says so) changes nothing. One event per change, never one per look."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.events.models import Alarm
from openbcs.network.models import Channel, ChannelPeer, Instance, Node, Organization

LAG_BLOCKS = 5
ALARM = "NodeBehind"


class Heights(Protocol):
    """What the lag check reads: a node's latest ``{channel: height}``."""

    def heights(self, name: str) -> dict[str, float]: ...


def alarm_key(node_id: int, channel_id: int) -> str:
    """One alarm per peer and channel."""
    return f"behind-{node_id}-{channel_id}"


def _active(session: Session, blockchain_id: str) -> set[str]:
    return set(
        session.scalars(
            select(Alarm.key).where(
                Alarm.blockchain_id == blockchain_id, Alarm.name == ALARM, Alarm.cleared_time.is_(None)
            )
        )
    )


def check(session: Session, source: Heights) -> int:
    """Raise or clear the ``NodeBehind`` alarms of the local runtime's peers; how many changed."""
    channels = session.execute(
        select(Channel, Instance)
        .join(Instance, Instance.id == Channel.blockchain_id)
        .where(Instance.runtime == "local")
    ).all()
    changed = 0
    for channel, instance in channels:
        orderers = session.scalars(
            select(Node.name)
            .join(Organization, Organization.id == Node.org_id)
            .where(Organization.blockchain_id == instance.id, Organization.role == "orderer")
        ).all()
        known = [h for h in (source.heights(name).get(channel.name) for name in orderers) if h is not None]
        if not known:
            continue
        served = max(known)
        peers = session.execute(
            select(Node, Organization)
            .join(ChannelPeer, ChannelPeer.node_id == Node.id)
            .join(Organization, Organization.id == Node.org_id)
            .where(ChannelPeer.channel_id == channel.id)
        ).all()
        for node, org in peers:
            height = source.heights(node.name).get(channel.name)
            if height is None:
                continue
            owner = session.get_one(Instance, org.blockchain_id)  # the peer's own instance: its alarms
            key, active = alarm_key(node.id, channel.id), _active(session, owner.id)
            behind = served - height
            if behind >= LAG_BLOCKS and key not in active:
                reason = (
                    f"{int(behind)} blocks behind the orderers in channel {channel.name} "
                    f"({int(height)} of {int(served)})"
                )
                events.raise_alarm(
                    session,
                    blockchain_id=owner.id,
                    project_id=owner.project_id,
                    key=key,
                    name=ALARM,
                    severity="minor",
                    message=f"{node.name}: {reason}",
                    metadata={"resource": node.name, "reason": reason, "channel": channel.name},
                )
                changed += 1
            elif behind < LAG_BLOCKS and key in active:
                changed += events.clear_alarms(
                    session,
                    blockchain_id=owner.id,
                    project_id=owner.project_id,
                    keys=[key],
                    reason=f"{node.name} caught up in channel {channel.name}",
                )
    return changed
