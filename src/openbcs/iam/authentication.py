"""The HTTP authenticator the app plugs into every route: who sent a request, by its token or its signature, and
whether it may act in the project its path names. Identity is decided here and nowhere else."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import Request

from openbcs.http.context import ServerContext
from openbcs.http.middleware import request_method
from openbcs.iam import signatures, tokens
from openbcs.iam.failures import AuthenticationError, forbidden_project
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import utcnow

log = logging.getLogger("openbcs.auth")


def headers_of(request: Request) -> dict[str, str]:
    """Received headers with lower-case names; values decoded as the SDK encodes them (UTF-8)."""
    decoded: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        try:
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            value = raw_value.decode("latin-1")
        decoded[raw_name.decode("latin-1").lower()] = value
    return decoded


async def _by_signature(
    request: Request, ctx: ServerContext, headers: dict[str, str], project_id: str | None
) -> Caller:
    signed = signatures.SignedRequest(
        method=request_method(request.scope),  # HEAD, though served as GET: what the client signed
        raw_path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=await request.body(),
    )
    skew = timedelta(seconds=ctx.settings.signature_skew_seconds)
    if project_id is None:
        return await ctx.db.read_rows_autocommit(
            signatures.authenticate_signature_any_project,
            request=signed,
            server_key=ctx.server_key,
            skew=skew,
            now=utcnow(),
        )
    return await ctx.db.read_rows_autocommit(
        signatures.authenticate_signature,
        request=signed,
        project_id=project_id,
        server_key=ctx.server_key,
        skew=skew,
        now=utcnow(),
    )


async def authenticate(request: Request, ctx: ServerContext, project_id: str | None) -> Caller:
    """Prove who sent ``request`` by its token or its signature; bind it to ``project_id`` when one is named."""
    headers = headers_of(request)
    try:
        token = headers.get("x-auth-token")
        # Either proof is one statement (two, needing no common snapshot, for an IAM call naming no project): read
        # without a transaction around it, one PostgreSQL round trip instead of three.
        if token:
            caller = await ctx.db.read_rows_autocommit(
                tokens.authenticate_token, token=token, server_key=ctx.server_key, now=utcnow()
            )
            if project_id is not None and caller.project_id != project_id:
                raise forbidden_project(project_id)
        elif "authorization" in headers:
            caller = await _by_signature(request, ctx, headers, project_id)
        else:
            raise AuthenticationError("no X-Auth-Token and no Authorization header")
    except AuthenticationError as exc:
        log.info("authentication failed: %s", exc)
        raise errors.BCSError(errors.UNAUTHORIZED) from exc
    request.scope.setdefault("state", {})["identity"] = caller
    return caller
