"""``/openapi.json`` and ``/docs``: the API reference served by the server itself. Swagger UI's files are shipped
inside the package (``static/swagger-ui``, Apache-2.0), so the page works offline and loads nothing from elsewhere."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles

from openbcs.openapi.document import build

STATIC = Path(str(resources.files("openbcs.openapi").joinpath("static", "swagger-ui")))
router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>OpenBCS API reference</title>
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  docExpansion: "none",
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false
});
</script>
</body>
</html>
"""


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    cached = getattr(app.state, "openapi_document", None)
    if cached is None:
        cached = build(app)
        app.state.openapi_document = cached
    return dict(cached)


@router.get("/openapi.json", name="OpenAPI")
async def openapi_json(request: Request) -> JSONResponse:
    """The OpenAPI 3.1 document of this server."""
    return JSONResponse(document(request.app))


@router.get("/docs", name="Docs")
async def docs() -> HTMLResponse:
    """The browsable reference (Swagger UI, from files shipped in the package)."""
    return HTMLResponse(PAGE)


def install(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs`` and the page's files on ``app``."""
    app.include_router(router)
    app.mount("/docs/static", StaticFiles(directory=STATIC), name="docs-static")
