"""Joining and quitting a consortium: each changes the inviter's channel (one configuration block), then the
membership. While one runs, the engine holds both instances, so a second answer, quit or withdrawal is refused."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.consortium import states
from openbcs.consortium.models import Invitation
from openbcs.engine.kinds import OperationContext, OperationKind, Payload, Pending, Step, SubStep
from openbcs.network import lookups, membership
from openbcs.runtime import ordering


class JoinPayload(Payload):
    """The accepted invitation and the invitee organisations joining the channel."""

    invitation_id: int
    org_ids: list[int]


class QuitPayload(Payload):
    """The membership being quit."""

    invitation_id: int


def _invitation(session: Session, ctx: OperationContext[JoinPayload] | OperationContext[QuitPayload]) -> Invitation:
    return states.lock(session, ctx.payload.invitation_id)


def _join_channel(session: Session, ctx: OperationContext[JoinPayload]) -> str | Pending:
    invitation = _invitation(session, ctx)
    channel = lookups.channel_named(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    acting = invitation.invitee_blockchain_id or invitation.inviter_blockchain_id

    def join() -> str:
        membership.join_orgs(
            session, channel, org_ids=list(ctx.payload.org_ids), cause=ctx.operation_id, keys=ctx.keys(), acting=acting
        )
        return f"{len(ctx.payload.org_ids)} organisation(s) joined channel {channel.name}"

    # Local runtime: the orderers order the change, then the invitee's peers join with block 0.
    return ordering.through_runtime(session, ctx, join, instance_ids=[invitation.inviter_blockchain_id, acting])


def _joined(session: Session, ctx: OperationContext[JoinPayload]) -> str:
    invitation = _invitation(session, ctx)
    states.touch(invitation, status=states.JOINED, notification_status=states.JOINED)
    states.member_event(
        session, invitation, "MemberJoined", f"{invitation.invitee_name} joined channel {invitation.channel_name}"
    )
    return "member joined"


def _join_failed(session: Session, ctx: OperationContext[JoinPayload], _message: str) -> None:
    invitation = _invitation(session, ctx)
    states.touch(invitation, status=states.WAITING, notification_status=states.WAITING)
    invitation.orgs = []
    invitation.invitee_blockchain_id = None
    invitation.invitee_blockchain_name = None


def _leave_channel(session: Session, ctx: OperationContext[QuitPayload]) -> str | Pending:
    invitation = _invitation(session, ctx)
    channel = lookups.channel_named(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    invitee = invitation.invitee_blockchain_id
    assert invitee is not None
    org_ids = [lookups.org_named(session, invitee, o["name"]).id for o in invitation.orgs]

    def leave() -> str:
        membership.leave(session, channel, org_ids=org_ids, cause=ctx.operation_id, keys=ctx.keys(), acting=invitee)
        return f"{len(org_ids)} organisation(s) left channel {channel.name}"

    # Local runtime: the orderers order the change, then the invitee's peers leave the channel.
    return ordering.through_runtime(session, ctx, leave, instance_ids=[invitation.inviter_blockchain_id, invitee])


def _quitted(session: Session, ctx: OperationContext[QuitPayload]) -> str:
    invitation = _invitation(session, ctx)
    states.touch(invitation, status=states.QUIT, notification_status=states.QUIT)
    states.member_event(
        session, invitation, "MemberQuit", f"{invitation.invitee_name} quit channel {invitation.channel_name}"
    )
    return "member quit"


def _quit_failed(session: Session, ctx: OperationContext[QuitPayload], _message: str) -> None:
    invitation = _invitation(session, ctx)
    states.touch(invitation, status=states.JOINED, notification_status=states.JOINED)


JOIN: OperationKind[JoinPayload] = OperationKind(
    name="consortium.join",
    resource_type="BCSSVC01",
    operation_type="05",
    payload=JoinPayload,
    description="join a consortium",
    on_failure=_join_failed,
    steps=(
        Step("Join channel", (SubStep("Update channel configuration", _join_channel),)),
        Step("Finish", (SubStep("Update membership", _joined),)),
    ),
)

QUIT: OperationKind[QuitPayload] = OperationKind(
    name="consortium.quit",
    resource_type="BCSSVC01",
    operation_type="03",
    payload=QuitPayload,
    description="quit a consortium",
    on_failure=_quit_failed,
    steps=(
        Step("Quit channel", (SubStep("Update channel configuration", _leave_channel),)),
        Step("Finish", (SubStep("Update membership", _quitted),)),
    ),
)

KINDS = (JOIN, QUIT)
