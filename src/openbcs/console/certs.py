"""Certificates and events: downloads of admin, user and CA material and of the SDK configuration, users'
certificates with freeze and unfreeze (``certs.service`` and ``certs.sdk_config``, as the API routes call them), and
an instance's events and alarms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from openbcs.certs import sdk_config, service
from openbcs.certs.archives import Archive
from openbcs.certs.schemas import SdkConfigBody
from openbcs.console import forms, views
from openbcs.console.pages import PREFIX, ConsoleRoute, back_with_error, redirect, render
from openbcs.console.session import CheckedForm, ConsoleSession
from openbcs.http.context import Context
from openbcs.instances import views as instance_views
from openbcs.instances.schemas import ShowBlockchainDetailResponse, ShowBlockchainNodesResponse
from openbcs.kernel import errors

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
EVENT_WINDOWS = {"60": "the last hour", "1440": "the last day", "10080": "the last week"}
EVENTS_SHOWN = 200
FROZEN = {"freeze": "frozen", "unfreeze": "unfrozen"}


@dataclass(frozen=True)
class CertsPage:
    """The instance, its organisations (peer and orderer) and its users' certificates."""

    detail: ShowBlockchainDetailResponse
    nodes: ShowBlockchainNodesResponse
    users: list[views.UserCert]


def certs_page(session: Session, *, project_id: str, blockchain_id: str) -> CertsPage:
    """The API's detail and nodes views of the caller's instance, with its users' certificates."""
    return CertsPage(
        instance_views.detail(session, project_id=project_id, blockchain_id=blockchain_id),
        instance_views.nodes(session, project_id=project_id, blockchain_id=blockchain_id),
        views.user_certs(session, project_id=project_id, blockchain_id=blockchain_id),
    )


def _zip(archive: Archive) -> Response:
    """The archive as a download (the name may hold Chinese characters: RFC 6266's ``filename*``)."""
    fallback = "".join(c if c.isascii() and c not in '"\\' else "_" for c in archive.filename)
    return Response(
        archive.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(archive.filename)}",
            "Cache-Control": "no-store",
        },
    )


def _page(blockchain_id: str) -> str:
    return f"{PREFIX}/instances/{blockchain_id}/certificates"


@router.get("/instances/{blockchain_id}/certificates", name="ConsoleCertificates")
async def certificates(request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str) -> Response:
    """Downloads per organisation, the SDK configuration form, and users' certificates."""
    page = await ctx.db.read(certs_page, project_id=session.caller.project_id, blockchain_id=blockchain_id)
    return render(request, "certificates.html", session, title="Certificates", page=page, blockchain_id=blockchain_id)


@router.get("/instances/{blockchain_id}/certificates/{org_name}/{cert_type}.zip", name="ConsoleDownloadCert")
async def download(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, org_name: str, cert_type: str
) -> Response:
    """DownloadBlockchainCert: the organisation's admin, user or CA material as an MSP zip."""
    archive = await ctx.db.read(
        service.download,
        project_id=session.caller.project_id,
        blockchain_id=blockchain_id,
        org_name=org_name,
        cert_type=cert_type,
        server_key=ctx.server_key,
    )
    return _zip(archive)


@router.post("/instances/{blockchain_id}/certificates/sdk-config", name="ConsoleSdkConfig")
async def sdk_configuration(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """DownloadBlockchainSdkConfig for the chosen organisations (all their peers) and one channel's chaincode."""
    orgs = {
        org: [str(i) for i in range(int(count))]
        for org, _, count in (v.partition(":") for v in forms.chosen(form, "org"))
        if count.isdigit()
    }
    data = {
        "chaincode_name": forms.text(form, "chaincode_name"),
        "channel_name": forms.text(form, "channel_name"),
        "cert_path": forms.text(form, "cert_path"),
        "peer_orgs": orgs,
    }
    try:
        body = forms.api_body(SdkConfigBody, data)
        archive = await ctx.db.read(
            sdk_config.sdk_config, project_id=session.caller.project_id, blockchain_id=blockchain_id, body=body
        )
    except errors.BCSError as exc:
        return back_with_error(request, _page(blockchain_id), exc, form="sdk-config")
    return _zip(archive)


async def _for_user(
    request: Request,
    ctx: Context,
    session: ConsoleSession,
    blockchain_id: str,
    form: FormData,
    call: Any,
    **kwargs: Any,
) -> Any:
    """Run a user-certificate service function for the form's organisation and user, as the API route does; its
    result, or (refused) the page again with the API's message next to the users' forms."""
    try:
        return await ctx.db.write(
            call,
            project_id=session.caller.project_id,
            blockchain_id=blockchain_id,
            org_name=forms.text(form, "org"),
            user_name=forms.text(form, "user_name"),
            **kwargs,
        )
    except errors.BCSError as exc:
        return back_with_error(request, _page(blockchain_id), exc, form="users")


@router.post("/instances/{blockchain_id}/certificates/users", name="ConsoleIssueUserCert")
async def issue_user_cert(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, form: CheckedForm
) -> Response:
    """CreateBlockchainCertByUserName: a user's certificate and key, as a zip."""
    mode = forms.checked(form, "security_mode")
    outcome = await _for_user(
        request,
        ctx,
        session,
        blockchain_id,
        form,
        service.issue_user_cert,
        security_mode=mode,
        server_key=ctx.server_key,
    )
    return outcome if isinstance(outcome, Response) else _zip(outcome)


@router.post("/instances/{blockchain_id}/certificates/users/{action}", name="ConsoleFreezeUserCert")
async def freeze(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, action: str, form: CheckedForm
) -> Response:
    """FreezeCert / UnfreezeCert of all of a user's certificates (their serials enter or leave the org's CRL)."""
    if action not in FROZEN:
        raise errors.BCSError(errors.NOT_FOUND)
    frozen = action == "freeze"
    outcome = await _for_user(
        request, ctx, session, blockchain_id, form, service.set_frozen, upload=None, frozen=frozen
    )
    if isinstance(outcome, Response):
        return outcome
    text = f"{outcome} certificate(s) of {forms.text(form, 'user_name')} {FROZEN[action]}."
    return redirect(request, _page(blockchain_id), text=text, form="users")


@router.get("/instances/{blockchain_id}/events", name="ConsoleEvents")
async def events(
    request: Request,
    ctx: Context,
    session: ConsoleSession,
    blockchain_id: str,
    minutes: Annotated[str, Query(max_length=8)] = "1440",
) -> Response:
    """The instance's events and alarms (ListBcsEvents' records) of a window."""
    window = minutes if minutes in EVENT_WINDOWS else "1440"
    found = await ctx.db.read(
        views.events, project_id=session.caller.project_id, blockchain_id=blockchain_id, minutes=int(window)
    )
    return render(
        request,
        "events.html",
        session,
        title="Events and alarms",
        found=found,
        blockchain_id=blockchain_id,
        window=window,
        windows=EVENT_WINDOWS,
        shown=EVENTS_SHOWN,
    )
