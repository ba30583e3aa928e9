"""The flavor: what one instance may hold. ShowBlockchainFlavors reports these; creation, scaling, channels and the
consortium enforce them, and request schemas bound their arrays with them before any database work."""

from __future__ import annotations

ORG_PEER_MAX = 5  # peers of one organisation
ORDERER_MAX = 10  # orderers of one instance
MEMBER_MAX = 20  # members (invited tenants) of one consortium channel
PEER_ORGS_MAX = 10  # peer organisations of one instance
CHANNELS_MAX = 20  # channels of one instance
DEFAULT_INSTANCE_QUOTA = 5
QUOTA_MAX = 100
