"""What the network model tells other domains while an operation changes it. An action emits a signal with
``ctx.emit``; the reactions are registered where the app is assembled (:mod:`openbcs.catalog`), so the instance and
channel domains never import the consortium domain that reacts."""

from __future__ import annotations

from dataclasses import dataclass

from openbcs.kernel.keys import ServerKey
from openbcs.network.models import Channel, Instance


@dataclass(frozen=True)
class InstanceRemoving:
    """An instance's deletion is completing: its rows go right after the reactions ran."""

    instance: Instance
    operation_id: str
    # Leaving other instances' channels is a signed config update: the reactions need the keys.
    keys: ServerKey


@dataclass(frozen=True)
class ChannelRemoving:
    """A channel (only an empty one can be) is being deleted."""

    channel: Channel
    operation_id: str
