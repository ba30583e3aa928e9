"""Real Fabric nodes for tests: an orderer organisation and a peer organisation issued with OpenBCS's own PKI, one
orderer and one peer rendered and started on free loopback ports.

Tests that need real nodes call ``fabric_bin_or_skip()`` first: the binaries come from ``OPENBCS_FABRIC_BIN``, else
``PATH``, else ``/opt/fabric/bin``; without them the test is skipped, saying why. Typical use::

    @pytest.fixture(scope="module")
    def net(tmp_path_factory):
        with running_net(tmp_path_factory.mktemp("net"), fabric_bin_or_skip()) as net:
            yield net
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fabric_protos.common.common_pb2 import Block

from openbcs.fabric import ApplicationOrg, ChannelSpec, Consenter, MSPSpec, OrdererSpec, build_config, genesis_block
from openbcs.network import pki
from openbcs.runtime.local.binaries import Binaries, FabricSetupError, find_binaries
from openbcs.runtime.local.process import NodeProcess
from openbcs.runtime.local.render import NodeLaunch, write_node
from openbcs.runtime.specs import Client, Endpoint, NodeIdentity, NodeRole, NodeSpec, PortName

HOST = "127.0.0.1"
DEFAULT_BIN = Path("/opt/fabric/bin")
START_SECONDS = 30.0  # a cold start takes about a second here; generous for loaded CI machines


def fabric_bin_or_skip(*, on_postgresql: bool = False) -> Binaries:
    """The Fabric 2.5 binaries to test with (``OPENBCS_FABRIC_BIN``, else ``PATH``, else /opt/fabric/bin), or skip.
    Real nodes run once per CI run, on its SQLite pass: they never touch the test database, so the PostgreSQL pass
    would only repeat them; ``on_postgresql`` for a test that runs them on the test database, whichever it is."""
    url = os.environ.get("OPENBCS_TEST_DATABASE_URL", "")
    if url and not url.startswith("sqlite") and not on_postgresql:
        pytest.skip("real Fabric nodes run once, on the SQLite pass (docs/runtime.md)")
    found = find_fabric()
    if isinstance(found, str):
        pytest.skip(f"real Fabric nodes: {found}")
    return found


def find_fabric() -> Binaries | str:
    """Fabric 2.5's binaries from ``OPENBCS_FABRIC_BIN``, else ``PATH``, else /opt/fabric/bin; or why there are none
    (the tests skip with it, the benchmark says it)."""
    configured = os.environ.get("OPENBCS_FABRIC_BIN")
    config = os.environ.get("OPENBCS_FABRIC_CONFIG")
    if configured:
        bin_dir: Path | None = Path(configured)
    elif shutil.which("orderer") and shutil.which("peer"):
        bin_dir = None
    elif DEFAULT_BIN.is_dir():
        bin_dir = DEFAULT_BIN
    else:
        return "no Fabric 2.5 binaries (set OPENBCS_FABRIC_BIN, or put orderer/peer on PATH)"
    try:
        return find_binaries(bin_dir, Path(config) if config else None)
    except FabricSetupError as error:
        return str(error)


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports the kernel calls free now (all bound at once, so no duplicates)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(closing(socket.socket())) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass(frozen=True)
class Org:
    """An organisation's CAs and its admin (signing pair with OU admin, TLS client pair from the TLS CA)."""

    name: str
    msp_id: str
    ca: pki.KeyPair
    tls_ca: pki.KeyPair
    admin: pki.KeyPair
    admin_tls: pki.KeyPair

    @property
    def msp(self) -> MSPSpec:
        """The organisation as a channel member."""
        return MSPSpec(self.msp_id, (self.ca.cert_pem,), (self.tls_ca.cert_pem,))

    def client(self) -> Client:
        """The admin as a runtime client (e.g. for the orderer's admin endpoint)."""
        return Client(
            self.msp_id, self.admin.cert_pem, self.admin.key_pem, self.admin_tls.cert_pem, self.admin_tls.key_pem
        )


def make_org(name: str, now: dt.datetime) -> Org:
    """Fresh CAs and an admin for organisation ``name`` (MSP id ``<Name>MSP``)."""
    ca = pki.new_ca(common_name=f"ca.{name}", organization=name, now=now)
    tls_ca = pki.new_ca(common_name=f"tlsca.{name}", organization=name, now=now)
    admin, _ = pki.issue(ca, common_name=f"admin@{name}", organization=name, unit="admin", now=now)
    admin_tls, _ = pki.issue(tls_ca, common_name=f"admin@{name}", organization=name, unit=None, tls=True, now=now)
    return Org(name, f"{name.capitalize()}MSP", ca, tls_ca, admin, admin_tls)


def node_identity(org: Org, unit: str, node: str, host: str, now: dt.datetime) -> NodeIdentity:
    """A node's identity (NodeOU ``unit``) and TLS server pair whose SAN names ``host``."""
    cert, _ = pki.issue(org.ca, common_name=f"{node}.{org.name}", organization=org.name, unit=unit, now=now)
    tls, _ = pki.issue(org.tls_ca, common_name=node, organization=org.name, unit=None, tls=True, hosts=[host], now=now)
    return NodeIdentity(
        org.msp_id, org.ca.cert_pem, org.tls_ca.cert_pem, cert.cert_pem, cert.key_pem, tls.cert_pem, tls.key_pem
    )


@dataclass
class RealNet:
    """The organisations, node specs and running processes (by node name) of a started network."""

    binaries: Binaries
    orderer_org: Org
    peer_org: Org
    orderer: NodeSpec
    peer: NodeSpec
    processes: dict[str, NodeProcess] = field(default_factory=dict)

    def spec(self, name: str) -> NodeSpec:
        """A node's spec by name."""
        return self.orderer if name == self.orderer.name else self.peer

    def start(self, name: str) -> NodeLaunch:
        """Render node ``name`` (again) and start it; wait until it is healthy."""
        launch = write_node(self.spec(name), self.binaries)
        process = self.processes.setdefault(name, NodeProcess())
        process.start(launch)
        process.wait_healthy(START_SECONDS)
        return launch

    def stop(self) -> None:
        """Stop every node started (each by its own process group id), the last started first: peers before the
        orderer they read from, which spares the log a disconnection warning."""
        for process in reversed(self.processes.values()):
            process.stop()

    def genesis(self, channel_id: str) -> Block:
        """Block 0 of a channel ordered by this orderer alone, with the peer organisation as member."""
        tls_cert = self.orderer.identity.tls_cert
        consenter = Consenter(
            self.orderer.endpoint.host, self.orderer.endpoint.ports[PortName.LISTEN], tls_cert, tls_cert
        )
        orderer = OrdererSpec(
            org=self.orderer_org.msp,
            consenters=(consenter,),
            addresses=(self.orderer.endpoint.address(),),
            batch_timeout="200ms",
        )
        spec = ChannelSpec(channel_id, orderer, (ApplicationOrg(self.peer_org.msp),))
        return genesis_block(channel_id, build_config(spec), dt.datetime.now(dt.UTC))


def build_net(root: Path, binaries: Binaries, host: str = HOST) -> RealNet:
    """PKI and node specs (homes under ``root``, free ports on ``host``); nothing started."""
    now = dt.datetime.now(dt.UTC)
    orderer_org, peer_org = make_org("orderers", now), make_org("members", now)
    listen, admin, ops, peer_listen, chaincode, peer_ops = free_ports(6, host)
    orderer = NodeSpec(
        name="orderer0",
        role=NodeRole.ORDERER,
        endpoint=Endpoint(host, {PortName.LISTEN: listen, PortName.ADMIN: admin, PortName.OPERATIONS: ops}),
        identity=node_identity(orderer_org, "orderer", "orderer0", host, now),
        home=root / "orderer0",
        admin_tls_ca=orderer_org.tls_ca.cert_pem,
    )
    peer = NodeSpec(
        name="peer0",
        role=NodeRole.PEER,
        endpoint=Endpoint(
            host, {PortName.LISTEN: peer_listen, PortName.CHAINCODE: chaincode, PortName.OPERATIONS: peer_ops}
        ),
        identity=node_identity(peer_org, "peer", "peer0", host, now),
        home=root / "peer0",
    )
    return RealNet(binaries, orderer_org, peer_org, orderer, peer)


@contextmanager
def running_net(root: Path, binaries: Binaries, host: str = HOST) -> Iterator[RealNet]:
    """A started orderer and peer, both healthy; stopped on exit whatever happens."""
    net = build_net(root, binaries, host)
    try:
        net.start(net.orderer.name)
        net.start(net.peer.name)
        yield net
    finally:
        net.stop()
