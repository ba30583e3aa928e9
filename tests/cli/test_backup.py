"""``openbcs backup`` and ``openbcs restore`` (docs/backup.md) on the suite's database (SQLite, or PostgreSQL with
OPENBCS_TEST_DATABASE_URL): a backup taken while a live server creates instances restores into an empty target with
every instance, channel, block and operation of its moment and channels that verify; a quiet backup restores row
for row; the refusals answer one line, exit 1 and change nothing."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import secrets
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from openbcs import migrations
from openbcs.admin import backup as backups
from openbcs.admin.pgtools import pg_environment
from openbcs.cli.common import describe
from openbcs.instances.quotas import set_instance_quota
from openbcs.kernel.db import Base, Database
from openbcs.kernel.keys import ServerKey, load_server_key
from openbcs.kernel.settings import Settings
from openbcs.runtime import lease
from tests.support.accounts import TestAccount
from tests.support.bodies import create_body
from tests.support.installations import Place, cli, manifest_of, places, refused
from tests.support.servers import LiveServer, sdk_signed_headers
from tests.support.tenants import Tenant, new_tenant


@pytest.fixture
def new_place(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Place]]:
    """``new_place(name)``: an empty installation of the suite's database kind (dropped afterwards)."""
    yield from places(database_url, tmp_path)


def members_of(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getnames()


# --- under load ---------------------------------------------------------------------------------------------------


class Load:
    """A thread creating instances (each an operation, organisations, channels, a genesis block) until stopped."""

    def __init__(self, tenant: Tenant, url: str) -> None:
        self.tenant = dataclasses.replace(tenant, http=httpx.Client(base_url=url, timeout=30))
        self.created: list[tuple[str, str]] = []  # (instance id, operation id), in the order answered
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        with self.tenant.http:
            while not self.stop.is_set():
                number += 1
                body = create_body(f"bcs-load-{number}", channels=[("channel", ["organization"])])
                response = self.tenant.call("POST", "/blockchains", body)
                if response.status_code == 200:
                    self.created.append((response.json()["blockchain_id"], response.json()["operation_id"]))
                else:
                    self.failures.append(response.text)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.created) < count:
            assert not self.failures, self.failures
            assert time.monotonic() < deadline, f"the load created {len(self.created)} instances, not {count}"
            time.sleep(0.01)


def test_backup_under_load_then_restore_everything(
    settings: Settings,
    database_url: str,
    db: Database,
    make_account: Callable[..., TestAccount],
    new_place: Callable[[str], Place],
    server_key: ServerKey,
    tmp_path: Path,
) -> None:
    source = Place(settings.data_dir, database_url)
    quiet = tmp_path / "quiet.tar.gz"
    with LiveServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        tenant = new_tenant(http, make_account)
        db.run_write(set_instance_quota, domain_id=tenant.domain_id, instances=100)
        load = Load(tenant, server.url)
        load.thread.start()
        try:
            load.wait_for(3)
            # A backup takes tens of milliseconds: take them until one ran while the server answered a creation.
            for attempt in range(20):
                busy = tmp_path / f"busy-{attempt}.tar.gz"
                answered_before = list(load.created)
                result = cli("backup", busy, *source.args)
                answered_during = len(load.created) - len(answered_before)
                assert result.exit_code == 0, result.stderr
                if answered_during:
                    break
            load.wait_for(len(load.created) + 3)  # the source goes on past the backup's moment
        finally:
            load.stop.set()
            load.thread.join(timeout=60)
        for _, operation_id in load.created:
            tenant.wait(operation_id)
        quiet_result = cli("backup", quiet, *source.args)
    kind = "sqlite" if "sqlite" in database_url else "postgresql"
    assert answered_during, "no creation was answered while any of 20 backups ran"
    assert result.stdout == (
        f"backed up {_described(source)} ({kind}, schema {migrations.HEAD}) to {busy}; server key "
        f"{server_key.fingerprint()} NOT included (it came from OPENBCS_SECRET_KEY: keep that key); nodes: none\n"
    )
    assert quiet_result.exit_code == 0, quiet_result.stderr
    assert stat.S_IMODE(busy.stat().st_mode) == 0o600
    manifest = manifest_of(busy)
    assert manifest["database"] == {
        "kind": kind,
        "schema_revision": migrations.HEAD,
        "member": backups.SQLITE_MEMBER if kind == "sqlite" else backups.POSTGRES_MEMBER,
    }
    assert manifest["server_key"] == {
        "fingerprint": server_key.fingerprint(),
        "included": False,
        "source": "OPENBCS_SECRET_KEY",
    }
    assert manifest["runtime"] == {"local_instances": 0, "nodes": "none"}
    assert members_of(busy) == [backups.MANIFEST, manifest["database"]["member"]]
    assert _key_absent(busy)
    final = source.rows()
    final_instances = {row[0] for row in final["blockchains"]}
    assert {i for i, _ in load.created} == final_instances

    # The busy backup: one moment of the load, everything answered before it began, nothing the source lacks.
    busy_place = new_place("busy")
    restored = cli("restore", busy, *busy_place.args)
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout == (
        f"restored {busy} into {_described(busy_place)}: schema {migrations.HEAD}; server key "
        f"{server_key.fingerprint()}; nodes: none\n"
    )
    rows = busy_place.rows()
    instances = {row[0] for row in rows["blockchains"]}
    assert {i for i, _ in answered_before} <= instances < final_instances, (len(instances), answered_during)
    operations = {row[0] for row in rows["operations"]}
    assert {o for _, o in answered_before} <= operations < {row[0] for row in final["operations"]}
    for table in ("blockchains", "channels", "blockchain_orgs", "blockchain_nodes", "operation_sub_steps"):
        assert _keys(table, rows) <= _keys(table, final), table  # rows may have changed since (a status), not gone
    assert rows["channels"]
    assert rows["channel_config_blocks"]
    assert all(block in final["channel_config_blocks"] for block in rows["channel_config_blocks"])  # never change
    _channels_verify(busy_place, expected=len(rows["channels"]))

    # The quiet backup: row for row, table by table.
    quiet_place = new_place("quiet")
    restored = cli("restore", quiet, *quiet_place.args)
    assert restored.exit_code == 0, restored.stderr
    assert quiet_place.rows() == final
    _channels_verify(quiet_place, expected=len(final["channels"]))


def _key_absent(archive: Path) -> bool:
    """Neither the server key nor its base64 text is anywhere in the archive (the environment's key stays out)."""
    with tarfile.open(archive, "r:gz") as raw:
        blob = b"".join(raw.extractfile(m).read() for m in raw.getmembers() if m.isfile())  # type: ignore[union-attr]
    key = os.environ["OPENBCS_SECRET_KEY"]
    return key.encode() not in blob and base64.urlsafe_b64decode(key) not in blob


def _keys(table: str, rows: dict[str, list[tuple[Any, ...]]]) -> set[tuple[Any, ...]]:
    """The primary keys of ``table``'s rows in a snapshot."""
    columns = list(Base.metadata.tables[table].columns)
    positions = [columns.index(c) for c in Base.metadata.tables[table].primary_key.columns]
    return {tuple(row[p] for p in positions) for row in rows[table]}


def _described(place: Place) -> str:
    return describe(Settings(data_dir=place.data_dir, database_url=place.url))


def _channels_verify(place: Place, *, expected: int) -> None:
    verified = cli("channel", "verify", *place.args)
    assert verified.exit_code == 0, verified.stdout
    lines = verified.stdout.splitlines()
    assert len(lines) == expected, lines
    assert all(line.startswith("ok\t") for line in lines), lines


# --- the server key in a file -------------------------------------------------------------------------------------


def test_a_key_file_is_backed_up_and_restored_and_opens_the_secrets(
    database_url: str,
    db: Database,
    new_place: Callable[[str], Place],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENBCS_SECRET_KEY")
    source = Place(tmp_path / "source", database_url)
    key = load_server_key(Settings(data_dir=source.data_dir))  # a new server.key, as a server makes it
    from openbcs.iam import service as iam

    account = db.run_write(
        lambda s: iam.create_account(s, name="keyed", password="Keyed-pw-2026", region="cn-north-4", server_key=key)
    )
    archive = tmp_path / "keyed.tar.gz"
    result = cli("backup", archive, *source.args)
    assert result.exit_code == 0, result.stderr
    assert f"server key {key.fingerprint()} included;" in result.stdout
    assert members_of(archive) == [backups.MANIFEST, manifest_of(archive)["database"]["member"], backups.KEY_MEMBER]
    assert manifest_of(archive)["server_key"] == {"fingerprint": key.fingerprint(), "included": True, "source": "file"}

    target = new_place("keyed")
    restored = cli("restore", archive, *target.args)
    assert restored.exit_code == 0, restored.stderr
    restored_key = target.data_dir / "server.key"
    assert restored_key.read_bytes() == (source.data_dir / "server.key").read_bytes()
    assert stat.S_IMODE(restored_key.stat().st_mode) == 0o600
    if target.url is None:
        assert stat.S_IMODE((target.data_dir / "openbcs.db").stat().st_mode) == 0o600
    # The restored key opens the restored sealed SK: a request signed with the account's AK/SK is answered.
    settings = Settings(data_dir=target.data_dir, database_url=target.url, operation_step_seconds=0)
    with LiveServer(settings) as server:
        url = f"{server.url}/v2/{account.project_id}/blockchains"
        headers = sdk_signed_headers(
            method="GET", url=url, ak=account.access_key, sk=account.secret_key, project_id=account.project_id
        )
        response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"blockchains": [], "count": 0}

    # Into a data directory whose server.key is another one: refused, naming both fingerprints; nothing written.
    other = new_place("other-key")
    other_key = load_server_key(Settings(data_dir=other.data_dir))
    line = refused(cli("restore", archive, *other.args))
    assert line == (
        f"error: {other.data_dir / 'server.key'} holds another server key (fingerprint {other_key.fingerprint()}) "
        f"than the backup's (fingerprint {key.fingerprint()}): the backup's secrets would not open; restore into an "
        "empty data directory"
    )
    assert sorted(p.name for p in other.data_dir.iterdir()) == ["server.key"]
    assert other.relations() == 0


# --- refusals -----------------------------------------------------------------------------------------------------


@pytest.fixture
def small_backup(database_url: str, db: Database, make_account: Callable[..., TestAccount], tmp_path: Path) -> Path:
    """A backup of the suite's database holding one account (the server key from the environment)."""
    make_account("backed-up")
    archive = tmp_path / "small.tar.gz"
    result = cli("backup", archive, *Place(tmp_path / "source", database_url).args)
    assert result.exit_code == 0, result.stderr
    return archive


def test_restore_refuses_a_target_that_is_not_empty(small_backup: Path, database_url: str, tmp_path: Path) -> None:
    source = Place(tmp_path / "source", database_url)
    before = source.rows()
    line = refused(cli("restore", small_backup, *source.args))
    assert line.startswith("error: the target database "), line
    assert "is not empty (" in line
    assert line.endswith("a restore never overwrites")
    assert source.rows() == before


def test_restore_refuses_another_environment_key(
    small_backup: Path, new_place: Callable[[str], Place], server_key: ServerKey
) -> None:
    target = new_place("env-key")
    other = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    other_fingerprint = ServerKey(base64.urlsafe_b64decode(other)).fingerprint()
    line = refused(cli("restore", small_backup, *target.args, env={"OPENBCS_SECRET_KEY": other}))
    assert line == (
        f"error: OPENBCS_SECRET_KEY is another server key (fingerprint {other_fingerprint}) than the backup's "
        f"(fingerprint {server_key.fingerprint()}): the backup's secrets would not open; unset it or set the "
        "backup's key"
    )
    assert not target.data_dir.exists()
    assert target.relations() == 0
    # Without any key: the backup's came from the environment and is not in it.
    line = refused(cli("restore", small_backup, *target.args, env={"OPENBCS_SECRET_KEY": None}))
    assert line == (
        f"error: the backup's server key (fingerprint {server_key.fingerprint()}) came from OPENBCS_SECRET_KEY and "
        "is not in the backup: set OPENBCS_SECRET_KEY to that key and restore again"
    )
    assert not target.data_dir.exists()
    assert target.relations() == 0


def rewritten(archive: Path, out: Path, *, manifest: Callable[[dict[str, Any]], None] | None = None,
              damage: str | None = None) -> Path:  # fmt: skip
    """A copy of ``archive`` with its manifest changed by ``manifest`` or member ``damage``'s last byte flipped."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(out, "w:gz") as copy:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == backups.MANIFEST and manifest is not None:
                document = json.loads(data)
                manifest(document)
                data = json.dumps(document).encode()
            if member.name == damage:
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    return out


def test_restore_refuses_a_newer_schema(small_backup: Path, new_place: Callable[[str], Place], tmp_path: Path) -> None:
    def newer(manifest: dict[str, Any]) -> None:
        manifest["database"]["schema_revision"] = "9001"
        manifest["openbcs_version"] = "9.0.0"

    archive = rewritten(small_backup, tmp_path / "newer.tar.gz", manifest=newer)
    target = new_place("newer")
    line = refused(cli("restore", archive, *target.args))
    assert line == (
        f"error: the backup's schema revision 9001 is newer than this OpenBCS knows (its newest is {migrations.HEAD}); "
        "restore it with OpenBCS 9.0.0 or newer"
    )
    assert not target.data_dir.exists()
    assert target.relations() == 0


def test_restore_refuses_a_damaged_or_foreign_archive(
    small_backup: Path, new_place: Callable[[str], Place], tmp_path: Path
) -> None:
    member = manifest_of(small_backup)["database"]["member"]
    target = new_place("damaged")
    damaged = rewritten(small_backup, tmp_path / "damaged.tar.gz", damage=member)
    assert refused(cli("restore", damaged, *target.args)) == (
        f"error: the backup's {member} is damaged (its SHA-256 is not the manifest's)"
    )
    assert target.relations() == 0
    assert list(target.data_dir.glob("*")) == []  # the partial copy went again

    def other_kind(manifest: dict[str, Any]) -> None:
        manifest["database"]["kind"] = "postgresql" if manifest["database"]["kind"] == "sqlite" else "sqlite"

    foreign = rewritten(small_backup, tmp_path / "kind.tar.gz", manifest=other_kind)
    line = refused(cli("restore", foreign, *target.args))
    assert line.startswith("error: the backup holds a ")
    assert "'openbcs state export/import'" in line

    def truncated(manifest: dict[str, Any]) -> None:
        del manifest["server_key"]

    broken = rewritten(small_backup, tmp_path / "broken.tar.gz", manifest=truncated)
    assert refused(cli("restore", broken, *target.args)) == (
        f"error: {broken}: its manifest.json lacks the database, the server key or the members"
    )
    assert target.relations() == 0


def test_backup_refuses_to_overwrite_and_restore_refuses_what_is_no_backup(
    small_backup: Path, database_url: str, new_place: Callable[[str], Place], tmp_path: Path
) -> None:
    before = small_backup.read_bytes()
    line = refused(cli("backup", small_backup, *Place(tmp_path / "source", database_url).args))
    assert line == f"error: {small_backup} exists already; name a new file (a backup never overwrites one)"
    assert small_backup.read_bytes() == before
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tar")
    target = new_place("bogus")
    assert refused(cli("restore", bogus, *target.args)).startswith(f"error: {bogus}: not a readable backup archive")
    assert not target.data_dir.exists()
    assert target.relations() == 0


# --- the local runtime's node folders -------------------------------------------------------------------------------


def test_node_folders_are_copied_only_while_no_server_runs_them(
    small_backup: Path, database_url: str, db: Database, new_place: Callable[[str], Place], tmp_path: Path
) -> None:
    source = Place(tmp_path / "source", database_url)
    ledger = source.data_dir / "nodes" / "instance-1" / "peer-0" / "ledger" / "blocks.bin"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(secrets.token_bytes(4096))
    node_key = ledger.parents[1] / "msp" / "keystore" / "key.pem"
    node_key.parent.mkdir(parents=True)
    node_key.write_bytes(b"private")
    node_key.chmod(0o600)
    # A server of another host runs the nodes: refused (their ledgers change), unless --without-nodes.
    assert db.run_write(lease.hold, "elsewhere:4242:cafe")
    archive = tmp_path / "nodes.tar.gz"
    line = refused(cli("backup", archive, *source.args))
    assert line.startswith("error: a server runs the local runtime's nodes (runtime lease held by elsewhere:4242:cafe)")
    assert line.endswith("or pass --without-nodes to back up the database and the server key only")
    assert not archive.exists()
    result = cli("backup", archive, "--without-nodes", *source.args)
    assert result.exit_code == 0, result.stderr
    assert manifest_of(archive)["runtime"] == {"local_instances": 0, "nodes": "omitted"}
    assert not [m for m in members_of(archive) if m.startswith("nodes")]
    archive.unlink()

    # The server stopped (the lease given up): the folders are copied, under the backup's own lease.
    db.run_write(lease.release, "elsewhere:4242:cafe")
    result = cli("backup", archive, *source.args)
    assert result.exit_code == 0, result.stderr
    assert manifest_of(archive)["runtime"] == {"local_instances": 0, "nodes": "included"}
    assert {"name": "nodes/", "files": 2, "size": 4096 + 7} in manifest_of(archive)["members"]
    with db.engine.connect() as connection:  # the backup gave its lease up again
        assert connection.execute(sa.text("SELECT expires_at FROM runtime_leases")).scalar_one() == 0
    target = new_place("nodes")
    restored = cli("restore", archive, *target.args)
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout.endswith("nodes: restored\n")
    copy = target.data_dir / ledger.relative_to(source.data_dir)
    assert copy.read_bytes() == ledger.read_bytes()
    copied_key = target.data_dir / node_key.relative_to(source.data_dir)
    assert stat.S_IMODE(copied_key.stat().st_mode) == 0o600

    # A target whose node folder is not empty is refused.
    second = new_place("nodes-again")
    (second.data_dir / "nodes" / "x").mkdir(parents=True)
    line = refused(cli("restore", archive, *second.args))
    nodes = second.data_dir / "nodes"
    assert line == f"error: the target's node folder {nodes} is not empty; restore into an empty data directory"
    assert second.relations() == 0


def test_postgresql_tools_get_the_password_in_the_environment_not_argv() -> None:
    env, dbname = pg_environment("postgresql+psycopg://alice:s3cr%40t@db.example:6543/openbcs?sslmode=require")
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGPASSWORD"]) == ("db.example", "6543", "alice", "s3cr@t")
    assert env["PGSSLMODE"] == "require"
    assert dbname == "openbcs"
