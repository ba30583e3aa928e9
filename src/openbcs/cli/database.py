"""``openbcs db``, ``reset``, ``apply``, ``state`` and ``errors``: the database as a whole, seed files, error codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from openbcs import migrations
from openbcs.admin import seed as seeding
from openbcs.admin import state
from openbcs.cli.common import AsJson, DatabaseUrl, DataDir, Yes, describe, emit, fail, make_settings, open_database
from openbcs.kernel import errors
from openbcs.kernel.keys import load_server_key

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
state_app = typer.Typer(help="The whole state as one JSON document (the admin API's export and import).")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Apply every pending migration (creating the database if there is none yet)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with open_database(settings, create=True) as db:
        revision = migrations.current_revision(db)
    emit({"database": describe(settings), "revision": revision}, as_json, f"database at revision {revision}")


def reset(
    yes: Yes = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Delete every account, instance, operation, event and certificate; keep the schema and the server key."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with open_database(settings) as db:
        if not yes and not typer.confirm(f"Delete everything in {describe(settings)}?", err=True):
            fail("nothing deleted")
        deleted = db.run_write(state.reset)
    total = sum(deleted.values())
    emit({"database": describe(settings), "deleted": deleted}, as_json, f"deleted {total} rows; the database is empty")


def apply(
    file: Annotated[Path, typer.Argument(help="Seed file (YAML or JSON).", exists=True, dir_okay=False)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    region: Annotated[
        str | None, typer.Option(help="Region of the accounts' projects.", envvar="OPENBCS_REGION")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create what the seed file declares and is missing (accounts, keys, quotas, instances, channels, invitations,
    memberships); applying the same file again changes nothing."""
    settings = make_settings(data_dir=data_dir, database_url=database_url, region=region)
    with open_database(settings) as db:
        try:
            report = seeding.apply_file(db, file, region=settings.region, server_key=load_server_key(settings))
        except seeding.SeedError as exc:
            fail(str(exc))
    emit({"changed": report.changed, "unchanged": report.unchanged}, as_json, report.summary())


@state_app.command("export")
def state_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the whole state as JSON (secrets stay sealed with this server's key)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with open_database(settings) as db:
        document = db.run_read(state.export_state, server_key=load_server_key(settings))
    text = json.dumps(document)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        # Owner-only, like the database and the server key: the document holds the sealed keys and password hashes.
        output.unlink(missing_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")


@state_app.command("import")
def state_import(
    file: Annotated[Path, typer.Argument(help="A state document from 'openbcs state export'.", exists=True)],
    yes: Yes = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Replace the whole state with an exported one (same schema revision, same server key)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{file}: not a JSON state document: {exc}")
    with open_database(settings) as db:
        if not yes and not typer.confirm(f"Replace everything in {describe(settings)}?", err=True):
            fail("nothing changed")
        try:
            counts = db.run_write(state.import_state, document, server_key=load_server_key(settings))
        except state.StateError as exc:
            fail(str(exc))
    emit({"imported": counts}, as_json, f"imported {sum(counts.values())} rows")


def errors_table(as_json: AsJson = False) -> None:
    """Print the table of error codes (the source of docs/error-codes.md)."""
    if as_json:
        entries = sorted(errors.CATALOG.values(), key=lambda e: (e.status, e.code))
        typer.echo(
            json.dumps(
                [{"error_code": e.code, "status": e.status, "error_msg": e.message, "when": e.when} for e in entries]
            )
        )
    else:
        typer.echo(errors.catalog_markdown(), nl=False)
