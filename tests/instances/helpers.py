"""What the instance tests share beyond ``tests/support``: the stored nodes of an instance."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.network.models import Node, Organization


def _nodes_by_org(session: Session, blockchain_id: str) -> dict[str, list[str]]:
    orgs = session.scalars(
        select(Organization).where(Organization.blockchain_id == blockchain_id).order_by(Organization.id)
    )
    return {
        o.name: list(session.scalars(select(Node.name).where(Node.org_id == o.id).order_by(Node.ordinal))) for o in orgs
    }


def stored_nodes(db: Database, blockchain_id: str) -> dict[str, list[str]]:
    """``{org name: [node names]}`` of the stored model, organisations in creation order, nodes by ordinal."""
    return db.run_read(_nodes_by_org, blockchain_id)
