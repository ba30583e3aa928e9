"""The table of X-Client-Token answers (``docs/idempotency.md``): one row per token a project used in the last 24
hours, written in the same transaction as the work it stands for, then given the answer to replay.

The row holds a keyed digest of the request, never the request itself (a CreateNewBlockchain body carries the
resource password), and the answer only when it carries no secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, UniqueConstraint, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from openbcs.kernel.db import Base

RETENTION_NS = 24 * 3600 * 1_000_000_000
PRUNE_BATCH = 100  # expired rows of the project deleted by each new token: bounded work per request


class ClientToken(Base):
    """A token a project used, the digest of its request, and the answer once recorded (``status`` NULL: the work is
    committed, its answer not recorded yet; ``body`` NULL with a status: the answer is not kept)."""

    __tablename__ = "client_tokens"
    __table_args__ = (
        UniqueConstraint("project_id", "token"),
        Index("ix_client_tokens_project_created", "project_id", "created_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    created_time: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None] = mapped_column(Integer)
    media_type: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Stored:
    """What a retry needs to know about its token."""

    request_digest: str
    created_time: int
    status: int | None
    media_type: str | None
    body: bytes | None


def find(session: Session, *, project_id: str, token: str, now: int) -> Stored | None:
    """The project's unexpired row for ``token``."""
    row = session.execute(
        select(
            ClientToken.request_digest,
            ClientToken.created_time,
            ClientToken.status,
            ClientToken.media_type,
            ClientToken.body,
        ).where(
            ClientToken.project_id == project_id,
            ClientToken.token == token,
            ClientToken.created_time >= now - RETENTION_NS,
        )
    ).first()
    return Stored(*row) if row else None


def add(session: Session, *, project_id: str, token: str, request_digest: str, operation: str, now: int) -> None:
    """The token's row, in the transaction of the work it stands for (a twin's row makes the insert, and so the
    work, fail). Expired rows of the project go first, at most :data:`PRUNE_BATCH` of them."""
    cutoff = now - RETENTION_NS
    session.execute(
        delete(ClientToken).where(
            ClientToken.project_id == project_id, ClientToken.token == token, ClientToken.created_time < cutoff
        )
    )
    expired = (
        select(ClientToken.id)
        .where(ClientToken.project_id == project_id, ClientToken.created_time < cutoff)
        .limit(PRUNE_BATCH)
    )
    session.execute(delete(ClientToken).where(ClientToken.id.in_(list(session.scalars(expired)))))
    session.execute(
        insert(ClientToken).values(
            project_id=project_id, token=token, request_digest=request_digest, operation=operation, created_time=now
        )
    )


def record(
    session: Session, *, project_id: str, token: str, status: int, media_type: str | None, body: bytes | None
) -> None:
    """The answer of the token's request (``body`` None: not kept)."""
    session.execute(
        update(ClientToken)
        .where(ClientToken.project_id == project_id, ClientToken.token == token)
        .values(status=status, media_type=media_type, body=body)
    )
