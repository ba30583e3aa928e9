"""Monitoring tables: events (everything that happened to an instance) and alarms (events that need attention)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Event(Base):
    """Something that happened to an instance; ``metadata_`` maps names to strings (filterable)."""

    __tablename__ = "monitoring_events"
    __table_args__ = (Index("ix_monitoring_events_instance_time", "blockchain_id", "time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blockchain_id: Mapped[str] = mapped_column(String(64))  # as operations.blockchain_id
    project_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(512))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON)
    time: Mapped[int] = mapped_column(BigInteger, index=True)


class Alarm(Base):
    """An event that needs attention: active until cleared (``cleared_time`` set), then history."""

    __tablename__ = "monitoring_alarms"
    __table_args__ = (Index("ix_monitoring_alarms_instance_key", "blockchain_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blockchain_id: Mapped[str] = mapped_column(String(64))  # as operations.blockchain_id
    project_id: Mapped[str] = mapped_column(String(32))
    # What clears it: alarms with the same key on the same instance are one alarm.
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(512))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON)
    raised_time: Mapped[int] = mapped_column(BigInteger)
    cleared_time: Mapped[int | None] = mapped_column(BigInteger)
