"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from openbcs import migrations
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)


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
