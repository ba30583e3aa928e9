"""The floor app: ``GET /bare`` (a bare Starlette GET, for context), ``GET /healthz``, and the measured calls with
OpenBCS's paths — ListOpRecord and ListMembers by token or signature, and the AK/SK-signed quit.

Configured by the environment (:func:`bench.harness.floor_env`): ``FLOOR_DATABASE`` (OpenBCS's SQLite file or a
``postgresql://`` URL), ``FLOOR_SERVER_KEY`` (OpenBCS's ``server.key``), ``FLOOR_SKEW_SECONDS``. Each request runs in
one transaction (authentication included), where OpenBCS reads the caller without a transaction around its one
statement and then runs the call's own read (ListMembers' also without one on PostgreSQL).

    FLOOR_DATABASE=... FLOOR_SERVER_KEY=... python -m uvicorn --app-dir . bench.floors.app:app --port 8081
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.floors import auth, quits, reads
from bench.floors.db import Query, connect

KEYS = auth.Keys(Path(os.environ["FLOOR_SERVER_KEY"]))
DB = connect(os.environ["FLOOR_DATABASE"])
SKEW = float(os.environ.get("FLOOR_SKEW_SECONDS", "900"))


async def _identify(request: Request) -> Callable[[Query], auth.Caller]:
    """What to run in the transaction to know the caller (the token is decrypted before it)."""
    project_id = request.path_params["project_id"]
    token = request.headers.get("x-auth-token")
    if token:
        claims = auth.token_claims(KEYS, token)
        return lambda q: auth.by_token(q, claims, project_id)
    if "authorization" not in request.headers:
        raise auth.Denied(auth.UNAUTHORIZED)
    signed = auth.Signed(
        method=request.method,
        raw_path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )
    return lambda q: auth.by_signature(q, KEYS, signed, project_id, SKEW)


def _read(view: Callable[[Query, auth.Caller], Any]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            identify = await _identify(request)
            answer = await DB.read(lambda q: view(q, identify(q)))
        except auth.Denied as denied:
            return JSONResponse(denied.body(), status_code=denied.status)
        return JSONResponse(answer)

    return endpoint


async def quit_endpoint(request: Request) -> JSONResponse:
    try:
        identify = await _identify(request)
        body = quits.parse(await request.body())
        operation_id = await DB.write(lambda q: quits.quit_membership(q, identify(q), body))
    except auth.Denied as denied:
        return JSONResponse(denied.body(), status_code=denied.status)
    return JSONResponse({"result": "success", "operation_id": operation_id})


async def bare(_request: Request) -> JSONResponse:
    """A small JSON object, about the size of an empty ListOpRecord answer."""
    return JSONResponse({"status": "ok", "count": 0, "operation_records": []})


app = Starlette(
    routes=[
        Route("/bare", bare),
        Route("/healthz", bare),
        Route("/v2/{project_id}/operation/record", _read(reads.list_records)),
        Route("/v2/{project_id}/members", _read(reads.list_members)),
        Route("/v2/{project_id}/members/quit", quit_endpoint, methods=["PUT"]),
    ]
)
