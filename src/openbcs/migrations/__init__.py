"""Alembic migrations, shipped inside the package and applied at start (or by ``openbcs db upgrade``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from openbcs.kernel.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in versions/ (a test keeps it equal to Alembic's head). Knowing it lets a server starting on an
# up-to-date database skip importing Alembic at all, a quarter of a second of its start-up.
HEAD = "0014"
_HERE = Path(__file__).parent
# Any fixed 64-bit number: the PostgreSQL advisory lock that keeps two starting servers from migrating at once.
_ADVISORY_LOCK = 0x0B_C5_0B_C5


def alembic_config(db: Database) -> Config:
    """An Alembic config pointing at the packaged scripts and at ``db``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def is_current(db: Database) -> bool:
    """True if the database is at :data:`HEAD` (read without Alembic)."""
    try:
        with db.engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    except SQLAlchemyError:  # no alembic_version table yet: an empty database
        return False


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start together."""
    if revision == "head" and is_current(db):
        return
    from alembic import command

    config = alembic_config(db)
    with db.engine.connect() as connection:
        if db.is_sqlite:
            # Batch migrations rebuild a SQLite table (copy, drop, rename); with foreign keys enforced, dropping the
            # old table would first delete every row that refers to it (ON DELETE CASCADE). The pragma only takes
            # effect outside a transaction, so it goes straight to the driver's connection, before any BEGIN.
            _sqlite_foreign_keys(connection, enforced=False)
        else:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        finally:
            if db.is_sqlite:
                connection.rollback()  # ends a failed migration's transaction, so that the pragma applies again
                _sqlite_foreign_keys(connection, enforced=True)
            else:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
                connection.commit()


def _sqlite_foreign_keys(connection: Connection, *, enforced: bool) -> None:
    cursor = connection.connection.cursor()  # the DBAPI cursor: no transaction is begun for it
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    finally:
        cursor.close()


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(db: Database) -> str | None:
    """The newest revision shipped with this version of OpenBCS."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()
