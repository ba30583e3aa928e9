"""The local runtime: each node a Hyperledger Fabric 2.5 process on this machine (``render`` writes its home,
``process`` runs it), spoken to over the network as any Fabric client would (``osnadmin`` for the orderers' channel
participation API, ``wire`` for Broadcast, Deliver and the peers' system chaincodes). Blocking: the supervisor's
thread calls it, never the event loop."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Sequence

from fabric_protos.common.common_pb2 import Block, Envelope

from openbcs import fabric
from openbcs.fabric.read import update_envelope_of
from openbcs.runtime.base import NodeStatus, OrderingRefused
from openbcs.runtime.local import osnadmin, render, wire
from openbcs.runtime.local.binaries import Binaries
from openbcs.runtime.local.process import NodeProcess
from openbcs.runtime.specs import Client, NodeRole, NodeSpec, PortName

log = logging.getLogger("openbcs.runtime")

START_SECONDS = 30.0  # an orderer is healthy in about two seconds, a peer in one; a loaded machine takes longer
ORDER_SECONDS = 30.0  # Broadcast retried while the channel has no Raft leader yet (SERVICE_UNAVAILABLE)
SERVICE_UNAVAILABLE = 503
HEALTH_TIMEOUT = 1.0  # a node that does not answer /healthz within this is unhealthy (e.g. stopped with SIGSTOP)


class LocalRuntime:
    """Runs nodes as child processes of this server (they die with it) and talks to them over loopback."""

    def __init__(self, binaries: Binaries) -> None:
        self.binaries = binaries
        self._processes: dict[str, NodeProcess] = {}

    def start(self, node: NodeSpec) -> None:
        """Render the node's home (its ledger kept) and start its process."""
        process = self._processes.setdefault(node.name, NodeProcess())
        if not process.running():
            process.start(render.write_node(node, self.binaries))

    def await_started(self, node_name: str) -> None:
        """Wait until the node's ``/healthz`` answers 200 (``NodeStartError`` with its log's last lines if not)."""
        self._processes[node_name].wait_healthy(START_SECONDS)

    def stop(self, node_name: str) -> None:
        """Stop the node's process (SIGTERM, then SIGKILL)."""
        process = self._processes.get(node_name)
        if process is not None:
            process.stop()

    def remove(self, node: NodeSpec) -> None:
        """Stop the node and delete its home."""
        self.stop(node.name)
        self._processes.pop(node.name, None)
        shutil.rmtree(node.home, ignore_errors=True)

    def forget(self, node_name: str) -> None:
        """Stop the node and delete the folder it ran from (its rows are gone: no spec to read it from)."""
        process = self._processes.pop(node_name, None)
        if process is None:
            return
        process.stop()
        if process.launch is not None:
            shutil.rmtree(process.launch.cwd, ignore_errors=True)

    def status(self, node_name: str) -> NodeStatus:
        """Whether the node's process runs; if it exited, with which code."""
        process = self._processes.get(node_name)
        if process is None or process.pid is None:
            return NodeStatus(False, "not started")
        if process.running():
            return NodeStatus(True, pid=process.pid)
        return NodeStatus(False, f"process exited with code {process.exit_code()}")

    def health(self, node_name: str) -> NodeStatus:
        """Ask the node's ``/healthz`` (1 s): a node paused or failing a check is running but not healthy."""
        process = self._processes.get(node_name)
        if process is None or not process.running():
            return self.status(node_name)
        ok, why = process.healthy(timeout=HEALTH_TIMEOUT)
        return NodeStatus(ok, "" if ok else f"health check failing: {why}", pid=process.pid)

    def names(self) -> list[str]:
        """Nodes this runtime has a process for (running or not)."""
        return list(self._processes)

    def metrics_url(self, node_name: str) -> str | None:
        """The node's Prometheus ``/metrics``, beside its ``/healthz`` on the operations port; None if never started."""
        process = self._processes.get(node_name)
        launch = None if process is None else process.launch
        return None if launch is None else launch.health_url.removesuffix("/healthz") + "/metrics"

    def join(self, node: NodeSpec, channel: str, genesis_block: bytes, admin: Client) -> None:
        """Orderer: the channel participation API over mutual TLS; peer: ``cscc JoinChain``. Already joined is done."""
        if node.role is NodeRole.ORDERER:
            try:
                osnadmin.join(node.endpoint.address(PortName.ADMIN), channel, genesis_block, _admin_tls(node, admin))
            except osnadmin.OrdererAdminError as exc:
                if exc.status != 405:  # "channel already exists": joined by an earlier try
                    raise
            return
        with contextlib.suppress(wire.AlreadyJoined):
            wire.join_chain(node.endpoint.address(), node.identity.tlsca_cert, _signer(admin), genesis_block)

    def leave(self, node: NodeSpec, channel: str, admin: Client) -> None:
        """Orderer: removed from the channel (channel participation API). Peer: Fabric unjoins a channel only while
        the peer is stopped, so stop it, ``peer node unjoin``, and start it again."""
        if node.role is NodeRole.ORDERER:
            osnadmin.remove(node.endpoint.address(PortName.ADMIN), channel, _admin_tls(node, admin))
            return
        self.stop(node.name)
        launch = render.write_node(node, self.binaries)
        unjoin = subprocess.run(  # noqa: S603 - argv from the binaries' path and a checked channel name
            [str(self.binaries.peer), "node", "unjoin", "-c", channel],
            env=launch.env,
            cwd=launch.cwd,
            capture_output=True,
            timeout=60,
            check=False,
        )
        self.start(node)
        self.await_started(node.name)
        if unjoin.returncode != 0 and b"not found" not in unjoin.stderr + unjoin.stdout:
            raise RuntimeError(f"peer node unjoin -c {channel} failed: {unjoin.stderr.decode()[-400:]}")

    def await_channel(self, orderers: Sequence[NodeSpec], channel: str, reader: Client) -> None:
        """Read the channel's newest block from an orderer until it answers: right after the joins the Raft cluster
        has no leader yet and Deliver answers SERVICE_UNAVAILABLE."""
        _newest_block(orderers[0], channel, _signer(reader))

    def order(self, orderers: Sequence[NodeSpec], channel: str, envelope: bytes, reader: Client) -> bytes:
        """Broadcast to the first orderer that takes it, then read the block that holds the update (Deliver)."""
        if not orderers:
            raise OrderingRefused(f"channel {channel} has no orderer")
        orderer = orderers[0]
        address, tls_ca = orderer.endpoint.address(), orderer.identity.tlsca_cert
        reader_signer = _signer(reader)
        # After a restart (of the server, the nodes, or a restore) the channel has no Raft leader for some seconds.
        newest = _newest_block(orderer, channel, reader_signer)
        deadline = time.monotonic() + ORDER_SECONDS
        while True:
            result = wire.broadcast(address, tls_ca, envelope)
            if result.ok:
                break
            if result.status != SERVICE_UNAVAILABLE or time.monotonic() > deadline:
                raise OrderingRefused(f"the orderer refused the config update: status {result.status}: {result.info}")
            time.sleep(0.2)
        (block,) = wire.deliver(address, tls_ca, channel, reader_signer, newest + 1, newest + 1, ORDER_SECONDS)
        _check_holds(block, envelope)
        return block

    def close(self) -> None:
        """Stop every node (the server is stopping); their ledgers stay for the next start."""
        for name in list(self._processes):
            try:
                self.stop(name)
            except Exception:  # one node that will not stop must not keep the others running
                log.exception("stopping node %s failed", name)


def _newest_block(orderer: NodeSpec, channel: str, signer: fabric.Signer) -> int:
    """The number of the channel's newest block on ``orderer``, asked again while it answers SERVICE_UNAVAILABLE
    (no Raft leader yet), for at most ``ORDER_SECONDS``."""
    deadline = time.monotonic() + ORDER_SECONDS
    while True:
        try:
            return wire.newest_block_number(orderer.endpoint.address(), orderer.identity.tlsca_cert, channel, signer)
        except wire.DeliverRefused as refused:
            if refused.status != SERVICE_UNAVAILABLE or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _check_holds(block: bytes, envelope: bytes) -> None:
    """The delivered block must be the config block for this update (same transaction id), not some other block."""
    committed = fabric.last_update_of(Block.FromString(block))
    ours = update_envelope_of(Envelope.FromString(envelope))[0].tx_id
    if committed is None or update_envelope_of(committed)[0].tx_id != ours:
        raise OrderingRefused("the orderers' next block is not the config update that was sent")


def _signer(client: Client) -> fabric.Signer:
    return fabric.Signer(client.msp_id, client.cert, client.key)


def _admin_tls(node: NodeSpec, admin: Client) -> osnadmin.AdminTLS:
    return osnadmin.AdminTLS(ca_cert=node.identity.tlsca_cert, client_cert=admin.tls_cert, client_key=admin.tls_key)
