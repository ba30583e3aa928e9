"""Read models of memberships as ListNotifications and ListMembers show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select
from sqlalchemy.orm import Session

from openbcs.consortium import states
from openbcs.consortium.models import Invitation
from openbcs.consortium.schemas import (
    InviteeInfo,
    InvitorInfo,
    ListNotificationsResponse,
    NotificationList,
    OrganizationV2,
)
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import iso_time
from openbcs.kernel.rows import Rows, Statement, json_value
from openbcs.network import lookups
from openbcs.network.models import Organization


def _shown_org(stored: dict[str, Any], live: lookups.OrgHealth | None, status: str) -> dict[str, Any]:
    """An invited organisation as OrganizationV2 shows it: live from the invitee's instance while it exists (its
    nodes and how many are Normal), else as it joined (none Normal)."""
    if live is None:
        name_hash, nodes, healthy = stored["name_hash"], stored["node_count"], 0
    else:
        name_hash, nodes, healthy = live.name_hash, live.nodes, live.healthy
    return {
        "name": stored["name"],
        "name_hash": name_hash,
        "node_count": nodes,
        "status": status,
        "status_detail": f"{healthy}/{nodes}",
    }


def _org_states(session: Session, invitations: list[Invitation]) -> dict[int, list[OrganizationV2]]:
    """Each invitation's joined organisations (:func:`_shown_org`), for a whole list at once (one query, however many
    members)."""
    health = lookups.org_health(
        session, blockchain_ids=sorted({i.invitee_blockchain_id for i in invitations if i.invitee_blockchain_id})
    )
    return {
        invitation.id: [
            OrganizationV2(
                **_shown_org(
                    stored, health.get((invitation.invitee_blockchain_id or "", stored["name"])), invitation.status
                )
            )
            for stored in invitation.orgs
        ]
        for invitation in invitations
    }


def _notifications(session: Session, *, caller: Caller) -> list[Invitation]:
    """The caller's inbox: every invitation addressed to its account, newest first."""
    return list(
        session.scalars(
            select(Invitation).where(Invitation.invitee_domain_id == caller.domain_id).order_by(Invitation.id.desc())
        )
    )


def notifications(session: Session, *, caller: Caller) -> ListNotificationsResponse:
    """ListNotifications: the invitee's inbox, with what it needs to create a matching instance."""
    found = []
    invitations = _notifications(session, caller=caller)
    org_states = _org_states(session, invitations)
    for invitation in invitations:
        settings = invitation.inviter_settings
        found.append(
            NotificationList(
                channel_name=invitation.channel_name,
                status=invitation.notification_status,
                updated_time=iso_time(invitation.updated_time),
                tc3_need=bool(settings.get("tc3_need")),
                invitor_info=InvitorInfo(
                    invitor_id=invitation.inviter_domain_id,
                    invitor_name=invitation.inviter_name,
                    invitor_bcs_id=invitation.inviter_blockchain_id,
                    invitor_bcs_name=invitation.inviter_blockchain_name,
                    invitor_consensus=settings["consensus"],
                    invitor_project_id=invitation.inviter_project_id,
                    invitor_cluster_type=settings["cluster_type"],
                    invitor_database_type=settings["database_type"],
                    invitor_signature_algorithm=settings["sign_algorithm"],
                    invitor_fabric_version=settings["fabric_version"],
                    order_fade_enabled=False,
                    order_fade_cache=0,
                    invitor_version_type=settings["version_type"],
                ),
                invitee_info=InviteeInfo(
                    invitee_id=invitation.invitee_domain_id,
                    invitee_bcs_name=invitation.invitee_blockchain_name,
                    invitee_bcs_id=invitation.invitee_blockchain_id,
                    invitee_project_id=invitation.invitee_project_id,
                ),
                hide=0,
                invitee_orgs=org_states[invitation.id],
                read_status=invitation.read_status,
                cross_version_upgrade="",
            )
        )
    return ListNotificationsResponse(notifications=found)


# ListMembers on the raw driver (docs/benchmarks.md): the member invitations, and the live health of the invitee
# instances' organisations (the instances named by those same invitations, as a subquery: one statement each).
def _member_condition() -> ColumnElement[bool]:
    return or_(
        # Cancelled by the inviter's own deletions (withdrawal, instance or channel deleted): nothing to act on,
        # and DeleteMemberInvite cannot name that status, so they leave the inviter's view.
        (Invitation.inviter_project_id == bindparam("project_id"))
        & Invitation.deleted_by_inviter.is_(False)
        & (Invitation.status != states.CANCELLED),
        (Invitation.invitee_domain_id == bindparam("domain_id"))
        & or_(*(Invitation.status == status for status in states.BELONGING)),
    )


_MEMBER_ROWS = Statement(
    select(
        Invitation.id,
        Invitation.inviter_blockchain_id,
        Invitation.inviter_blockchain_name,
        Invitation.inviter_project_id,
        Invitation.inviter_domain_id,
        Invitation.inviter_name,
        Invitation.inviter_settings,
        Invitation.channel_name,
        Invitation.invitee_domain_id,
        Invitation.invitee_name,
        Invitation.invitee_blockchain_id,
        Invitation.orgs,
        Invitation.status,
    )
    .where(_member_condition())
    .order_by(Invitation.id)
)
_MEMBER_ORG_HEALTH = Statement(
    lookups.org_health_query().where(
        Organization.blockchain_id.in_(select(Invitation.invitee_blockchain_id).where(_member_condition()))
    )
)


def members(source: Rows | Session, *, caller: Caller) -> dict[str, Any]:
    """ListMembers: the inviter's invitations (every status) and the consortia the invitee belongs to, as
    ``ListMembersResponse`` dumps it (``tests/consortium`` keeps the two equal)."""
    rows = source if isinstance(source, Rows) else Rows.of(source)
    params = {"project_id": caller.project_id, "domain_id": caller.domain_id}
    invitations = rows.all(_MEMBER_ROWS, **params)
    health = {
        (bid, name): lookups.OrgHealth(name_hash, nodes, healthy)
        for bid, name, name_hash, nodes, healthy in (rows.all(_MEMBER_ORG_HEALTH, **params) if invitations else ())
    }
    found = []
    for (
        _id,
        bid,
        bname,
        project,
        domain,
        inviter,
        settings,
        channel,
        invitee_domain,
        invitee,
        invitee_bid,
        orgs,
        status,
    ) in invitations:
        shown = [
            _shown_org(stored, health.get((invitee_bid or "", stored["name"])), status) for stored in json_value(orgs)
        ]
        found.append(
            {
                "tcs_need": bool(json_value(settings).get("tc3_need")),
                "channel_name": channel,
                "invited_orgs": shown,
                "invitor_info": {
                    "invitor_bcs_id": bid,
                    "invitor_bcs_name": bname,
                    "invitor_project_id": project,
                    "invitor_user_id": domain,
                    "invitor_username": inviter,
                },
                "invitee_info": {
                    "invitee_bcs_id": invitee_bid or "",
                    "invitee_user_id": invitee_domain,
                    "invitee_username": invitee,
                },
                "status": status,
            }
        )
    return {"members": found}
