"""Restoring a backup (:mod:`.backup`) into an empty installation, then migrating it to this code's schema.

Every check comes before anything is written: a refused restore changes nothing. The checks: the archive is an
OpenBCS backup; its schema revision is one this code knows (a newer one is refused, naming both revisions); its
database kind is the target's; the target database and node folder are empty; the server key that will be used
(``OPENBCS_SECRET_KEY``, else the data directory's ``server.key``, else the backup's) is the backup's, by fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from openbcs import migrations
from openbcs.admin.backup import (
    KEY_MEMBER,
    NODES,
    BackupError,
    Target,
    known_revisions,
    postgres_tool,
    read_manifest,
)
from openbcs.admin.pgtools import pg_environment
from openbcs.kernel.db import Database
from openbcs.kernel.files import sqlite_path
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings

# Relations of a PostgreSQL database that are not the system's: any of them makes the database not empty.
_USER_RELATIONS = text(
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
)


def restore_backup(settings: Settings, source: Path) -> dict[str, Any]:
    """Restore ``source`` into ``settings``' empty installation and migrate it; what was done."""
    try:
        archive = tarfile.open(source, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source}: not a readable backup archive ({exc})") from exc
    with archive:
        return Restore(Target(settings), archive, read_manifest(archive, source)).run()


class Restore:
    """One restore: the checks, then the writes, then the migration."""

    def __init__(self, target: Target, archive: tarfile.TarFile, manifest: dict[str, Any]) -> None:
        self.target = target
        self.settings = target.settings
        self.archive = archive
        self.manifest = manifest
        self.written: list[Path] = []  # removed again if a later step fails

    def run(self) -> dict[str, Any]:
        """Check everything, then restore; the report."""
        revision = self._check_revision()
        self._check_kind()
        self._check_empty()
        write_key = self._check_key()
        try:
            if self.target.kind == "sqlite":
                self._restore_sqlite()
            else:
                self._restore_postgresql()
            if write_key:
                self._restore_key()
            nodes = self._restore_nodes()
        except BaseException:
            for path in reversed(self.written):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            raise
        db = Database(self.target.url)
        try:
            migrations.upgrade(db)
            upgraded = migrations.current_revision(db)
        finally:
            db.dispose()
        return {
            "database": {"kind": self.target.kind, "restored_revision": revision, "revision": upgraded},
            "server_key": {"fingerprint": self.manifest["server_key"]["fingerprint"], "written": write_key},
            "nodes": nodes,
            "backup": {k: self.manifest.get(k) for k in ("openbcs_version", "created_at", "host")},
        }

    # --- checks -------------------------------------------------------------------------------------------------

    def _check_revision(self) -> str:
        revision = str(self.manifest["database"]["schema_revision"])
        if revision not in known_revisions():
            raise BackupError(
                f"the backup's schema revision {revision} is newer than this OpenBCS knows (its newest is "
                f"{migrations.HEAD}); restore it with OpenBCS {self.manifest.get('openbcs_version')} or newer"
            )
        return revision

    def _check_kind(self) -> None:
        kind = self.manifest["database"]["kind"]
        if kind != self.target.kind:
            raise BackupError(
                f"the backup holds a {kind} database and the target is {self.target.kind}; restore it into a "
                f"{kind} database (--database-url), or move data between kinds with 'openbcs state export/import'"
            )

    def _check_empty(self) -> None:
        if self.target.kind == "sqlite":
            path = sqlite_path(self.target.url)
            assert path is not None  # a SQLite URL of a file (the data directory's by default)
            tables = _sqlite_tables(path)
            if tables or Path(f"{path}-wal").exists():
                raise BackupError(
                    f"the target database {path} is not empty ({tables} tables); restore into an empty data "
                    "directory (or --database-url of a new file): a restore never overwrites"
                )
        else:
            relations = self._postgresql_relations()
            if relations:
                raise BackupError(
                    f"the target database {self._pg_name()} is not empty ({relations} tables, views or sequences); "
                    "restore into a newly created database: a restore never overwrites"
                )
        nodes = self.target.nodes_dir
        if nodes.is_dir() and any(nodes.iterdir()):
            raise BackupError(f"the target's node folder {nodes} is not empty; restore into an empty data directory")

    def _pg_name(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.target.url).render_as_string(hide_password=True)

    def _postgresql_relations(self) -> int:
        db = Database(self.target.url)
        try:
            with db.engine.connect() as connection:
                return int(connection.execute(_USER_RELATIONS).scalar_one())
        except SQLAlchemyError as exc:
            reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
            raise BackupError(
                f"cannot open the target database {self._pg_name()} ({reason}); create it empty first (createdb), "
                "then restore"
            ) from exc
        finally:
            db.dispose()

    def _check_key(self) -> bool:
        """Refuse a server key other than the backup's; True if the backup's key file is to be written."""
        key = self.manifest["server_key"]
        wanted = key["fingerprint"]
        if self.settings.secret_key:
            given = ServerKey(base64.urlsafe_b64decode(self.settings.secret_key.encode())).fingerprint()
            if given != wanted:
                raise BackupError(
                    f"OPENBCS_SECRET_KEY is another server key (fingerprint {given}) than the backup's (fingerprint "
                    f"{wanted}): the backup's secrets would not open; unset it or set the backup's key"
                )
            return False
        path = self.settings.secret_key_path
        if path.exists():
            present = ServerKey(base64.urlsafe_b64decode(path.read_bytes().strip())).fingerprint()
            if present != wanted:
                raise BackupError(
                    f"{path} holds another server key (fingerprint {present}) than the backup's (fingerprint "
                    f"{wanted}): the backup's secrets would not open; restore into an empty data directory"
                )
            return False
        if not key["included"]:
            raise BackupError(
                f"the backup's server key (fingerprint {wanted}) came from OPENBCS_SECRET_KEY and is not in the "
                "backup: set OPENBCS_SECRET_KEY to that key and restore again"
            )
        return True

    # --- writes -------------------------------------------------------------------------------------------------

    def _extract_to(self, name: str, destination: Path) -> None:
        """Copy member ``name`` to ``destination`` (new, 0600), checking its SHA-256 against the manifest."""
        expected = next((m for m in self.manifest["members"] if m.get("name") == name), None)
        handle = self.archive.extractfile(name) if expected is not None else None
        if expected is None or handle is None:
            raise BackupError(f"the backup is incomplete: it has no {name}")
        digest = hashlib.sha256()
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected["sha256"]:
            destination.unlink()
            raise BackupError(f"the backup's {name} is damaged (its SHA-256 is not the manifest's)")

    def _restore_sqlite(self) -> None:
        path = sqlite_path(self.target.url)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.restoring")
        partial.unlink(missing_ok=True)
        self._extract_to(self.manifest["database"]["member"], partial)
        path.unlink(missing_ok=True)  # an empty file (checked above)
        os.replace(partial, path)
        self.written.append(path)

    def _restore_postgresql(self) -> None:
        tool = postgres_tool("pg_restore")
        env, dbname = pg_environment(self.target.url)
        with tempfile.TemporaryDirectory(prefix="openbcs-restore-") as folder:
            dump = Path(folder) / "openbcs.pgdump"
            self._extract_to(self.manifest["database"]["member"], dump)
            command = [
                tool,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",  # all or nothing: a failed restore leaves the database empty
                f"--dbname={dbname}",
                str(dump),
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            raise BackupError(f"pg_restore failed: {last}")

    def _restore_key(self) -> None:
        path = self.settings.secret_key_path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._extract_to(KEY_MEMBER, path)
        self.written.append(path)

    def _restore_nodes(self) -> str:
        runtime = self.manifest.get("runtime", {})
        if runtime.get("nodes") != "included":
            return "omitted from the backup" if runtime.get("nodes") == "omitted" else "none"
        members = [m for m in self.archive.getmembers() if m.name == NODES or m.name.startswith(f"{NODES}/")]
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".openbcs-restore-", dir=data_dir))
        try:
            # The "data" filter refuses absolute paths, "..", links out of the folder and device files.
            self.archive.extractall(staging, members=members, filter="data")
            nodes = self.target.nodes_dir
            if nodes.is_dir():
                nodes.rmdir()  # empty (checked above)
            os.replace(staging / NODES, nodes)
            self.written.append(nodes)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return "restored"


def _sqlite_tables(path: Path) -> int:
    """How many tables the SQLite file ``path`` holds (0 for none or no file)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    except sqlite3.DatabaseError:
        return 1  # not a database at all: certainly not an empty target
    finally:
        connection.close()
