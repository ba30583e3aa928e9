"""The flavor and the per-request bounds: what one instance may hold and how much one request may ask for.

ShowBlockchainFlavors reports the flavor; creation, scaling, channels and the consortium enforce it, and request
schemas bound every array (and every number) with these values before any database work (``docs/limits.md``).
"""

from __future__ import annotations

ORG_PEER_MAX = 5  # peers of one organisation
ORDERER_MAX = 10  # orderers of one instance
MEMBER_MAX = 20  # members (invited tenants) of one consortium channel
PEER_ORGS_MAX = 10  # peer organisations of one instance
CHANNELS_MAX = 20  # channels of one instance
DEFAULT_INSTANCE_QUOTA = 5
QUOTA_MAX = 100

# UpdateInstance's node_orgs[].node_count is the target peer count, 1 to 2 (spec section 3.6).
UPDATE_NODE_COUNT_MAX = 2
# Chaincode names per channel in DownloadBlockchainSdkConfig's channel_chaincode (the spec gives no number).
CHAINCODES_PER_CHANNEL_MAX = 50
# Invitations one consortium instance may have waiting for one tenant at a time (across its channels): the
# invitee's inbox cannot be filled by one inviter faster than the invitee answers.
PENDING_INVITATIONS_PER_INVITEE = 5
# Cancelled notifications kept per invitee and inviter account (newest); older ones are deleted as new ones come.
CANCELLED_NOTIFICATIONS_KEPT = 20
