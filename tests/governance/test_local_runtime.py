"""External admin custody in the local runtime, with real Fabric 2.5 orderers and peers (docs/governance.md): the
custody switch is ordered by the real orderers; the organisation's peers are still joined to channels by OpenBCS
(as its node operator, an admin of the peers' local MSP only); a change that needs the organisation's signature
waits until the tenant signs with its own key (made here, never sent), and the real orderers then commit it.

One network for the module (real nodes are slow to start); the tests run in order. Runs where Fabric's binaries
are, on the SQLite pass only, like the other real-node tests (``fabric_bin_or_skip``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.common.common_pb2 import Block, SignatureHeader
from fabric_protos.common.configtx_pb2 import ConfigUpdateEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity
from fabric_protos.msp.msp_config_pb2 import FabricMSPConfig, MSPConfig
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.fabric.read import update_envelope_of
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network.models import Node, Organization
from openbcs.runtime import nodespecs
from openbcs.runtime.local import wire
from openbcs.runtime.specs import NodeSpec
from tests.conftest import SECRET_KEY
from tests.governance.helpers import CHANNEL, TenantKey, admin_rows, org_id, setup_external, signature_body, update_of
from tests.runtime.local.realnet import fabric_bin_or_skip
from tests.runtime.network import LocalServer
from tests.support.accounts import issue_token
from tests.support.diagnostic import wait_for
from tests.support.tenants import Tenant

pytestmark = pytest.mark.slow
SECOND = "second"


@dataclass
class Net:
    """The module's server, its tenant, and what the tests learn as they go."""

    server: LocalServer
    tenant: Tenant
    db: Database
    keys: ServerKey
    found: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    binaries = fabric_bin_or_skip()
    server = LocalServer(tmp_path_factory.mktemp("governance-local"), binaries, SECRET_KEY)
    (account,) = server.make_accounts("governance-local")
    server.start()
    db = Database(server.database_url)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            tenant = Tenant(http, account, issue_token(http, account))
            yield Net(server, tenant, db, ServerKey(base64.urlsafe_b64decode(SECRET_KEY)))
    finally:
        db.dispose()
        server.stop()


def _peer(net: Net, bid: str, org: str) -> tuple[NodeSpec, fabric.Signer]:
    """The organisation's (only) peer, and the identity OpenBCS administers it with."""

    def read(session: Session) -> tuple[NodeSpec, fabric.Signer]:
        organization = session.scalars(
            select(Organization).where(Organization.blockchain_id == bid, Organization.name == org)
        ).one()
        node_id = session.scalars(select(Node.id).where(Node.org_id == organization.id)).one()
        spec = nodespecs.node_spec(session, node_id, keys=net.keys, nodes_dir=net.server.data_dir / "nodes")
        return spec, nodespecs.signer(nodespecs.admin_client(session, organization, keys=net.keys))

    return net.db.run_read(read)


def _orderer_config(net: Net, bid: str, channel: str) -> Block:
    """The channel's newest block as the first real orderer serves it (Deliver), read by the orderer org's admin."""
    orderers, reader = net.db.run_read(
        nodespecs.orderers_of, bid, keys=net.keys, nodes_dir=net.server.data_dir / "nodes"
    )
    address, tls_ca = orderers[0].endpoint.address(), orderers[0].identity.tlsca_cert
    (raw,) = wire.deliver(address, tls_ca, channel, nodespecs.signer(reader), 0, None)[-1:]
    return Block.FromString(raw)


def _msp_of(block: Block, msp: str) -> FabricMSPConfig:
    group = fabric.config_of(block).channel_group.groups["Application"].groups[msp]
    return FabricMSPConfig.FromString(MSPConfig.FromString(group.values["MSP"].value).config)


def test_switch_is_ordered_and_the_peers_still_join(net: Net) -> None:
    bid, key = setup_external(net.tenant)  # orga, orgb (in the channel) and orgc; orgb now external
    net.found.update(bid=bid, key=key)
    # The real orderers committed the switch: orgb's admins are exactly the tenant's certificate, no admin OU.
    block = _orderer_config(net, bid, CHANNEL)
    msp = _msp_of(block, key.msp_id)
    assert [bytes(a).decode() for a in msp.admins] == [key.cert_pem]
    assert not msp.fabric_node_ous.HasField("admin_ou_identifier")
    last = fabric.last_update_of(block)
    assert last is not None
    assert fabric.signers_of(last.SerializeToString()) == [key.msp_id]  # the hosted key's last use
    # No hosted admin key of orgb is left; its peers are administered by the node operator (OU admin).
    rows = admin_rows(net.db, org_id(net.db, bid, "orgb"))
    assert [(r["role"], r["has_key"]) for r in rows] == [
        ("admin", False),
        ("admin-tls", False),
        ("admin-external", False),
    ]
    peer, operator = _peer(net, bid, "orgb")
    operator_cert = x509.load_pem_x509_certificate(operator.cert_pem)
    assert operator_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "NodeOperator@orgb"
    assert operator_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "admin"

    # orgb's peer joins a new channel: JoinChain, which the peer's local MSP allows only to its admins.
    net.tenant.run(net.tenant.create_channels(bid, SECOND))
    net.tenant.run(net.tenant.add_peers(bid, SECOND, {"orgb": 1}))
    address, tls_ca = peer.endpoint.address(), peer.identity.tlsca_cert
    tenant_signer = fabric.Signer(key.msp_id, key.cert_pem.encode(), key.key_pem())
    assert sorted(wire.peer_channels(address, tls_ca, tenant_signer)) == sorted([CHANNEL, SECOND])
    assert fabric.application_orgs(fabric.config_of(_orderer_config(net, bid, SECOND))) == [key.msp_id]


def test_a_change_needing_the_tenant_is_committed_by_the_orderers_once_signed(net: Net) -> None:
    bid, key = net.found["bid"], net.found["key"]
    assert isinstance(key, TenantKey)
    height = int(_orderer_config(net, bid, CHANNEL).header.number) + 1
    # Taking orga out of the channel needs MAJORITY of Application Admins: orgb's too.
    response = net.tenant.remove_orgs(bid, CHANNEL, ["orga"])
    assert response.status_code == 200, response.text
    operation_id = response.json()["operation_id"]

    def pending() -> list[dict[str, Any]]:
        return list(net.tenant.ok("GET", "/signature-requests", status="pending")["signature_requests"])

    (request,) = wait_for(pending, timeout=30, what="the signature request")
    assert (request["operation_id"], request["missing"]) == (operation_id, [key.msp_id])
    record = net.tenant.record(operation_id)
    assert record["operation_status"] == "processing"
    # Nothing reached the orderers meanwhile.
    assert int(_orderer_config(net, bid, CHANNEL).header.number) + 1 == height

    envelope = net.tenant.call("GET", f"/signature-requests/{request['id']}/envelope")
    assert envelope.status_code == 200
    update = update_of(envelope.content).config_update
    signature = key.signature(update)
    signed = net.tenant.call(
        "POST",
        f"/signature-requests/{request['id']}/signatures",
        signature_body(signature),
    )
    assert signed.status_code == 200, signed.text
    net.tenant.wait(operation_id, timeout=120)
    assert net.tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "submitted"

    # The real orderers cut the block: orgb alone in the channel, the update carrying the tenant's own signature.
    block = _orderer_config(net, bid, CHANNEL)
    assert int(block.header.number) == height
    assert fabric.application_orgs(fabric.config_of(block)) == [key.msp_id]
    last = fabric.last_update_of(block)
    assert last is not None
    inner: ConfigUpdateEnvelope = update_envelope_of(last)[2]
    assert inner.config_update == update
    headers = [SignatureHeader.FromString(s.signature_header) for s in inner.signatures]
    assert key.cert_pem.encode() in [SerializedIdentity.FromString(h.creator).id_bytes for h in headers]
    # orga's peer left the channel; orgb's peer is in it at the orderer's height.
    orga_peer, orga_admin = _peer(net, bid, "orga")
    orga_address, orga_ca = orga_peer.endpoint.address(), orga_peer.identity.tlsca_cert

    def orga_left() -> bool:
        try:  # the peer restarts to unjoin (Fabric unjoins only a stopped peer): refused connections meanwhile
            return CHANNEL not in wire.peer_channels(orga_address, orga_ca, orga_admin)
        except wire.RpcFailed:
            return False

    wait_for(orga_left, timeout=60, what="orga's peer to leave")
    orgb_peer, operator = _peer(net, bid, "orgb")
    address, tls_ca = orgb_peer.endpoint.address(), orgb_peer.identity.tlsca_cert
    tenant_signer = fabric.Signer(key.msp_id, key.cert_pem.encode(), key.key_pem())
    wait_for(
        lambda: wire.chain_info(address, tls_ca, tenant_signer, CHANNEL).height == height + 1,
        timeout=30,
        what="orgb's peer to commit the block",
    )
    # The node operator is the peer's local admin, not a member of the channel: the channel's Readers refuse it.
    with pytest.raises(wire.PeerRefused, match=r"access denied .*/Channel/Application/Readers"):
        wire.chain_info(address, tls_ca, operator, CHANNEL)
