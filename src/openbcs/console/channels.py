"""Channel pages: create a channel, add and remove peers and organisations, delete it after a confirmation, and its
configuration history (blocks, signers, verification). Each action is the API call's service function
(``channels.service``), fed the request model the API route parses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openbcs.channels import service, views
from openbcs.channels.schemas import (
    BatchAddPeersToChannelRequestBody,
    BatchCreateChannelsRequestBody,
    BatchRemoveOrgsFromChannelRequestBody,
    BatchRemovePeersFromChannelRequestBody,
    Channel,
    ConfigHistoryResponse,
)
from openbcs.console import forms
from openbcs.console.pages import PREFIX, ConsoleRoute, back_with_error, redirect, render
from openbcs.console.session import CheckedForm, ConsoleSession
from openbcs.http.context import Context
from openbcs.instances import views as instance_views
from openbcs.instances.schemas import BasicInfo, PeerInfo
from openbcs.kernel import errors

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
# Errors of a page's own resources: the not-found page, not a message next to a form.
GONE = (errors.INSTANCE_NOT_FOUND.code, errors.CHANNEL_NOT_FOUND.code)


@dataclass(frozen=True)
class ChannelPage:
    """A channel of the caller's instance (``channel`` None for a consortium channel owned by the inviter)."""

    instance: BasicInfo
    orgs: list[PeerInfo]
    channel: Channel | None
    history: ConfigHistoryResponse


def channel_page(session: Session, *, project_id: str, blockchain_id: str, channel_name: str) -> ChannelPage:
    """The API's views of the instance, the channel and its configuration history, in one transaction."""
    detail = instance_views.detail(session, project_id=project_id, blockchain_id=blockchain_id)
    history = views.config_history(
        session, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name
    )
    listed = views.channels(session, project_id=project_id, blockchain_id=blockchain_id).channels
    own = next((c for c in listed if c.name == channel_name), None)
    return ChannelPage(detail.basic_info, detail.peer_info, own, history)


def _url(blockchain_id: str, channel: str = "") -> str:
    base = f"{PREFIX}/instances/{blockchain_id}"
    return f"{base}/channels/{channel}" if channel else base


async def _start(
    request: Request,
    ctx: Context,
    session: ConsoleSession,
    *,
    back: str,
    form_id: str,
    call: Any,
    model: type[BaseModel] | None,
    data: dict[str, Any] | None = None,
    done: str | None = None,
    **kwargs: Any,
) -> Response:
    """Parse ``data`` as ``model`` (the API's body) and run the channel service ``call``; back to ``back`` with the
    operation id (at ``done``, if given) or the API's refusal next to the form."""
    try:
        if model is not None:
            kwargs["body"] = forms.api_body(model, data or {})
        operation_id = await ctx.db.write(call, project_id=session.caller.project_id, **kwargs)
    except errors.BCSError as exc:
        if exc.error.code in GONE:
            raise
        return back_with_error(request, back, exc, form=form_id)
    if done is not None:
        return redirect(request, done, text=f"Started operation {operation_id}.")
    return redirect(request, back, text=f"Started operation {operation_id}.", form=form_id)


@router.post("/instances/{blockchain_id}/channels", name="ConsoleCreateChannel")
async def create_channel(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """BatchCreateChannels of one channel."""
    entry = {"channel_name": forms.text(form, "channel_name")}
    forms.put(entry, "channel_description", forms.text(form, "channel_description"))
    return await _start(
        request,
        ctx,
        session,
        back=_url(blockchain_id),
        form_id="create-channel",
        call=service.batch_create,
        model=BatchCreateChannelsRequestBody,
        data={"channels": [entry]},
        blockchain_id=blockchain_id,
    )


@router.get("/instances/{blockchain_id}/channels/{channel_name}", name="ConsoleChannel")
async def channel(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str
) -> Response:
    """A channel: organisations and peers, forms to change them, and its configuration history."""
    page = await ctx.db.read(
        channel_page, project_id=session.caller.project_id, blockchain_id=blockchain_id, channel_name=channel_name
    )
    return render(
        request, "channel.html", session, title=f"Channel {channel_name}", page=page, blockchain_id=blockchain_id
    )


@router.post("/instances/{blockchain_id}/channels/{channel_name}/peers", name="ConsoleAddChannelPeers")
async def add_peers(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str, form: CheckedForm
) -> Response:
    """BatchAddPeersToChannel: ``count`` more peers of one organisation (its first join brings it into the
    channel's configuration)."""
    data = {
        "channel_peers": [
            {"channel_name": channel_name, "peers": {forms.text(form, "org"): forms.number(form, "count")}}
        ]
    }
    return await _start(
        request,
        ctx,
        session,
        back=_url(blockchain_id, channel_name),
        form_id="add-peers",
        call=service.add_peers,
        model=BatchAddPeersToChannelRequestBody,
        data=data,
        blockchain_id=blockchain_id,
    )


@router.post("/instances/{blockchain_id}/channels/{channel_name}/peers/remove", name="ConsoleRemoveChannelPeers")
async def remove_peers(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str, form: CheckedForm
) -> Response:
    """BatchRemovePeersFromChannel: some (never all) peers of one organisation leave the channel."""
    data = {"org_name": forms.text(form, "org"), "peers": forms.number(form, "peers")}
    return await _start(
        request,
        ctx,
        session,
        back=_url(blockchain_id, channel_name),
        form_id="remove-peers",
        call=service.remove_peers,
        model=BatchRemovePeersFromChannelRequestBody,
        data=data,
        blockchain_id=blockchain_id,
        channel_name=channel_name,
    )


@router.post("/instances/{blockchain_id}/channels/{channel_name}/orgs/remove", name="ConsoleRemoveChannelOrgs")
async def remove_orgs(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str, form: CheckedForm
) -> Response:
    """BatchRemoveOrgsFromChannel: the chosen organisations leave the channel with their peers."""
    return await _start(
        request,
        ctx,
        session,
        back=_url(blockchain_id, channel_name),
        form_id="remove-orgs",
        call=service.remove_orgs,
        model=BatchRemoveOrgsFromChannelRequestBody,
        data={"org_names": forms.chosen(form, "org")},
        blockchain_id=blockchain_id,
        channel_name=channel_name,
    )


@router.get("/instances/{blockchain_id}/channels/{channel_name}/delete", name="ConsoleConfirmDeleteChannel")
async def confirm_delete(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str
) -> Response:
    """What deleting the channel does, and the button that does it."""
    page = await ctx.db.read(
        channel_page, project_id=session.caller.project_id, blockchain_id=blockchain_id, channel_name=channel_name
    )
    return render(
        request, "channel_delete.html", session, title=f"Delete {channel_name}", page=page, blockchain_id=blockchain_id
    )


@router.post("/instances/{blockchain_id}/channels/{channel_name}/delete", name="ConsoleDeleteChannel")
async def delete_channel(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str, form: CheckedForm
) -> Response:
    """DeleteChannel (only an empty channel can be deleted: the API's refusal says so)."""
    return await _start(
        request,
        ctx,
        session,
        back=_url(blockchain_id, channel_name),
        form_id="delete-channel",
        call=service.delete_channel,
        model=None,
        done=_url(blockchain_id),
        blockchain_id=blockchain_id,
        channel_name=channel_name,
    )
