"""A channel of the model as a Fabric channel: the ``ChannelSpec`` its configuration must describe, and the
identities that sign changes to it (the member organisations' admins, an orderer of the channel's instance).

Every value comes from what the API reports: MSP ids (``<name hash>MSP``), the modelled node addresses, the
instance's consensus and ``block_info`` (batch timeout in seconds, preferred batch size in MB).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.fabric.spec import DEFAULT_ABSOLUTE_MAX_BYTES
from openbcs.kernel import errors
from openbcs.kernel.keys import ServerKey
from openbcs.network import identities, lookups
from openbcs.network.models import Channel, ChannelOrg, Instance, Node, Organization
from openbcs.network.naming import msp_id, node_address

T = TypeVar("T")
MB = 1024 * 1024
DEFAULT_BATCH_TIMEOUT_SECONDS = 2
DEFAULT_MAX_MESSAGE_COUNT = 500
DEFAULT_PREFERRED_MAX_MB = 2


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _cached(session: Session, key: tuple[str, object], build: Callable[[], T]) -> T:
    """``build()`` once per unit of work (a session lives for one transaction): one step may configure 20 channels of
    the same organisations and orderers, whose certificates do not change meanwhile."""
    cache: dict[tuple[str, object], Any] = session.info.setdefault("openbcs.channel_config", {})
    if key not in cache:
        cache[key] = build()
    return cast(T, cache[key])


def msp_spec(session: Session, org: Organization) -> fabric.MSPSpec:
    """The organisation's verifying MSP: its signing root CA and TLS root CA (the certificates downloads hand out)."""

    def build() -> fabric.MSPSpec:
        org_pki = identities.pki_of(session, org)
        return fabric.MSPSpec(msp_id(org), (org_pki.ca_cert.encode(),), (org_pki.tlsca_cert.encode(),))

    return _cached(session, ("msp", org.id), build)


def _orderer_spec(session: Session, instance: Instance) -> fabric.OrdererSpec:
    return _cached(session, ("orderer", instance.id), lambda: _build_orderer_spec(session, instance))


def _build_orderer_spec(session: Session, instance: Instance) -> fabric.OrdererSpec:
    orderer_orgs = lookups.orgs_of(session, instance.id, role="orderer")
    if not orderer_orgs:
        raise errors.wrong_state(f"instance {instance.name}", "it has no orderers to serve a channel")
    org = orderer_orgs[0]
    consenters, addresses = [], []
    for node in lookups.nodes_of(session, org.id):
        host, port = _host_port(node_address(org, node)[0])
        tls = identities.node_cert(session, org.id, node.name, tls=True).cert.encode()
        consenters.append(fabric.Consenter(host, port, tls, tls))
        addresses.append(f"{host}:{port}")
    block_info = instance.settings.get("block_info", {})
    preferred = int(block_info.get("preferred_maxbytes", DEFAULT_PREFERRED_MAX_MB)) * MB
    return fabric.OrdererSpec(
        org=msp_spec(session, org),
        consenters=tuple(consenters),
        addresses=tuple(addresses),
        consensus_type=instance.consensus,
        batch_timeout=f"{int(block_info.get('batch_timeout', DEFAULT_BATCH_TIMEOUT_SECONDS))}s",
        max_message_count=int(block_info.get("max_message_count", DEFAULT_MAX_MESSAGE_COUNT)),
        # Fabric requires the absolute cap to be at least the preferred size.
        absolute_max_bytes=max(DEFAULT_ABSOLUTE_MAX_BYTES, preferred),
        preferred_max_bytes=preferred,
    )


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


def _anchor_peers(session: Session, orgs: list[Organization], joined: set[int]) -> dict[int, Node]:
    """Each organisation's lowest-numbered peer in the channel (absent if it has no peer there), in one query."""
    anchors: dict[int, Node] = {}
    if orgs:
        nodes = session.scalars(
            select(Node).where(Node.org_id.in_([org.id for org in orgs])).order_by(Node.org_id, Node.ordinal)
        )
        for node in nodes:
            if node.id in joined and node.org_id not in anchors:
                anchors[node.org_id] = node
    return anchors


def _anchor(org: Organization, node: Node | None) -> tuple[fabric.AnchorPeer, ...]:
    if node is None:
        return ()
    host, port = _host_port(node_address(org, node)[0])
    return (fabric.AnchorPeer(host, port),)


def channel_spec(session: Session, channel: Channel) -> fabric.ChannelSpec:
    """What the channel's Fabric configuration must say now: its orderers and its member organisations."""
    instance = session.get_one(Instance, channel.blockchain_id)
    orgs = member_orgs(session, channel)
    anchors = _anchor_peers(session, orgs, lookups.peer_ids_in(session, channel))
    return fabric.ChannelSpec(
        channel_id=channel.name,
        orderer=_orderer_spec(session, instance),
        application_orgs=tuple(
            fabric.ApplicationOrg(msp_spec(session, org), _anchor(org, anchors.get(org.id))) for org in orgs
        ),
    )


def admin_signer(session: Session, org: Organization, server_key: ServerKey) -> fabric.Signer:
    """The organisation's admin identity, which OpenBCS holds for every organisation it hosts."""

    def build() -> fabric.Signer:
        admin = identities.issued(session, org.id, "admin")
        assert admin.key is not None  # admins' keys are always hosted
        return fabric.Signer(msp_id(org), admin.cert.encode(), identities.unseal(server_key, admin.key))

    return _cached(session, ("admin", org.id), build)


def orderer_signer(session: Session, blockchain_id: str, server_key: ServerKey) -> fabric.Signer:
    """The identity of the instance's first orderer, which signs the blocks it cuts."""

    def build() -> fabric.Signer:
        org = lookups.orgs_of(session, blockchain_id, role="orderer")[0]
        node = lookups.nodes_of(session, org.id)[0]
        issued = identities.node_cert(session, org.id, node.name, tls=False)
        assert issued.key is not None
        return fabric.Signer(msp_id(org), issued.cert.encode(), identities.unseal(server_key, issued.key))

    return _cached(session, ("orderer-signer", blockchain_id), build)


def admins_by_msp(
    session: Session, msp_ids: Sequence[str], *, first: str | None, server_key: ServerKey
) -> list[fabric.Signer]:
    """The admins of the organisations with these MSP ids; those of instance ``first`` (the one acting) lead."""
    hashes = [m.removesuffix("MSP") for m in msp_ids]
    orgs = list(session.scalars(select(Organization).where(Organization.name_hash.in_(hashes))))
    orgs.sort(key=lambda o: (o.blockchain_id != first, hashes.index(o.name_hash)))
    return [admin_signer(session, org, server_key) for org in orgs]
