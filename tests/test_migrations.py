"""The migrations build exactly the schema the models describe, and carry stored data over, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from openbcs import migrations
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)

BUSY_ID, IDLE_ID = "7d1c0f6e-5a1e-4b0c-9d2e-00000000b5e1", "7d1c0f6e-5a1e-4b0c-9d2e-000000001d1e"
CREATION = "BCSSVC01-01-1700000000000000001"
BUSY_COLUMNS = {"busy_operation_id", "process_status"}


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_newest_revision(db: Database) -> None:
    assert migrations.current_revision(db) == migrations.head_revision(db)


def test_the_known_head_is_alembics_head(db: Database) -> None:
    """``migrations.HEAD`` lets start-up skip Alembic; it must name the newest revision shipped."""
    assert migrations.head_revision(db) == migrations.HEAD
    assert migrations.is_current(db)


def _value(table: sa.Table, column: sa.Column[Any], rows: dict[str, dict[str, Any]]) -> Any:
    """A value for ``column`` in ``table``'s one row: the parent row's key for a foreign key, else one of its type."""
    for foreign_key in column.foreign_keys:
        return rows[foreign_key.column.table.name][foreign_key.column.name]
    if isinstance(column.type, sa.Boolean):
        return True
    if isinstance(column.type, sa.Integer):
        return 7
    if isinstance(column.type, sa.JSON):
        return {"kept": [table.name, column.name]}
    length = getattr(column.type, "length", None) or 64
    return f"{table.name}.{column.name}"[:length]


def _fill_every_table(conn: sa.Connection, tables: list[sa.Table]) -> dict[str, list[dict[str, Any]]]:
    """One row in each table (two instances: a busy one whose creation is running, an idle one); what was stored."""
    rows: dict[str, dict[str, Any]] = {}
    for table in tables:
        row = {column.name: _value(table, column, rows) for column in table.columns}
        if table.name == "operations":
            row.update(id=CREATION, kind="instance.create", status="processing", blockchain_id=BUSY_ID)
        if table.name == "blockchains":
            row.update(id=BUSY_ID, busy_operation_id=CREATION, process_status="IsCreating", status="Normal")
        rows[table.name] = row
        conn.execute(sa.insert(table).values(**row))
    idle = {**rows["blockchains"], "id": IDLE_ID, "name": "idle", "busy_operation_id": None, "process_status": None}
    conn.execute(sa.insert(_by_name(tables)["blockchains"]).values(**idle))
    return {table.name: _stored_rows(conn, table) for table in tables}


def _by_name(tables: list[sa.Table]) -> dict[str, sa.Table]:
    return {table.name: table for table in tables}


def _stored_rows(conn: sa.Connection, table: sa.Table) -> list[dict[str, Any]]:
    query = sa.select(table).order_by(*table.primary_key.columns)
    return [dict(row._mapping) for row in conn.execute(query)]


def _schema(db: Database) -> list[sa.Table]:
    """The tables the database has now, parents before children (alembic's own table left out)."""
    metadata = sa.MetaData()
    with db.engine.connect() as conn:
        metadata.reflect(conn)
    return [table for table in metadata.sorted_tables if table.name != "alembic_version"]


def test_the_upgrade_to_0006_moves_a_busy_instance_into_the_operation_locks_and_loses_nothing(
    empty_database: Database,
) -> None:
    db = empty_database
    assert ScriptDirectory.from_config(migrations.alembic_config(db)).get_revision("0006").down_revision == "0005"
    migrations.upgrade(db, "0005")
    assert migrations.current_revision(db) == "0005"
    old_tables = _schema(db)
    assert "operation_locks" not in _by_name(old_tables)
    assert set(_by_name(old_tables)["blockchains"].columns.keys()) >= BUSY_COLUMNS
    with db.engine.begin() as conn:
        before = _fill_every_table(conn, old_tables)
    assert [(r["id"], r["busy_operation_id"], r["process_status"]) for r in before["blockchains"]] == [
        (IDLE_ID, None, None),
        (BUSY_ID, CREATION, "IsCreating"),
    ]

    migrations.upgrade(db, "0006")

    assert migrations.current_revision(db) == "0006"
    new_tables = _by_name(_schema(db))
    assert set(new_tables) == set(before) | {"operation_locks"}
    assert not BUSY_COLUMNS & set(new_tables["blockchains"].columns.keys())
    with db.engine.connect() as conn:
        after = {name: _stored_rows(conn, table) for name, table in new_tables.items()}
    # The running creation holds the busy instance under the same label; the idle instance is held by nobody.
    assert after.pop("operation_locks") == [{"resource": BUSY_ID, "operation_id": CREATION, "label": "IsCreating"}]
    before["blockchains"] = [{k: v for k, v in row.items() if k not in BUSY_COLUMNS} for row in before["blockchains"]]
    assert after == before
    if db.is_sqlite:  # the upgrade rebuilt tables with foreign keys off; they are enforced again afterwards
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
