"""signature requests: config updates waiting for the admins of organisations in external custody

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:20:00

``governance_signature_requests`` holds each waiting update with the signatures collected so far;
``governance_signature_signers`` the MSP ids that may sign it (whose tenants see it). docs/governance.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "governance_signature_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("step_key", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("blockchain_id", sa.String(length=36), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("channel_name", sa.String(length=24), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("signed_by", sa.Text(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("base_block", sa.Integer(), nullable=False),
        sa.Column("update", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("update_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["blockchain_id"], ["blockchains.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("governance_signature_requests", schema=None) as batch_op:
        for column in ("operation_id", "project_id", "blockchain_id", "channel_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_governance_signature_requests_{column}"), [column], unique=False)
    op.create_table(
        "governance_signature_signers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("msp_id", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["governance_signature_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("governance_signature_signers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_signature_signers_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_governance_signature_signers_msp_id"), ["msp_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("governance_signature_signers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_signature_signers_msp_id"))
        batch_op.drop_index(batch_op.f("ix_governance_signature_signers_request_id"))
    op.drop_table("governance_signature_signers")
    with op.batch_alter_table("governance_signature_requests", schema=None) as batch_op:
        for column in ("status", "channel_id", "blockchain_id", "project_id", "operation_id"):
            batch_op.drop_index(batch_op.f(f"ix_governance_signature_requests_{column}"))
    op.drop_table("governance_signature_requests")
