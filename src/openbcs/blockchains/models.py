"""Instance tables: the instance, its organisations and their nodes, and per-account quotas.

Nothing here is a running process: this is the model of a Fabric network that the API reports from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.db import Base


class Blockchain(Base):
    """A BCS instance of a project. ``settings`` keeps the validated creation request, secrets removed."""

    __tablename__ = "blockchains"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    domain_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    blockchain_type: Mapped[str] = mapped_column(String(16))
    fabric_version: Mapped[str] = mapped_column(String(8))
    consensus: Mapped[str] = mapped_column(String(16))
    sign_algorithm: Mapped[str] = mapped_column(String(16))
    version_type: Mapped[int] = mapped_column(Integer)
    database_type: Mapped[str] = mapped_column(String(16))
    is_invitee: Mapped[bool] = mapped_column(Boolean, default=False)
    # The inviter instance an invitee instance was created for (tenant, project, blockchain ids).
    invitor_tenant_id: Mapped[str | None] = mapped_column(String(64))
    invitor_project_id: Mapped[str | None] = mapped_column(String(64))
    invitor_blockchain_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    process_status: Mapped[str | None] = mapped_column(String(16))
    deploy_status: Mapped[int] = mapped_column(Integer)
    # The one mutating operation running on this instance, if any: every other mutating call is refused meanwhile.
    busy_operation_id: Mapped[str | None] = mapped_column(String(64))
    created_time: Mapped[int] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Organization(Base):
    """A peer organisation or the orderer organisation of an instance."""

    __tablename__ = "blockchain_orgs"
    __table_args__ = (UniqueConstraint("blockchain_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blockchain_id: Mapped[str] = mapped_column(ForeignKey("blockchains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(8))  # "peer" or "orderer"
    name_hash: Mapped[str] = mapped_column(String(40))
    pvc_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_time: Mapped[int] = mapped_column(BigInteger)


class Node(Base):
    """A peer or orderer of an organisation; ``ordinal`` is the number in its name (``peer-<hash>-0``)."""

    __tablename__ = "blockchain_nodes"
    __table_args__ = (UniqueConstraint("org_id", "ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("blockchain_orgs.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(16))


class Quota(Base):
    """An account's instance quota when it differs from the default."""

    __tablename__ = "blockchain_quotas"

    domain_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instances: Mapped[int] = mapped_column(Integer)
