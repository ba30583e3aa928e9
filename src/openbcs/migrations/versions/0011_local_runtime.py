"""the local runtime: each instance's runtime, nodes' allocated ports, the supervisor's nodes and tasks

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:30:00

Instances created before this revision were modelled (the only runtime there was).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): on SQLite a copied table would cascade-delete every channel on the way.
    op.add_column("blockchains", sa.Column("runtime", sa.String(16), nullable=False, server_default="modelled"))
    op.create_table(
        "node_ports",
        sa.Column("host", sa.String(253), primary_key=True),
        sa.Column("port", sa.Integer, primary_key=True),
        sa.Column("node_id", sa.Integer, sa.ForeignKey("blockchain_nodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.UniqueConstraint("node_id", "name"),
    )
    op.create_index("ix_node_ports_node_id", "node_ports", ["node_id"])
    op.create_table(
        "runtime_nodes",
        sa.Column(
            "node_id", sa.Integer, sa.ForeignKey("blockchain_nodes.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("blockchain_id", sa.String(36), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("observed", sa.String(16), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("restarts", sa.Integer, nullable=False),
        sa.Column("updated_time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_runtime_nodes_blockchain_id", "runtime_nodes", ["blockchain_id"])
    op.create_table(
        "runtime_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operation_id", sa.String(64), nullable=False),
        sa.Column("step_key", sa.String(128), nullable=False),
        sa.Column("blockchain_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("node_id", sa.Integer, nullable=True),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("result", sa.LargeBinary, nullable=True),
        sa.Column("created_time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_runtime_tasks_operation_id", "runtime_tasks", ["operation_id"])
    op.create_index("ix_runtime_tasks_blockchain_id", "runtime_tasks", ["blockchain_id"])
    op.create_index("ix_runtime_tasks_status", "runtime_tasks", ["status"])


def downgrade() -> None:
    op.drop_table("runtime_tasks")
    op.drop_table("runtime_nodes")
    op.drop_index("ix_node_ports_node_id", table_name="node_ports")
    op.drop_table("node_ports")
    op.drop_column("blockchains", "runtime")
