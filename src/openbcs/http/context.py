"""What a running server holds for its routes: settings, database, server key, and how callers are authenticated."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from openbcs.kernel.caller import Caller
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings


class Authenticator(Protocol):
    """Proves who sent a request (token or signature) and, when a project is named, that the caller owns it."""

    def __call__(self, request: Request, ctx: ServerContext, project_id: str | None) -> Awaitable[Caller]: ...


@dataclass
class ServerContext:
    """The server's shared state; the app builds one and every route reaches it through :data:`Context`."""

    settings: Settings
    db: Database
    server_key: ServerKey
    authenticator: Authenticator


async def get_context(request: Request) -> ServerContext:
    """The server context of the app handling ``request``."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


Context = Annotated[ServerContext, Depends(get_context)]
