"""Request and response models of the membership operations (1-6); field names exactly as the API spells them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_ID = Field(min_length=1, max_length=64)


class InvitedDomain(_Strict):
    invited_user: str = Field(min_length=1, max_length=64)


class BatchInviteMembersToChannelRequestBody(_Strict):
    bcs_id: str = _ID
    channel_name: str = Field(min_length=1, max_length=64)
    invitor_username: str | None = Field(default=None, max_length=64)
    invited_userinfo: list[InvitedDomain] = Field(min_length=1, max_length=20)


class ResultResponse(BaseModel):
    result: str = "success"


class HandleNotificationInvitor(_Strict):
    invitor_bcs_id: str = _ID
    invitor_bcs_name: str = _ID
    invitor_project_id: str = _ID
    invitor_user_id: str = _ID


class HandleNotificationInvitee(_Strict):
    invitee_bcs_id: str = _ID
    invitee_bcs_name: str = _ID
    invitee_project_id: str = _ID
    invitee_user_id: str = _ID


class HandleNotificationOrg(_Strict):
    name: str = Field(min_length=1, max_length=64)


class HandleNotificationRequestBody(_Strict):
    channel_name: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=16)
    invitor_info: HandleNotificationInvitor
    invitee_info: HandleNotificationInvitee | None = None
    invited_orgs: list[HandleNotificationOrg] | None = Field(default=None, max_length=10)


class OrganizationV2(BaseModel):
    name: str
    name_hash: str
    node_count: int
    status: str
    status_detail: str


class InvitorInfo(BaseModel):
    invitor_id: str
    invitor_name: str
    invitor_bcs_id: str
    invitor_bcs_name: str
    invitor_consensus: str
    invitor_project_id: str
    invitor_cluster_type: str
    invitor_database_type: str
    invitor_signature_algorithm: str
    invitor_fabric_version: str
    order_fade_enabled: bool
    order_fade_cache: int
    # OpenBCS extension (the SDK ignores unknown fields): the invitee's instance must use the same edition.
    invitor_version_type: int


class InviteeInfo(BaseModel):
    invitee_id: str
    # ``invitee_name`` is typed as an integer by the SDK: a tenant name there would break its parsing, so it is
    # never sent (see docs/consortium.md).
    invitee_bcs_name: str | None = None
    invitee_bcs_id: str | None = None
    invitee_project_id: str | None = None


class NotificationList(BaseModel):
    channel_name: str
    status: str
    updated_time: str
    tc3_need: bool
    invitor_info: InvitorInfo
    invitee_info: InviteeInfo
    hide: int
    invitee_orgs: list[OrganizationV2]
    read_status: int
    cross_version_upgrade: str


class ListNotificationsResponse(BaseModel):
    notifications: list[NotificationList]


class MemberInvitor(BaseModel):
    invitor_bcs_id: str
    invitor_bcs_name: str
    invitor_project_id: str
    invitor_user_id: str
    invitor_username: str


class MemberInvitee(BaseModel):
    invitee_bcs_id: str
    invitee_user_id: str
    invitee_username: str


class Member(BaseModel):
    tcs_need: bool
    channel_name: str
    invited_orgs: list[OrganizationV2]
    invitor_info: MemberInvitor
    invitee_info: MemberInvitee
    # OpenBCS extension: the invitation's status (DeleteMemberInvite needs it; the SDK ignores unknown fields).
    status: str


class ListMembersResponse(BaseModel):
    members: list[Member]


class InvitationDetail(_Strict):
    invited_user: str = Field(min_length=1, max_length=64)
    status: str | None = Field(default=None, max_length=16)
    invited_bcs_id: str | None = Field(default=None, max_length=64)


class DeleteMemberInviteRequestBody(_Strict):
    bcs_id: str = _ID
    channel_name: str = Field(min_length=1, max_length=64)
    invited_userinfo: list[InvitationDetail] = Field(min_length=1, max_length=20)


class QuitUnionFromMemberListRequestBody(_Strict):
    """``PUT /members/quit``: all eight fields are mandatory strings."""

    inviter_bcsid: str = Field(min_length=1, max_length=64)
    inviter_projectid: str = Field(min_length=1, max_length=64)
    inviter_domainid: str = Field(min_length=1, max_length=64)
    inviter_username: str = Field(min_length=1, max_length=64)
    channel_name: str = Field(min_length=1, max_length=64)
    invitee_bcsid: str = Field(min_length=1, max_length=64)
    invitee_projectid: str = Field(min_length=1, max_length=64)
    invitee_domainid: str = Field(min_length=1, max_length=64)


class HandleUnionMemberQuitListResponse(BaseModel):
    result: str
    operation_id: str
