"""IAM tables: accounts (IAM domains), their projects, users and access keys, and failed logins."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Account(Base):
    """A tenant: IAM calls it a domain. Its name is unique across the server."""

    __tablename__ = "iam_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Project(Base):
    """One project per account and region; its name is the region id."""

    __tablename__ = "iam_projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("iam_accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))


class User(Base):
    """An IAM user; the account's own user carries the account's name."""

    __tablename__ = "iam_users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("iam_accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    # Bumped on every password change: tokens carry the value they were issued under and die when it moves.
    credential_version: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class AccessKey(Base):
    """An AK/SK pair. The SK is kept encrypted with the server key because HMAC verification needs it in clear."""

    __tablename__ = "iam_access_keys"

    access_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("iam_users.id", ondelete="CASCADE"), index=True)
    secret_key_encrypted: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[int] = mapped_column(BigInteger)


class LoginFailure(Base):
    """Wrong passwords for a user name from one source address (``POST /v3/auth/tokens``, the console's sign-in),
    the checks of it running now, and the lock they led to. Kept by the names as given, whether or not such a user
    exists, so a lock reveals nothing about which names do; by source, so that nobody else's wrong passwords lock
    the owner out (docs/auth.md)."""

    __tablename__ = "iam_login_failures"

    domain_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)  # client address (an IPv6 one's /64)
    failures: Mapped[int] = mapped_column(Integer)
    # Checks reserved and not finished yet: counted with the failures, so a burst cannot check more than the limit.
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt: Mapped[int] = mapped_column(BigInteger, index=True)  # ns
    locked_until: Mapped[int | None] = mapped_column(BigInteger)  # ns
    # Locks in a row without a success: each one lasts twice as long as the one before.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
