"""A channel of the model as a Fabric channel: the ``ChannelSpec`` its configuration must describe, and the
identities that sign changes to it (the member organisations' admins, an orderer of the channel's instance).

Every value comes from what the API reports: MSP ids (``<name hash>MSP``), the node addresses (allocated ones in the
local runtime, modelled ones otherwise), the
instance's consensus and ``block_info`` (batch timeout in seconds, preferred batch size in MB).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.fabric.spec import DEFAULT_ABSOLUTE_MAX_BYTES
from openbcs.kernel import errors
from openbcs.kernel.keys import ServerKey
from openbcs.network import endpoints, identities, lookups
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, Instance, IssuedCert, Node, Organization, OrgPki
from openbcs.network.naming import msp_id

T = TypeVar("T")
MB = 1024 * 1024
DEFAULT_BATCH_TIMEOUT_SECONDS = 2
DEFAULT_MAX_MESSAGE_COUNT = 500
DEFAULT_PREFERRED_MAX_MB = 2


# session.info key: set by a migration that rebuilds history at a revision older than the runtime column (only
# modelled instances existed then).
MODELLED_ONLY = "openbcs.modelled_only"


def _local(session: Session, instance: Instance) -> bool:
    """Whether the instance's nodes are local-runtime processes, whose allocated addresses go into the config."""
    return not session.info.get(MODELLED_ONLY) and instance.runtime == "local"


def _cached(session: Session, key: tuple[str, object], build: Callable[[], T]) -> T:
    """``build()`` once per unit of work (a session lives for one transaction): one step may configure 20 channels of
    the same organisations and orderers, whose certificates do not change meanwhile."""
    cache: dict[tuple[str, object], Any] = session.info.setdefault("openbcs.channel_config", {})
    if key not in cache:
        cache[key] = build()
    return cast(T, cache[key])


def _instance(session: Session, blockchain_id: str) -> Instance:
    instance = lookups.find(session, blockchain_id=blockchain_id)
    assert instance is not None  # a channel's instance exists while the channel does
    return instance


# The role of the admin certificate whose key the organisation's tenant holds (docs/governance.md): while one exists,
# the organisation's MSP lists exactly these certificates as admins and its hosted admin key is gone.
EXTERNAL_ADMIN = "admin-external"


def _msp(
    org: Organization, ca_cert: str | None, tlsca_cert: str | None, admins: tuple[bytes, ...] = ()
) -> fabric.MSPSpec:
    """The organisation's verifying MSP: its signing root CA and TLS root CA (the certificates downloads hand out),
    and its explicit admins when its tenant holds its admin key; ``BCS.4001015`` while its instance is still being
    created (no CAs yet)."""
    if ca_cert is None or tlsca_cert is None:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    return fabric.MSPSpec(msp_id(org), (ca_cert.encode(),), (tlsca_cert.encode(),), admins=admins)


def external_admins(session: Session, org_ids: Sequence[int]) -> dict[int, tuple[bytes, ...]]:
    """``{org id: its tenant-held admin certificates}`` of those of ``org_ids`` with external custody."""
    if not org_ids:
        return {}
    found: dict[int, tuple[bytes, ...]] = {}
    rows = session.execute(
        select(IssuedCert.org_id, IssuedCert.cert)
        .where(IssuedCert.org_id.in_(org_ids), IssuedCert.role == EXTERNAL_ADMIN)
        .order_by(IssuedCert.id)
    )
    for org_id, cert in rows:
        found[org_id] = (*found.get(org_id, ()), cert.encode())
    return found


@dataclass(frozen=True)
class _Orderers:
    """The instance's first orderer organisation as a channel needs it: its spec, and its first node's signing
    identity (certificate and sealed key), which signs the blocks."""

    org: Organization
    spec: fabric.OrdererSpec
    signer: tuple[str, str | None] | None  # None: the organisation has no node


def _orderers(session: Session, instance: Instance) -> _Orderers:
    return _cached(session, ("orderer", instance.id), lambda: _read_orderers(session, instance))


def _read_orderers(session: Session, instance: Instance) -> _Orderers:
    # One statement: the orderer organisations with their CAs, nodes and the nodes' signing and TLS certificates.
    rows = session.execute(
        select(Organization, OrgPki.ca_cert, OrgPki.tlsca_cert, Node, IssuedCert.role, IssuedCert.cert, IssuedCert.key)
        .outerjoin(OrgPki, OrgPki.org_id == Organization.id)
        .outerjoin(Node, Node.org_id == Organization.id)
        .outerjoin(
            IssuedCert,
            (IssuedCert.org_id == Organization.id)
            & (IssuedCert.node_name == Node.name)
            & IssuedCert.role.in_(("node", "node-tls")),
        )
        .where(Organization.blockchain_id == instance.id, Organization.role == "orderer")
        .order_by(Organization.id, Node.ordinal, IssuedCert.id)
    ).all()
    if not rows:
        raise errors.wrong_state(f"instance {instance.name}", "it has no orderers to serve a channel")
    org, ca_cert, tlsca_cert = rows[0][0], rows[0][1], rows[0][2]
    msp = _msp(org, ca_cert, tlsca_cert)
    nodes: dict[int, Node] = {}
    certs: dict[tuple[int, str], tuple[str, str | None]] = {}
    for row_org, _, _, node, role, cert, key in rows:
        if row_org.id != org.id or node is None:
            continue
        nodes.setdefault(node.id, node)
        if role is not None:
            certs.setdefault((node.id, role), (cert, key))
    consenters, addresses = [], []
    # Local runtime: the nodes' allocated addresses (one more statement, only there).
    allocated = endpoints.ports_of(session, list(nodes)) if _local(session, instance) else {}
    for node in nodes.values():
        host, port = endpoints.listen_address(org, node, allocated)
        tls = _node_cert(certs, node, "node-tls")[0].encode()
        consenters.append(fabric.Consenter(host, port, tls, tls))
        addresses.append(f"{host}:{port}")
    block_info = instance.settings.get("block_info", {})
    preferred = int(block_info.get("preferred_maxbytes", DEFAULT_PREFERRED_MAX_MB)) * MB
    spec = fabric.OrdererSpec(
        org=msp,
        consenters=tuple(consenters),
        addresses=tuple(addresses),
        consensus_type=instance.consensus,
        batch_timeout=f"{int(block_info.get('batch_timeout', DEFAULT_BATCH_TIMEOUT_SECONDS))}s",
        max_message_count=int(block_info.get("max_message_count", DEFAULT_MAX_MESSAGE_COUNT)),
        # Fabric requires the absolute cap to be at least the preferred size.
        absolute_max_bytes=max(DEFAULT_ABSOLUTE_MAX_BYTES, preferred),
        preferred_max_bytes=preferred,
    )
    signer = _node_cert(certs, next(iter(nodes.values())), "node") if nodes else None
    return _Orderers(org, spec, signer)


def _node_cert(certs: dict[tuple[int, str], tuple[str, str | None]], node: Node, role: str) -> tuple[str, str | None]:
    found = certs.get((node.id, role))
    if found is None:  # pragma: no cover - provisioning issues both for every node
        raise errors.BCSError(errors.INTERNAL, f"certificate {role} of {node.name} missing")
    return found


def member_orgs(session: Session, channel: Channel) -> list[Organization]:
    """The channel's organisations in joining order."""
    return list(
        session.scalars(
            select(Organization)
            .join(ChannelOrg, ChannelOrg.org_id == Organization.id)
            .where(ChannelOrg.channel_id == channel.id)
            .order_by(ChannelOrg.id)
        )
    )


def _anchor_peers(session: Session, channel: Channel) -> dict[int, Node]:
    """Each organisation's lowest-numbered peer in the channel (absent if it has no peer there), in one query."""
    anchors: dict[int, Node] = {}
    nodes = session.scalars(
        select(Node)
        .join(ChannelPeer, ChannelPeer.node_id == Node.id)
        .where(ChannelPeer.channel_id == channel.id)
        .order_by(Node.org_id, Node.ordinal)
    )
    for node in nodes:
        anchors.setdefault(node.org_id, node)
    return anchors


def _anchor(org: Organization, node: Node | None, allocated: endpoints.Allocated) -> tuple[fabric.AnchorPeer, ...]:
    if node is None:
        return ()
    return (fabric.AnchorPeer(*endpoints.listen_address(org, node, allocated)),)


def members_and_spec(session: Session, channel: Channel) -> tuple[list[Organization], fabric.ChannelSpec]:
    """The channel's member organisations in joining order, and what its Fabric configuration must say now: its
    orderers and those organisations with their anchor peers."""
    instance = _instance(session, channel.blockchain_id)
    rows = session.execute(
        select(Organization, OrgPki.ca_cert, OrgPki.tlsca_cert)
        .join(ChannelOrg, ChannelOrg.org_id == Organization.id)
        .outerjoin(OrgPki, OrgPki.org_id == Organization.id)
        .where(ChannelOrg.channel_id == channel.id)
        .order_by(ChannelOrg.id)
    ).all()
    anchors = _anchor_peers(session, channel)
    allocated = endpoints.ports_of(session, [n.id for n in anchors.values()]) if _local(session, instance) else {}
    external = external_admins(session, [org.id for org, _, _ in rows])
    spec = fabric.ChannelSpec(
        channel_id=channel.name,
        orderer=_orderers(session, instance).spec,
        application_orgs=tuple(
            fabric.ApplicationOrg(
                _msp(org, ca_cert, tlsca_cert, external.get(org.id, ())), _anchor(org, anchors.get(org.id), allocated)
            )
            for org, ca_cert, tlsca_cert in rows
        ),
    )
    return [org for org, _, _ in rows], spec


def channel_spec(session: Session, channel: Channel) -> fabric.ChannelSpec:
    """What the channel's Fabric configuration must say now: its orderers and its member organisations."""
    return members_and_spec(session, channel)[1]


def _signer(
    session: Session, key: tuple[str, object], msp: str, cert: str, sealed: str, server_key: ServerKey
) -> fabric.Signer:
    return _cached(session, key, lambda: fabric.Signer(msp, cert.encode(), identities.unseal(server_key, sealed)))


def admin_signer(session: Session, org: Organization, server_key: ServerKey) -> fabric.Signer:
    """The organisation's admin identity, which OpenBCS holds for every organisation it hosts."""
    admin = identities.issued(session, org.id, "admin")
    if admin.key is None:
        raise errors.wrong_state(f"org {org.name}", "its admin key is held by its tenant (external custody)")
    return _signer(session, ("admin", org.id), msp_id(org), admin.cert, admin.key, server_key)


def orderer_org(session: Session, blockchain_id: str) -> Organization:
    """The instance's first orderer organisation (whose admin submits changes to a channel with no members)."""
    return _orderers(session, _instance(session, blockchain_id)).org


def orderer_signer(session: Session, blockchain_id: str, server_key: ServerKey) -> fabric.Signer:
    """The identity of the instance's first orderer, which signs the blocks it cuts."""
    instance = _instance(session, blockchain_id)
    orderers = _orderers(session, instance)
    if orderers.signer is None:
        raise errors.wrong_state(f"instance {instance.name}", "it has no orderer node to sign blocks")
    cert, sealed = orderers.signer
    assert sealed is not None  # nodes' keys are always hosted
    return _signer(session, ("orderer-signer", blockchain_id), orderers.spec.org.msp_id, cert, sealed, server_key)


def admins_by_msp(
    session: Session, msp_ids: Sequence[str], *, first: str | None, server_key: ServerKey
) -> list[fabric.Signer]:
    """The admins of the organisations with these MSP ids; those of instance ``first`` (the one acting) lead."""
    hashes = [m.removesuffix("MSP") for m in msp_ids]
    # One statement: each organisation with its admin certificates, the first issued first.
    rows = session.execute(
        select(Organization, IssuedCert.cert, IssuedCert.key)
        .join(IssuedCert, (IssuedCert.org_id == Organization.id) & (IssuedCert.role == "admin"))
        .where(Organization.name_hash.in_(hashes))
        .order_by(IssuedCert.id)
    ).all()
    admins: dict[int, tuple[Organization, str, str | None]] = {}
    for org, cert, key in rows:
        if key is not None:  # an organisation in external custody has no hosted admin key: it cannot sign here
            admins.setdefault(org.id, (org, cert, key))
    ordered = sorted(admins.values(), key=lambda a: (a[0].blockchain_id != first, hashes.index(a[0].name_hash)))
    signers = []
    for org, cert, key in ordered:
        assert key is not None  # filtered above
        signers.append(_signer(session, ("admin", org.id), msp_id(org), cert, key, server_key))
    return signers
