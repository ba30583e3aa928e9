"""Backups of a whole OpenBCS installation, and restoring one (``openbcs backup`` / ``openbcs restore``).

A backup is one ``tar.gz`` file, owner-only (0600), holding:

- ``manifest.json``: OpenBCS version, database kind, schema revision, the server key's fingerprint (never the key),
  when it was made, and each member with its size and SHA-256;
- ``database/openbcs.db`` (SQLite, copied with SQLite's online backup API: one consistent snapshot while servers go
  on writing) or ``database/openbcs.pgdump`` (PostgreSQL, ``pg_dump`` custom format: one snapshot as well);
- ``server.key``, unless the key came from ``OPENBCS_SECRET_KEY`` (the manifest says so; keep that key yourself);
- ``nodes/``: the local runtime's node folders (ledgers, keys, logs), copied only while no server runs the nodes.

A restore goes into an empty target only, refuses a schema newer than this code and another server key, and then
migrates the restored database to this code's schema (docs/backup.md).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from openbcs import __version__, migrations
from openbcs.admin.pgtools import ToolMissing, pg_environment, pg_tool
from openbcs.kernel.db import Database
from openbcs.kernel.files import sqlite_path
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings
from openbcs.runtime import lease

FORMAT = "openbcs-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/openbcs.db"
POSTGRES_MEMBER = "database/openbcs.pgdump"
KEY_MEMBER = "server.key"
NODES = "nodes"
# The backup holds the runtime lease while it copies the nodes' folders, so that no server starts them meanwhile;
# a backup killed half-way leaves a lease of a dead process of this host, which a server takes at once.
_LEASE_SECONDS = 24 * 3600.0


class BackupError(Exception):
    """A backup or restore that cannot be done; the message (one line) says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where a backup is read from or restored into."""

    settings: Settings

    @property
    def url(self) -> str:
        return self.settings.resolved_database_url

    @property
    def kind(self) -> str:
        return "sqlite" if make_url(self.url).get_backend_name() == "sqlite" else "postgresql"

    @property
    def nodes_dir(self) -> Path:
        return self.settings.data_dir / NODES


def _fingerprint_of_file(path: Path) -> str:
    return ServerKey(base64.urlsafe_b64decode(path.read_bytes().strip())).fingerprint()


def _env_key(settings: Settings) -> ServerKey | None:
    if not settings.secret_key:
        return None
    return ServerKey(base64.urlsafe_b64decode(settings.secret_key.encode()))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known_revisions() -> list[str]:
    """Every schema revision this code's migrations know, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(migrations.__file__).parent))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _has_nodes(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


# --- backup -----------------------------------------------------------------------------------------------------


def create_backup(settings: Settings, output: Path, *, without_nodes: bool = False) -> dict[str, Any]:
    """Write the backup of ``settings``' installation to ``output`` (which must not exist); the manifest."""
    target = Target(settings)
    if output.exists():
        raise BackupError(f"{output} exists already; name a new file (a backup never overwrites one)")
    key_source, fingerprint = _key_of(settings)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".openbcs-backup-", dir=output.parent))  # 0700, same file system
    try:
        if target.kind == "sqlite":
            member, revision = SQLITE_MEMBER, _copy_sqlite(target, staging / "openbcs.db")
        else:
            member, revision = POSTGRES_MEMBER, _dump_postgresql(target, staging / "openbcs.pgdump")
        local = _local_instances(target)
        copy_nodes = (local > 0 or _has_nodes(target.nodes_dir)) and not without_nodes
        with _runtime_lease(target) if copy_nodes else _nothing():
            members = [_member(member, staging / Path(member).name)]
            if key_source == "file":
                members.append(_member(KEY_MEMBER, settings.secret_key_path))
            nodes_summary = _nodes_summary(target.nodes_dir) if copy_nodes else None
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "openbcs_version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "host": socket.gethostname(),
                "database": {"kind": target.kind, "schema_revision": revision, "member": member},
                "code_schema_head": migrations.HEAD,
                "server_key": {"fingerprint": fingerprint, "included": key_source == "file", "source": key_source},
                "runtime": {
                    "local_instances": local,
                    "nodes": "included" if copy_nodes else ("omitted" if local or without_nodes else "none"),
                },
                "members": members + ([nodes_summary] if nodes_summary else []),
            }
            _write_archive(output, manifest, staging, settings, copy_nodes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _key_of(settings: Settings) -> tuple[str, str]:
    """Where the server key comes from (``file`` or ``OPENBCS_SECRET_KEY``) and its fingerprint."""
    env_key = _env_key(settings)
    if env_key is not None:
        return "OPENBCS_SECRET_KEY", env_key.fingerprint()
    if not settings.secret_key_path.exists():
        raise BackupError(
            f"no server key at {settings.secret_key_path} and OPENBCS_SECRET_KEY is not set: the database's secrets "
            "are sealed with that key; pass the --data-dir of your server (or set OPENBCS_SECRET_KEY)"
        )
    return "file", _fingerprint_of_file(settings.secret_key_path)


def _copy_sqlite(target: Target, copy: Path) -> str:
    """Copy the SQLite database with the online backup API; the copy's schema revision."""
    path = sqlite_path(target.url)
    if path is None or not path.exists():
        raise BackupError(f"no OpenBCS database at {path}; pass the --data-dir or --database-url of your server")
    source = sqlite3.connect(path, timeout=30)
    try:
        destination = sqlite3.connect(copy)
        try:
            # pages=-1: the whole database in one step, under one read transaction: a consistent snapshot that
            # writers (in WAL mode) do not wait for. A step-wise copy would restart at every write of a busy server.
            source.backup(destination, pages=-1)
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            revision = _sqlite_revision(destination)
        finally:
            destination.close()
    finally:
        source.close()
    if revision is None:
        raise BackupError(f"the database {path} has no OpenBCS schema; nothing to back up")
    return revision


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def postgres_tool(name: str) -> str:
    """PostgreSQL's ``name`` tool, or a :class:`BackupError` saying where it was looked for."""
    try:
        return pg_tool(name)
    except ToolMissing as exc:
        raise BackupError(str(exc)) from exc


def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        return migrations.current_revision(db)
    finally:
        db.dispose()


def _dump_postgresql(target: Target, dump: Path) -> str:
    """``pg_dump`` the database (custom format, one snapshot); its schema revision."""
    before = _revision(target.url)
    if before is None:
        raise BackupError("the database has no OpenBCS schema; nothing to back up")
    tool = postgres_tool("pg_dump")
    env, dbname = pg_environment(target.url)
    command = [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", f"--dbname={dbname}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
    if _revision(target.url) != before:  # a server migrated the database meanwhile: the dump is of either schema
        raise BackupError("the database's schema changed while it was dumped (a server upgraded it); back up again")
    return before


def _local_instances(target: Target) -> int:
    """How many of the database's instances belong to the local runtime (their nodes have folders and ledgers)."""
    db = Database(target.url)
    try:
        with db.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("blockchains")}
            if "runtime" not in columns:  # before migration 0011 there was no local runtime
                return 0
            query = text("SELECT count(*) FROM blockchains WHERE runtime = 'local'")
            return int(connection.execute(query).scalar_one())
    finally:
        db.dispose()


@contextmanager
def _runtime_lease(target: Target) -> Iterator[None]:
    """Hold the runtime lease while the nodes' folders are copied: refused while a server runs the nodes."""
    db = Database(target.url)
    owner = lease.owner_id()
    try:
        if inspect(db.engine).has_table("runtime_leases"):
            if not db.run_write(lease.hold, owner, ttl_seconds=_LEASE_SECONDS):
                holder = db.run_read(lambda s: s.execute(text("SELECT owner FROM runtime_leases")).scalar())
                raise BackupError(
                    f"a server runs the local runtime's nodes (runtime lease held by {holder}); their ledgers cannot "
                    "be copied while they write: stop every server of this data directory and back up again, or "
                    "pass --without-nodes to back up the database and the server key only"
                )
            try:
                yield
            finally:
                db.run_write(lease.release, owner)
        else:
            yield
    finally:
        db.dispose()


def _member(name: str, path: Path) -> dict[str, Any]:
    return {"name": name, "size": path.stat().st_size, "sha256": _sha256(path)}


def _nodes_summary(nodes_dir: Path) -> dict[str, Any] | None:
    if not nodes_dir.is_dir():
        return None
    files = [p for p in nodes_dir.rglob("*") if p.is_file()]
    return {"name": f"{NODES}/", "files": len(files), "size": sum(p.stat().st_size for p in files)}


def _owner_only(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o600  # the database and the key, whatever the staging copy's mode was
    return info


def _write_archive(output: Path, manifest: dict[str, Any], staging: Path, settings: Settings, nodes: bool) -> None:
    """The archive, written to a private temporary file and renamed into place (never a half-written backup)."""
    partial = output.with_name(f".{output.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            document = json.dumps(manifest, indent=2).encode() + b"\n"
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(document), 0o600, int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(document))
            member = manifest["database"]["member"]
            archive.add(staging / Path(member).name, arcname=member, filter=_owner_only)
            if manifest["server_key"]["included"]:
                archive.add(settings.secret_key_path, arcname=KEY_MEMBER, filter=_owner_only)
            if nodes and settings.data_dir.joinpath(NODES).is_dir():
                archive.add(settings.data_dir / NODES, arcname=NODES)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# --- restore ----------------------------------------------------------------------------------------------------


def read_manifest(archive: tarfile.TarFile, source: Path) -> dict[str, Any]:
    """The archive's manifest, checked to be an OpenBCS backup of a known format."""
    try:
        handle = archive.extractfile(MANIFEST)
        manifest = json.loads(handle.read()) if handle is not None else None
    except (KeyError, ValueError) as exc:
        raise BackupError(f"{source}: not an OpenBCS backup (no readable {MANIFEST})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{source}: not an OpenBCS backup of format {FORMAT!r} version {VERSION}")
    database, key = manifest.get("database"), manifest.get("server_key")
    if not (
        isinstance(database, dict)
        and all(isinstance(database.get(k), str) for k in ("kind", "schema_revision", "member"))
        and isinstance(key, dict)
        and isinstance(key.get("fingerprint"), str)
        and isinstance(key.get("included"), bool)
        and isinstance(manifest.get("members"), list)
    ):
        raise BackupError(f"{source}: its {MANIFEST} lacks the database, the server key or the members")
    return manifest
