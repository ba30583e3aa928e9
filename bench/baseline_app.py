"""The baseline for ``bench_auth.py``: a bare Starlette app with one GET endpoint answering a small JSON object.

Served by the same uvicorn (uvloop + httptools, no access log) as ``openbcs serve``, so the difference between the
two is what OpenBCS does per request: middleware, FastAPI routing and dependencies, authentication, the database
read and the response model.

    /work/venv/bin/uvicorn --app-dir bench baseline_app:app --port 8081
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(_request: Request) -> JSONResponse:
    """A small JSON object, about the size of an empty ListOpRecord answer."""
    return JSONResponse({"status": "ok", "count": 0, "operation_records": []})


app = Starlette(routes=[Route("/baseline", hello, methods=["GET"])])
