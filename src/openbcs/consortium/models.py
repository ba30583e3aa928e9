"""The membership table: one row per invitation of a tenant into a channel of a consortium instance.

The inviter sees the row as an *invitation* (``status``), the invitee as a *notification*
(``notification_status``). Both live on one row so that every transition moves them together under one lock; they
part ways only where the API says so: withdrawing an invitation cancels the notification, and deleting a finished
invitation record (``deleted_by_inviter``) leaves the invitee's notification as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Invitation(Base):
    """A tenant invited into a channel; ``orgs`` are the invitee organisations that joined (name, hash, count)."""

    __tablename__ = "consortium_invitations"
    __table_args__ = (
        Index("ix_consortium_invitations_inviter", "inviter_blockchain_id", "channel_name"),
        Index("ix_consortium_invitations_invitee", "invitee_domain_id", "notification_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inviter_blockchain_id: Mapped[str] = mapped_column(String(36))
    inviter_blockchain_name: Mapped[str] = mapped_column(String(64))
    inviter_project_id: Mapped[str] = mapped_column(String(32), index=True)
    inviter_domain_id: Mapped[str] = mapped_column(String(32))
    inviter_name: Mapped[str] = mapped_column(String(64))
    # What the invitee needs to create a matching instance, as the inviter's instance was when it invited.
    inviter_settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    channel_name: Mapped[str] = mapped_column(String(24))
    invitee_domain_id: Mapped[str] = mapped_column(String(32))
    invitee_name: Mapped[str] = mapped_column(String(64))
    invitee_project_id: Mapped[str | None] = mapped_column(String(32))
    invitee_blockchain_id: Mapped[str | None] = mapped_column(String(36))
    invitee_blockchain_name: Mapped[str | None] = mapped_column(String(64))
    orgs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    notification_status: Mapped[str] = mapped_column(String(16))
    deleted_by_inviter: Mapped[bool] = mapped_column(Boolean, default=False)
    read_status: Mapped[int] = mapped_column(Integer, default=0)
    operation_id: Mapped[str | None] = mapped_column(String(64))
    created_time: Mapped[int] = mapped_column(BigInteger)
    updated_time: Mapped[int] = mapped_column(BigInteger)
