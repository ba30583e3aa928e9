"""The instances domain's own table: per-account instance quotas (the network model holds the instances)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Quota(Base):
    """An account's instance quota when it differs from the default."""

    __tablename__ = "blockchain_quotas"

    domain_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instances: Mapped[int] = mapped_column(Integer)
