"""Operation tables: one row per operation, one row per sub-step (steps are groups of sub-steps), and the locks
running operations hold on the resources they change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base

# Statuses as ListOpRecord reports them (``stop`` is reserved for interrupted operations).
WAITING, PROCESSING, FINISHED, FAILED, STOPPED = "waiting", "processing", "finished", "failed", "stop"
STATUSES = (WAITING, PROCESSING, FINISHED, FAILED, STOPPED)
ACTIVE = (WAITING, PROCESSING)


class Operation(Base):
    """An asynchronous operation of a project; ``version`` is bumped by every transition (optimistic lock)."""

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_project_time", "project_id", "record_time"),
        Index("ix_operations_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(16))
    operation_type: Mapped[str] = mapped_column(String(2))
    domain_id: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(32))
    blockchain_id: Mapped[str | None] = mapped_column(String(64), index=True)
    blockchain_name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    record_time: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=0)


class OperationSubStep(Base):
    """A sub-step of an operation, the unit the worker runs; ``step_serial`` groups sub-steps into steps."""

    __tablename__ = "operation_sub_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id", ondelete="CASCADE"), index=True)
    step_serial: Mapped[int] = mapped_column(Integer)
    step_name: Mapped[str] = mapped_column(String(128))
    serial_num: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)


class OperationLock(Base):
    """A resource (an instance, by its id) held by a running operation: one operation per resource at a time.

    ``label`` says what the holder is doing in the API's words (``IsCreating``, ``IsDeleting``, ...), for the busy
    codes and the instance's ``process_status``. The engine takes locks when an operation starts and releases them
    when it finishes or fails.
    """

    __tablename__ = "operation_locks"

    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str | None] = mapped_column(String(16))
