"""Plain, immutable descriptions of a channel: what ``build_config`` turns into a Fabric ``Config``.

Certificates and CRLs are PEM bytes, exactly as they go into the MSP config (Fabric stores PEM there, not DER).
"""

from __future__ import annotations

from dataclasses import dataclass

# configtx.yaml's sample sizes ("10 MB" and "2 MB" are binary megabytes in configtxgen).
DEFAULT_MAX_MESSAGE_COUNT = 500
DEFAULT_ABSOLUTE_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_PREFERRED_MAX_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class MSPSpec:
    """An organisation's verifying MSP: signing root CAs, TLS root CAs and CRLs (all PEM).

    NodeOUs are always enabled, with the OU identifiers (admin/client/peer/orderer) certified by ``root_certs[0]``.
    ``admins`` (an organisation whose admin key its tenant holds, docs/governance.md): the explicitly listed admin
    certificates; the admin OU then confers no role, so that no certificate the CA issues later is an admin.
    """

    msp_id: str
    root_certs: tuple[bytes, ...]
    tls_root_certs: tuple[bytes, ...]
    revocation_list: tuple[bytes, ...] = ()
    admins: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class AnchorPeer:
    """A peer other organisations' peers gossip with."""

    host: str
    port: int


@dataclass(frozen=True)
class ApplicationOrg:
    """A member organisation of the channel's Application group."""

    msp: MSPSpec
    anchor_peers: tuple[AnchorPeer, ...] = ()


@dataclass(frozen=True)
class Consenter:
    """An etcdraft consenter: its endpoint and TLS certificates (PEM)."""

    host: str
    port: int
    client_tls_cert: bytes
    server_tls_cert: bytes


@dataclass(frozen=True, kw_only=True)
class OrdererSpec:
    """The ordering service of a channel. A ``consensus_type`` other than ``etcdraft`` (e.g. Huawei's ``SFLIC``) is
    written as the type string with empty metadata, since Fabric knows no metadata format for it."""

    org: MSPSpec
    consenters: tuple[Consenter, ...] = ()
    addresses: tuple[str, ...] = ()
    consensus_type: str = "etcdraft"
    batch_timeout: str = "2s"
    max_message_count: int = DEFAULT_MAX_MESSAGE_COUNT
    absolute_max_bytes: int = DEFAULT_ABSOLUTE_MAX_BYTES
    preferred_max_bytes: int = DEFAULT_PREFERRED_MAX_BYTES


@dataclass(frozen=True)
class ChannelSpec:
    """An application channel: its id, ordering service and member organisations."""

    channel_id: str
    orderer: OrdererSpec
    application_orgs: tuple[ApplicationOrg, ...]
