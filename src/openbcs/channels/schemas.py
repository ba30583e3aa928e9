"""Request and response models of the channel operations; field names exactly as the BCS API spells them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from openbcs.kernel.validation import QueryInt
from openbcs.network import limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelCreateInfo(_Strict):
    # No max_length: any name outside check_name's rule, however long, is BCS.4006012 "Invalid channel name."
    channel_name: str = Field(min_length=1)
    channel_description: str | None = Field(default=None, max_length=256)


class BatchCreateChannelsRequestBody(_Strict):
    channels: list[ChannelCreateInfo] = Field(min_length=1, max_length=limits.CHANNELS_MAX)


class PeerChannelInfo(_Strict):
    channel_name: str = Field(min_length=1, max_length=64)
    # organisation name -> how many more of its peers join (an organisation has at most ORG_PEER_MAX peers)
    peers: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=1, le=limits.ORG_PEER_MAX)]] = Field(
        min_length=1, max_length=limits.PEER_ORGS_MAX
    )


class BatchAddPeersToChannelRequestBody(_Strict):
    channel_peers: list[PeerChannelInfo] = Field(min_length=1, max_length=1)  # "only one channel per call"


class BatchRemoveOrgsFromChannelRequestBody(_Strict):
    org_names: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=limits.PEER_ORGS_MAX)


class BatchRemovePeersFromChannelRequestBody(_Strict):
    org_name: str = Field(min_length=1, max_length=64)
    # strictly between 0 and the organisation's peers in the channel (which are at most ORG_PEER_MAX)
    peers: int = Field(ge=1, le=limits.ORG_PEER_MAX - 1)


class Channel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    description: str
    create_time: str
    consensus: str
    peers: dict[str, list[str]]
    consensus_nodes: dict[str, list[str]] = Field(alias="consensusNodes")


class ListBlockchainChannelsResponse(BaseModel):
    channels: list[Channel]


class ConfigOrg(BaseModel):
    blockchain_id: str
    name: str
    msp_id: str


class ConfigBlockView(BaseModel):
    """A config block: Fabric header hashes (hex; block 0 has an empty ``previous_hash``), the transaction id and
    config sequence, the MSP ids whose admins signed its update, and the organisations it holds."""

    number: int
    previous_hash: str
    hash: str
    tx_id: str
    config_sequence: int
    signers: list[str]
    event: str
    orgs: list[ConfigOrg]
    cause: str
    time: str


HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX = 100, 1000
BLOCK_NUMBER_MAX = 2**31 - 1


class ConfigHistoryQuery(BaseModel):
    """OpenBCS extension's paging of ``config-history``: the newest ``limit`` blocks numbered below ``marker`` (the
    first block number of the page before; without it, the newest blocks)."""

    model_config = ConfigDict(extra="forbid")

    limit: QueryInt = Field(default=HISTORY_LIMIT_DEFAULT, ge=1, le=HISTORY_LIMIT_MAX)
    marker: QueryInt | None = Field(default=None, ge=1, le=BLOCK_NUMBER_MAX)


class ConfigHistoryResponse(BaseModel):
    """OpenBCS extension: ``GET .../channels/{channel_name}/config-history``."""

    channel_name: str
    blocks: list[ConfigBlockView]
    verified: bool


class OperationIdResponse(BaseModel):
    """What every asynchronous channel operation answers."""

    operation_id: str
