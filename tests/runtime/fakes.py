"""A runtime for tests without Fabric's binaries: nodes "run" as soon as they are started, and each channel has an
in-memory orderer that validates and orders config updates the way a real one does (read-set versions, the update
applied, a block signed by the first orderer and chained to the last), or refuses them when told to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from fabric_protos.common.common_pb2 import Block, Envelope
from fabric_protos.common.configtx_pb2 import ConfigUpdate

from openbcs import fabric
from openbcs.fabric.read import update_envelope_of
from openbcs.runtime.base import NodeStatus, OrderingRefused
from openbcs.runtime.specs import Client, NodeRole, NodeSpec


@dataclass
class FakeRuntime:
    """Records what it was asked; ``refuse`` (a message) makes the next config updates fail as an orderer's 400."""

    running: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)
    joined: list[tuple[str, str]] = field(default_factory=list)  # (node name, channel)
    left: list[tuple[str, str]] = field(default_factory=list)
    chains: dict[str, list[Block]] = field(default_factory=dict)  # channel -> the blocks its orderers cut
    refuse: str | None = None
    unhealthy: dict[str, str] = field(default_factory=dict)  # node name -> what its health check says
    metrics_urls: dict[str, str] = field(default_factory=dict)  # node name -> its /metrics (a test's server)

    def start(self, node: NodeSpec) -> None:
        self.running.add(node.name)

    def await_started(self, node_name: str) -> None:
        assert node_name in self.running

    def stop(self, node_name: str) -> None:
        self.running.discard(node_name)

    def remove(self, node: NodeSpec) -> None:
        self.running.discard(node.name)
        self.removed.append(node.name)

    def forget(self, node_name: str) -> None:
        self.running.discard(node_name)
        self.removed.append(node_name)

    def names(self) -> list[str]:
        return sorted(self.running)

    def status(self, node_name: str) -> NodeStatus:
        return NodeStatus(node_name in self.running, "" if node_name in self.running else "stopped", pid=None)

    def health(self, node_name: str) -> NodeStatus:
        if node_name not in self.running:
            return NodeStatus(False, "stopped")
        reason = self.unhealthy.get(node_name)
        return NodeStatus(reason is None, reason or "")

    def metrics_url(self, node_name: str) -> str | None:
        return self.metrics_urls.get(node_name)

    def join(self, node: NodeSpec, channel: str, genesis_block: bytes, admin: Client) -> None:
        self.joined.append((node.name, channel))
        if node.role is NodeRole.ORDERER:
            self.chains.setdefault(channel, [Block.FromString(genesis_block)])

    def leave(self, node: NodeSpec, channel: str, admin: Client) -> None:
        self.left.append((node.name, channel))
        if node.role is NodeRole.ORDERER:
            self.chains.pop(channel, None)

    def await_channel(self, orderers: Sequence[NodeSpec], channel: str, reader: Client) -> None:
        if channel not in self.chains:
            raise OrderingRefused(f"no orderer serves channel {channel}")

    def order(self, orderers: Sequence[NodeSpec], channel: str, envelope: bytes, reader: Client) -> bytes:
        if self.refuse is not None:
            raise OrderingRefused(f"the orderer refused the config update: status 400: {self.refuse}")
        chain = self.chains[channel]
        last_update = Envelope.FromString(envelope)
        update = ConfigUpdate.FromString(update_envelope_of(last_update)[2].config_update)
        try:
            config = fabric.apply_update(fabric.config_of(chain[-1]), update, channel_id=channel)
        except fabric.ConfigError as exc:
            raise OrderingRefused(f"the orderer refused the config update: status 400: {exc}") from exc
        identity = orderers[0].identity
        signer = fabric.Signer(identity.msp_id, identity.cert, identity.key)
        number = len(chain)
        block = fabric.config_block(number, chain[-1].header, config, last_update, signer, dt.datetime.now(dt.UTC))
        chain.append(block)
        return bytes(block.SerializeToString())

    def close(self) -> None:
        self.running.clear()
