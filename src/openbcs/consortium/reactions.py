"""What the consortium does when the network model loses an instance or a channel (signals emitted by the instance
and channel operations; :mod:`openbcs.catalog` registers these reactions)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.consortium import states
from openbcs.consortium.models import Invitation
from openbcs.kernel.clock import now_ns
from openbcs.network import lookups, membership
from openbcs.network.signals import ChannelRemoving, InstanceRemoving


def instance_removing(session: Session, signal: InstanceRemoving) -> None:
    """An inviter's instance goes: waiting invitations are cancelled, members released. An invitee's instance goes:
    its organisations leave every consortium channel (one block each) and those memberships are quit."""
    instance = signal.instance
    now = now_ns()
    own = list(
        session.scalars(select(Invitation).where(Invitation.inviter_blockchain_id == instance.id).with_for_update())
    )
    for invitation in own:
        if invitation.status == states.WAITING:
            invitation.status = invitation.notification_status = states.CANCELLED
            invitation.updated_time = now
        elif invitation.status == states.JOINED:
            invitation.status = invitation.notification_status = states.RELEASED
            invitation.updated_time = now
            states.member_event(
                session,
                invitation,
                "MemberReleased",
                f"the consortium of channel {invitation.channel_name} was dissolved",
            )
    states.prune_cancelled(session, own)
    for channel, org_ids in lookups.foreign_memberships(session, blockchain_id=instance.id):
        membership.leave(
            session, channel, org_ids=org_ids, cause=signal.operation_id, keys=signal.keys, acting=instance.id
        )
    for invitation in session.scalars(
        select(Invitation)
        .where(Invitation.invitee_blockchain_id == instance.id, Invitation.status == states.JOINED)
        .with_for_update()
    ):
        invitation.status = invitation.notification_status = states.QUIT
        invitation.updated_time = now
        states.member_event(
            session,
            invitation,
            "MemberQuit",
            f"{invitation.invitee_name} left channel {invitation.channel_name}: its instance was deleted",
        )


def channel_removing(session: Session, signal: ChannelRemoving) -> None:
    """A deleted channel (only an empty one can be) takes its waiting invitations with it: they are cancelled."""
    waiting = list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.inviter_blockchain_id == signal.channel.blockchain_id,
                Invitation.channel_name == signal.channel.name,
                Invitation.status == states.WAITING,
            )
            .with_for_update()
        )
    )
    for invitation in waiting:
        states.touch(invitation, status=states.CANCELLED, notification_status=states.CANCELLED)
    states.prune_cancelled(session, waiting)
