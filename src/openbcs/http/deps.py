"""Route dependencies: the authenticated caller (bound to the path's ``project_id``), and strict body and query
parsing that runs only after authentication (an unauthenticated request gets 401, never a 400 that reveals how its
body would have been judged)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from openbcs.http.context import Context
from openbcs.kernel.caller import Caller
from openbcs.kernel.validation import parse_json_body, parse_query

M = TypeVar("M", bound=BaseModel)


async def get_caller(request: Request, project_id: str, ctx: Context) -> Caller:
    """The authenticated caller, which must own the ``{project_id}`` of the path."""
    return await ctx.authenticator(request, ctx, project_id)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def json_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency yielding the request body parsed as ``model``, after the caller is authenticated."""

    async def dependency(request: Request, _caller: CurrentCaller) -> M:
        return parse_json_body(model, await request.body(), request.headers.get("content-type"))

    return dependency


def optional_json_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """Like :func:`json_body`, for operations whose body may be left out (then every field takes its default)."""

    async def dependency(request: Request, _caller: CurrentCaller) -> M:
        raw = await request.body()
        if not raw.strip():
            return model()
        return parse_json_body(model, raw, request.headers.get("content-type"))

    return dependency


def query(model: type[M], *, unknown: Literal["ignore", "refuse"] = "ignore") -> Callable[..., Awaitable[M]]:
    """A dependency yielding the query string parsed as ``model``, after the caller is authenticated.

    The parameters ``model`` names are strict (their rule, and given at most once). Others are ignored, as the cloud
    does and as every route without query parameters does (``docs/api.md``, "Query parameters");
    ``unknown="refuse"`` answers them with ``400 BCS.4006014 ... unknown field`` instead (DeleteBlockchain: a
    misspelt flag of a deletion must not pass unnoticed)."""
    known = {field.alias or name for name, field in model.model_fields.items()}

    async def dependency(request: Request, _caller: CurrentCaller) -> M:
        items = request.query_params.multi_items()
        if unknown == "ignore":
            items = [(name, value) for name, value in items if name in known]
        return parse_query(model, dict(items), [name for name, _ in items])

    return dependency
