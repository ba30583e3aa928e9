"""A small Fabric network's PKI for the fabric library tests, made with OpenBCS's own PKI functions."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from fabric_protos.common.common_pb2 import Block
from google.protobuf.message import Message

from openbcs.fabric import (
    AnchorPeer,
    ApplicationOrg,
    ChannelSpec,
    Consenter,
    MSPSpec,
    OrdererSpec,
    Signer,
    build_config,
    genesis_block,
    next_config_block,
)
from openbcs.network import pki

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
CHANNEL = "channel-one"


@dataclass(frozen=True)
class Org:
    """An organisation: its CAs, one identity per NodeOU, and its MSP spec."""

    name: str
    msp_id: str
    ca: pki.KeyPair
    tls_ca: pki.KeyPair
    spec: MSPSpec
    admin: Signer
    client: Signer
    peer: Signer
    orderer: Signer
    peer_host: str

    def app(self, anchors: Sequence[AnchorPeer] = ()) -> ApplicationOrg:
        """This org as an application member with the given anchor peers."""
        return ApplicationOrg(self.spec, tuple(anchors))

    def anchor(self, index: int = 0) -> AnchorPeer:
        """The anchor peer record for this org's peer ``index``."""
        digest = self.msp_id[:8]
        return AnchorPeer(f"peer-{digest}-{index}.peer-{digest}.default.svc.cluster.local", 7051)


def identity(org_name: str, msp_id: str, ca: pki.KeyPair, unit: str) -> Signer:
    """A leaf identity of ``ca`` with NodeOU ``unit``."""
    pair, _ = pki.issue(ca, common_name=f"{unit}@{org_name}", organization=org_name, unit=unit, now=NOW)
    return Signer(msp_id, pair.cert_pem, pair.key_pem)


def make_org(name: str) -> Org:
    """A fresh organisation with signing and TLS CAs and admin/client/peer/orderer identities."""
    msp_id = hashlib.sha1(name.encode()).hexdigest() + "MSP"
    ca = pki.new_ca(common_name=f"ca.{name}", organization=name, now=NOW)
    tls_ca = pki.new_ca(common_name=f"tlsca.{name}", organization=name, now=NOW)
    spec = MSPSpec(msp_id, (ca.cert_pem,), (tls_ca.cert_pem,))
    return Org(
        name=name,
        msp_id=msp_id,
        ca=ca,
        tls_ca=tls_ca,
        spec=spec,
        admin=identity(name, msp_id, ca, "admin"),
        client=identity(name, msp_id, ca, "client"),
        peer=identity(name, msp_id, ca, "peer"),
        orderer=identity(name, msp_id, ca, "orderer"),
        peer_host=f"peer-{msp_id[:8]}-0.peer-{msp_id[:8]}.default.svc.cluster.local",
    )


def orderer_spec(org: Org, nodes: int = 3, consensus_type: str = "etcdraft") -> OrdererSpec:
    """An ordering service of ``nodes`` raft nodes owned by ``org``."""
    consenters = []
    for i in range(nodes):
        host = f"orderer-{org.msp_id[:8]}-{i}.orderer-{org.msp_id[:8]}.default.svc.cluster.local"
        tls, _ = pki.issue(
            org.tls_ca, common_name=host, organization=org.name, unit=None, hosts=[host], tls=True, now=NOW
        )
        consenters.append(Consenter(host, 7050, tls.cert_pem, tls.cert_pem))
    return OrdererSpec(
        org=org.spec,
        consenters=tuple(consenters),
        addresses=tuple(f"{c.host}:{c.port}" for c in consenters),
        consensus_type=consensus_type,
        batch_timeout="3s",
        max_message_count=321,
        absolute_max_bytes=77 * 1024 * 1024,
        preferred_max_bytes=512 * 1024,
    )


@pytest.fixture(scope="session")
def orgs() -> list[Org]:
    """Four application organisations."""
    return [make_org(f"org{i}") for i in range(1, 5)]


@pytest.fixture(scope="session")
def ord_org() -> Org:
    """The ordering organisation."""
    return make_org("orderer-org")


@pytest.fixture(scope="session")
def ordering(ord_org: Org) -> OrdererSpec:
    """Three raft consenters of the ordering organisation."""
    return orderer_spec(ord_org)


@pytest.fixture
def spec_of(ordering: OrdererSpec) -> Callable[..., ChannelSpec]:
    """Build a ChannelSpec from application orgs (optionally with anchor peers)."""

    def build(*apps: ApplicationOrg) -> ChannelSpec:
        return ChannelSpec(CHANNEL, ordering, tuple(apps))

    return build


@dataclass
class Chain:
    """A config chain: blocks, the stored CONFIG_UPDATE envelopes and who signed each update."""

    blocks: list[Block]
    updates: dict[int, bytes]
    signers: dict[int, list[str]]

    @property
    def raw(self) -> list[bytes]:
        """The blocks serialized."""
        return [b.SerializeToString(deterministic=True) for b in self.blocks]


def ser(message: Message) -> bytes:
    """Deterministic protobuf bytes."""
    return message.SerializeToString(deterministic=True)


@pytest.fixture(scope="session")
def chain(orgs: list[Org], ordering: OrdererSpec, ord_org: Org) -> Chain:
    """Genesis with org1-3, then: org4 joins, org2 quits, org3 gets an anchor peer."""
    o = orgs

    def spec(*apps: ApplicationOrg) -> ChannelSpec:
        return ChannelSpec(CHANNEL, ordering, tuple(apps))

    blocks = [genesis_block(CHANNEL, build_config(spec(o[0].app([o[0].anchor()]), o[1].app(), o[2].app())), NOW)]
    steps = [
        (
            spec(o[0].app([o[0].anchor()]), o[1].app(), o[2].app(), o[3].app()),
            [o[3].admin, o[0].admin, o[1].admin, o[2].admin],
            o[0].client,
        ),
        (
            spec(o[0].app([o[0].anchor()]), o[2].app(), o[3].app()),
            [o[1].admin, o[0].admin, o[2].admin, o[3].admin],
            o[1].admin,
        ),
        (spec(o[0].app([o[0].anchor()]), o[2].app([o[2].anchor()]), o[3].app()), [o[2].admin, o[0].admin], o[2].client),
    ]
    updates: dict[int, bytes] = {}
    signers: dict[int, list[str]] = {}
    for target, admins, submitter in steps:
        result = next_config_block(blocks[-1], target, admins, submitter, ord_org.orderer, NOW)
        assert result is not None
        block, envelope, signed_by = result
        blocks.append(block)
        updates[block.header.number] = ser(envelope)
        signers[block.header.number] = signed_by
    return Chain(blocks, updates, signers)
