"""Membership rules: invite, answer, list, withdraw or clean up, quit; and what instance deletion does to them.

States (``docs/consortium.md`` draws them): an invitation and its notification share one vocabulary —
``waiting``, ``joining``, ``joined``, ``reject``, ``quitting``, ``quit``, ``released``, ``cancelled``. Joining and
quitting are asynchronous operations that change the inviter's channel (one configuration block each); while one
runs, both instances are busy and the invitation is in its transitional state, so a second answer, a second quit or
a withdrawal racing it is refused. Every check and every transition happens under the invitation's row lock (and
the instances' locks) in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.blockchains import service as blockchains
from openbcs.channels import service as channels
from openbcs.consortium.models import Invitation
from openbcs.consortium.schemas import (
    BatchInviteMembersToChannelRequestBody,
    DeleteMemberInviteRequestBody,
    HandleNotificationRequestBody,
    QuitUnionFromMemberListRequestBody,
)
from openbcs.db import now_ns
from openbcs.iam import service as iam
from openbcs.monitoring import service as monitoring
from openbcs.operations import kinds
from openbcs.operations import service as operations
from openbcs.operations.kinds import OperationContext, OperationKind, Step, SubStep

WAITING, JOINING, JOINED, REJECT = "waiting", "joining", "joined", "reject"
QUITTING, QUIT, RELEASED, CANCELLED = "quitting", "quit", "released", "cancelled"
STATUSES = (WAITING, JOINING, JOINED, REJECT, QUITTING, QUIT, RELEASED, CANCELLED)
# An invitation in one of these holds the tenant's place in the channel: it cannot be invited again meanwhile.
ACTIVE = (WAITING, JOINING, JOINED, QUITTING)
# What DeleteMemberInvite may name: withdraw a waiting one, delete a finished record.
DELETABLE = (WAITING, REJECT, QUIT, RELEASED)


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant (from its token or signature, never from the body)."""

    domain_id: str
    domain_name: str
    project_id: str
    region: str


def _touch(invitation: Invitation, *, status: str | None = None, notification_status: str | None = None) -> None:
    if status is not None:
        invitation.status = status
    if notification_status is not None:
        invitation.notification_status = notification_status
    invitation.updated_time = now_ns()


def _lock(session: Session, invitation_id: int) -> Invitation:
    # populate_existing: the row may already be in the session, read before the lock was granted; the locked row's
    # committed values must replace those, or a change made meanwhile by the lock's previous holder goes unseen.
    query = select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()


def _inviter_settings(instance: Any) -> dict[str, Any]:
    return {
        "consensus": instance.consensus,
        "sign_algorithm": instance.sign_algorithm,
        "fabric_version": instance.fabric_version,
        "database_type": instance.database_type,
        "version_type": instance.version_type,
        "cluster_type": "CCE",
        "tc3_need": bool(instance.settings.get("tc3_need")),
    }


# --- invite --------------------------------------------------------------------------------------------------


def invite(session: Session, *, caller: Caller, body: BatchInviteMembersToChannelRequestBody) -> int:
    """Invite tenants (by account name) into a channel of the caller's consortium instance; all or nothing."""
    instance = blockchains.get_owned(session, project_id=caller.project_id, blockchain_id=body.bcs_id, lock=True)
    if instance.blockchain_type != "union" or instance.is_invitee:
        raise errors.invalid_parameter(
            "bcs_id", "only a consortium (union) instance that created its consortium invites"
        )
    blockchains.require_idle(instance)
    channel = channels.channel_named(session, blockchain_id=instance.id, name=body.channel_name)
    if body.invitor_username is not None and body.invitor_username != caller.domain_name:
        raise errors.invalid_parameter("invitor_username", "must be the caller's own account name")
    names = [entry.invited_user for entry in body.invited_userinfo]
    active = list(
        session.scalars(
            select(Invitation).where(
                Invitation.inviter_blockchain_id == instance.id,
                Invitation.channel_name == channel.name,
                Invitation.status.in_(ACTIVE),
            )
        )
    )
    if len(active) + len(names) > blockchains.MEMBER_MAX:
        raise errors.invalid_parameter(
            "invited_userinfo", f"a consortium channel has at most {blockchains.MEMBER_MAX} members"
        )
    tenants = []
    for index, name in enumerate(names):
        field = f"invited_userinfo[{index}].invited_user"
        if names.index(name) != index:
            raise errors.invalid_parameter(field, f"{name} is listed twice")
        if name == caller.domain_name:
            raise errors.invalid_parameter(field, "a tenant cannot invite itself")
        tenant = iam.tenant_named(session, name=name, region=caller.region)
        if tenant is None:
            raise errors.invalid_parameter(field, f"no tenant named {name}")
        if any(a.invitee_domain_id == tenant.domain_id for a in active):
            raise errors.BCSError(
                errors.ALREADY_INVITED,
                f"Invitation failed. The tenant {name} has already been invited to this channel.",
            )
        tenants.append(tenant)
    now = now_ns()
    for tenant in tenants:
        session.add(
            Invitation(
                inviter_blockchain_id=instance.id,
                inviter_blockchain_name=instance.name,
                inviter_project_id=caller.project_id,
                inviter_domain_id=caller.domain_id,
                inviter_name=caller.domain_name,
                inviter_settings=_inviter_settings(instance),
                channel_name=channel.name,
                invitee_domain_id=tenant.domain_id,
                invitee_name=tenant.name,
                invitee_project_id=tenant.project_id,
                orgs=[],
                status=WAITING,
                notification_status=WAITING,
                deleted_by_inviter=False,
                read_status=0,
                created_time=now,
                updated_time=now,
            )
        )
    return len(tenants)


# --- answer ------------------------------------------------------------------------------------------------------


def _find_notification(session: Session, *, caller: Caller, body: HandleNotificationRequestBody) -> Invitation:
    """The caller's notification for this inviter instance and channel: the waiting one, else the latest."""
    candidates = list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.invitee_domain_id == caller.domain_id,
                Invitation.inviter_blockchain_id == body.invitor_info.invitor_bcs_id,
                Invitation.channel_name == body.channel_name,
            )
            .order_by(Invitation.id.desc())
        )
    )
    if not candidates:
        raise errors.BCSError(errors.NOTIFICATION_NOT_FOUND)
    pending = [c for c in candidates if c.notification_status == WAITING]
    invitation = _lock(session, (pending or candidates)[0].id)
    info = body.invitor_info
    for field, given, stored in (
        ("invitor_info.invitor_bcs_name", info.invitor_bcs_name, invitation.inviter_blockchain_name),
        ("invitor_info.invitor_project_id", info.invitor_project_id, invitation.inviter_project_id),
        ("invitor_info.invitor_user_id", info.invitor_user_id, invitation.inviter_domain_id),
    ):
        if given != stored:
            raise errors.invalid_parameter(field, "does not match the invitation")
    if invitation.notification_status != WAITING:
        raise errors.BCSError(
            errors.ACTION_REFUSED,
            f"ActOnDetailNotification fail: the notification is {invitation.notification_status}, not waiting",
        )
    return invitation


def handle(session: Session, *, caller: Caller, body: HandleNotificationRequestBody) -> str | None:
    """Agree (start joining; returns the operation id) or reject (at once; returns None) a waiting notification."""
    if body.status not in ("agreed", "reject"):
        raise errors.wrong_state("notification", f"status must be agreed or reject, not {body.status!r}")
    invitation = _find_notification(session, caller=caller, body=body)
    if body.status == "reject":
        _touch(invitation, status=REJECT, notification_status=REJECT)
        invitation.read_status = 1
        return None
    if body.invitee_info is None:
        raise errors.missing_parameter("invitee_info")
    if not body.invited_orgs:
        raise errors.missing_parameter("invited_orgs")
    invitee = body.invitee_info
    if invitee.invitee_project_id != caller.project_id or invitee.invitee_user_id != caller.domain_id:
        raise errors.BCSError(errors.FORBIDDEN)
    own = blockchains.get_owned(session, project_id=caller.project_id, blockchain_id=invitee.invitee_bcs_id, lock=True)
    if own.name != invitee.invitee_bcs_name:
        raise errors.invalid_parameter("invitee_info.invitee_bcs_name", "does not match the instance")
    if not own.is_invitee or own.invitor_blockchain_id != invitation.inviter_blockchain_id:
        raise errors.invalid_parameter("invitee_info.invitee_bcs_id", "was not created as invitee of this inviter")
    for field, value in _inviter_settings(own).items():
        if field in ("tc3_need", "cluster_type"):
            continue
        if invitation.inviter_settings.get(field) != value:
            raise errors.invalid_parameter(
                "invitee_info.invitee_bcs_id",
                f"{field} {value} does not match the inviter's {invitation.inviter_settings.get(field)}",
            )
    blockchains.require_idle(own)
    inviter = blockchains.find(session, blockchain_id=invitation.inviter_blockchain_id)
    channel = channels.find_channel(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    if inviter is None or channel is None:  # pragma: no cover - deletion cancels waiting invitations
        raise errors.wrong_state("notification", "the consortium channel no longer exists")
    inviter = blockchains.get_owned(session, project_id=inviter.project_id, blockchain_id=inviter.id, lock=True)
    blockchains.require_idle(inviter)
    names = [org.name for org in body.invited_orgs]
    if len(set(names)) != len(names):
        raise errors.invalid_parameter("invited_orgs", "each organisation at most once")
    orgs = [blockchains.org_named(session, own.id, name) for name in names]
    present = set(channels.org_ids_in(session, channel))
    for org in orgs:
        if org.id in present:
            raise errors.wrong_state(f"org {org.name}", f"already in channel {channel.name}")
    operation_id = operations.start(
        session,
        kind=JOIN.name,
        domain_id=caller.domain_id,
        project_id=caller.project_id,
        blockchain_id=own.id,
        blockchain_name=own.name,
        payload={"invitation_id": invitation.id, "org_ids": [o.id for o in orgs]},
    )
    invitation.invitee_blockchain_id = own.id
    invitation.invitee_blockchain_name = own.name
    invitation.orgs = [
        {"name": o.name, "name_hash": o.name_hash, "node_count": len(blockchains.nodes_of(session, o.id))} for o in orgs
    ]
    invitation.operation_id = operation_id
    invitation.read_status = 1
    _touch(invitation, status=JOINING, notification_status=JOINING)
    blockchains.mark_busy(own, operation_id)
    blockchains.mark_busy(inviter, operation_id)
    return operation_id


# --- quit --------------------------------------------------------------------------------------------------------


def quit_consortium(session: Session, *, caller: Caller, body: QuitUnionFromMemberListRequestBody) -> str:
    """The invitee leaves a consortium channel: its organisations leave the channel, then the membership is quit."""
    if body.invitee_projectid != caller.project_id or body.invitee_domainid != caller.domain_id:
        raise errors.BCSError(errors.FORBIDDEN)
    matching = list(
        session.execute(
            select(Invitation.id, Invitation.status)
            .where(
                Invitation.inviter_blockchain_id == body.inviter_bcsid,
                Invitation.inviter_project_id == body.inviter_projectid,
                Invitation.inviter_domain_id == body.inviter_domainid,
                Invitation.inviter_name == body.inviter_username,
                Invitation.channel_name == body.channel_name,
                Invitation.invitee_domain_id == caller.domain_id,
                # A membership never agreed to (waiting, reject, cancelled) names no instance yet: it exists, and
                # its state answers the caller (BCS.4006003), whatever instance the body names.
                or_(
                    Invitation.invitee_blockchain_id == body.invitee_bcsid,
                    Invitation.invitee_blockchain_id.is_(None),
                ),
            )
            .order_by(Invitation.id.desc())
        ).all()
    )
    if not matching:
        raise errors.BCSError(errors.MEMBERSHIP_NOT_FOUND)
    # The current membership if there is one, else the latest (then its state answers the caller).
    current = [row.id for row in matching if row.status in (JOINED, QUITTING)]
    found = current[0] if current else matching[0].id
    invitation = _lock(session, found)
    if invitation.status != JOINED:
        raise errors.wrong_state("notification")
    own = blockchains.get_owned(session, project_id=caller.project_id, blockchain_id=body.invitee_bcsid, lock=True)
    blockchains.require_idle(own)
    inviter = blockchains.find(session, blockchain_id=invitation.inviter_blockchain_id)
    assert inviter is not None  # a joined membership's inviter instance exists (its deletion releases members)
    inviter = blockchains.get_owned(session, project_id=inviter.project_id, blockchain_id=inviter.id, lock=True)
    blockchains.require_idle(inviter)
    operation_id = operations.start(
        session,
        kind=QUIT_KIND.name,
        domain_id=caller.domain_id,
        project_id=caller.project_id,
        blockchain_id=own.id,
        blockchain_name=own.name,
        payload={"invitation_id": invitation.id},
    )
    invitation.operation_id = operation_id
    _touch(invitation, status=QUITTING, notification_status=QUITTING)
    blockchains.mark_busy(own, operation_id)
    blockchains.mark_busy(inviter, operation_id)
    return operation_id


# --- withdraw and clean up ------------------------------------------------------------------------------------------


def delete_invitations(session: Session, *, caller: Caller, body: DeleteMemberInviteRequestBody) -> int:
    """Withdraw waiting invitations (their notifications become cancelled) and delete finished records."""
    # Only the invitations are locked, not the instance: answering locks the invitation and then the instances, so
    # locking the instance first here would deadlock with an answer racing this withdrawal (on PostgreSQL).
    try:
        blockchain_id = blockchains.get_owned(session, project_id=caller.project_id, blockchain_id=body.bcs_id).id
    except errors.BCSError:
        # A deleted instance's records (released members, past ones) are still the inviter's to delete.
        kept = select(Invitation.id).where(
            Invitation.inviter_blockchain_id == body.bcs_id, Invitation.inviter_project_id == caller.project_id
        )
        if blockchains.find(session, blockchain_id=body.bcs_id) is not None or session.scalar(kept.limit(1)) is None:
            raise
        blockchain_id = body.bcs_id
    chosen: list[tuple[Invitation, str]] = []
    for index, entry in enumerate(body.invited_userinfo):
        field = f"invited_userinfo[{index}]"
        if entry.status is not None and entry.status not in DELETABLE:
            raise errors.invalid_parameter(
                f"{field}.status", f"one of {', '.join(DELETABLE)}; other states cannot be deleted"
            )
        rows = list(
            session.scalars(
                select(Invitation)
                .where(
                    Invitation.inviter_blockchain_id == blockchain_id,
                    Invitation.inviter_project_id == caller.project_id,
                    Invitation.channel_name == body.channel_name,
                    Invitation.invitee_name == entry.invited_user,
                    Invitation.deleted_by_inviter.is_(False),
                )
                .order_by(Invitation.id.desc())
                .with_for_update()
            )
        )
        if entry.status is not None:
            rows = [r for r in rows if r.status == entry.status]
        if entry.invited_bcs_id is not None:
            rows = [r for r in rows if r.invitee_blockchain_id == entry.invited_bcs_id]
        if not rows:
            raise errors.BCSError(errors.MEMBERSHIP_NOT_FOUND)
        invitation = rows[0]
        if invitation.status not in DELETABLE:
            raise errors.wrong_state("invitation", f"a {invitation.status} member cannot be deleted")
        if invitation.status in (QUIT, RELEASED) and (entry.status is None or entry.invited_bcs_id is None):
            raise errors.missing_parameter(f"{field}.invited_bcs_id" if entry.status else f"{field}.status")
        if any(invitation is other for other, _ in chosen):
            raise errors.invalid_parameter(field, "names an invitation twice")
        chosen.append((invitation, invitation.status))
    for invitation, status in chosen:
        invitation.deleted_by_inviter = True
        if status == WAITING:
            _touch(invitation, status=CANCELLED, notification_status=CANCELLED)
        else:
            invitation.updated_time = now_ns()
    return len(chosen)


# --- reads ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgState:
    """A member organisation as OrganizationV2 shows it."""

    name: str
    name_hash: str
    node_count: int
    status: str
    status_detail: str


def org_states(session: Session, invitations: list[Invitation]) -> dict[int, list[OrgState]]:
    """Each invitation's joined organisations, live from the invitee's instance while it exists, else as they
    joined — for a whole list at once (one query, however many members)."""
    health = blockchains.org_health(
        session, blockchain_ids=sorted({i.invitee_blockchain_id for i in invitations if i.invitee_blockchain_id})
    )
    states: dict[int, list[OrgState]] = {}
    for invitation in invitations:
        found = states.setdefault(invitation.id, [])
        for stored in invitation.orgs:
            live = health.get((invitation.invitee_blockchain_id or "", stored["name"]))
            if live is not None:
                found.append(
                    OrgState(
                        stored["name"], live.name_hash, live.nodes, invitation.status, f"{live.healthy}/{live.nodes}"
                    )
                )
            else:
                found.append(
                    OrgState(
                        stored["name"],
                        stored["name_hash"],
                        stored["node_count"],
                        invitation.status,
                        f"0/{stored['node_count']}",
                    )
                )
    return states


def notifications(session: Session, *, caller: Caller) -> list[Invitation]:
    """The caller's inbox: every invitation addressed to its account, newest first."""
    return list(
        session.scalars(
            select(Invitation).where(Invitation.invitee_domain_id == caller.domain_id).order_by(Invitation.id.desc())
        )
    )


def members(session: Session, *, caller: Caller) -> list[Invitation]:
    """What the caller sees as members: as inviter, every invitation of its instances' channels that it has not
    deleted; as invitee, the consortia it belongs to (joining, joined, quitting)."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                or_(
                    # Cancelled by the inviter's own deletions (withdrawal, instance or channel deleted): nothing
                    # to act on, and DeleteMemberInvite cannot name that status, so they leave the inviter's view.
                    (Invitation.inviter_project_id == caller.project_id)
                    & Invitation.deleted_by_inviter.is_(False)
                    & (Invitation.status != CANCELLED),
                    (Invitation.invitee_domain_id == caller.domain_id)
                    & Invitation.status.in_((JOINING, JOINED, QUITTING)),
                )
            )
            .order_by(Invitation.id)
        )
    )


# --- operations -----------------------------------------------------------------------------------------------------


def _invitation(session: Session, ctx: OperationContext) -> Invitation:
    return _lock(session, int(ctx.payload["invitation_id"]))


def _member_event(session: Session, invitation: Invitation, name: str, message: str) -> None:
    """Record a membership event on both instances (while they exist)."""
    for blockchain_id in (invitation.inviter_blockchain_id, invitation.invitee_blockchain_id):
        instance = blockchains.find(session, blockchain_id=blockchain_id) if blockchain_id else None
        if instance is not None:
            monitoring.record(
                session,
                blockchain_id=instance.id,
                project_id=instance.project_id,
                name=name,
                message=message,
                metadata={
                    "channel": invitation.channel_name,
                    "invitee": invitation.invitee_name,
                    "inviter": invitation.inviter_name,
                },
            )


def _instances_idle(session: Session, invitation: Invitation) -> None:
    for blockchain_id in (invitation.inviter_blockchain_id, invitation.invitee_blockchain_id):
        instance = blockchains.find(session, blockchain_id=blockchain_id) if blockchain_id else None
        if instance is not None and instance.busy_operation_id == invitation.operation_id:
            blockchains.mark_idle(instance)


def _join_channel(session: Session, ctx: OperationContext) -> str:
    invitation = _invitation(session, ctx)
    channel = channels.channel_named(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    channels.join_orgs(session, channel, org_ids=list(ctx.payload["org_ids"]), cause=ctx.operation_id)
    return f"{len(ctx.payload['org_ids'])} organisation(s) joined channel {channel.name}"


def _joined(session: Session, ctx: OperationContext) -> str:
    invitation = _invitation(session, ctx)
    _touch(invitation, status=JOINED, notification_status=JOINED)
    _instances_idle(session, invitation)
    _member_event(
        session, invitation, "MemberJoined", f"{invitation.invitee_name} joined channel {invitation.channel_name}"
    )
    return "member joined"


def _join_failed(session: Session, ctx: OperationContext, _message: str) -> None:
    invitation = _invitation(session, ctx)
    _instances_idle(session, invitation)
    _touch(invitation, status=WAITING, notification_status=WAITING)
    invitation.orgs = []
    invitation.invitee_blockchain_id = None
    invitation.invitee_blockchain_name = None


def _leave_channel(session: Session, ctx: OperationContext) -> str:
    invitation = _invitation(session, ctx)
    channel = channels.channel_named(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    assert invitation.invitee_blockchain_id is not None
    org_ids = [blockchains.org_named(session, invitation.invitee_blockchain_id, o["name"]).id for o in invitation.orgs]
    channels.leave(session, channel, org_ids=org_ids, cause=ctx.operation_id)
    return f"{len(org_ids)} organisation(s) left channel {channel.name}"


def _quitted(session: Session, ctx: OperationContext) -> str:
    invitation = _invitation(session, ctx)
    _touch(invitation, status=QUIT, notification_status=QUIT)
    _instances_idle(session, invitation)
    _member_event(
        session, invitation, "MemberQuit", f"{invitation.invitee_name} quit channel {invitation.channel_name}"
    )
    return "member quit"


def _quit_failed(session: Session, ctx: OperationContext, _message: str) -> None:
    invitation = _invitation(session, ctx)
    _instances_idle(session, invitation)
    _touch(invitation, status=JOINED, notification_status=JOINED)


JOIN = kinds.register(
    OperationKind(
        name="consortium.join",
        resource_type="BCSSVC01",
        operation_type="05",
        description="join a consortium",
        on_failure=_join_failed,
        steps=(
            Step("Join channel", (SubStep("Update channel configuration", _join_channel),)),
            Step("Finish", (SubStep("Update membership", _joined),)),
        ),
    )
)

QUIT_KIND = kinds.register(
    OperationKind(
        name="consortium.quit",
        resource_type="BCSSVC01",
        operation_type="03",
        description="quit a consortium",
        on_failure=_quit_failed,
        steps=(
            Step("Quit channel", (SubStep("Update channel configuration", _leave_channel),)),
            Step("Finish", (SubStep("Update membership", _quitted),)),
        ),
    )
)


# --- instance deletion ----------------------------------------------------------------------------------------------


@blockchains.on_instance_deleted
def _instance_deleted(session: Session, instance: Any) -> None:
    """An inviter's instance goes: waiting invitations are cancelled, members released. An invitee's instance goes:
    its organisations leave every consortium channel (one block each) and those memberships are quit."""
    now = now_ns()
    for invitation in session.scalars(
        select(Invitation).where(Invitation.inviter_blockchain_id == instance.id).with_for_update()
    ):
        if invitation.status == WAITING:
            invitation.status = invitation.notification_status = CANCELLED
            invitation.updated_time = now
        elif invitation.status == JOINED:
            invitation.status = invitation.notification_status = RELEASED
            invitation.updated_time = now
            _member_event(
                session,
                invitation,
                "MemberReleased",
                f"the consortium of channel {invitation.channel_name} was dissolved",
            )
    cause = instance.busy_operation_id or ""
    for channel, org_ids in channels.foreign_memberships(session, blockchain_id=instance.id):
        channels.leave(session, channel, org_ids=org_ids, cause=cause)
    for invitation in session.scalars(
        select(Invitation)
        .where(Invitation.invitee_blockchain_id == instance.id, Invitation.status == JOINED)
        .with_for_update()
    ):
        invitation.status = invitation.notification_status = QUIT
        invitation.updated_time = now
        _member_event(
            session,
            invitation,
            "MemberQuit",
            f"{invitation.invitee_name} left channel {invitation.channel_name}: its instance was deleted",
        )


@channels.on_channel_deleted
def _channel_deleted(session: Session, blockchain_id: str, channel_name: str) -> None:
    """A deleted channel (only an empty one can be) takes its waiting invitations with it: they are cancelled."""
    for invitation in session.scalars(
        select(Invitation)
        .where(
            Invitation.inviter_blockchain_id == blockchain_id,
            Invitation.channel_name == channel_name,
            Invitation.status == WAITING,
        )
        .with_for_update()
    ):
        _touch(invitation, status=CANCELLED, notification_status=CANCELLED)
