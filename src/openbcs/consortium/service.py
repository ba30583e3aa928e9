"""Membership rules: invite, answer (agree or reject), quit, withdraw or clean up.

Joining and quitting are asynchronous operations (:mod:`openbcs.consortium.kinds`) that change the inviter's channel;
while one runs, both instances are held by it and the invitation is in its transitional state, so a second answer,
a second quit or a withdrawal racing it is refused. Every check and every transition happens under the invitation's
row lock (and the instances' locks) in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from openbcs.consortium import kinds, states
from openbcs.consortium.models import Invitation
from openbcs.consortium.schemas import (
    BatchInviteMembersToChannelRequestBody,
    DeleteMemberInviteRequestBody,
    HandleNotificationRequestBody,
    QuitUnionFromMemberListRequestBody,
)
from openbcs.engine import engine
from openbcs.engine.locks import Lock
from openbcs.iam import service as iam
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import now_ns
from openbcs.network import limits, lookups
from openbcs.network.guards import require_idle
from openbcs.network.models import Instance


def _inviter_settings(instance: Instance) -> dict[str, Any]:
    return {
        "consensus": instance.consensus,
        "sign_algorithm": instance.sign_algorithm,
        "fabric_version": instance.fabric_version,
        "database_type": instance.database_type,
        "version_type": instance.version_type,
        "cluster_type": "CCE",
        "tc3_need": bool(instance.settings.get("tc3_need")),
    }


def _require_own_ids(caller: Caller, *fields: tuple[str, str]) -> None:
    """A body field naming the invitee must name the caller itself: 403 saying which field and what it must be."""
    own = {"domain": caller.domain_id, "project": caller.project_id}
    for field, given in fields:
        kind = "project" if "project" in field else "domain"
        if given != own[kind]:
            what = "project id" if kind == "project" else "account (domain) id, not an IAM user id"
            raise errors.BCSError(
                errors.FORBIDDEN, f"No permissions to request this method: {field} must be the caller's {what}"
            )


def _not_active(status: str) -> str:
    """Why a membership in ``status`` cannot be quit (``Invalid Parameter notification status : ...``)."""
    if status == states.QUITTING:
        return "the membership is already being quit"
    if status in (states.QUIT, states.RELEASED):
        return f"the membership is no longer active (it is {status})"
    return f"the membership is not active (it is {status}); only a joined member can quit"


def _check_pending(session: Session, instance: Instance, tenants: list[Any]) -> None:
    """At most PENDING_INVITATIONS_PER_INVITEE invitations of one instance wait for one tenant (over its channels)."""
    waiting = dict(
        session.execute(
            select(Invitation.invitee_domain_id, func.count())
            .where(
                Invitation.inviter_blockchain_id == instance.id,
                Invitation.status == states.WAITING,
                Invitation.invitee_domain_id.in_([t.domain_id for t in tenants]),
            )
            .group_by(Invitation.invitee_domain_id)
        ).all()
    )
    for tenant in tenants:
        if waiting.get(tenant.domain_id, 0) >= limits.PENDING_INVITATIONS_PER_INVITEE:
            raise errors.BCSError(
                errors.TOO_MANY_PENDING,
                f"Invitation failed. The tenant {tenant.name} already has {limits.PENDING_INVITATIONS_PER_INVITEE} "
                "invitations of this instance waiting for an answer.",
            )


def invite(session: Session, *, caller: Caller, body: BatchInviteMembersToChannelRequestBody) -> int:
    """Invite tenants (by account name) into a channel of the caller's consortium instance; all or nothing."""
    instance = lookups.get_owned(session, project_id=caller.project_id, blockchain_id=body.bcs_id, lock=True)
    if instance.blockchain_type != "union" or instance.is_invitee:
        raise errors.invalid_parameter(
            "bcs_id", "only a consortium (union) instance that created its consortium invites"
        )
    require_idle(session, instance)
    channel = lookups.channel_named(session, blockchain_id=instance.id, name=body.channel_name)
    if body.invitor_username is not None and body.invitor_username != caller.domain_name:
        raise errors.invalid_parameter("invitor_username", "must be the caller's own account name")
    names = [entry.invited_user for entry in body.invited_userinfo]
    active = list(
        session.scalars(
            select(Invitation).where(
                Invitation.inviter_blockchain_id == instance.id,
                Invitation.channel_name == channel.name,
                Invitation.status.in_(states.ACTIVE),
            )
        )
    )
    if len(active) + len(names) > limits.MEMBER_MAX:
        raise errors.invalid_parameter(
            "invited_userinfo", f"a consortium channel has at most {limits.MEMBER_MAX} members"
        )
    tenants = []
    for index, name in enumerate(names):
        field = f"invited_userinfo[{index}].invited_user"
        if names.index(name) != index:
            raise errors.invalid_parameter(field, f"{name} is listed twice")
        if name == caller.domain_name:
            raise errors.invalid_parameter(field, "a tenant cannot invite itself")
        tenant = iam.tenant_named(session, name=name, region=caller.project_name)
        if tenant is None:
            raise errors.invalid_parameter(field, f"no tenant named {name}")
        if any(a.invitee_domain_id == tenant.domain_id for a in active):
            raise errors.BCSError(
                errors.ALREADY_INVITED,
                f"Invitation failed. The tenant {name} has already been invited to this channel.",
            )
        tenants.append(tenant)
    _check_pending(session, instance, tenants)
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
                status=states.WAITING,
                notification_status=states.WAITING,
                deleted_by_inviter=False,
                read_status=0,
                created_time=now,
                updated_time=now,
            )
        )
    return len(tenants)


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
    pending = [c for c in candidates if c.notification_status == states.WAITING]
    invitation = states.lock(session, (pending or candidates)[0].id)
    info = body.invitor_info
    for field, given, stored in (
        ("invitor_info.invitor_bcs_name", info.invitor_bcs_name, invitation.inviter_blockchain_name),
        ("invitor_info.invitor_project_id", info.invitor_project_id, invitation.inviter_project_id),
        ("invitor_info.invitor_user_id", info.invitor_user_id, invitation.inviter_domain_id),
    ):
        if given != stored:
            raise errors.invalid_parameter(field, "does not match the invitation")
    if invitation.notification_status != states.WAITING:
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
        states.touch(invitation, status=states.REJECT, notification_status=states.REJECT)
        invitation.read_status = 1
        return None
    if body.invitee_info is None:
        raise errors.missing_parameter("invitee_info")
    if not body.invited_orgs:
        raise errors.missing_parameter("invited_orgs")
    invitee = body.invitee_info
    _require_own_ids(
        caller,
        ("invitee_info.invitee_user_id", invitee.invitee_user_id),
        ("invitee_info.invitee_project_id", invitee.invitee_project_id),
    )
    own = lookups.get_owned(session, project_id=caller.project_id, blockchain_id=invitee.invitee_bcs_id, lock=True)
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
    inviter = lookups.find(session, blockchain_id=invitation.inviter_blockchain_id, lock=True)
    channel = lookups.find_channel(
        session, blockchain_id=invitation.inviter_blockchain_id, name=invitation.channel_name
    )
    if inviter is None or channel is None:  # pragma: no cover - deletion cancels waiting invitations
        raise errors.wrong_state("notification", "the consortium channel no longer exists")
    require_idle(session, own, inviter)
    names = [org.name for org in body.invited_orgs]
    if len(set(names)) != len(names):
        raise errors.invalid_parameter("invited_orgs", "each organisation at most once")
    orgs = [lookups.org_named(session, own.id, name) for name in names]
    present = set(lookups.org_ids_in(session, channel))
    for org in orgs:
        if org.id in present:
            raise errors.wrong_state(f"org {org.name}", f"already in channel {channel.name}")
    operation_id = engine.start(
        session,
        kinds.JOIN,
        kinds.JoinPayload(invitation_id=invitation.id, org_ids=[o.id for o in orgs]),
        domain_id=caller.domain_id,
        project_id=caller.project_id,
        blockchain_id=own.id,
        blockchain_name=own.name,
        locks_taken=[Lock(own.id), Lock(inviter.id)],
    )
    invitation.invitee_blockchain_id = own.id
    invitation.invitee_blockchain_name = own.name
    invitation.orgs = [
        {"name": o.name, "name_hash": o.name_hash, "node_count": len(lookups.nodes_of(session, o.id))} for o in orgs
    ]
    invitation.operation_id = operation_id
    invitation.read_status = 1
    states.touch(invitation, status=states.JOINING, notification_status=states.JOINING)
    return operation_id


def quit_consortium(session: Session, *, caller: Caller, body: QuitUnionFromMemberListRequestBody) -> str:
    """The invitee leaves a consortium channel: its organisations leave the channel, then the membership is quit."""
    if caller.domain_id == body.inviter_domainid and caller.domain_id != body.invitee_domainid:
        raise errors.BCSError(
            errors.FORBIDDEN,
            "No permissions to request this method: only the invitee may quit a consortium (invitee_domainid and "
            "invitee_projectid name the caller's own account and project)",
        )
    _require_own_ids(caller, ("invitee_domainid", body.invitee_domainid), ("invitee_projectid", body.invitee_projectid))
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
    current = [row.id for row in matching if row.status in (states.JOINED, states.QUITTING)]
    found = current[0] if current else matching[0].id
    invitation = states.lock(session, found)
    if invitation.status != states.JOINED:
        raise errors.wrong_state("notification", _not_active(invitation.status))
    own = lookups.get_owned(session, project_id=caller.project_id, blockchain_id=body.invitee_bcsid, lock=True)
    inviter = lookups.find(session, blockchain_id=invitation.inviter_blockchain_id, lock=True)
    assert inviter is not None  # a joined membership's inviter instance exists (its deletion releases members)
    require_idle(session, own, inviter)
    operation_id = engine.start(
        session,
        kinds.QUIT,
        kinds.QuitPayload(invitation_id=invitation.id),
        domain_id=caller.domain_id,
        project_id=caller.project_id,
        blockchain_id=own.id,
        blockchain_name=own.name,
        locks_taken=[Lock(own.id), Lock(inviter.id)],
    )
    invitation.operation_id = operation_id
    states.touch(invitation, status=states.QUITTING, notification_status=states.QUITTING)
    return operation_id


def delete_invitations(session: Session, *, caller: Caller, body: DeleteMemberInviteRequestBody) -> int:
    """Withdraw waiting invitations (their notifications become cancelled) and delete finished records."""
    # Only the invitations are locked, not the instance: answering locks the invitation and then the instances, so
    # locking the instance first here would deadlock with an answer racing this withdrawal (on PostgreSQL).
    try:
        blockchain_id = lookups.get_owned(session, project_id=caller.project_id, blockchain_id=body.bcs_id).id
    except errors.BCSError:
        # A deleted instance's records (released members, past ones) are still the inviter's to delete.
        kept = select(Invitation.id).where(
            Invitation.inviter_blockchain_id == body.bcs_id, Invitation.inviter_project_id == caller.project_id
        )
        if lookups.find(session, blockchain_id=body.bcs_id) is not None or session.scalar(kept.limit(1)) is None:
            raise
        blockchain_id = body.bcs_id
    chosen: list[tuple[Invitation, str]] = []
    for index, entry in enumerate(body.invited_userinfo):
        field = f"invited_userinfo[{index}]"
        if entry.status is not None and entry.status not in states.DELETABLE:
            raise errors.invalid_parameter(
                f"{field}.status", f"one of {', '.join(states.DELETABLE)}; other states cannot be deleted"
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
        if invitation.status not in states.DELETABLE:
            raise errors.wrong_state("invitation", f"a {invitation.status} member cannot be deleted")
        if invitation.status in (states.QUIT, states.RELEASED) and (
            entry.status is None or entry.invited_bcs_id is None
        ):
            raise errors.missing_parameter(f"{field}.invited_bcs_id" if entry.status else f"{field}.status")
        if any(invitation is other for other, _ in chosen):
            raise errors.invalid_parameter(field, "names an invitation twice")
        chosen.append((invitation, invitation.status))
    for invitation, status in chosen:
        invitation.deleted_by_inviter = True
        if status == states.WAITING:
            states.touch(invitation, status=states.CANCELLED, notification_status=states.CANCELLED)
        else:
            invitation.updated_time = now_ns()
    states.prune_cancelled(session, [invitation for invitation, _ in chosen])
    return len(chosen)
