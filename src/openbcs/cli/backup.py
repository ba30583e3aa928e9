"""``openbcs backup`` and ``openbcs restore``: the whole installation (database, server key, the local runtime's node
folders) as one archive, and back into an empty installation (docs/backup.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbcs.admin.backup import BackupError, create_backup
from openbcs.admin.restore import restore_backup
from openbcs.cli.common import AsJson, DatabaseUrl, DataDir, describe, emit, fail, make_settings


def backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (tar.gz, owner-only); must not exist.")],
    without_nodes: Annotated[
        bool,
        typer.Option(
            "--without-nodes",
            help="Leave the local runtime's node folders out (they are copied only while no server runs them).",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Back up the database (a consistent snapshot while servers run), the server key and, in the local runtime,
    the nodes' folders, into one archive."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    try:
        manifest = create_backup(settings, file, without_nodes=without_nodes)
    except BackupError as exc:
        fail(str(exc))
    key, database = manifest["server_key"], manifest["database"]
    text = (
        f"backed up {describe(settings)} ({database['kind']}, schema {database['schema_revision']}) to {file}; "
        f"server key {key['fingerprint']} "
        + ("included" if key["included"] else "NOT included (it came from OPENBCS_SECRET_KEY: keep that key)")
        + f"; nodes: {manifest['runtime']['nodes']}"
    )
    emit({"file": str(file), "manifest": manifest}, as_json, text)


def restore(
    file: Annotated[Path, typer.Argument(help="An archive from 'openbcs backup'.", exists=True, dir_okay=False)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Restore a backup into an empty data directory or database, then migrate it to this version's schema.
    Refused (nothing changed) when the target is not empty, its server key is another one, or the backup's schema
    is newer than this version of OpenBCS."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    try:
        report = restore_backup(settings, file)
    except BackupError as exc:
        fail(str(exc))
    database = report["database"]
    text = (
        f"restored {file} into {describe(settings)}: schema {database['restored_revision']}"
        + (f", upgraded to {database['revision']}" if database["revision"] != database["restored_revision"] else "")
        + f"; server key {report['server_key']['fingerprint']}; nodes: {report['nodes']}"
    )
    emit({"file": str(file), **report}, as_json, text)
