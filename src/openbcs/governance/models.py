"""The signature requests: a config update of one channel, waiting for the admins of organisations whose keys
OpenBCS does not hold, with the signatures collected so far."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base

PENDING, APPROVED, REJECTED, EXPIRED, SUBMITTED = "pending", "approved", "rejected", "expired", "submitted"
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED, SUBMITTED)


class SignatureRequest(Base):
    """One channel's config update waiting in an operation's sub-step until its policy is satisfied.

    ``update`` is the serialized ``ConfigUpdate`` (the exact bytes every signature covers); ``envelope`` the
    ``ConfigUpdateEnvelope`` holding it with the signatures collected so far (the hosted organisations' at creation);
    ``base_block`` the number of the channel's config block the update was computed from (its policies judge the
    signatures). ``signed_by`` and ``missing`` are MSP ids; ``missing`` are the external organisations that may still
    sign."""

    __tablename__ = "governance_signature_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(64), index=True)
    step_key: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    blockchain_id: Mapped[str] = mapped_column(ForeignKey("blockchains.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    channel_name: Mapped[str] = mapped_column(String(24))
    summary: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(Text)
    signed_by: Mapped[str] = mapped_column(Text)  # comma-separated MSP ids, in signing order
    missing: Mapped[str] = mapped_column(Text)  # comma-separated MSP ids
    base_block: Mapped[int] = mapped_column(Integer)
    update: Mapped[bytes] = mapped_column(LargeBinary)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    update_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class SignatureRequestSigner(Base):
    """An organisation (by MSP id, i.e. its name hash) whose admin may sign a request: whose tenants see it."""

    __tablename__ = "governance_signature_signers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("governance_signature_requests.id", ondelete="CASCADE"), index=True
    )
    msp_id: Mapped[str] = mapped_column(String(48), index=True)
