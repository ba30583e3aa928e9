"""The admin API, mounted only when the server runs with ``--admin-token``: reset, state export and import, seed
files. Every call carries ``Authorization: Bearer <admin token>``; anything else is ``401 BCS.4010401``."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from openbcs.admin import seed, state
from openbcs.admin.seedfile import SeedError
from openbcs.http.context import Context
from openbcs.http.openapi import documented
from openbcs.kernel import errors

TAG = "Admin (OpenBCS)"


async def _admin(request: Request, ctx: Context) -> None:
    """Let the call in only with the server's admin token (compared in constant time)."""
    expected = ctx.settings.admin_token or ""
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
        raise errors.BCSError(errors.UNAUTHORIZED, "the admin API needs Authorization: Bearer <admin token>")


router = APIRouter(prefix="/openbcs/admin", dependencies=[Depends(_admin)])
Admin = Annotated[None, Depends(_admin)]


@router.post("/reset", name="AdminReset", summary="Delete everything (accounts, instances, operations, ...)")
@documented(tag=TAG, errors=[errors.UNAUTHORIZED], authenticated=False)
async def reset(ctx: Context) -> dict[str, Any]:
    """Empty every table; the schema and the server key stay. Answers the rows deleted per table."""
    deleted = await ctx.db.write(state.reset)
    return {"deleted": deleted}


@router.get("/state", name="AdminExportState", summary="The whole state as one JSON document")
@documented(tag=TAG, errors=[errors.UNAUTHORIZED], authenticated=False)
async def export_state(ctx: Context) -> dict[str, Any]:
    """Every row of every table (secrets stay sealed with this server's key), for ``PUT /openbcs/admin/state``."""
    return await ctx.db.read(state.export_state, server_key=ctx.server_key)


@router.put("/state", name="AdminImportState", summary="Replace the whole state with an exported one")
@documented(tag=TAG, errors=[errors.UNAUTHORIZED, errors.INVALID_BODY, errors.INVALID_PARAMETER], authenticated=False)
async def import_state(request: Request, ctx: Context) -> dict[str, Any]:
    """Replace everything with a document from ``GET /openbcs/admin/state`` of a server with the same key and schema
    revision; all or nothing."""
    try:
        document = json.loads(await request.body())
    except ValueError as exc:
        raise errors.BCSError(errors.INVALID_BODY, "Invalid Parameter request body : not valid JSON") from exc
    try:
        counts = await ctx.db.write(state.import_state, document, server_key=ctx.server_key)
    except state.StateError as exc:
        raise errors.invalid_parameter("request body", str(exc)) from exc
    return {"imported": counts}


@router.post("/apply", name="AdminApply", summary="Apply a seed file (YAML or JSON)")
@documented(tag=TAG, errors=[errors.UNAUTHORIZED, errors.INVALID_PARAMETER], authenticated=False)
async def apply(request: Request, ctx: Context) -> dict[str, Any]:
    """Create what the seed document declares and is missing (``openbcs apply``); applying it again changes nothing.
    Runs off the event loop: it hashes passwords and drives the operations it starts to their end."""
    text = (await request.body()).decode("utf-8", errors="replace")
    try:
        report = await anyio.to_thread.run_sync(
            lambda: seed.apply_text(
                ctx.db, text, source="request body", region=ctx.settings.region, server_key=ctx.server_key
            )
        )
    except SeedError as exc:
        raise errors.invalid_parameter("request body", str(exc)) from exc
    return {"changed": report.changed, "unchanged": report.unchanged}
