"""HTTP routes of the certificate operations (20-24): archives in Fabric's layouts, freeze and unfreeze."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from openbcs.certs import sdk_config, service
from openbcs.certs.archives import Archive
from openbcs.certs.schemas import DownloadCertQuery, ResultResponse, SdkConfigBody, UserCertBody
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body, optional_json_body, query
from openbcs.http.openapi import documented
from openbcs.http.routing import MUTATING_API_DEPENDENCIES
from openbcs.kernel import errors

router = APIRouter(prefix="/v2/{project_id}/blockchains/{blockchain_id}", dependencies=MUTATING_API_DEPENDENCIES)


def _disposition(filename: str) -> str:
    """``attachment; filename="..."``; a name that is not ASCII (instance and organisation names may be Chinese)
    gets an ASCII fallback and the UTF-8 name in ``filename*`` (RFC 6266), as HTTP headers carry only Latin-1."""
    if filename.isascii():
        return f'attachment; filename="{filename}"'
    fallback = "".join(c if c.isascii() else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _zip(archive: Archive) -> Response:
    return Response(
        content=archive.content,
        media_type="application/zip",
        headers={"Content-Disposition": _disposition(archive.filename)},
    )


@router.get("/cert", name="DownloadBlockchainCert")
@documented(sdk="download_blockchain_cert", download="application/zip")
async def download_blockchain_cert(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    params: Annotated[DownloadCertQuery, Depends(query(DownloadCertQuery))],
) -> Response:
    """An organisation's admin, user or CA material as an MSP zip."""
    archive = await ctx.db.read(
        service.download,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        org_name=params.org_name,
        cert_type=params.cert_type,
        server_key=ctx.server_key,
    )
    return _zip(archive)


@router.post("/sdk-cfg", name="DownloadBlockchainSdkConfig")
@documented(sdk="download_blockchain_sdk_config", download="application/zip", body_name="CfgRequestBody")
async def download_blockchain_sdk_config(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    body: Annotated[SdkConfigBody, Depends(json_body(SdkConfigBody))],
) -> Response:
    """A Fabric connection profile with the certificates it references, as a zip."""
    archive = await ctx.db.read(
        sdk_config.sdk_config, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )
    return _zip(archive)


@router.post("/orgs/{org_name}/usercert/{user_name}", name="CreateBlockchainCertByUserName")
@documented(
    sdk="create_blockchain_cert_by_user_name",
    download="application/zip",
    body_name="CreateBlockchainCertByUserNameRequestBody",
)
async def create_blockchain_cert_by_user_name(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    body: Annotated[UserCertBody, Depends(optional_json_body(UserCertBody))],
) -> Response:
    """A user's certificate, signed by the organisation's CA, with its key and the CA chain."""
    archive = await ctx.db.write(
        service.issue_user_cert,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        org_name=org_name,
        user_name=user_name,
        security_mode=body.security_mode,
        server_key=ctx.server_key,
    )
    return _zip(archive)


async def _uploaded_file(request: Request, _caller: CurrentCaller) -> bytes | None:
    """The optional ``file`` part of a multipart form (the user-certificate zip); nothing else is accepted."""
    content_type = request.headers.get("content-type", "")
    if not (await request.body()).strip():
        return None
    if not content_type.lower().startswith("multipart/form-data"):
        raise errors.invalid_parameter("Content-Type", "use multipart/form-data with an optional file field")
    form = await request.form(max_files=1, max_fields=1)
    try:
        for name in form:
            if name != "file":
                raise errors.invalid_parameter(name, "unknown field")
        upload = form.get("file")
        if upload is None:
            return None
        if not isinstance(upload, UploadFile):
            raise errors.invalid_parameter("file", "must be a file part, not a text field")
        return await upload.read(service.UPLOAD_MAX_BYTES + 1)
    finally:
        await form.close()


Upload = Annotated[bytes | None, Depends(_uploaded_file)]


async def _set_frozen(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    upload: bytes | None,
    frozen: bool,
) -> ResultResponse:
    await ctx.db.write(
        service.set_frozen,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        org_name=org_name,
        user_name=user_name,
        upload=upload,
        frozen=frozen,
    )
    return ResultResponse(result="success")


@router.post("/orgs/{org_name}/usercert/{user_name}/freeze", name="FreezeCert")
@documented(sdk="freeze_cert", upload=True)
async def freeze_cert(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, org_name: str, user_name: str, upload: Upload
) -> ResultResponse:
    """Revoke a user's certificate (the uploaded one, or all of the user's): it enters the org's CRL."""
    return await _set_frozen(caller, ctx, blockchain_id, org_name, user_name, upload, frozen=True)


@router.post("/orgs/{org_name}/usercert/{user_name}/unfreeze", name="UnfreezeCert")
@documented(sdk="unfreeze_cert", upload=True)
async def unfreeze_cert(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, org_name: str, user_name: str, upload: Upload
) -> ResultResponse:
    """Reinstate a frozen user's certificate: it leaves the org's CRL."""
    return await _set_frozen(caller, ctx, blockchain_id, org_name, user_name, upload, frozen=False)
