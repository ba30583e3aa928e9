"""The runtime's tables: what each node of a local-runtime instance should be doing and what it was last seen doing
(``runtime_nodes``), and the one-shot work handed to the runtime by operations (``runtime_tasks``: join a channel,
leave it, order a config update), each with its outcome.

Operations only write here, inside their transactions; the supervisor (:mod:`openbcs.runtime.supervisor`) does the
work outside any transaction and writes the outcome back, and the waiting operation reads it on its next turn.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Desired(StrEnum):
    """What an operation wants of a node."""

    RUNNING = "running"
    REMOVED = "removed"  # stopped, and its folder (ledger, keys, log) deleted


class Observed(StrEnum):
    """What the supervisor last saw of a node."""

    PENDING = "pending"  # not started yet
    RUNNING = "running"  # its process runs and its /healthz answered 200
    UNHEALTHY = "unhealthy"  # its process runs but its /healthz fails or does not answer
    FAILED = "failed"  # it exited or never became healthy; the supervisor retries with backoff
    REMOVED = "removed"


class TaskKind(StrEnum):
    """One-shot work for the runtime."""

    JOIN = "join"  # a node joins a channel with its block 0 (orderers: channel participation; peers: cscc)
    LEAVE = "leave"  # a peer leaves a channel (stopped, unjoined, started again); an orderer stops serving it
    ORDER = "order"  # a CONFIG_UPDATE envelope broadcast to the channel's orderers; result: the block they cut
    SERVE = "serve"  # wait until the channel's orderers serve it (their Raft cluster has a leader)


class TaskStatus(StrEnum):
    """Where a task is."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class RuntimeNode(Base):
    """A node of a local-runtime instance under the supervisor's care."""

    __tablename__ = "runtime_nodes"

    node_id: Mapped[int] = mapped_column(ForeignKey("blockchain_nodes.id", ondelete="CASCADE"), primary_key=True)
    blockchain_id: Mapped[str] = mapped_column(String(36), index=True)
    desired: Mapped[str] = mapped_column(String(16))
    observed: Mapped[str] = mapped_column(String(16))
    pid: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    updated_time: Mapped[int] = mapped_column(BigInteger)


class RuntimeTask(Base):
    """Work an operation's sub-step (``step_key``) handed to the runtime; kept until its instance goes."""

    __tablename__ = "runtime_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(String(64), index=True)
    step_key: Mapped[str] = mapped_column(String(128))
    blockchain_id: Mapped[str] = mapped_column(String(36), index=True)  # whose orderers/peers do the work
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(24))
    node_id: Mapped[int | None] = mapped_column(Integer)  # JOIN/LEAVE: the node
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # JOIN: block 0; ORDER: the envelope
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[bytes | None] = mapped_column(LargeBinary)  # ORDER: the block the orderers committed
    created_time: Mapped[int] = mapped_column(BigInteger)


class RuntimeLease(Base):
    """Who supervises the local runtime's nodes: one server process at a time (several servers or ``--workers`` on
    one database), for as long as it renews the lease."""

    __tablename__ = "runtime_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(96))
    expires_at: Mapped[int] = mapped_column(BigInteger)  # ns
    acquired_at: Mapped[int] = mapped_column(BigInteger)
