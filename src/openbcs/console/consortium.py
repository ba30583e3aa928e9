"""The consortium page: invite tenants into a channel, the inbox of notifications with accept and reject, members
as inviter and as invitee, withdrawing and cleaning up invitations, and quitting after a confirmation.

Every action is the membership service function the API route calls (``consortium.service``), with the body the
API would receive. Ids the form does not need to carry (the inviter's project and account, the caller's own) are
taken from the caller's own notifications and memberships, never from the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from openbcs.console import forms, views
from openbcs.console.pages import PREFIX, ConsoleRoute, back_with_error, not_found, redirect, render
from openbcs.console.session import CheckedForm, ConsoleSession
from openbcs.consortium import service
from openbcs.consortium import views as consortium_views
from openbcs.consortium.schemas import (
    BatchInviteMembersToChannelRequestBody,
    DeleteMemberInviteRequestBody,
    HandleNotificationRequestBody,
    ListMembersResponse,
    Member,
    NotificationList,
    QuitUnionFromMemberListRequestBody,
)
from openbcs.http.context import Context
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.network import lookups

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PAGE = f"{PREFIX}/consortium"


@dataclass(frozen=True)
class ConsortiumPage:
    """Both views of the caller's memberships and what its forms offer."""

    sent: list[Member]  # as inviter
    belonging: list[Member]  # as invitee
    inbox: list[NotificationList]
    channels: list[tuple[str, str, str]]  # (instance id, instance name, channel) the caller may invite into
    invitees: dict[str, list[tuple[views.InstanceRow, list[str]]]]  # inviter instance id -> own invitee instances
    names: dict[str, str]  # the caller's instances: id -> name


def consortium_page(session: Session, *, caller: Caller) -> ConsortiumPage:
    """The API's ListMembers and ListNotifications of the caller, with its instances, channels and organisations."""
    members = ListMembersResponse.model_validate(consortium_views.members(session, caller=caller)).members
    mine = views.instances(session, project_id=caller.project_id)
    inviters = [row for row in mine if row.blockchain_type == "union" and not row.is_invitee]
    names = views.channel_names(session, blockchain_ids=[row.id for row in inviters])
    channels = [(row.id, row.name, name) for row in inviters for name in names[row.id]]
    invitees: dict[str, list[tuple[views.InstanceRow, list[str]]]] = {}
    for row in mine:
        if row.is_invitee and row.invitor_blockchain_id:
            orgs = [org.name for org in lookups.orgs_of(session, row.id, role="peer")]
            invitees.setdefault(row.invitor_blockchain_id, []).append((row, orgs))
    return ConsortiumPage(
        sent=[m for m in members if m.invitor_info.invitor_project_id == caller.project_id],
        belonging=[m for m in members if m.invitee_info.invitee_user_id == caller.domain_id],
        inbox=consortium_views.notifications(session, caller=caller).notifications,
        channels=channels,
        invitees=invitees,
        names={row.id: row.name for row in mine},
    )


@router.get("/consortium", name="ConsoleConsortium")
async def consortium(request: Request, ctx: Context, session: ConsoleSession) -> Response:
    """Invitations sent, the inbox, and the consortia the caller belongs to."""
    page = await ctx.db.read(consortium_page, caller=session.caller)
    return render(request, "consortium.html", session, title="Consortium", page=page)


async def _act(request: Request, ctx: Context, session: ConsoleSession, form_id: str, call: Any, body: Any) -> Response:
    """Run a membership service function for the caller; back to the page with its outcome next to the form."""
    try:
        outcome = await ctx.db.write(call, caller=session.caller, body=body)
    except errors.BCSError as exc:
        return back_with_error(request, PAGE, exc, form=form_id, gone=())
    if isinstance(outcome, str):
        return redirect(request, PAGE, text=f"Started operation {outcome}.", form=form_id, operation=outcome)
    return redirect(request, PAGE, text="Done.", form=form_id)


def _parse(model: Any, data: dict[str, Any]) -> Any:
    return forms.api_body(model, data)


@router.post("/consortium/invite", name="ConsoleInvite")
async def invite(request: Request, ctx: Context, session: ConsoleSession, form: CheckedForm) -> Response:
    """BatchInviteMembersToChannel: tenants by account name into a channel of a consortium instance."""
    bcs_id, _, channel = forms.text(form, "target").partition("/")
    names = [n for n in forms.text(form, "tenants").replace(",", " ").split() if n]
    data = {"bcs_id": bcs_id, "channel_name": channel, "invited_userinfo": [{"invited_user": n} for n in names]}
    try:
        body = _parse(BatchInviteMembersToChannelRequestBody, data)
    except errors.BCSError as exc:
        return back_with_error(request, PAGE, exc, form="invite", gone=())
    return await _act(request, ctx, session, "invite", service.invite, body)


def _answer_body(session: Session, *, caller: Caller, form: Any) -> dict[str, Any]:
    """HandleNotification's body for the caller's notification named in the form (ids from the notification)."""
    inviter_bcs_id, channel = forms.text(form, "invitor_bcs_id"), forms.text(form, "channel")
    found = [
        n
        for n in consortium_views.notifications(session, caller=caller).notifications
        if n.invitor_info.invitor_bcs_id == inviter_bcs_id and n.channel_name == channel
    ]
    if not found:
        raise errors.BCSError(errors.NOTIFICATION_NOT_FOUND)
    info = found[0].invitor_info
    body: dict[str, Any] = {
        "channel_name": channel,
        "status": "agreed" if forms.text(form, "answer") == "agree" else "reject",
        "invitor_info": {
            "invitor_bcs_id": info.invitor_bcs_id,
            "invitor_bcs_name": info.invitor_bcs_name,
            "invitor_project_id": info.invitor_project_id,
            "invitor_user_id": info.invitor_id,
        },
    }
    if body["status"] == "agreed":
        own = lookups.get_owned(session, project_id=caller.project_id, blockchain_id=forms.text(form, "invitee_bcs_id"))
        body["invitee_info"] = {
            "invitee_bcs_id": own.id,
            "invitee_bcs_name": own.name,
            "invitee_project_id": caller.project_id,
            "invitee_user_id": caller.domain_id,
        }
        body["invited_orgs"] = [{"name": name} for name in forms.chosen(form, "org")]
    return body


@router.post("/consortium/answer", name="ConsoleAnswer")
async def answer(request: Request, ctx: Context, session: ConsoleSession, form: CheckedForm) -> Response:
    """HandleNotification: agree (with one of the caller's invitee instances and some of its organisations) or
    reject."""
    try:
        data = await ctx.db.read(_answer_body, caller=session.caller, form=form)
        body = _parse(HandleNotificationRequestBody, data)
    except errors.BCSError as exc:
        return back_with_error(request, PAGE, exc, form="inbox", gone=())
    return await _act(request, ctx, session, "inbox", service.handle, body)


@router.post("/consortium/withdraw", name="ConsoleWithdraw")
async def withdraw(request: Request, ctx: Context, session: ConsoleSession, form: CheckedForm) -> Response:
    """DeleteMemberInvite: withdraw a waiting invitation, or delete the record of a finished one."""
    entry = {"invited_user": forms.text(form, "invited_user")}
    forms.put(entry, "status", forms.text(form, "status"))
    forms.put(entry, "invited_bcs_id", forms.text(form, "invited_bcs_id"))
    data = {
        "bcs_id": forms.text(form, "bcs_id"),
        "channel_name": forms.text(form, "channel"),
        "invited_userinfo": [entry],
    }
    try:
        body = _parse(DeleteMemberInviteRequestBody, data)
    except errors.BCSError as exc:
        return back_with_error(request, PAGE, exc, form="sent", gone=())
    return await _act(request, ctx, session, "sent", service.delete_invitations, body)


def _membership(
    session: Session, *, caller: Caller, inviter_bcs_id: str, channel: str, invitee_bcs_id: str
) -> Member | None:
    """The caller's membership (as invitee) in the inviter's channel with its instance, from ListMembers."""
    for member in ListMembersResponse.model_validate(consortium_views.members(session, caller=caller)).members:
        if (
            member.invitee_info.invitee_user_id == caller.domain_id
            and member.invitor_info.invitor_bcs_id == inviter_bcs_id
            and member.channel_name == channel
            and member.invitee_info.invitee_bcs_id == invitee_bcs_id
        ):
            return member
    return None


def _quit_body(member: Member, caller: Caller) -> dict[str, str]:
    return {
        "inviter_bcsid": member.invitor_info.invitor_bcs_id,
        "inviter_projectid": member.invitor_info.invitor_project_id,
        "inviter_domainid": member.invitor_info.invitor_user_id,
        "inviter_username": member.invitor_info.invitor_username,
        "channel_name": member.channel_name,
        "invitee_bcsid": member.invitee_info.invitee_bcs_id,
        "invitee_projectid": caller.project_id,
        "invitee_domainid": caller.domain_id,
    }


Id = Annotated[str, Query(max_length=64)]


@router.get("/consortium/quit", name="ConsoleConfirmQuit")
async def confirm_quit(
    request: Request, ctx: Context, session: ConsoleSession, inviter_bcs_id: Id, channel: Id, invitee_bcs_id: Id
) -> Response:
    """What quitting the consortium does, and the button that does it."""
    member = await ctx.db.read(
        _membership,
        caller=session.caller,
        inviter_bcs_id=inviter_bcs_id,
        channel=channel,
        invitee_bcs_id=invitee_bcs_id,
    )
    if member is None:
        return not_found(request, session)
    return render(request, "quit_confirm.html", session, title="Quit the consortium", member=member)


@router.post("/consortium/quit", name="ConsoleQuit")
async def quit_consortium(request: Request, ctx: Context, session: ConsoleSession, form: CheckedForm) -> Response:
    """HandleUnionMemberQuitList (``PUT /members/quit``) for the confirmed membership."""
    member = await ctx.db.read(
        _membership,
        caller=session.caller,
        inviter_bcs_id=forms.text(form, "inviter_bcs_id"),
        channel=forms.text(form, "channel"),
        invitee_bcs_id=forms.text(form, "invitee_bcs_id"),
    )
    if member is None:
        return back_with_error(request, PAGE, errors.BCSError(errors.MEMBERSHIP_NOT_FOUND), form="belonging", gone=())
    body = _parse(QuitUnionFromMemberListRequestBody, _quit_body(member, session.caller))
    return await _act(request, ctx, session, "belonging", service.quit_consortium, body)
