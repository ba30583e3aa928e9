"""the local runtime's owner lease: one server process supervises the nodes at a time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_leases",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(96), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runtime_leases")
