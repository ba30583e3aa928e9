"""Upgrading from the previous release (docs/upgrading.md): a database made by OpenBCS 0.1.0's own code (schema
revision 0010, ``tests/fixtures/release-0.1.0``) with instances, a consortium, channels, blocks and operations in it
is brought to this code's schema by ``openbcs db upgrade`` with every row intact, its channels verify, and a server
on it signs the old accounts in and lists their instances, channels and operations. On SQLite the fixture is the
old code's database file; on PostgreSQL (OPENBCS_TEST_DATABASE_URL) a plain-SQL dump the old code's database made,
loaded with ``psql`` into a database created for the test."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openbcs import migrations
from openbcs.admin.pgtools import pg_environment, pg_tool
from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.support.accounts import JSON, token_body
from tests.support.installations import Place, cli, manifest_of, places

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0"
PREVIOUS = "0010"  # the schema revision of OpenBCS 0.1.0
# The model's tables as 0.1.0 left them: after the upgrade each holds the same rows, column for column (a migration
# that changes one of them must say so here, and in docs/upgrading.md).
KEPT = (
    "iam_accounts",
    "iam_projects",
    "iam_users",
    "iam_access_keys",
    "blockchains",
    "blockchain_orgs",
    "blockchain_nodes",
    "channels",
    "channel_orgs",
    "channel_peers",
    "channel_config_blocks",
    "consortium_invitations",
    "cert_org_pki",
    "cert_issued",
    "operations",
    "operation_sub_steps",
    "monitoring_events",
)


@pytest.fixture
def new_place(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Place]]:
    """``new_place(name)``: an empty installation of the suite's database kind (dropped afterwards)."""
    yield from places(database_url, tmp_path)


def _load_previous(place: Place) -> None:
    """The 0.1.0 database and its server key, in ``place``."""
    place.data_dir.mkdir(parents=True)
    shutil.copy(FIXTURE / "server.key", place.data_dir / "server.key")
    (place.data_dir / "server.key").chmod(0o600)
    if place.url is None:
        with gzip.open(FIXTURE / "openbcs.db.gz") as packed, (place.data_dir / "openbcs.db").open("wb") as out:
            shutil.copyfileobj(packed, out)
        return
    env, dbname = pg_environment(place.url)
    loaded = subprocess.run(
        [pg_tool("psql"), "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={dbname}"],
        input=gzip.decompress((FIXTURE / "postgresql.sql.gz").read_bytes()),
        env=env,
        capture_output=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr.decode()


def _rows(place: Place) -> dict[str, list[dict[str, Any]]]:
    """Every row of the :data:`KEPT` tables as the database has them (reflected: whatever the schema)."""
    engine = sa.create_engine(place.resolved)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine, only=KEPT)
        with engine.connect() as connection:
            return {
                name: [
                    dict(row._mapping)
                    for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


@pytest.fixture
def previous(new_place: Callable[[str], Place], monkeypatch: pytest.MonkeyPatch) -> Place:
    """An installation of OpenBCS 0.1.0 with data in it; the server key is its ``server.key``."""
    monkeypatch.delenv("OPENBCS_SECRET_KEY")
    place = new_place("release-0.1.0")
    _load_previous(place)
    return place


def test_db_upgrade_brings_the_previous_release_to_head_with_its_data(previous: Place) -> None:
    assert _revision(previous) == PREVIOUS
    before = _rows(previous)
    assert {name: len(rows) for name, rows in before.items() if name in ("blockchains", "channels")} == {
        "blockchains": 3,
        "channels": 4,
    }
    assert (len(before["channel_config_blocks"]), len(before["operations"])) == (8, 11)

    result = cli("db", "upgrade", "--json", *previous.args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["revision"] == migrations.HEAD

    after = _rows(previous)
    _assert_kept(before, after)
    # Migration 0011: every instance made before the local runtime was modelled.
    assert {row["runtime"] for row in after["blockchains"]} == {"modelled"}

    verified = cli("channel", "verify", *previous.args)
    assert verified.exit_code == 0, verified.stdout
    assert sorted(line.split("/")[-1] for line in verified.stdout.splitlines()) == [
        "audit",
        "channel",
        "ledger",
        "second",
    ]
    assert all(line.startswith("ok\t") for line in verified.stdout.splitlines())

    # A server on the upgraded database signs the 0.1.0 accounts in and shows what they had.
    settings = Settings(data_dir=previous.data_dir, database_url=previous.url, operation_step_seconds=0)
    passwords = json.loads((FIXTURE / "accounts.json").read_text())
    seen: dict[str, Any] = {}
    with TestClient(create_app(settings)) as client:
        for name, password in passwords.items():
            response = client.post("/v3/auth/tokens", content=token_body(name, password, name), headers=JSON)
            assert response.status_code == 201, response.text
            headers = {"X-Auth-Token": response.headers["X-Subject-Token"]}
            project = response.json()["token"]["project"]["id"]
            listed = client.get(f"/v2/{project}/blockchains", headers=headers)
            assert listed.status_code == 200, listed.text
            records = client.get(f"/v2/{project}/operation/record", headers=headers)
            assert records.status_code == 200, records.text
            seen[name] = {
                "instances": sorted(b["name"] for b in listed.json()["blockchains"]),
                "operations": records.json()["count"],
            }
            for instance in listed.json()["blockchains"]:
                channels = client.get(f"/v2/{project}/blockchains/{instance['id']}/channels", headers=headers)
                assert channels.status_code == 200, channels.text
                seen[name][instance["name"]] = sorted(c["name"] for c in channels.json()["channels"])
    assert seen["inviter-corp"]["instances"] == ["bcs-union"]
    assert seen["inviter-corp"]["bcs-union"] == ["channel", "second"]
    assert seen["invitee-corp"]["instances"] == ["bcs-invitee"]
    assert seen["solo-corp"]["instances"] == ["bcs-private"]
    assert seen["solo-corp"]["bcs-private"] == ["audit", "ledger"]
    assert sum(s["operations"] for s in seen.values()) == len(before["operations"])


def test_a_backup_of_the_previous_release_restores_upgraded(
    previous: Place, new_place: Callable[[str], Place], tmp_path: Path
) -> None:
    before = _rows(previous)
    archive = tmp_path / "release-0.1.0.tar.gz"
    result = cli("backup", archive, *previous.args)
    assert result.exit_code == 0, result.stderr
    assert manifest_of(archive)["database"]["schema_revision"] == PREVIOUS
    assert manifest_of(archive)["server_key"]["included"] is True
    assert _revision(previous) == PREVIOUS  # a backup never migrates what it copies

    target = new_place("restored")
    restored = cli("restore", archive, *target.args)
    assert restored.exit_code == 0, restored.stderr
    assert f": schema {PREVIOUS}, upgraded to {migrations.HEAD}; server key " in restored.stdout
    assert _revision(target) == migrations.HEAD
    _assert_kept(before, _rows(target))
    assert (target.data_dir / "server.key").read_bytes() == (FIXTURE / "server.key").read_bytes()
    verified = cli("channel", "verify", *target.args)
    assert verified.exit_code == 0, verified.stdout
    assert len(verified.stdout.splitlines()) == 4
    assert all(line.startswith("ok\t") for line in verified.stdout.splitlines())


def _assert_kept(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> None:
    """Every table holds the same rows, with the same value in every column the old schema had."""
    assert set(after) == set(before)
    for name, rows in before.items():
        columns = list(rows[0]) if rows else []
        assert [{column: row[column] for column in columns} for row in after[name]] == rows, name


def _revision(place: Place) -> str:
    engine = sa.create_engine(place.resolved)
    try:
        with engine.connect() as connection:
            return str(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_the_fixture_is_the_previous_release() -> None:
    """The PostgreSQL dump is of schema 0010 too, and both stay small."""
    dump = gzip.decompress((FIXTURE / "postgresql.sql.gz").read_bytes()).decode()
    assert f"COPY public.alembic_version (version_num) FROM stdin;\n{PREVIOUS}\n" in dump
    assert all(p.stat().st_size < 200_000 for p in FIXTURE.iterdir())
