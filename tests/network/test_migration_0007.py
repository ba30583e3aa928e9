"""Migration 0007 replaces each channel's JSON hash chain with a Fabric genesis block made from the channel's state,
and loses nothing else (on both databases)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from fabric_protos.common import common_pb2, configtx_pb2
from fastapi.testclient import TestClient

from openbcs import migrations
from openbcs.app import create_app
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.config_history import verify_all
from tests.support.accounts import TestAccount
from tests.support.expected import msp_id
from tests.support.snapshots import MODEL_TABLES
from tests.support.tenants import new_tenant

# Every model table but the configuration history (and the locks, which no operation holds here).
UNCHANGED = tuple(t for t in MODEL_TABLES if t not in ("channel_config_blocks", "operation_locks"))


def _rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        found = sa.Table(table, sa.MetaData(), autoload_with=conn)
        return [tuple(r) for r in conn.execute(sa.select(found).order_by(*found.primary_key.columns))]


def _downgrade_to_0006(db: Database) -> None:
    config = migrations.alembic_config(db)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
        connection.commit()


def test_upgrading_to_0007_gives_every_channel_a_fabric_genesis_block(
    empty_database: Database, settings: Settings, server_key: Any
) -> None:
    db = empty_database
    migrations.upgrade(db)
    own = settings.model_copy(update={"database_url": db.url})
    with TestClient(create_app(own), raise_server_exceptions=False) as client:
        from openbcs.iam import service as iam

        created = db.run_write(
            iam.create_account,
            name="migrated-tenant",
            password="a-good-passw0rd",
            region=own.region,
            server_key=server_key,
        )
        tenant = new_tenant(client, lambda _name: TestAccount(created, "a-good-passw0rd"))
        bid = tenant.create_instance("bcs-migrated", peer_orgs=[("org-a", 2), ("org-b", 1)])
    _downgrade_to_0006(db)
    with db.engine.begin() as conn:  # the history as 0006 kept it: a JSON hash chain
        (channel_id,) = conn.execute(sa.text("SELECT id FROM channels")).scalars().all()
        conn.execute(
            sa.text(
                "INSERT INTO channel_config_blocks (channel_id, number, previous_hash, event, orgs, cause, time, hash) "
                "VALUES (:c, 0, :zero, 'create', '[]', 'op', 1, :h)"
            ),
            {"c": channel_id, "zero": "0" * 64, "h": "ab" * 32},
        )
    before = {table: _rows(db, table) for table in UNCHANGED}

    migrations.upgrade(db, "0007")

    assert migrations.current_revision(db) == "0007"
    assert {table: _rows(db, table) for table in UNCHANGED} == before, "only the configuration history changed"
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT number, block, config_update, signers, event FROM channel_config_blocks")
        ).all()
    ((number, block, config_update, signers, event),) = rows
    assert (number, config_update, event) == (0, None, "create")
    assert signers in ([], "[]")
    decoded = common_pb2.Block.FromString(bytes(block))
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(decoded.data.data[0]).payload)
    config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
    assert sorted(config.channel_group.groups["Application"].groups) == sorted(
        [msp_id(bid, "org-a"), msp_id(bid, "org-b")]
    )
    assert db.run_read(verify_all) == {f"{bid}/channel": []}
