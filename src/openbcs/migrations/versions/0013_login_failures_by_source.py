"""login failures by source address: lock-outs per (user name, source) with exponential backoff

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00

``iam_login_failures`` is keyed by the client's address too, counts the checks running now (``in_flight``) and
the locks in a row (``lockouts``), so that a burst of concurrent wrong passwords cannot check more than the limit
and nobody else's wrong passwords lock the owner out (``docs/auth.md``). The rows only hold short-lived counts, so
the table is made anew: failures counted before the upgrade are forgotten (as ``openbcs user unlock`` would).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _drop_old() -> None:
    with op.batch_alter_table("iam_login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_login_failures_last_failure"))
    op.drop_table("iam_login_failures")


def upgrade() -> None:
    _drop_old()
    op.create_table(
        "iam_login_failures",
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("last_attempt", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("domain_name", "user_name", "source", name=op.f("pk_iam_login_failures")),
    )
    with op.batch_alter_table("iam_login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_login_failures_last_attempt"), ["last_attempt"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("iam_login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_login_failures_last_attempt"))
    op.drop_table("iam_login_failures")
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
