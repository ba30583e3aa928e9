"""an index on organisations' name hash: a channel's config names its members by MSP id (``<name hash>MSP``)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:00:00

Every membership change finds the admins who sign it by the MSP ids in the channel's current config. Without the
index that lookup scans every organisation on the server, so a quit's cost grew with the number of instances.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_blockchain_orgs_name_hash", "blockchain_orgs", ["name_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_blockchain_orgs_name_hash", table_name="blockchain_orgs")
