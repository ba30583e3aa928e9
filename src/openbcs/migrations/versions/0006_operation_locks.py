"""operation locks: the engine holds the resources of running operations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00

Which operation holds an instance (and what it is doing: ``IsCreating``...) moves from two columns of
``blockchains`` to the engine's ``operation_locks`` table. Instances busy at upgrade time keep their holder.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operation_locks",
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_operation_locks")),
    )
    with op.batch_alter_table("operation_locks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operation_locks_operation_id"), ["operation_id"], unique=False)
    op.execute(
        "INSERT INTO operation_locks (resource, operation_id, label) "
        "SELECT id, busy_operation_id, process_status FROM blockchains WHERE busy_operation_id IS NOT NULL"
    )
    with op.batch_alter_table("blockchains", schema=None) as batch_op:
        batch_op.drop_column("busy_operation_id")
        batch_op.drop_column("process_status")


def downgrade() -> None:
    with op.batch_alter_table("blockchains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("busy_operation_id", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE blockchains SET busy_operation_id = (SELECT operation_id FROM operation_locks "
        "WHERE resource = blockchains.id), process_status = (SELECT label FROM operation_locks "
        "WHERE resource = blockchains.id)"
    )
    with op.batch_alter_table("operation_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operation_locks_operation_id"))
    op.drop_table("operation_locks")
