"""The modelled runtime: nodes are rows of the model, so there is nothing to start, join or stop, and config blocks
are cut by OpenBCS itself (:mod:`openbcs.network.config_history`). Operations never hand it work; it exists so the
runtime stays one interface with its implementations side by side."""

from __future__ import annotations

from collections.abc import Sequence

from openbcs.runtime.base import NodeStatus, OrderingRefused
from openbcs.runtime.specs import Client, NodeSpec


class ModelledRuntime:
    """Every node "runs" as soon as the model says so."""

    def start(self, node: NodeSpec) -> None:
        """Nothing to start."""

    def await_started(self, node_name: str) -> None:
        """Nothing to wait for."""

    def stop(self, node_name: str) -> None:
        """Nothing to stop."""

    def remove(self, node: NodeSpec) -> None:
        """Nothing to remove."""

    def forget(self, node_name: str) -> None:
        """Nothing runs."""

    def names(self) -> list[str]:
        """No node runs."""
        return []

    def status(self, node_name: str) -> NodeStatus:
        """A modelled node is as the model says: running."""
        return NodeStatus(running=True)

    def health(self, node_name: str) -> NodeStatus:
        """A modelled node is healthy."""
        return NodeStatus(running=True)

    def metrics_url(self, node_name: str) -> str | None:
        """A modelled node has no process, so no metrics of its own."""
        return None

    def join(self, node: NodeSpec, channel: str, genesis_block: bytes, admin: Client) -> None:
        """The model's channel membership is the join."""

    def leave(self, node: NodeSpec, channel: str, admin: Client) -> None:
        """The model's channel membership is the leave."""

    def await_channel(self, orderers: Sequence[NodeSpec], channel: str, reader: Client) -> None:
        """A modelled channel is served as soon as it exists."""

    def order(self, orderers: Sequence[NodeSpec], channel: str, envelope: bytes, reader: Client) -> bytes:
        """Never asked: the modelled runtime's blocks are cut in the operation's own transaction."""
        raise OrderingRefused("the modelled runtime orders config updates in the operation itself")

    def close(self) -> None:
        """Nothing runs."""
