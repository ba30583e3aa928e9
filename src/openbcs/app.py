"""The application factory: routers, error rendering, middleware, migrations and the operation worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openbcs import errors, migrations
from openbcs.api import ServerContext
from openbcs.blockchains import routes as blockchain_routes
from openbcs.certs import routes as cert_routes
from openbcs.channels import routes as channel_routes
from openbcs.consortium import routes as consortium_routes
from openbcs.db import Database
from openbcs.iam import routes as iam_routes
from openbcs.keys import load_server_key
from openbcs.logs import configure_logging
from openbcs.middleware import BodyLimitMiddleware, RequestContextMiddleware
from openbcs.monitoring import routes as monitoring_routes
from openbcs.monitoring.retention import prune_forever
from openbcs.monitoring.sources import make_source
from openbcs.monitoring.telemetry import Telemetry
from openbcs.operations import routes as operation_routes
from openbcs.operations import testing as operation_testing
from openbcs.operations.worker import OperationWorker
from openbcs.settings import Settings
from openbcs.validation import to_bcs_error

log = logging.getLogger("openbcs")


def _bcs_response(request: Request, error: errors.BCSError) -> JSONResponse:
    request.scope.setdefault("state", {})["error_code"] = error.error.code  # for the request metrics
    return JSONResponse(error.body(), status_code=error.status)


async def _on_bcs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.BCSError)
    return _bcs_response(request, exc)


async def _on_iam_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IAMError)
    request.scope.setdefault("state", {})["error_code"] = f"IAM.{exc.status}"  # for the request metrics
    return JSONResponse(exc.body(), status_code=exc.status)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return _bcs_response(request, errors.BCSError(errors.NOT_FOUND))
    return _bcs_response(request, errors.BCSError(errors.INVALID_PARAMETER, str(exc.detail)))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI prefixes locations with "path"/"query"/"body"; the client knows its fields by name only.
    return _bcs_response(request, to_bcs_error(list(exc.errors()), strip=1))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for ``settings`` (default: from the environment)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.enable_test_kinds:
        operation_testing.register()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    ctx = ServerContext(
        settings=settings,
        db=db,
        server_key=load_server_key(settings),
        telemetry=Telemetry(),
        metrics_source=make_source(
            settings.metrics_source, prometheus_url=settings.prometheus_url, queries_file=settings.metrics_queries_file
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        migrations.upgrade(db)
        ctx.migrated = True
        worker = OperationWorker(
            db,
            step_seconds=settings.operation_step_seconds,
            poll_seconds=settings.worker_poll_seconds,
            server_key=ctx.server_key,
        )
        await worker.start()
        ctx.worker = worker
        background = [asyncio.create_task(prune_forever(db, retention_days=settings.event_retention_days))]
        if settings.metrics_port is not None:
            background.append(asyncio.create_task(_serve_metrics(app, settings)))
        log.info("OpenBCS ready on database %s", db.engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await worker.stop()
            db.dispose()

    app = FastAPI(
        title="OpenBCS",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.add_exception_handler(errors.BCSError, _on_bcs_error)
    app.add_exception_handler(errors.IAMError, _on_iam_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_middleware(BodyLimitMiddleware)
    # Added last: outermost, so every answer carries the id and is counted.
    app.add_middleware(RequestContextMiddleware, observer=ctx.telemetry.observe_request if ctx.telemetry else None)

    @app.get("/healthz", name="Health", include_in_schema=False)
    async def healthz() -> JSONResponse:
        worker_running = ctx.worker is not None and ctx.worker.running
        healthy = ctx.migrated and worker_running
        body = {
            "status": "ok" if healthy else "starting",
            "database": "migrated" if ctx.migrated else "pending",
            "worker": "running" if worker_running else "stopped",
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    app.include_router(iam_routes.router)
    app.include_router(operation_routes.router)
    app.include_router(blockchain_routes.router)
    app.include_router(channel_routes.router)
    app.include_router(consortium_routes.router)
    app.include_router(cert_routes.router)
    app.include_router(monitoring_routes.router)
    if settings.metrics_port is None:
        app.include_router(monitoring_routes.metrics_router)
    return app


async def _serve_metrics(app: FastAPI, settings: Settings) -> None:
    """``/metrics`` on its own port (``--metrics-port``), sharing the main app's context."""
    metrics_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    metrics_app.state.ctx = app.state.ctx
    metrics_app.include_router(monitoring_routes.metrics_router)
    config = uvicorn.Config(
        metrics_app,
        host=settings.host,
        port=settings.metrics_port or 0,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    await uvicorn.Server(config).serve()


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker serving: settings come from ``OPENBCS_*``."""
    return create_app(Settings())
