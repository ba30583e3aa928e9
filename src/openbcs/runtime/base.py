"""The runtime interface: what OpenBCS asks of whatever runs its nodes. The supervisor is its only caller; the
domains never see it (they ask through :mod:`openbcs.runtime.tasks`). Implementations sit side by side:
:mod:`openbcs.runtime.modelled` and :mod:`openbcs.runtime.local.backend` (a Kubernetes one can follow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from openbcs.runtime.specs import Client, NodeSpec


@dataclass(frozen=True)
class NodeStatus:
    """What a runtime sees of a node: whether it runs, and if not, why (an exit code, a failing health check)."""

    running: bool
    message: str = ""
    pid: int | None = None


class OrderingRefused(Exception):
    """The orderers refused a config update: their status and message."""


class Runtime(Protocol):
    """Start, stop, look at, join, leave; and order a config update through a channel's orderers."""

    def start(self, node: NodeSpec) -> None:
        """Run the node (from its ledger if it has one); returns at once (several nodes start side by side)."""

    def await_started(self, node_name: str) -> None:
        """Return once the started node is healthy; raise (with its own last words) if it exits or is not in time."""

    def stop(self, node_name: str) -> None:
        """Stop the node if it runs."""

    def remove(self, node: NodeSpec) -> None:
        """Stop the node and delete its folder."""

    def forget(self, node_name: str) -> None:
        """Stop a node whose rows are gone (a deleted peer) and delete its folder."""

    def names(self) -> list[str]:
        """The nodes this runtime has started (running or not)."""

    def status(self, node_name: str) -> NodeStatus:
        """Whether the node runs now (cheap: asked every pass)."""

    def health(self, node_name: str) -> NodeStatus:
        """Whether the running node answers its own health check; if not, Fabric's message or why there is none."""

    def metrics_url(self, node_name: str) -> str | None:
        """The node's own Prometheus ``/metrics`` URL; None when it has no process (safe from any thread)."""

    def join(self, node: NodeSpec, channel: str, genesis_block: bytes, admin: Client) -> None:
        """Join the node to a channel with its block 0, as its organisation's admin (done if already joined)."""

    def leave(self, node: NodeSpec, channel: str, admin: Client) -> None:
        """Take the node out of a channel (a peer: stopped, unjoined, started again)."""

    def await_channel(self, orderers: Sequence[NodeSpec], channel: str, reader: Client) -> None:
        """Return once the channel's orderers serve it (a block can be read); raise if they do not in time."""

    def order(self, orderers: Sequence[NodeSpec], channel: str, envelope: bytes, reader: Client) -> bytes:
        """Broadcast a CONFIG_UPDATE envelope and return the block the orderers committed for it (serialized);
        :class:`OrderingRefused` if they refuse it."""

    def close(self) -> None:
        """Stop every node this runtime started (the server is stopping)."""
