"""Read models of memberships as ListNotifications and ListMembers show them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.blockchains import service as blockchains
from openbcs.consortium import service
from openbcs.consortium.schemas import (
    InviteeInfo,
    InvitorInfo,
    ListMembersResponse,
    ListNotificationsResponse,
    Member,
    MemberInvitee,
    MemberInvitor,
    NotificationList,
    OrganizationV2,
)


def _orgs(states: list[service.OrgState]) -> list[OrganizationV2]:
    return [
        OrganizationV2(
            name=o.name, name_hash=o.name_hash, node_count=o.node_count, status=o.status, status_detail=o.status_detail
        )
        for o in states
    ]


def notifications(session: Session, *, caller: service.Caller) -> ListNotificationsResponse:
    """ListNotifications: the invitee's inbox, with what it needs to create a matching instance."""
    found = []
    invitations = service.notifications(session, caller=caller)
    states = service.org_states(session, invitations)
    for invitation in invitations:
        settings = invitation.inviter_settings
        found.append(
            NotificationList(
                channel_name=invitation.channel_name,
                status=invitation.notification_status,
                updated_time=blockchains.iso_time(invitation.updated_time),
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
                invitee_orgs=_orgs(states[invitation.id]),
                read_status=invitation.read_status,
                cross_version_upgrade="",
            )
        )
    return ListNotificationsResponse(notifications=found)


def members(session: Session, *, caller: service.Caller) -> ListMembersResponse:
    """ListMembers: the inviter's invitations (every status) and the consortia the invitee belongs to."""
    invitations = service.members(session, caller=caller)
    states = service.org_states(session, invitations)
    return ListMembersResponse(
        members=[
            Member(
                tcs_need=bool(invitation.inviter_settings.get("tc3_need")),
                channel_name=invitation.channel_name,
                invited_orgs=_orgs(states[invitation.id]),
                invitor_info=MemberInvitor(
                    invitor_bcs_id=invitation.inviter_blockchain_id,
                    invitor_bcs_name=invitation.inviter_blockchain_name,
                    invitor_project_id=invitation.inviter_project_id,
                    invitor_user_id=invitation.inviter_domain_id,
                    invitor_username=invitation.inviter_name,
                ),
                invitee_info=MemberInvitee(
                    invitee_bcs_id=invitation.invitee_blockchain_id or "",
                    invitee_user_id=invitation.invitee_domain_id,
                    invitee_username=invitation.invitee_name,
                ),
                status=invitation.status,
            )
            for invitation in invitations
        ]
    )
