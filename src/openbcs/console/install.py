"""Wiring the console into the app: its routers, its static files (shipped in the package: it works air-gapped),
``/`` → ``/console/``, a not-found page for any other ``/console/...`` URL, and its security headers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from openbcs.console import certs, channels, consortium, governance, health, home, instances
from openbcs.console.headers import ConsoleHeadersMiddleware
from openbcs.console.pages import PREFIX, ConsoleRoute, not_found

_fallback = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@_fallback.get("/", name="ConsoleRoot", include_in_schema=False)
async def root() -> Response:
    """The server's root opens the console."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@_fallback.get(PREFIX, name="ConsoleBare", include_in_schema=False)
async def bare() -> Response:
    """``/console`` → ``/console/``."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@_fallback.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST"], name="ConsoleNotFound", include_in_schema=False)
async def unknown(request: Request, rest: str) -> Response:
    """Any other console URL: the not-found page (HTML, not the API's JSON)."""
    return not_found(request)


def install(app: FastAPI) -> None:
    """Add the console to ``app`` (the app calls this when ``console_enabled``)."""
    for module in (home, instances, health, channels, consortium, certs, governance):
        app.include_router(module.router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(packages=[("openbcs.console", "static")]), name="console-static")
    app.include_router(_fallback)
    # Outermost: every console answer carries them, the last-resort 500 and the body-size refusal included.
    app.add_middleware(ConsoleHeadersMiddleware)
