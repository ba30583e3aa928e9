"""HTTP plumbing every router shares: the server's context, who the caller is, and how bodies are parsed.

Routers stay thin: they declare ``caller: Caller`` (authentication plus the tenancy check against the path's
``project_id``), take a parsed model from :func:`json_body` / :func:`query`, call one service function through
``ctx.db`` and shape the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from openbcs import errors
from openbcs.db import Database
from openbcs.iam import service as iam
from openbcs.keys import ServerKey
from openbcs.settings import Settings
from openbcs.validation import parse_json_body, parse_query

if TYPE_CHECKING:
    from openbcs.monitoring.sources import MetricsSource
    from openbcs.monitoring.telemetry import Telemetry
    from openbcs.operations.worker import OperationWorker

log = logging.getLogger("openbcs.auth")
M = TypeVar("M", bound=BaseModel)


@dataclass
class ServerContext:
    """What a running server holds: settings, database, server key, operation worker."""

    settings: Settings
    db: Database
    server_key: ServerKey
    worker: OperationWorker | None = None
    migrated: bool = False
    telemetry: Telemetry | None = None
    metrics_source: MetricsSource | None = None


def get_context(request: Request) -> ServerContext:
    """The server context of the app handling ``request``."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


Context = Annotated[ServerContext, Depends(get_context)]


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


async def authenticate(request: Request, ctx: ServerContext, project_id: str | None) -> iam.Identity:
    """Prove who sent ``request`` by its token or its signature; bind it to ``project_id`` when one is named."""
    headers = headers_of(request)
    now = iam.utcnow()
    try:
        token = headers.get("x-auth-token")
        if token:
            identity = await ctx.db.read(
                lambda s: iam.authenticate_token(s, token=token, server_key=ctx.server_key, now=now)
            )
            if project_id is not None:
                iam.authorize_project(identity, project_id)
        elif "authorization" in headers:
            signed = iam.SignedRequest(
                method=request.method,
                raw_path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=await request.body(),
            )
            skew = timedelta(seconds=ctx.settings.signature_skew_seconds)
            if project_id is None:
                identity = await ctx.db.read(
                    lambda s: iam.authenticate_signature_any_project(
                        s, request=signed, server_key=ctx.server_key, skew=skew, now=now
                    )
                )
            else:
                identity = await ctx.db.read(
                    lambda s: iam.authenticate_signature(
                        s,
                        request=signed,
                        project_id=project_id,
                        server_key=ctx.server_key,
                        skew=skew,
                        now=now,
                    )
                )
        else:
            raise iam.AuthenticationError("no X-Auth-Token and no Authorization header")
    except iam.AuthenticationError as exc:
        log.info("authentication failed: %s", exc)
        raise errors.BCSError(errors.UNAUTHORIZED) from exc
    request.scope.setdefault("state", {})["identity"] = identity
    return identity


async def get_caller(request: Request, project_id: str, ctx: Context) -> iam.Identity:
    """The authenticated identity, which must own the ``{project_id}`` of the path."""
    return await authenticate(request, ctx, project_id)


Caller = Annotated[iam.Identity, Depends(get_caller)]


def json_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency yielding the request body parsed as ``model``, after the caller is authenticated."""

    async def dependency(request: Request, _caller: Caller) -> M:
        return parse_json_body(model, await request.body(), request.headers.get("content-type"))

    return dependency


def optional_json_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """Like :func:`json_body`, for operations whose body may be left out (then every field takes its default)."""

    async def dependency(request: Request, _caller: Caller) -> M:
        raw = await request.body()
        if not raw.strip():
            return model()
        return parse_json_body(model, raw, request.headers.get("content-type"))

    return dependency


def query(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency yielding the query string parsed as ``model``, after the caller is authenticated."""

    async def dependency(request: Request, _caller: Caller) -> M:
        return parse_query(model, request.query_params, [k for k, _ in request.query_params.multi_items()])

    return dependency
