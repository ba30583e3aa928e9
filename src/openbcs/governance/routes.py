"""HTTP routes of the governance extensions (docs/governance.md): admin custody and signature requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from openbcs.governance import custody, service, signatures
from openbcs.governance.schemas import (
    AdminCustodyRequestBody,
    AdminCustodyResponse,
    ListSignatureRequestsResponse,
    RejectBody,
    SignatureBody,
    SignatureRequestsQuery,
    SignatureRequestView,
)
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body, query
from openbcs.http.openapi import documented
from openbcs.http.routing import MUTATING_API_DEPENDENCIES
from openbcs.kernel import errors
from openbcs.kernel.validation import parse_json_body

router = APIRouter(prefix="/v2/{project_id}", dependencies=MUTATING_API_DEPENDENCIES)

ENVELOPE = "application/octet-stream"


@router.post("/blockchains/{blockchain_id}/orgs/{org_name}/admin-custody", name="SwitchAdminCustody")
@documented()
async def switch_admin_custody(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    org_name: str,
    body: Annotated[AdminCustodyRequestBody, Depends(json_body(AdminCustodyRequestBody))],
) -> AdminCustodyResponse:
    """OpenBCS extension: the organisation's tenant holds its admin key from now on. OpenBCS issues the admin
    certificate for the CSR's key (P-256, proof of possession; subject set by the server), makes it the only admin
    of the organisation's MSP in every channel (signed with the hosted admin key, its last use), then deletes the
    hosted admin key. Asynchronous: answers the certificate and the operation id."""
    admin_cert, operation_id = await ctx.db.write(
        custody.start_switch,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        org_name=org_name,
        csr=body.csr,
        server_key=ctx.server_key,
    )
    return AdminCustodyResponse(admin_cert=admin_cert, operation_id=operation_id)


@router.get("/signature-requests", name="ListSignatureRequests")
@documented()
async def list_signature_requests(
    caller: CurrentCaller,
    ctx: Context,
    params: Annotated[SignatureRequestsQuery, Depends(query(SignatureRequestsQuery))],
) -> ListSignatureRequestsResponse:
    """OpenBCS extension: the signature requests one of the caller's organisations may sign, or that the caller's
    operations made, newest first; `status` keeps those with that status."""
    return await ctx.db.read(service.list_requests, project_id=caller.project_id, status=params.status)


@router.get("/signature-requests/{request_id}", name="ShowSignatureRequest")
@documented()
async def show_signature_request(caller: CurrentCaller, ctx: Context, request_id: str) -> SignatureRequestView:
    """OpenBCS extension: one signature request."""
    return await ctx.db.read(service.show, project_id=caller.project_id, request_id=request_id)


@router.get("/signature-requests/{request_id}/envelope", name="ShowSignatureRequestEnvelope", response_class=Response)
@documented(download=ENVELOPE)
async def show_signature_request_envelope(caller: CurrentCaller, ctx: Context, request_id: str) -> Response:
    """OpenBCS extension: the CONFIG_UPDATE envelope of the request with the signatures so far, a serialized Fabric
    ``common.Envelope``: what `peer channel signconfigtx -f FILE` signs."""
    content = await ctx.db.read(service.envelope, project_id=caller.project_id, request_id=request_id)
    return Response(content, media_type=ENVELOPE)


@router.post("/signature-requests/{request_id}/signatures", name="AddSignatureRequestSignatures")
@documented(body=SignatureBody, errors=[errors.INVALID_BODY])
async def add_signature_request_signatures(
    caller: CurrentCaller, ctx: Context, request: Request, request_id: str
) -> SignatureRequestView:
    """OpenBCS extension: add signatures — the file `peer channel signconfigtx` wrote (`application/octet-stream`),
    or one `{"signature_header", "signature"}` (base64, `application/json`). Each is verified (an admin of an
    organisation the request needs, per the channel's configuration; low-S; over the request's update bytes) or
    refused with a 400 naming why. Once the channel's policy is satisfied the update is submitted."""
    raw = await request.body()
    media_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    body: SignatureBody | None = None
    if media_type == ENVELOPE:
        signatures.bounded_file(raw, field="body")
    else:
        body = parse_json_body(SignatureBody, raw, request.headers.get("content-type"))
    return await ctx.db.write(
        service.add_signatures,
        project_id=caller.project_id,
        request_id=request_id,
        body=body,
        raw=raw if body is None else None,
    )


@router.post("/signature-requests/{request_id}/reject", name="RejectSignatureRequest")
@documented()
async def reject_signature_request(
    caller: CurrentCaller,
    ctx: Context,
    request_id: str,
    body: Annotated[RejectBody, Depends(json_body(RejectBody))],
) -> SignatureRequestView:
    """OpenBCS extension: refuse the request with a reason; its operation fails with it and nothing changes."""
    return await ctx.db.write(service.reject, project_id=caller.project_id, request_id=request_id, reason=body.reason)
