"""Instance pages: the create form, an instance with its organisations, peers, orderers, channels and the progress
of its operations; adding and removing peers and organisations; deleting it after a confirmation.

Each action builds the API's request body, parses it with the API's parser and calls the service function the API
route calls (``instances.service.create``/``update``/``delete``), with the caller's project as the API does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from openbcs.channels import views as channel_views
from openbcs.channels.schemas import ListBlockchainChannelsResponse
from openbcs.console import forms, health
from openbcs.console.pages import PREFIX, ConsoleRoute, back_with_error, field_errors, redirect, render
from openbcs.console.session import CheckedForm, ConsoleSession
from openbcs.consortium import states
from openbcs.consortium import views as consortium_views
from openbcs.http.context import Context
from openbcs.http.fairness import project_turn
from openbcs.instances import service
from openbcs.instances import views as instance_views
from openbcs.instances.schemas import (
    CreateRequestBody,
    ShowBlockchainDetailResponse,
    ShowBlockchainNodesResponse,
    UpdateInstanceRequestBody,
)
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.network import lookups

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
ORG_ROWS = 3  # peer organisation rows of the create form
SECRETS = ("resource_password", "couchdb_info.password", "cce_create_info.init_node_pwd")
CREATE_FIELDS_BY_CODE = {
    errors.DUPLICATE_NAME.code: "name",
    errors.INVALID_CHANNEL_NAME.code: "channels",
    errors.ORG_NOT_FOUND.code: "channels",
}


def creation_body(form: FormData) -> dict[str, Any]:
    """The CreateNewBlockchain body the form describes (empty optional fields left out)."""
    text, number = forms.text, forms.number
    data: dict[str, Any] = {
        "name": text(form, "name"),
        "enterprise_project_id": text(form, "enterprise_project_id") or "0",
        "resource_password": forms.secret(form, "resource_password"),
        "cluster_type": "cce",
        "create_new_cluster": text(form, "create_new_cluster") == "true",
    }
    for name in ("blockchain_type", "consensus", "sign_algorithm", "volume_type", "evs_disk_type", "database_type"):
        forms.put(data, name, text(form, name))
    for name in ("version_type", "orderer_node_number", "org_disk_size"):
        forms.put(data, name, number(form, name))
    platform = text(form, "cluster_platform_type") or "VirtualMachine"
    if data["create_new_cluster"]:
        data["cce_create_info"] = {
            "node_num": number(form, "cce_create_info.node_num"),
            "node_flavor": text(form, "cce_create_info.node_flavor"),
            "cce_flavor": text(form, "cce_create_info.cce_flavor"),
            "init_node_pwd": forms.secret(form, "cce_create_info.init_node_pwd"),
            "az": text(form, "cce_create_info.az"),
            "cluster_platform_type": platform,
        }
    else:
        data["cce_cluster_info"] = {
            "cluster_id": text(form, "cce_cluster_info.cluster_id"),
            "cluster_name": text(form, "cce_cluster_info.cluster_name"),
            "cluster_platform_type": platform,
        }
    orgs = []
    for row in range(ORG_ROWS):
        name, count = text(form, f"peer_orgs[{row}].name"), number(form, f"peer_orgs[{row}].node_count")
        if name or count is not None:
            orgs.append({"name": name, "node_count": count})
    if orgs:
        data["peer_orgs"] = orgs
    if data.get("database_type") == "couchdb":
        data["couchdb_info"] = {
            "user_name": text(form, "couchdb_info.user_name"),
            "password": forms.secret(form, "couchdb_info.password"),
        }
    if forms.checked(form, "is_invitee"):
        data["is_invitee"] = True
        data["invitor_infos"] = {
            key: text(form, f"invitor_infos.{key}") for key in ("tenant_id", "project_id", "blockchain_id")
        }
    return data


def _defaults(session: Session, *, caller: Caller, invitee_of: str | None) -> dict[str, str]:
    """The create form's first values; for an invitee instance, those its inviter's invitation requires."""
    values = {
        "blockchain_type": "union",
        "version_type": "4",
        "consensus": "etcdraft",
        "orderer_node_number": "3",
        "volume_type": "evs",
        "evs_disk_type": "SSD",
        "database_type": "goleveldb",
        "enterprise_project_id": "0",
        "create_new_cluster": "false",
        "peer_orgs[0].name": "organization",
        "peer_orgs[0].node_count": "2",
    }
    if invitee_of:
        for note in consortium_views.notifications(session, caller=caller).notifications:
            info = note.invitor_info
            if info.invitor_bcs_id == invitee_of:
                values.update(
                    {
                        "is_invitee": "on",
                        "orderer_node_number": "",
                        "consensus": info.invitor_consensus,
                        "version_type": str(info.invitor_version_type),
                        "database_type": info.invitor_database_type,
                        "invitor_infos.tenant_id": info.invitor_id,
                        "invitor_infos.project_id": info.invitor_project_id,
                        "invitor_infos.blockchain_id": info.invitor_bcs_id,
                    }
                )
                break
    return values


@router.get("/instances/new", name="ConsoleNewInstance")
async def new_instance(
    request: Request,
    ctx: Context,
    session: ConsoleSession,
    invitee_of: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The create form (pre-filled for an invitee instance when ``invitee_of`` names an inviter's instance)."""
    values = await ctx.db.read(_defaults, caller=session.caller, invitee_of=invitee_of)
    return render(request, "instance_new.html", session, title="New instance", values=values, errors={})


@router.post("/instances", name="ConsoleCreateInstance")
async def create_instance(request: Request, ctx: Context, session: ConsoleSession, form: CheckedForm) -> Response:
    """CreateNewBlockchain from the form; refused, the form comes back with the API's message next to its field."""
    caller = session.caller
    try:
        body = forms.api_body(CreateRequestBody, creation_body(form))
        created = await ctx.db.write(
            service.create,
            project_id=caller.project_id,
            domain_id=caller.domain_id,
            body=body,
            runtime=ctx.settings.fabric_runtime,
            invited=states.invitation_waiting,
        )
    except errors.BCSError as exc:
        return render(
            request,
            "instance_new.html",
            session,
            status=exc.status,
            title="New instance",
            values=forms.kept(form, without=SECRETS),
            errors=field_errors(exc, CREATE_FIELDS_BY_CODE),
        )
    text = f"Creating instance {created.blockchain_name}: operation {created.operation_id}."
    return redirect(request, f"{PREFIX}/instances/{created.blockchain_id}", text=text, operation=created.operation_id)


@dataclass(frozen=True)
class InstancePage:
    """What the instance page shows."""

    detail: ShowBlockchainDetailResponse
    nodes: ShowBlockchainNodesResponse
    channels: ListBlockchainChannelsResponse
    consortium_channels: list[str]
    live: health.Live  # node health and operations: what the page refreshes in place


def instance_page(session: Session, *, project_id: str, blockchain_id: str) -> InstancePage:
    """The API's detail, nodes and channel views of the caller's instance, with its nodes' health and its operations
    (one transaction)."""
    with lookups.channel_views_remembered(session):  # the detail and the channel list read the channels once
        detail = instance_views.detail(session, project_id=project_id, blockchain_id=blockchain_id)
        nodes = instance_views.nodes(session, project_id=project_id, blockchain_id=blockchain_id)
        channels = channel_views.channels(session, project_id=project_id, blockchain_id=blockchain_id)
    own = {c.name for c in channels.channels}
    joined = sorted({name for org in nodes.node_orgs.values() for p in org.peers.values() for name in p.channels})
    return InstancePage(
        detail=detail,
        nodes=nodes,
        channels=channels,
        consortium_channels=[name for name in joined if name not in own],
        live=health.live(session, project_id=project_id, blockchain_id=blockchain_id),
    )


@router.get("/instances/{blockchain_id}", name="ConsoleInstance")
async def instance(request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str) -> Response:
    """Organisations, peers, orderers, channels, status, node health (with the end of each node's log, local runtime)
    and running operations of one of the caller's instances."""
    project_id = session.caller.project_id
    # The largest instance's page takes tens of ms of CPU: read and rendered in a thread, one of the project's at a
    # time, while the event loop goes on serving everyone else (openbcs.http.fairness).
    async with project_turn(project_id):
        page = await asyncio.to_thread(
            ctx.db.run_read, instance_page, project_id=project_id, blockchain_id=blockchain_id
        )
        tails = await health.log_tails(ctx, project_id=project_id, blockchain_id=blockchain_id, health=page.live.health)
        name = page.detail.basic_info.name
        return await asyncio.to_thread(
            render,
            request,
            "instance.html",
            session,
            title=name,
            page=page,
            blockchain_id=blockchain_id,
            logs=tails,
            log_lines=health.LOG_LINES,
        )


async def _update(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, data: dict[str, Any], form_id: str
) -> Response:
    """UpdateInstance with ``data``; back to the instance page with the operation id or the API's refusal."""
    url = f"{PREFIX}/instances/{blockchain_id}"
    try:
        body = forms.api_body(UpdateInstanceRequestBody, data)
        operation_id = await ctx.db.write(
            service.update, project_id=session.caller.project_id, blockchain_id=blockchain_id, body=body
        )
    except errors.BCSError as exc:
        return back_with_error(request, url, exc, form=form_id)
    return redirect(request, url, text=f"Started operation {operation_id}.", form=form_id, operation=operation_id)


@router.post("/instances/{blockchain_id}/peers", name="ConsoleScalePeers")
async def scale_peers(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """Set how many peers an organisation has (adds or deletes peers)."""
    org = forms.text(form, "org")
    data = {"node_orgs": [{"name": org, "node_count": forms.number(form, "node_count")}]}
    return await _update(request, ctx, session, blockchain_id, data, f"peers-{org}")


@router.post("/instances/{blockchain_id}/orgs", name="ConsoleAddOrg")
async def add_org(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """Add a peer organisation with its peers."""
    org = {"name": forms.text(form, "name"), "node_count": forms.number(form, "node_count")}
    forms.put(org, "pvc_name", forms.text(form, "pvc_name"))
    return await _update(request, ctx, session, blockchain_id, {"node_orgs": [org]}, "orgs")


@router.post("/instances/{blockchain_id}/orgs/delete", name="ConsoleDeleteOrg")
async def delete_org(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """Delete a peer organisation (its peers with it)."""
    org = forms.text(form, "org")
    data = {"node_orgs": [{"name": org, "node_count": forms.number(form, "node_count")}], "is_delete_org": True}
    # Shown above the organisations: the deleted one's own panel may be gone when the page comes back.
    return await _update(request, ctx, session, blockchain_id, data, "orgs")


@router.get("/instances/{blockchain_id}/delete", name="ConsoleConfirmDeleteInstance")
async def confirm_delete(request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str) -> Response:
    """What deleting the instance does, and the button that does it."""
    page = await ctx.db.read(instance_page, project_id=session.caller.project_id, blockchain_id=blockchain_id)
    name = page.detail.basic_info.name
    return render(
        request, "instance_delete.html", session, title=f"Delete {name}", page=page, blockchain_id=blockchain_id
    )


@router.post("/instances/{blockchain_id}/delete", name="ConsoleDeleteInstance")
async def delete_instance(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """DeleteBlockchain (no flags, as the API without a query string)."""
    try:
        operation_id = await ctx.db.write(
            service.delete, project_id=session.caller.project_id, blockchain_id=blockchain_id, flags={}
        )
    except errors.BCSError as exc:
        return back_with_error(request, f"{PREFIX}/instances/{blockchain_id}", exc, form="delete")
    text = f"Deleting the instance: operation {operation_id}."
    return redirect(request, f"{PREFIX}/", text=text, operation=operation_id)
