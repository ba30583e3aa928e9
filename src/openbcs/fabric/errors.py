"""The one exception the library raises for invalid configuration input or an update an orderer would refuse."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config, update or block that Fabric would reject; the message says why."""
