"""HTTP routes of the membership operations (1-6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from openbcs.consortium import service, views
from openbcs.consortium.schemas import (
    BatchInviteMembersToChannelRequestBody,
    DeleteMemberInviteRequestBody,
    HandleNotificationRequestBody,
    HandleUnionMemberQuitListResponse,
    ListMembersResponse,
    ListNotificationsResponse,
    QuitUnionFromMemberListRequestBody,
    ResultResponse,
)
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body
from openbcs.http.openapi import documented
from openbcs.http.responses import JSONAnswer
from openbcs.http.routing import MUTATING_API_DEPENDENCIES

router = APIRouter(prefix="/v2/{project_id}", dependencies=MUTATING_API_DEPENDENCIES)


@router.post("/members/invitations", name="BatchInviteMembersToChannel")
@documented(sdk="batch_invite_members_to_channel")
async def batch_invite_members_to_channel(
    caller: CurrentCaller,
    ctx: Context,
    body: Annotated[BatchInviteMembersToChannelRequestBody, Depends(json_body(BatchInviteMembersToChannelRequestBody))],
) -> ResultResponse:
    """Invite tenants into a channel of the caller's consortium instance."""
    await ctx.db.write(service.invite, caller=caller, body=body)
    return ResultResponse(result="success")


@router.post("/notification/handle", name="HandleNotification")
@documented(sdk="handle_notification")
async def handle_notification(
    caller: CurrentCaller,
    ctx: Context,
    body: Annotated[HandleNotificationRequestBody, Depends(json_body(HandleNotificationRequestBody))],
) -> ResultResponse:
    """Agree to (join asynchronously) or reject an invitation."""
    await ctx.db.write(service.handle, caller=caller, body=body)
    return ResultResponse(result="success")


@router.get("/notifications", name="ListNotifications", response_model_exclude_none=True)
@documented(sdk="list_notifications")
async def list_notifications(caller: CurrentCaller, ctx: Context) -> ListNotificationsResponse:
    """The caller's notifications."""
    return await ctx.db.read(views.notifications, caller=caller)


@router.get("/members", name="ListMembers", response_model=ListMembersResponse, response_class=JSONAnswer)
@documented(sdk="list_members")
async def list_members(caller: CurrentCaller, ctx: Context) -> JSONAnswer:
    """Members: the caller's invitations as inviter, and its consortia as invitee."""
    # Its two statements need no common snapshot: an instance's health read a moment after its invitations shows
    # what a read a moment later would (a member whose instance went meanwhile is shown as it joined).
    return JSONAnswer(await ctx.db.read_rows_autocommit(views.members, caller=caller))


@router.delete("/members/invitations", name="DeleteMemberInvite")
@documented(sdk="delete_member_invite")
async def delete_member_invite(
    caller: CurrentCaller,
    ctx: Context,
    body: Annotated[DeleteMemberInviteRequestBody, Depends(json_body(DeleteMemberInviteRequestBody))],
) -> ResultResponse:
    """Withdraw waiting invitations or delete finished invitation records."""
    await ctx.db.write(service.delete_invitations, caller=caller, body=body)
    return ResultResponse(result="success")


@router.put("/members/quit", name="HandleUnionMemberQuitList")
@documented(sdk="handle_union_member_quit_list")
async def handle_union_member_quit_list(
    caller: CurrentCaller,
    ctx: Context,
    body: Annotated[QuitUnionFromMemberListRequestBody, Depends(json_body(QuitUnionFromMemberListRequestBody))],
) -> HandleUnionMemberQuitListResponse:
    """The invitee exits a consortium (asynchronously: the operation id is returned)."""
    operation_id = await ctx.db.write(service.quit_consortium, caller=caller, body=body)
    return HandleUnionMemberQuitListResponse(result="success", operation_id=operation_id)
