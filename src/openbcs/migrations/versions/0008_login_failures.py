"""login failures: consecutive wrong passwords per user name and the lock-out they lead to

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 16:00:00

``POST /v3/auth/tokens`` locks a user name for ``--login-lockout-minutes`` after ``--login-max-failures``
consecutive wrong passwords (``docs/auth.md``). Nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_login_failures",
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("domain_name", "user_name", name=op.f("pk_iam_login_failures")),
    )
    with op.batch_alter_table("iam_login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_login_failures_last_failure"), ["last_failure"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("iam_login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_login_failures_last_failure"))
    op.drop_table("iam_login_failures")
