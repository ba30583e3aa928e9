"""OpenBCS: a self-hosted implementation of the Blockchain Service (BCS) v2 management API."""

__version__ = "0.1.0"
