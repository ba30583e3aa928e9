"""Stored state read straight from the database, never through the API under test."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from openbcs.consortium.models import Invitation
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)

# Tables whose rows a refused call must leave exactly as they were.
MODEL_TABLES = (
    "blockchains",
    "blockchain_orgs",
    "blockchain_nodes",
    "channels",
    "channel_orgs",
    "channel_peers",
    "channel_config_blocks",
    "operations",
    "operation_sub_steps",
    "operation_locks",
    "consortium_invitations",
    "cert_org_pki",
    "cert_issued",
    "monitoring_events",
    "monitoring_alarms",
)


def snapshot(db: Database, tables: tuple[str, ...] = MODEL_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` by primary key: ``assert snapshot(db) == before`` proves nothing changed."""
    metadata = Base.metadata.tables
    with db.engine.connect() as conn:
        return {
            name: [
                tuple(row) for row in conn.execute(select(metadata[name]).order_by(*metadata[name].primary_key.columns))
            ]
            for name in tables
        }


def row_count(db: Database, table: str | Any, *conditions: Any) -> int:
    """How many rows of ``table`` (a table name or a model, optionally matching ``conditions``) the database holds."""
    selectable = Base.metadata.tables[table] if isinstance(table, str) else table
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(selectable).where(*conditions)).scalar_one())


def _columns(obj: Any) -> dict[str, Any]:
    return {column.key: getattr(obj, column.key) for column in type(obj).__table__.columns}


def _invitations(session: Any) -> list[dict[str, Any]]:
    return [_columns(i) for i in session.scalars(select(Invitation).order_by(Invitation.id))]


def invitations(db: Database) -> list[dict[str, Any]]:
    """Every stored invitation, oldest first, as dicts of its columns."""
    return db.run_read(_invitations)


def invitation_row(db: Database) -> dict[str, Any]:
    """The only stored invitation."""
    (only,) = invitations(db)
    return only


def config_blocks(db: Database, blockchain_id: str, channel: str = "channel") -> list[dict[str, Any]]:
    """The channel's stored configuration blocks, oldest first, as dicts of their columns."""
    metadata = Base.metadata.tables
    channels, blocks = metadata["channels"], metadata["channel_config_blocks"]
    with db.engine.connect() as conn:
        channel_id = conn.execute(
            select(channels.c.id).where(channels.c.blockchain_id == blockchain_id, channels.c.name == channel)
        ).scalar_one()
        rows = conn.execute(select(blocks).where(blocks.c.channel_id == channel_id).order_by(blocks.c.number))
        return [dict(row._mapping) for row in rows]


class Statements:
    """The SQL statements the database is sent while this is active (``with Statements(db) as sql: ...``), to show
    that a refusal happened before any database work: ``sql.touching("blockchains")``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: list[str] = []

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.sent.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: Any) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._count)

    def touching(self, *tables: str) -> list[str]:
        """The statements that name any of ``tables``."""
        return [s for s in self.sent if any(table in s for table in tables)]
