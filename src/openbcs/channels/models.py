"""Channel tables: channels, their organisations and peers, and the configuration blocks of their history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.db import Base


class Channel(Base):
    """A channel of an instance (its orderers serve it); ``name`` is the API's ``channel_id``."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("blockchain_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blockchain_id: Mapped[str] = mapped_column(ForeignKey("blockchains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_time: Mapped[int] = mapped_column(BigInteger)


class ChannelOrg(Base):
    """An organisation in a channel's configuration; it may belong to another instance (a consortium member)."""

    __tablename__ = "channel_orgs"
    __table_args__ = (UniqueConstraint("channel_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("blockchain_orgs.id", ondelete="CASCADE"), index=True)
    joined_time: Mapped[int] = mapped_column(BigInteger)


class ChannelPeer(Base):
    """A peer that joined a channel (its organisation is in the channel)."""

    __tablename__ = "channel_peers"
    __table_args__ = (UniqueConstraint("channel_id", "node_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("blockchain_nodes.id", ondelete="CASCADE"), index=True)


class ConfigBlock(Base):
    """One block of a channel's configuration history: the org set after a change, chained by SHA-256."""

    __tablename__ = "channel_config_blocks"
    __table_args__ = (UniqueConstraint("channel_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    previous_hash: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    orgs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    cause: Mapped[str] = mapped_column(String(64))
    time: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
