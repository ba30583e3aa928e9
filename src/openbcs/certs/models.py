"""PKI tables: each organisation's two CAs, and every certificate issued under them. Private keys are stored
encrypted with a key derived from the server key; a user-managed certificate's key is never stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.db import Base


class OrgPki(Base):
    """An organisation's signing CA and TLS CA, and its CRL counter."""

    __tablename__ = "cert_org_pki"

    org_id: Mapped[int] = mapped_column(ForeignKey("blockchain_orgs.id", ondelete="CASCADE"), primary_key=True)
    ca_cert: Mapped[str] = mapped_column(Text)
    ca_key: Mapped[str] = mapped_column(Text)
    tlsca_cert: Mapped[str] = mapped_column(Text)
    tlsca_key: Mapped[str] = mapped_column(Text)
    crl_number: Mapped[int] = mapped_column(Integer, default=0)


class IssuedCert(Base):
    """A certificate issued by an organisation's CA: its admin, default user, nodes, and users by name."""

    __tablename__ = "cert_issued"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("blockchain_orgs.id", ondelete="CASCADE"), index=True)
    # admin, admin-tls, user, user-tls, node, node-tls, enrolled (a user certificate issued by name)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(160))
    node_name: Mapped[str | None] = mapped_column(String(96))
    user_name: Mapped[str | None] = mapped_column(String(24), index=True)
    hosted: Mapped[bool] = mapped_column(Boolean, default=False)
    serial: Mapped[str] = mapped_column(String(64))
    cert: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    created_time: Mapped[int] = mapped_column(BigInteger)
