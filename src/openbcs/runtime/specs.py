"""What a runtime is told about a node: plain, immutable values (PEM bytes, ports, paths), no database rows.

The network model turns its rows into these (``runtime.desired``); the implementations only read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class NodeRole(StrEnum):
    """What a node is in Fabric's words."""

    ORDERER = "orderer"
    PEER = "peer"


class PortName(StrEnum):
    """The ports a node listens on, each allocated from the configured range and kept in the database."""

    LISTEN = "listen"  # orderer: Broadcast/Deliver (and the cluster); peer: endorser, gossip, deliver
    OPERATIONS = "operations"  # /healthz, Prometheus /metrics
    CHAINCODE = "chaincode"  # peers only
    ADMIN = "admin"  # orderers only: the channel participation API (mutual TLS)


PORT_NAMES: dict[NodeRole, tuple[PortName, ...]] = {
    NodeRole.ORDERER: (PortName.LISTEN, PortName.ADMIN, PortName.OPERATIONS),
    NodeRole.PEER: (PortName.LISTEN, PortName.CHAINCODE, PortName.OPERATIONS),
}


@dataclass(frozen=True)
class Endpoint:
    """A node's advertised host and its ports by name."""

    host: str
    ports: dict[PortName, int]

    def address(self, name: PortName = PortName.LISTEN) -> str:
        """``host:port`` of one of the node's ports."""
        return f"{self.host}:{self.ports[name]}"


@dataclass(frozen=True)
class NodeIdentity:
    """A node's MSP and TLS material (PEM). ``tls_cert`` is a server certificate whose SAN names the node's host."""

    msp_id: str
    ca_cert: bytes  # the organisation's signing root CA (msp/cacerts)
    tlsca_cert: bytes  # the organisation's TLS root CA (msp/tlscacerts, tls/ca.crt)
    cert: bytes  # the node's signing certificate (OU peer or orderer)
    key: bytes
    tls_cert: bytes
    tls_key: bytes


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to run one node: who it is, where it listens, where its files live.

    ``home`` is ``<data-dir>/nodes/<instance id>/<node name>/``: MSP, TLS, ledger, configuration and log file.
    ``admin_tls_ca`` (orderers) is the TLS root CA whose client certificates may use the admin endpoint (the orderer
    organisation's own TLS CA: its admin's ``admin-tls`` certificate is issued by it).
    """

    name: str
    role: NodeRole
    endpoint: Endpoint
    identity: NodeIdentity
    home: Path
    admin_tls_ca: bytes | None = None


@dataclass(frozen=True)
class Client:
    """An identity a runtime uses to talk to nodes: an organisation's admin (signing pair and TLS client pair)."""

    msp_id: str
    cert: bytes
    key: bytes
    tls_cert: bytes
    tls_key: bytes
