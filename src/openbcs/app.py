"""The application factory: the one place where the layers are assembled — settings, database, the operation
registry (:mod:`openbcs.catalog`), the IAM authenticator, routers, error rendering, middleware, migrations and the
operation worker."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from openbcs import catalog, migrations
from openbcs.certs import routes as cert_routes
from openbcs.channels import routes as channel_routes
from openbcs.consortium import routes as consortium_routes
from openbcs.consortium.states import invitation_waiting
from openbcs.engine.worker import OperationWorker, Retention
from openbcs.events.retention import prune_forever
from openbcs.governance import routes as governance_routes
from openbcs.http import error_handlers, idempotency
from openbcs.http.context import ServerContext
from openbcs.http.idempotency import ClientTokens, Policy
from openbcs.http.middleware import BodyLimitMiddleware, HeadMiddleware, RequestContextMiddleware
from openbcs.http.openapi import documented
from openbcs.http.text_guard import reject_unstorable_url_text
from openbcs.iam import routes as iam_routes
from openbcs.iam.authentication import authenticate
from openbcs.iam.login_gate import LoginRateMiddleware, login_gate_of
from openbcs.instances import routes as instance_routes
from openbcs.kernel.db import Database
from openbcs.kernel.files import create_private_database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.logs import configure_logging
from openbcs.kernel.settings import Settings
from openbcs.monitoring import lag
from openbcs.monitoring import routes as monitoring_routes
from openbcs.monitoring.deps import MonitoringState
from openbcs.monitoring.nodes_source import NodeMetrics, sample_forever
from openbcs.monitoring.sources import make_source
from openbcs.monitoring.telemetry import Telemetry
from openbcs.openapi import routes as openapi_routes
from openbcs.operations import routes as operation_routes
from openbcs.runtime.base import Runtime
from openbcs.runtime.config import RuntimeConfig
from openbcs.runtime.supervisor import make_supervisor

log = logging.getLogger("openbcs")

# The mutating operations that honour X-Client-Token (docs/idempotency.md); every other call ignores the header.
CLIENT_TOKEN_OPERATIONS = {
    **dict.fromkeys(
        (
            "BatchInviteMembersToChannel",
            "HandleNotification",
            "DeleteMemberInvite",
            "HandleUnionMemberQuitList",
            "CreateNewBlockchain",
            "UpdateInstance",
            "DeleteBlockchain",
            "BatchCreateChannels",
            "BatchAddPeersToChannel",
            "BatchRemoveOrgsFromChannel",
            "BatchRemovePeersFromChannel",
            "DeleteChannel",
            "FreezeCert",
            "UnfreezeCert",
            # Governance (docs/governance.md): a retried custody switch gets its certificate again.
            "SwitchAdminCustody",
            "AddSignatureRequestSignatures",
            "RejectSignatureRequest",
        ),
        Policy.STORED,
    ),
    # Its answer holds the user's private key: never stored a second time, so a retry is told, not replayed.
    "CreateBlockchainCertByUserName": Policy.NOT_KEPT,
}


def data_dir_problem(settings: Settings) -> str | None:
    """Why the server cannot use its data directory (one line naming it and the cause), or None. Checked before
    anything starts: a missing directory is created, one that cannot be created or written to is refused."""
    path = settings.data_dir
    if settings.database_url and settings.secret_key:
        return None  # nothing is kept in the data directory then
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".openbcs-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        cause = exc.strerror or exc.__class__.__name__
        if not path.exists():
            return f"data directory {path} does not exist and cannot be created: {cause}"
        return f"data directory {path} is not writable: {cause}"
    return None


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the ASGI app for ``settings`` (default: from the environment); ``runtime`` replaces the local runtime's
    Fabric processes (tests give a fake one)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    create_private_database(settings.resolved_database_url)
    db = Database(settings.resolved_database_url, lock_wait_seconds=settings.database_lock_wait_seconds)
    ctx = ServerContext(settings=settings, db=db, server_key=load_server_key(settings), authenticator=authenticate)
    registry = catalog.registry(diagnostic=settings.enable_test_kinds, signature_ttl_hours=settings.signature_ttl_hours)
    runtime_config = RuntimeConfig.of(settings)
    registry.provide(runtime_config)
    worker = OperationWorker(
        db,
        registry=registry,
        step_seconds=settings.operation_step_seconds,
        poll_seconds=settings.worker_poll_seconds,
        server_key=ctx.server_key,
        retention=Retention(settings.operation_retention_days, settings.operation_records_kept),
    )
    supervisor = make_supervisor(db, runtime_config, ctx.server_key, on_progress=worker.notify, runtime=runtime)
    # The local runtime's nodes measure themselves (docs/monitoring.md); prometheus and none stay as chosen.
    nodes = NodeMetrics(runtime=supervisor.runtime, nodes_dir=runtime_config.nodes_dir) if supervisor else None
    source = make_source(
        settings.metrics_source, prometheus_url=settings.prometheus_url, queries_file=settings.metrics_queries_file
    )
    monitoring = MonitoringState(
        source=nodes if nodes is not None and settings.metrics_source == "model" else source, telemetry=Telemetry()
    )
    migrated = False

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal migrated
        migrations.upgrade(db)
        migrated = True
        if supervisor is not None:
            supervisor.start()
        await worker.start()
        background = [asyncio.create_task(prune_forever(db, retention_days=settings.event_retention_days))]
        if supervisor is not None and nodes is not None and monitoring.source is nodes:
            sampled = nodes  # each sampling is followed by the check of how far peers are behind

            async def check_lag() -> int:
                return await db.write(lag.check, sampled)

            background.append(asyncio.create_task(sample_forever(nodes, supervisor.runtime.names, after=check_lag)))
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
            if supervisor is not None:
                # Off the loop: stopping nodes waits for their processes (SIGTERM, then SIGKILL).
                await asyncio.to_thread(supervisor.stop)
            # How long one write transaction of this process held the database at most (a request with the
            # operations it finished, or a worker transition): what another writer may have had to wait.
            log.info("longest write transaction held the database %.1f ms", db.health.longest_hold_seconds * 1000)
            db.dispose()

    app = FastAPI(
        title="OpenBCS",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # First on every route declared or included here, before authentication: a URL no database can store never
        # reaches one. (The API's routers, added flat below, declare it themselves.)
        dependencies=[Depends(reject_unstorable_url_text)],
        # OpenBCS keeps its own request metrics (/metrics); FastAPI's OpenTelemetry hooks cost a check per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    app.state.monitoring = monitoring
    app.state.worker = worker
    app.state.supervisor = supervisor
    # An invitee instance needs a waiting invitation: the consortium answers the instance routes (which cannot
    # import it) whether one waits.
    app.state.invitation_check = invitation_waiting
    error_handlers.install(app)
    idempotency.install(app)  # innermost middleware: it holds back answers of calls made with an X-Client-Token
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(HeadMiddleware)  # inside the request context: HEAD is logged and counted as HEAD
    # A login flood's refusals (429) before routing and body parsing: they must cost the loop next to nothing.
    app.add_middleware(LoginRateMiddleware, gate=login_gate_of(db, settings))
    # Added last: outermost, so every answer carries the id and is counted.
    app.add_middleware(RequestContextMiddleware, observer=monitoring.telemetry.observe_request)

    @app.get("/healthz", name="Health")
    @documented(authenticated=False)
    async def healthz() -> JSONResponse:
        """OpenBCS extension: 200 once the database is migrated and the operation worker runs, else 503; the status
        is "degraded" (still 200: reads are served) while writes cannot go through, e.g. another process holds
        SQLite's write lock (writes then answer 503 BCS.5030001 after --database-lock-wait-seconds)."""
        healthy = migrated and worker.running
        blocked = healthy and db.writes_blocked()
        body: dict[str, object] = {
            "status": ("degraded" if blocked else "ok") if healthy else "starting",
            "database": "migrated" if migrated else "pending",
            "writes": "blocked" if blocked else "ok",
            "worker": "running" if worker.running else "stopped",
        }
        if supervisor is not None:  # local runtime: whether this process supervises the nodes, and how many run
            body["runtime"] = {
                "lease": "held" if supervisor.holding else "standby",
                "nodes": supervisor.owned_nodes,
            }
        return JSONResponse(body, status_code=200 if healthy else 503)

    # Read by the routers' honour_client_token dependency; the API reference documents the header.
    app.state.client_tokens = ClientTokens(CLIENT_TOKEN_OPERATIONS)
    routers = [
        iam_routes.router,
        operation_routes.router,
        instance_routes.router,
        channel_routes.router,
        consortium_routes.router,
        governance_routes.router,
        cert_routes.router,
        monitoring_routes.router,
    ]
    if settings.metrics_port is None:
        routers.append(monitoring_routes.metrics_router)
    for router in routers:
        # The routers' routes become the app's own: FastAPI matches an included router in a second, nested pass on
        # every request, a fifth of a small read's CPU with eight routers (docs/benchmarks.md). The routers declare
        # their full paths and their dependencies themselves (API_DEPENDENCIES, MUTATING_API_DEPENDENCIES), which
        # their routes keep when added flat; tests/http checks every API route has them.
        app.router.routes.extend(router.routes)
    if settings.admin_token:
        from openbcs.admin import routes as admin_routes  # with the seed loader: imported only when the API is on

        app.include_router(admin_routes.router)
    openapi_routes.install(app)
    if settings.console_enabled:
        from openbcs.console.install import install as install_console  # its pages and templates: when it is on

        install_console(app)  # last: its not-found page catches only what no other route under /console matched
    return app


async def _serve_metrics(app: FastAPI, settings: Settings) -> None:
    """``/metrics`` on its own port (``--metrics-port``), sharing the main app's context."""
    metrics_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    metrics_app.state.ctx = app.state.ctx
    metrics_app.state.monitoring = app.state.monitoring
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
