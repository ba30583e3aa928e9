"""client tokens: answers of mutating calls made with an X-Client-Token (safe retries)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:00:00

One row per token a project used in the last 24 hours: the keyed digest of its request, and the answer to replay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("media_type", sa.String(length=128), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_tokens")),
        sa.UniqueConstraint("project_id", "token", name=op.f("uq_client_tokens_project_id")),
    )
    op.create_index("ix_client_tokens_project_created", "client_tokens", ["project_id", "created_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_client_tokens_project_created", table_name="client_tokens")
    op.drop_table("client_tokens")
