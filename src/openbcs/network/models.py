"""The network model's tables: instances with their organisations and nodes, channels with their organisations,
peers and configuration blocks, and each organisation's PKI (its CAs and the certificates they issued).

Nothing here is a running process: this is the model of a Fabric network that every domain reads and the API reports
from. Whether an instance is busy (and with what) is the operation engine's lock, not a column here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openbcs.kernel.db import Base


class Instance(Base):
    """A BCS instance of a project. ``settings`` keeps the validated creation request, secrets removed."""

    __tablename__ = "blockchains"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    domain_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    blockchain_type: Mapped[str] = mapped_column(String(16))
    fabric_version: Mapped[str] = mapped_column(String(8))
    consensus: Mapped[str] = mapped_column(String(16))
    sign_algorithm: Mapped[str] = mapped_column(String(16))
    version_type: Mapped[int] = mapped_column(Integer)
    database_type: Mapped[str] = mapped_column(String(16))
    is_invitee: Mapped[bool] = mapped_column(Boolean, default=False)
    # The inviter instance an invitee instance was created for (tenant, project, blockchain ids).
    invitor_tenant_id: Mapped[str | None] = mapped_column(String(64))
    invitor_project_id: Mapped[str | None] = mapped_column(String(64))
    invitor_blockchain_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    deploy_status: Mapped[int] = mapped_column(Integer)
    created_time: Mapped[int] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What runs its nodes ("modelled" or "local", docs/runtime.md): fixed at creation; a server serves only its own.
    # Deferred: loaded when read, so code that older migrations run (0007 builds genesis blocks) selects instances
    # without a column their revision does not have yet.
    runtime: Mapped[str] = mapped_column(String(16), default="modelled", server_default="modelled", deferred=True)


class Organization(Base):
    """A peer organisation or the orderer organisation of an instance."""

    __tablename__ = "blockchain_orgs"
    __table_args__ = (UniqueConstraint("blockchain_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blockchain_id: Mapped[str] = mapped_column(ForeignKey("blockchains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(8))  # "peer" or "orderer"
    # Indexed: channel configs name their members by MSP id, which is this hash plus "MSP".
    name_hash: Mapped[str] = mapped_column(String(40), index=True)
    pvc_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_time: Mapped[int] = mapped_column(BigInteger)


class Node(Base):
    """A peer or orderer of an organisation; ``ordinal`` is the number in its name (``peer-<hash>-0``)."""

    __tablename__ = "blockchain_nodes"
    __table_args__ = (UniqueConstraint("org_id", "ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("blockchain_orgs.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(16))


class NodePort(Base):
    """A port allocated to a node of the local runtime (``name``: listen, operations, chaincode or admin), on the host
    it advertises. The key makes each (host, port) belong to one node; a node's ports go with it."""

    __tablename__ = "node_ports"
    __table_args__ = (UniqueConstraint("node_id", "name"),)

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("blockchain_nodes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(16))


# --- channels ---------------------------------------------------------------------------------------------------


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
    """One config block of a channel: the serialized Fabric ``common.Block``, the CONFIG_UPDATE envelope that produced
    it (none for block 0), and what the API shows of it (hashes in hex, signers' MSP ids, the org set, the cause)."""

    __tablename__ = "channel_config_blocks"
    __table_args__ = (UniqueConstraint("channel_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    block: Mapped[bytes] = mapped_column(LargeBinary)
    config_update: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    tx_id: Mapped[str] = mapped_column(String(64))
    config_sequence: Mapped[int] = mapped_column(Integer)
    signers: Mapped[list[str]] = mapped_column(JSON)
    event: Mapped[str] = mapped_column(String(32))
    orgs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    cause: Mapped[str] = mapped_column(String(64))
    time: Mapped[int] = mapped_column(BigInteger)


# --- PKI: private keys are stored encrypted with a key derived from the server key; a user-managed certificate's key
# is never stored.


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
