"""The write baseline for ``bench_consortium.py``: a bare Starlette app taking a PUT with a small JSON body.

Two endpoints, served by the same uvicorn (uvloop + httptools, no access log) as ``openbcs serve``:

- ``PUT /baseline/put``: parse the JSON body (the eight strings of a quit request), check that every value is a
  string, answer a small JSON object. What a framework-only write costs.
- ``PUT /baseline/sqlite``: the same plus one row inserted and committed in SQLite (WAL, ``synchronous=NORMAL``,
  ``BEGIN IMMEDIATE``) on one connection used from the event loop, the way OpenBCS uses SQLite. What the smallest
  durable write costs. The database file is ``$BASELINE_DB`` (default: ``baseline.db`` in the working directory).

``GET /baseline`` answers 200 for health checks.

    BASELINE_DB=/tmp/b.db /work/venv/bin/uvicorn --app-dir bench baseline_write_app:app --port 8081
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_connection: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _connection
    if _connection is None:
        connection = sqlite3.connect(os.environ.get("BASELINE_DB", "baseline.db"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, body TEXT, time INTEGER)")
        _connection = connection
    return _connection


async def _body(request: Request) -> dict[str, str] | JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error_code": "BAD", "error_msg": "not JSON"}, status_code=400)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        return JSONResponse({"error_code": "BAD", "error_msg": "strings expected"}, status_code=400)
    return body


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def put(request: Request) -> JSONResponse:
    """Parse and check the body; answer like a quit does (result and an operation id)."""
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    return JSONResponse({"result": "success", "operation_id": f"BASELINE-{len(body)}-{time.time_ns()}"})


async def put_sqlite(request: Request) -> JSONResponse:
    """Parse and check the body, then insert it as one row in its own write transaction."""
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    db = _db()
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute("INSERT INTO writes (body, time) VALUES (?, ?)", (json.dumps(body), time.time_ns()))
        db.execute("COMMIT")
    except Exception:
        db.execute("ROLLBACK")
        raise
    return JSONResponse({"result": "success", "operation_id": f"BASELINE-{cursor.lastrowid}"})


app = Starlette(
    routes=[
        Route("/baseline", health, methods=["GET"]),
        Route("/baseline/put", put, methods=["PUT"]),
        Route("/baseline/sqlite", put_sqlite, methods=["PUT"]),
    ]
)
