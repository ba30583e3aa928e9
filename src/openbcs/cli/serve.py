"""``openbcs serve``: bind, migrate, optionally seed and create the demo accounts, then serve until stopped."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openbcs.cli.common import DatabaseUrl, DataDir, describe, fail, make_settings, open_database, setting_option
from openbcs.cli.group import start_up_done
from openbcs.cli.tls import TlsFiles, TlsProblem, tls_files
from openbcs.iam import service as iam
from openbcs.kernel.db import Database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.settings import Settings

DEMO_ACCOUNTS = ("demo-inviter", "demo-invitee")


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on ``host:port``, or exit 1 saying why not (before anything claims to listen);
    ``reuse_port`` lets more sockets bind the same port (one per ``--workers`` process, see :mod:`openbcs.serving`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


def serve(
    host: Annotated[str | None, setting_option("host", "Address to listen on.")] = None,
    port: Annotated[int | None, setting_option("port", "Port to listen on (0: any free port).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    region: Annotated[str | None, setting_option("region", "Region id, the name of every account's project.")] = None,
    token_lifetime_seconds: Annotated[
        int | None, setting_option("token_lifetime_seconds", "Token lifetime in seconds.")
    ] = None,
    signature_skew_seconds: Annotated[
        int | None, setting_option("signature_skew_seconds", "Allowed X-Sdk-Date clock skew in seconds.")
    ] = None,
    operation_step_seconds: Annotated[
        float | None, setting_option("operation_step_seconds", "Duration of each step of an operation (0 in CI).")
    ] = None,
    workers: Annotated[int | None, setting_option("workers", "Server processes.")] = None,
    log_format: Annotated[str | None, setting_option("log_format", "text or json.")] = None,
    log_level: Annotated[str | None, setting_option("log_level", "DEBUG, INFO, WARNING, ...")] = None,
    metrics_port: Annotated[
        int | None, setting_option("metrics_port", "Serve /metrics on this port instead of the main one.")
    ] = None,
    metrics_source: Annotated[
        str | None, setting_option("metrics_source", "Node metrics: model, prometheus or none.")
    ] = None,
    prometheus_url: Annotated[
        str | None, setting_option("prometheus_url", "Prometheus HTTP API for --metrics-source prometheus.")
    ] = None,
    admin_token: Annotated[
        str | None,
        setting_option("admin_token", "Turn on the admin API (/openbcs/admin/...) for this bearer token."),
    ] = None,
    database_lock_wait_seconds: Annotated[
        float | None,
        setting_option(
            "database_lock_wait_seconds", "Wait for a database lock at most this long, then answer 503 (busy)."
        ),
    ] = None,
    operation_retention_days: Annotated[
        float | None,
        setting_option(
            "operation_retention_days",
            "Keep finished operations this many days (and at most OPENBCS_OPERATION_RECORDS_KEPT per project).",
            flag="--operation-retention",
        ),
    ] = None,
    login_max_failures: Annotated[
        int | None,
        setting_option("login_max_failures", "Consecutive wrong passwords from one address that lock a name for it."),
    ] = None,
    login_lockout_minutes: Annotated[
        float | None, setting_option("login_lockout_minutes", "How long a first lock lasts (doubling), in minutes.")
    ] = None,
    login_source_burst: Annotated[
        int | None, setting_option("login_source_burst", "Logins one client address may send at once.")
    ] = None,
    login_source_per_minute: Annotated[
        float | None, setting_option("login_source_per_minute", "Logins a minute per client address after that.")
    ] = None,
    login_account_burst: Annotated[
        int | None, setting_option("login_account_burst", "Logins for one account name at once (any address).")
    ] = None,
    login_account_per_minute: Annotated[
        float | None, setting_option("login_account_per_minute", "Logins a minute per account name after that.")
    ] = None,
    fabric_runtime: Annotated[
        str | None,
        setting_option("fabric_runtime", "modelled (nodes are rows of the model) or local (real Fabric processes)."),
    ] = None,
    fabric_bin: Annotated[
        Path | None, setting_option("fabric_bin", "Folder of Fabric 2.5's orderer and peer (default: on PATH).")
    ] = None,
    fabric_config: Annotated[
        Path | None,
        setting_option("fabric_config", "Folder of Fabric's core.yaml and orderer.yaml (default: BIN/../config)."),
    ] = None,
    node_host: Annotated[
        str | None, setting_option("node_host", "Host the local runtime's nodes listen on and advertise.")
    ] = None,
    node_ports: Annotated[
        str | None, setting_option("node_ports", "Port range LOW-HIGH the local runtime's nodes get ports from.")
    ] = None,
    tls_cert: Annotated[
        Path | None, setting_option("tls_cert", "Serve HTTPS with this certificate (PEM; the chain after it).")
    ] = None,
    tls_key: Annotated[Path | None, setting_option("tls_key", "The private key of --tls-cert (PEM).")] = None,
    tls: Annotated[
        str | None,
        setting_option(
            "tls", "self-signed: HTTPS with a development CA kept in DATA_DIR/tls (off: --tls-cert or HTTP)."
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        setting_option(
            "forwarded_allow_ips", "Proxies whose X-Forwarded-For/-Proto are believed (comma-separated, * for any)."
        ),
    ] = None,
    request_header_timeout: Annotated[
        float | None, setting_option("request_header_timeout", "Close a connection whose headers take longer (s).")
    ] = None,
    request_body_timeout: Annotated[
        float | None, setting_option("request_body_timeout", "Close a connection whose body takes longer (s).")
    ] = None,
    max_connections: Annotated[
        int | None, setting_option("max_connections", "Connections per server process; more are answered 503.")
    ] = None,
    signature_ttl: Annotated[
        int | None,
        setting_option(
            "signature_ttl_hours", "Hours a signature request waits for signatures (1-168).", flag="--signature-ttl"
        ),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option("--seed", help="Apply this seed file (YAML, see 'openbcs apply') before serving.", exists=True),
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Create two demo accounts and print their credentials.")] = False,
) -> None:
    """Run the API server: bind the port, migrate the database, apply --seed, then serve until Ctrl-C or SIGTERM."""
    settings = make_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        region=region,
        token_lifetime_seconds=token_lifetime_seconds,
        signature_skew_seconds=signature_skew_seconds,
        operation_step_seconds=operation_step_seconds,
        workers=workers,
        log_format=log_format,
        log_level=log_level,
        metrics_port=metrics_port,
        metrics_source=metrics_source,
        prometheus_url=prometheus_url,
        admin_token=admin_token,
        database_lock_wait_seconds=database_lock_wait_seconds,
        operation_retention_days=operation_retention_days,
        login_max_failures=login_max_failures,
        login_lockout_minutes=login_lockout_minutes,
        login_source_burst=login_source_burst,
        login_source_per_minute=login_source_per_minute,
        login_account_burst=login_account_burst,
        login_account_per_minute=login_account_per_minute,
        fabric_runtime=fabric_runtime,
        fabric_bin=fabric_bin,
        fabric_config=fabric_config,
        node_host=node_host,
        node_ports=node_ports,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls=tls,
        forwarded_allow_ips=forwarded_allow_ips,
        request_header_timeout=request_header_timeout,
        request_body_timeout=request_body_timeout,
        max_connections=max_connections,
        signature_ttl_hours=signature_ttl,
    )
    if settings.metrics_port is not None and settings.workers > 1:
        fail("--metrics-port serves one process's metrics: use it with --workers 1")
    sock = bind(settings.host, settings.port, reuse_port=settings.workers > 1)
    from openbcs.app import data_dir_problem

    problem = data_dir_problem(settings)
    if problem:  # one line naming the directory and the cause, exit status 2, no traceback
        sock.close()
        fail(problem, code=2)
    tls_material = _tls_files(settings, sock)
    bound_port = int(sock.getsockname()[1])
    # Exported so that --workers processes, which build their settings from the environment, get the flags too.
    for key, value in settings.model_dump(exclude_unset=True).items():
        os.environ[f"OPENBCS_{key.upper()}"] = str(value)
    base = f"{'https' if tls_material else 'http'}://{settings.host}:{bound_port}"
    with open_database(settings, create=True) as db:
        _check_runtime(settings, db, sock)
        if seed is not None:
            _apply_seed(seed, settings, db)
        if demo:
            _print_demo(settings, db, base)
    typer.echo(f"OpenBCS listening on {base} (database {describe(settings)})", err=True)
    if tls_material and tls_material.ca:
        typer.echo(f"OpenBCS TLS: self-signed; clients trust the CA certificate {tls_material.ca.resolve()}", err=True)
    typer.echo(
        f"OpenBCS API reference {base}/docs" + (f", console {base}/console" if settings.console_enabled else ""),
        err=True,
    )
    try:
        _run(settings, sock, tls_material)
    finally:
        sock.close()
    typer.echo("OpenBCS stopped", err=True)


def _check_runtime(settings: Settings, db: Database, sock: socket.socket) -> None:
    """Refuse to serve (exit 2, one line naming the setting) when the local runtime's Fabric binaries are missing or
    not 2.5, or when the database holds instances another runtime created: the two are never mixed."""
    from openbcs.runtime.setup import problem as runtime_problem

    problem = runtime_problem(settings, db)
    if problem:
        sock.close()
        fail(problem, code=2)


def _tls_files(settings: Settings, sock: socket.socket) -> TlsFiles | None:
    """The TLS certificate and key to serve with (None: plain HTTP); a problem is one line naming the flag, exit 2."""
    try:
        return tls_files(settings)
    except TlsProblem as exc:
        sock.close()
        fail(str(exc), code=2)


def _apply_seed(path: Path, settings: Settings, db: Database) -> None:
    from openbcs.admin import seed as seeding

    try:
        report = seeding.apply_file(db, path, region=settings.region, server_key=load_server_key(settings))
    except seeding.SeedError as exc:
        fail(str(exc))
    typer.echo(f"seed {path}: {report.summary()}", err=True)


class _Stopped(Exception):
    """SIGINT or SIGTERM reached ``serve``: uvicorn has shut down (it re-raises the signal it stopped for)."""


def _stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def _run(settings: Settings, sock: socket.socket, tls_files: TlsFiles | None = None) -> None:
    """Serve on the bound socket until SIGINT or SIGTERM (``--workers``: one more socket per worker, see
    :mod:`openbcs.serving`).

    uvicorn is given the socket object, not its file descriptor: from a descriptor uvicorn rebuilds the socket as a
    Unix socket, so the event loop never sets TCP_NODELAY on the connections, and every answer written in two parts
    waited ~40 ms for the client's delayed ACK (measured: 23 answers/s on one connection, 690/s on 32, whatever the
    call; docs/benchmarks.md)."""
    import uvicorn

    from openbcs.serving import ServingConfig

    common: dict[str, Any] = {
        "access_log": False,
        "log_level": "warning",
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "request_header_timeout": settings.request_header_timeout,
        "request_body_timeout": settings.request_body_timeout,
        "max_connections": settings.max_connections,
        # The standard library's event loop, not uvloop: under a saturating load of calls that hold the loop for
        # tens of milliseconds (the seed's quit on SQLite), uvloop served some connections seconds after others
        # (32 quitting clients: p99 5.0 s against p50 0.4 s; the asyncio loop 1.1 s against 0.9 s), for reads it
        # measured no faster here (docs/benchmarks.md).
        "loop": "asyncio",
    }
    if tls_files:
        common.update(ssl_certfile=str(tls_files.cert), ssl_keyfile=str(tls_files.key))
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if settings.workers > 1:
            from openbcs.serving import run_workers

            start_up_done()  # this process only supervises: the workers build the app
            config = ServingConfig("openbcs.app:create_app_from_env", factory=True, workers=settings.workers, **common)
            run_workers(config, sock)
        else:
            from openbcs.app import create_app

            app = create_app(settings)
            start_up_done()  # the app is built: what remains (uvicorn's start, the lifespan) makes little
            server = uvicorn.Server(ServingConfig(app, **common))
            server.run(sockets=[sock])
            if not server.started:
                fail("the server did not start (see the log above)")
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_demo(settings: Settings, db: Database, base: str) -> None:
    """Create (or, without saved credentials, re-key) the demo accounts and print them as export lines."""
    saved = settings.data_dir / "demo-credentials.json"
    credentials: dict[str, dict[str, str]] = {}
    if saved.exists():
        credentials = json.loads(saved.read_text())
        known = {a.domain_id for a in db.run_read(iam.list_accounts, region=settings.region)}
        if any(c["domain_id"] not in known for c in credentials.values()):
            credentials = {}
    if set(credentials) != set(DEMO_ACCOUNTS):
        server_key = load_server_key(settings)
        for name in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            created = db.run_write(
                iam.provision_account, name=name, password=password, region=settings.region, server_key=server_key
            )
            credentials[name] = {**dataclasses.asdict(created), "password": password}
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(credentials, handle, indent=2)
    lines = [
        f"# OpenBCS demo accounts (kept in {saved}); paste into a shell:",
        f"export OPENBCS_ENDPOINT={base}",
    ]
    for name in DEMO_ACCOUNTS:
        c = credentials[name]
        prefix = name.upper().replace("-", "_")
        for label, key in (
            ("DOMAIN_ID", "domain_id"),
            ("DOMAIN_NAME", "domain_name"),
            ("PROJECT_ID", "project_id"),
            ("PROJECT_NAME", "project_name"),
            ("USER_NAME", "user_name"),
            ("PASSWORD", "password"),
            ("AK", "access_key"),
            ("SK", "secret_key"),
        ):
            lines.append(f"export {prefix}_{label}={c[key]}")
    typer.echo("\n".join(lines))
    sys.stdout.flush()
