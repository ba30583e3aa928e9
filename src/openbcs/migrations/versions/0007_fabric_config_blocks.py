"""channel configuration history as real Fabric config blocks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:00:00

Each channel's home-made JSON hash chain is replaced by a Fabric genesis config block made from the channel's state
now (its organisations, anchor peers and the instance's orderers); every later change appends signed config blocks.
Nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM channel_config_blocks")
    with op.batch_alter_table("channel_config_blocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("block", sa.LargeBinary(), nullable=False))
        batch_op.add_column(sa.Column("config_update", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("tx_id", sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column("config_sequence", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("signers", sa.JSON(), nullable=False))
    # The genesis blocks are built by the same code that builds them at run time (imported here, at this revision
    # the head): a channel's Fabric configuration is derived from the model, never stored twice.
    from openbcs.network.channel_config import MODELLED_ONLY
    from openbcs.network.config_history import genesis
    from openbcs.network.models import Channel

    session = Session(bind=op.get_bind())
    session.info[MODELLED_ONLY] = True  # the runtime column (0011) does not exist yet: every instance is modelled
    for channel in session.scalars(sa.select(Channel).order_by(Channel.id)):
        genesis(session, channel, cause="migration 0007", record=False)
    session.flush()


def downgrade() -> None:
    op.execute("DELETE FROM channel_config_blocks")
    with op.batch_alter_table("channel_config_blocks", schema=None) as batch_op:
        batch_op.drop_column("signers")
        batch_op.drop_column("config_sequence")
        batch_op.drop_column("tx_id")
        batch_op.drop_column("config_update")
        batch_op.drop_column("block")
