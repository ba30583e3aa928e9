"""Signature requests and admin custody in the console (docs/governance.md).

The list of the caller's signature requests, and one request's page: what it changes, the policy, who has signed and
who is missing, its deadline and status, with three actions — sign in the browser (``static/signing.js`` signs the
update with the tenant's key file, which never leaves the browser, and posts the ``ConfigSignature`` as the API's
JSON form's two fields), upload the file ``peer channel signconfigtx`` wrote, or reject with a reason. The
organisation's "switch to external custody" form takes a CSR. Every action is the governance service function the
API route calls (``governance.service``, ``governance.custody``), with the body the API would receive.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from openbcs.console import forms
from openbcs.console.pages import PREFIX, ConsoleRoute, back_with_error, redirect, render
from openbcs.console.session import CheckedForm, ConsoleSession
from openbcs.governance import custody, service, signatures
from openbcs.governance.models import STATUSES
from openbcs.governance.routes import ENVELOPE
from openbcs.governance.schemas import (
    AdminCustodyRequestBody,
    RejectBody,
    SignatureBody,
    SignatureRequestView,
)
from openbcs.http.context import Context
from openbcs.instances import views as instance_views
from openbcs.kernel import errors

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PAGE = f"{PREFIX}/signature-requests"
# Errors that mean the request (or the instance) is not the caller's: the not-found page, never a flash message.
GONE = (errors.NOT_FOUND.code, errors.INSTANCE_NOT_FOUND.code, errors.ORG_NOT_FOUND.code)


@dataclass(frozen=True)
class RequestPage:
    """One request as the API shows it, and its update bytes (base64) for the browser to sign."""

    request: SignatureRequestView
    update_b64: str


def request_page(session: Session, *, project_id: str, request_id: str) -> RequestPage:
    """The API's view of the caller's request, with the bytes a signature covers."""
    shown = service.show(session, project_id=project_id, request_id=request_id)
    update = service.update_bytes(session, project_id=project_id, request_id=request_id)
    return RequestPage(shown, base64.b64encode(update).decode())


def _url(request_id: str) -> str:
    return f"{PAGE}/{request_id}"


async def _require_visible(ctx: Context, project_id: str, request_id: str) -> None:
    """Not found (the not-found page) for a request the caller does not see, before its form is judged: another
    tenant learns nothing from a form's errors."""
    await ctx.db.read(service.show, project_id=project_id, request_id=request_id)


def _signed_text(shown: SignatureRequestView) -> str:
    done = "the policy is satisfied: the update is being submitted" if not shown.missing else "still missing"
    missing = f" {', '.join(shown.missing)}" if shown.missing else ""
    return f"Signature added (signed by {', '.join(shown.signed_by)}); {done}{missing}. Status: {shown.status}."


@router.get("/signature-requests", name="ConsoleSignatureRequests")
async def signature_requests(
    request: Request,
    ctx: Context,
    session: ConsoleSession,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The requests the caller's organisations may sign or its operations made (ListSignatureRequests)."""
    chosen = status if status in STATUSES else None
    found = await ctx.db.read(service.list_requests, project_id=session.caller.project_id, status=chosen)
    return render(
        request,
        "signature_requests.html",
        session,
        title="Signature requests",
        found=found,
        chosen=chosen or "",
        statuses=STATUSES,
    )


@router.get("/signature-requests/{request_id}", name="ConsoleSignatureRequest")
async def signature_request(request: Request, ctx: Context, session: ConsoleSession, request_id: str) -> Response:
    """One request with its actions: sign in the browser, upload a ``signconfigtx`` file, reject."""
    page = await ctx.db.read(request_page, project_id=session.caller.project_id, request_id=request_id)
    return render(request, "signature_request.html", session, title="Signature request", page=page)


@router.get("/signature-requests/{request_id}/envelope.pb", name="ConsoleSignatureRequestEnvelope")
async def envelope(request: Request, ctx: Context, session: ConsoleSession, request_id: str) -> Response:
    """The CONFIG_UPDATE envelope, what ``peer channel signconfigtx -f FILE`` signs (ShowSignatureRequestEnvelope)."""
    content = await ctx.db.read(service.envelope, project_id=session.caller.project_id, request_id=request_id)
    return Response(
        content,
        media_type=ENVELOPE,
        headers={"Content-Disposition": f'attachment; filename="{request_id}.pb"', "Cache-Control": "no-store"},
    )


@router.post("/signature-requests/{request_id}/signatures", name="ConsoleSignSignatureRequest")
async def sign(request: Request, ctx: Context, session: ConsoleSession, request_id: str, form: CheckedForm) -> Response:
    """The signature made in the browser: the API's JSON form (``signature_header``, ``signature``, base64)."""
    data = {"signature_header": forms.text(form, "signature_header"), "signature": forms.text(form, "signature")}
    await _require_visible(ctx, session.caller.project_id, request_id)
    try:
        body = forms.api_body(SignatureBody, data)
        shown = await ctx.db.write(
            service.add_signatures, project_id=session.caller.project_id, request_id=request_id, body=body, raw=None
        )
    except errors.BCSError as exc:
        return back_with_error(request, _url(request_id), exc, form="sign", gone=GONE)
    return redirect(request, _url(request_id), text=_signed_text(shown), form="sign")


async def _uploaded(form_file: object) -> bytes:
    """The uploaded file's bytes, bounded as the API bounds its body."""
    if not isinstance(form_file, UploadFile):
        raise errors.missing_parameter("envelope")
    return signatures.bounded_file(await form_file.read(signatures.FILE_MAX + 1), field="envelope")


@router.post("/signature-requests/{request_id}/upload", name="ConsoleUploadSignatureRequest")
async def upload(
    request: Request, ctx: Context, session: ConsoleSession, request_id: str, form: CheckedForm
) -> Response:
    """The file ``peer channel signconfigtx`` wrote (the API's ``application/octet-stream`` form)."""
    await _require_visible(ctx, session.caller.project_id, request_id)
    try:
        raw = await _uploaded(form.get("envelope"))
        shown = await ctx.db.write(
            service.add_signatures, project_id=session.caller.project_id, request_id=request_id, body=None, raw=raw
        )
    except errors.BCSError as exc:
        return back_with_error(request, _url(request_id), exc, form="upload", gone=GONE)
    return redirect(request, _url(request_id), text=_signed_text(shown), form="upload")


@router.post("/signature-requests/{request_id}/reject", name="ConsoleRejectSignatureRequest")
async def reject(
    request: Request, ctx: Context, session: ConsoleSession, request_id: str, form: CheckedForm
) -> Response:
    """RejectSignatureRequest: the waiting operation fails with the reason and nothing changes."""
    await _require_visible(ctx, session.caller.project_id, request_id)
    try:
        body = forms.api_body(RejectBody, {"reason": forms.text(form, "reason")})
        shown = await ctx.db.write(
            service.reject, project_id=session.caller.project_id, request_id=request_id, reason=body.reason
        )
    except errors.BCSError as exc:
        return back_with_error(request, _url(request_id), exc, form="reject", gone=GONE)
    text = f"Request rejected; operation {shown.operation_id} fails with the reason."
    return redirect(request, _url(request_id), text=text, form="reject", operation=shown.operation_id)


def _custody_url(blockchain_id: str, org_name: str) -> str:
    return f"{PREFIX}/instances/{blockchain_id}/orgs/{org_name}/admin-custody"


def _org_exists(session: Session, *, project_id: str, blockchain_id: str, org_name: str) -> str:
    """The instance's name, when ``org_name`` is one of its peer organisations (else the not-found page)."""
    detail = instance_views.detail(session, project_id=project_id, blockchain_id=blockchain_id)
    if org_name not in [org.name for org in detail.peer_info]:
        raise errors.BCSError(errors.ORG_NOT_FOUND)
    return str(detail.basic_info.name)


@router.get("/instances/{blockchain_id}/orgs/{org_name}/admin-custody", name="ConsoleAdminCustody")
async def custody_form(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, org_name: str
) -> Response:
    """The "switch to external custody" form of one organisation (a CSR of the tenant's own P-256 key)."""
    name = await ctx.db.read(
        _org_exists, project_id=session.caller.project_id, blockchain_id=blockchain_id, org_name=org_name
    )
    return render(
        request,
        "admin_custody.html",
        session,
        title="Admin custody",
        blockchain_id=blockchain_id,
        blockchain_name=name,
        org_name=org_name,
        admin_cert="",
        operation_id="",
    )


@router.post("/instances/{blockchain_id}/orgs/{org_name}/admin-custody", name="ConsoleSwitchAdminCustody")
async def switch_custody(
    request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str, org_name: str, form: CheckedForm
) -> Response:
    """SwitchAdminCustody: the certificate issued for the CSR's key is shown at once (keep it: it is the admin)."""
    csr = forms.text(form, "csr")
    given = form.get("csr_file")
    if not csr and isinstance(given, UploadFile):
        csr = (await given.read(16384)).decode("utf-8", errors="replace").strip()
    try:
        body = forms.api_body(AdminCustodyRequestBody, {"csr": csr})
        admin_cert, operation_id = await ctx.db.write(
            custody.start_switch,
            project_id=session.caller.project_id,
            blockchain_id=blockchain_id,
            org_name=org_name,
            csr=body.csr,
            server_key=ctx.server_key,
        )
    except errors.BCSError as exc:
        return back_with_error(request, _custody_url(blockchain_id, org_name), exc, form="custody", gone=GONE)
    return render(
        request,
        "admin_custody.html",
        session,
        title="Admin custody",
        blockchain_id=blockchain_id,
        blockchain_name="",
        org_name=org_name,
        admin_cert=admin_cert,
        operation_id=operation_id,
    )
