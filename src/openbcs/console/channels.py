"""Channel pages: create a channel, add and remove peers and organisations, delete it after a confirmation, and its
configuration history (blocks, signers, verification). Each action is the API call's service function
(``channels.service``), fed the request model the API route parses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
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
from openbcs.console.session import Session as Session_
from openbcs.http.context import Context, ServerContext
from openbcs.http.fairness import project_turn
from openbcs.instances import views as instance_views
from openbcs.instances.schemas import BasicInfo, PeerInfo
from openbcs.kernel import errors
from openbcs.network import lookups

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
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
    with lookups.channel_views_remembered(session):  # the detail and the channel list read the channels once
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


@dataclass(frozen=True)
class _Target:
    """The request, the signed-in caller and the instance (and channel) a channel form acts on."""

    request: Request
    ctx: ServerContext
    session: Session_
    blockchain_id: str
    channel_name: str

    async def start(
        self, form_id: str, call: Any, model: type[BaseModel] | None, data: Any = None, *, in_path: bool = True
    ) -> Response:
        """Parse ``data`` as ``model`` (the API's body) and run the channel service ``call`` as the API route does
        (``in_path``: the route names the channel in its path); back to the page with the operation id or the
        API's refusal next to the form. A deleted channel's instance page is where its answer goes."""
        back = _url(self.blockchain_id, self.channel_name)
        kwargs: dict[str, Any] = {"project_id": self.session.caller.project_id, "blockchain_id": self.blockchain_id}
        if in_path and self.channel_name:
            kwargs["channel_name"] = self.channel_name
        try:
            if model is not None:
                kwargs["body"] = forms.api_body(model, data)
            operation_id = await self.ctx.db.write(call, **kwargs)
        except errors.BCSError as exc:
            return back_with_error(self.request, back, exc, form=form_id, gone=GONE)
        text = f"Started operation {operation_id}."
        if call is service.delete_channel:
            return redirect(self.request, _url(self.blockchain_id), text=text, operation=operation_id)
        return redirect(self.request, back, text=text, form=form_id, operation=operation_id)


async def _target(request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str) -> _Target:
    # The channel only from the path (the create route has none), never from a query string.
    return _Target(request, ctx, session, blockchain_id, str(request.path_params.get("channel_name", "")))


Target = Annotated[_Target, Depends(_target)]


@router.post("/instances/{blockchain_id}/channels", name="ConsoleCreateChannel")
async def create_channel(target: Target, form: CheckedForm) -> Response:
    """BatchCreateChannels of one channel."""
    entry = {"channel_name": forms.text(form, "channel_name")}
    forms.put(entry, "channel_description", forms.text(form, "channel_description"))
    return await target.start(
        "create-channel", service.batch_create, BatchCreateChannelsRequestBody, {"channels": [entry]}
    )


async def _show(
    request: Request, ctx: Context, session: Session_, blockchain_id: str, channel_name: str, template: str, title: str
) -> Response:
    project_id = session.caller.project_id
    # The page verifies up to 101 config blocks: in a thread, one of the project's at a time (openbcs.http.fairness).
    async with project_turn(project_id):
        page = await asyncio.to_thread(
            ctx.db.run_read, channel_page, project_id=project_id, blockchain_id=blockchain_id, channel_name=channel_name
        )
        return await asyncio.to_thread(
            render, request, template, session, title=title, page=page, blockchain_id=blockchain_id
        )


@router.get("/instances/{blockchain_id}/channels/{channel_name}", name="ConsoleChannel")
async def channel(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str
) -> Response:
    """A channel: organisations and peers, forms to change them, and its configuration history."""
    return await _show(request, ctx, session, blockchain_id, channel_name, "channel.html", f"Channel {channel_name}")


@router.post("/instances/{blockchain_id}/channels/{channel_name}/peers", name="ConsoleAddChannelPeers")
async def add_peers(target: Target, form: CheckedForm) -> Response:
    """BatchAddPeersToChannel: ``count`` more peers of one organisation (its first join brings it into the
    channel's configuration)."""
    peers = {forms.text(form, "org"): forms.number(form, "count")}
    data = {"channel_peers": [{"channel_name": target.channel_name, "peers": peers}]}
    return await target.start("add-peers", service.add_peers, BatchAddPeersToChannelRequestBody, data, in_path=False)


@router.post("/instances/{blockchain_id}/channels/{channel_name}/peers/remove", name="ConsoleRemoveChannelPeers")
async def remove_peers(target: Target, form: CheckedForm) -> Response:
    """BatchRemovePeersFromChannel: some (never all) peers of one organisation leave the channel."""
    data = {"org_name": forms.text(form, "org"), "peers": forms.number(form, "peers")}
    return await target.start("remove-peers", service.remove_peers, BatchRemovePeersFromChannelRequestBody, data)


@router.post("/instances/{blockchain_id}/channels/{channel_name}/orgs/remove", name="ConsoleRemoveChannelOrgs")
async def remove_orgs(target: Target, form: CheckedForm) -> Response:
    """BatchRemoveOrgsFromChannel: the chosen organisations leave the channel with their peers."""
    data = {"org_names": forms.chosen(form, "org")}
    return await target.start("remove-orgs", service.remove_orgs, BatchRemoveOrgsFromChannelRequestBody, data)


@router.get("/instances/{blockchain_id}/channels/{channel_name}/delete", name="ConsoleConfirmDeleteChannel")
async def confirm_delete(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, channel_name: str
) -> Response:
    """What deleting the channel does, and the button that does it."""
    title = f"Delete {channel_name}"
    return await _show(request, ctx, session, blockchain_id, channel_name, "channel_delete.html", title)


@router.post("/instances/{blockchain_id}/channels/{channel_name}/delete", name="ConsoleDeleteChannel")
async def delete_channel(target: Target, _form: CheckedForm) -> Response:
    """DeleteChannel (only an empty channel can be deleted: the API's refusal says so)."""
    return await target.start("delete-channel", service.delete_channel, None)
