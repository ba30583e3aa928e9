"""Alembic environment: runs on the connection OpenBCS hands over (never opens its own engine)."""

from __future__ import annotations

from alembic import context

import openbcs.models  # noqa: F401  (registers every table on Base.metadata)
from openbcs.kernel.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - OpenBCS always passes its connection
    raise RuntimeError("run migrations through openbcs.migrations.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
