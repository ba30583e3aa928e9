"""The ``openbcs`` command: serve, migrate, and manage accounts, keys and passwords."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from openbcs import migrations
from openbcs.iam import login
from openbcs.iam import service as iam
from openbcs.instances import quotas
from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.settings import Settings
from openbcs.network.config_history import history_of, verify_all

app = typer.Typer(help="OpenBCS: a self-hosted BCS v2 management API.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts (IAM domains) with their project, user and access key.", no_args_is_help=True)
key_app = typer.Typer(help="Access keys (AK/SK).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
quota_app = typer.Typer(help="Per-account quotas.", no_args_is_help=True)
channel_app = typer.Typer(help="Channels.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(user_app, name="user")
app.add_typer(quota_app, name="quota")
app.add_typer(channel_app, name="channel")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (SQLite file, server key).")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL; default SQLite in --data-dir.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]

DEMO_ACCOUNTS = ("demo-inviter", "demo-invitee")


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the given flags winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    """The migrated database of ``settings``, closed when the command is done."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        migrations.upgrade(db)
        yield db
    finally:
        db.dispose()


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _emit(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=None if as_json else 2) if as_json else text)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    region: Annotated[str | None, typer.Option(help="Region id, the name of every account's project.")] = None,
    token_lifetime_seconds: Annotated[int | None, typer.Option(help="Token lifetime.")] = None,
    signature_skew_seconds: Annotated[int | None, typer.Option(help="Allowed X-Sdk-Date clock skew.")] = None,
    operation_step_seconds: Annotated[float | None, typer.Option(help="Duration of each operation step.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
    log_format: Annotated[str | None, typer.Option(help="text or json.")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING, ...")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics on this port instead of the main one.")
    ] = None,
    metrics_source: Annotated[str | None, typer.Option(help="Node metrics: model, prometheus or none.")] = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus HTTP API for --metrics-source prometheus.")
    ] = None,
    database_lock_wait_seconds: Annotated[
        float | None, typer.Option(help="Wait for a database lock at most this long, then answer 503 (busy).")
    ] = None,
    login_max_failures: Annotated[
        int | None, typer.Option(help="Consecutive wrong passwords that lock a user name.")
    ] = None,
    login_lockout_minutes: Annotated[float | None, typer.Option(help="How long such a lock lasts.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Create two demo accounts and print their credentials.")] = False,
) -> None:
    """Run the API server (migrating the database first)."""
    import uvicorn

    settings = _settings(
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
        database_lock_wait_seconds=database_lock_wait_seconds,
        login_max_failures=login_max_failures,
        login_lockout_minutes=login_lockout_minutes,
    )
    from openbcs.app import data_dir_problem

    problem = data_dir_problem(settings)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2)
    if settings.metrics_port is not None and settings.workers > 1:
        _fail("--metrics-port serves one process's metrics: use it with --workers 1")
    # Exported so that --workers processes, which build their settings from the environment, get the flags too.
    for key, value in settings.model_dump(exclude_unset=True).items():
        os.environ[f"OPENBCS_{key.upper()}"] = str(value)
    with _database(settings) as db:
        if demo:
            _print_demo(settings, db)
    typer.echo(f"OpenBCS listening on http://{settings.host}:{settings.port}", err=True)
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "access_log": False, "log_level": "warning"}
    if settings.workers > 1:
        from openbcs.serving import run_workers  # one listening socket per worker: connections spread over them

        run_workers(uvicorn.Config("openbcs.app:create_app_from_env", factory=True, workers=settings.workers, **common))
    else:
        from openbcs.app import create_app

        uvicorn.run(create_app(settings), **common)


def _print_demo(settings: Settings, db: Database) -> None:
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
        f"export OPENBCS_ENDPOINT=http://{settings.host}:{settings.port}",
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


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        typer.echo(f"database at revision {migrations.current_revision(db)}")


@account_app.command("create")
def account_create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    region: Annotated[str | None, typer.Option(help="Region of the account's project.")] = None,
    as_json: AsJson = False,
) -> None:
    """Create an account with its project, own user and first access key (the SK is printed only now)."""
    settings = _settings(data_dir=data_dir, database_url=database_url, region=region)
    with _database(settings) as db:
        server_key = load_server_key(settings)
        try:
            created = db.run_write(
                iam.create_account, name=name, password=password, region=settings.region, server_key=server_key
            )
        except iam.IAMRuleError as exc:
            _fail(str(exc))
        data = dataclasses.asdict(created)
        _emit(data, as_json, "\n".join(f"{k}: {v}" for k, v in data.items()))


@account_app.command("list")
def account_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """List accounts with their ids and access key ids (never secrets)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    with _database(settings) as db:
        accounts = db.run_read(iam.list_accounts, region=settings.region)
        data = [{**dataclasses.asdict(a), "access_keys": list(a.access_keys)} for a in accounts]
        _emit(data, as_json, "\n".join(f"{a['domain_name']}\t{a['domain_id']}\t{a['project_id']}" for a in data))


@key_app.command("create")
def key_create(
    account: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Create an access key for the account's own user (the SK is printed only now)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    with _database(settings) as db:
        server_key = load_server_key(settings)
        try:
            ak, sk = db.run_write(iam.create_access_key, account_name=account, server_key=server_key)
        except iam.IAMRuleError as exc:
            _fail(str(exc))
        _emit({"access_key": ak, "secret_key": sk}, as_json, f"access_key: {ak}\nsecret_key: {sk}")


@key_app.command("delete")
def key_delete(
    access_key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Delete an access key."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            db.run_write(iam.delete_access_key, access_key=access_key)
        except iam.IAMRuleError as exc:
            _fail(str(exc))
        _emit({"deleted": access_key}, as_json, f"deleted {access_key}")


@user_app.command("passwd")
def user_passwd(
    account: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    user: Annotated[str | None, typer.Option(help="User name; default the account's own user.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Change a user's password; every token issued before stops working."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            db.run_write(iam.change_password, account_name=account, user_name=user, password=password)
        except iam.IAMRuleError as exc:
            _fail(str(exc))
        _emit({"account": account, "user": user or account, "password_changed": True}, as_json, "password changed")


@user_app.command("unlock")
def user_unlock(
    account: str,
    user: Annotated[str | None, typer.Option(help="User name; default the account's own user.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Lift a lock-out after too many wrong passwords (and forget the user's failed logins)."""
    name = user or account
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        was_locked = db.run_write(login.unlock, domain_name=account, user_name=name)
        text = f"user {name} of account {account} unlocked" if was_locked else f"user {name} was not locked"
        _emit({"account": account, "user": name, "was_locked": was_locked}, as_json, text)


def _set_quota(session: Session, *, account: str, instances: int) -> str:
    domain_id = iam.account_id(session, name=account)
    quotas.set_instance_quota(session, domain_id=domain_id, instances=instances)
    return domain_id


def _quota_of(session: Session, *, account: str) -> int:
    return quotas.instance_quota(session, domain_id=iam.account_id(session, name=account))


@quota_app.command("set")
def quota_set(
    account: str,
    instances: Annotated[int, typer.Option(help="How many instances the account may hold.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Set an account's instance quota (ListQuotas reports it)."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            domain_id = db.run_write(_set_quota, account=account, instances=instances)
        except (iam.IAMRuleError, ValueError) as exc:
            _fail(str(exc))
        _emit(
            {"account": account, "domain_id": domain_id, "instances": instances}, as_json, f"instance quota {instances}"
        )


@quota_app.command("show")
def quota_show(
    account: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Show an account's instance quota."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            quota = db.run_read(_quota_of, account=account)
        except iam.IAMRuleError as exc:
            _fail(str(exc))
        _emit({"account": account, "instances": quota}, as_json, f"instance quota {quota}")


@channel_app.command("verify")
def channel_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Re-check every channel's Fabric config blocks as an orderer would (hashes, each update applied, signatures,
    policies); exit 1 naming the first broken block of each broken channel."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        report = db.run_read(verify_all)
        lines = [
            f"{'ok' if not problems else 'BROKEN'}\t{label}" + "".join(f"\n  {p}" for p in problems)
            for label, problems in report.items()
        ]
        _emit({"channels": report, "verified": not any(report.values())}, as_json, "\n".join(lines) or "no channels")
        if any(report.values()):
            raise typer.Exit(code=1)


@channel_app.command("fetch")
def channel_fetch(
    blockchain_id: str,
    channel: str,
    output: Annotated[Path, typer.Option("--output", help="Directory for <n>.block and <n>.update.envelope files.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Write a channel's config blocks (serialized common.Block) and the CONFIG_UPDATE envelopes that produced them,
    as Fabric's tools read them (configtxlator proto_decode --type common.Block; osnadmin channel join)."""
    with _database(_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            blocks = db.run_read(history_of, blockchain_id=blockchain_id, name=channel)
        except errors.BCSError as exc:
            _fail(exc.message)
        output.mkdir(parents=True, exist_ok=True)
        written = []
        for number, block, update in blocks:
            (output / f"{number}.block").write_bytes(block)
            written.append(f"{number}.block")
            if update is not None:
                (output / f"{number}.update.envelope").write_bytes(update)
                written.append(f"{number}.update.envelope")
        _emit({"directory": str(output), "files": written}, as_json, "\n".join(str(output / f) for f in written))


@app.command("errors")
def errors_table() -> None:
    """Print the table of error codes (the source of docs/error-codes.md)."""
    typer.echo(errors.catalog_markdown(), nl=False)


def main() -> None:
    """Console-script entry point."""
    app()
