"""HTTP routes of the channel operations (14-19) and the configuration-history extension."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from openbcs.channels import service, views
from openbcs.channels.schemas import (
    BatchAddPeersToChannelRequestBody,
    BatchCreateChannelsRequestBody,
    BatchRemoveOrgsFromChannelRequestBody,
    BatchRemovePeersFromChannelRequestBody,
    ConfigHistoryQuery,
    ConfigHistoryResponse,
    ListBlockchainChannelsResponse,
    OperationIdResponse,
)
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body, query
from openbcs.http.fairness import project_turn
from openbcs.http.openapi import documented
from openbcs.http.routing import MUTATING_API_DEPENDENCIES
from openbcs.kernel import errors
from openbcs.kernel.validation import QueryInt

router = APIRouter(prefix="/v2/{project_id}/blockchains/{blockchain_id}", dependencies=MUTATING_API_DEPENDENCIES)


@router.post("/channels", name="BatchCreateChannels")
@documented(sdk="batch_create_channels")
async def batch_create_channels(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    body: Annotated[BatchCreateChannelsRequestBody, Depends(json_body(BatchCreateChannelsRequestBody))],
) -> OperationIdResponse:
    """Create channels."""
    operation_id = await ctx.db.write(
        service.batch_create, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )
    return OperationIdResponse(operation_id=operation_id)


@router.get("/channels", name="ListBlockchainChannels")
@documented(sdk="list_blockchain_channels")
async def list_blockchain_channels(
    caller: CurrentCaller, ctx: Context, blockchain_id: str
) -> ListBlockchainChannelsResponse:
    """The instance's channels with their peers and consensus nodes."""
    return await ctx.db.read(views.channels, project_id=caller.project_id, blockchain_id=blockchain_id)


@router.post("/channels/peers", name="BatchAddPeersToChannel")
@documented(sdk="batch_add_peers_to_channel")
async def batch_add_peers_to_channel(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    body: Annotated[BatchAddPeersToChannelRequestBody, Depends(json_body(BatchAddPeersToChannelRequestBody))],
) -> OperationIdResponse:
    """Add peers of organisations to one channel."""
    operation_id = await ctx.db.write(
        service.add_peers, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )
    return OperationIdResponse(operation_id=operation_id)


@router.put("/{channel_id}/orgs/quit", name="BatchRemoveOrgsFromChannel")
@documented(sdk="batch_remove_orgs_from_channel")
async def batch_remove_orgs_from_channel(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    channel_id: str,
    body: Annotated[BatchRemoveOrgsFromChannelRequestBody, Depends(json_body(BatchRemoveOrgsFromChannelRequestBody))],
) -> OperationIdResponse:
    """Take organisations out of a channel."""
    operation_id = await ctx.db.write(
        service.remove_orgs,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        channel_name=channel_id,
        body=body,
    )
    return OperationIdResponse(operation_id=operation_id)


@router.put("/{channel_id}/peers/quit", name="BatchRemovePeersFromChannel")
@documented(sdk="batch_remove_peers_from_channel")
async def batch_remove_peers_from_channel(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    channel_id: str,
    body: Annotated[BatchRemovePeersFromChannelRequestBody, Depends(json_body(BatchRemovePeersFromChannelRequestBody))],
) -> OperationIdResponse:
    """Take some peers of one organisation out of a channel."""
    operation_id = await ctx.db.write(
        service.remove_peers,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        channel_name=channel_id,
        body=body,
    )
    return OperationIdResponse(operation_id=operation_id)


@router.delete("/channel/{channel_id}", name="DeleteChannel")
@documented(sdk="delete_channel")
async def delete_channel(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, channel_id: str
) -> OperationIdResponse:
    """Delete an empty channel."""
    operation_id = await ctx.db.write(
        service.delete_channel, project_id=caller.project_id, blockchain_id=blockchain_id, channel_name=channel_id
    )
    return OperationIdResponse(operation_id=operation_id)


@router.get("/channels/{channel_name}/config-history", name="ShowChannelConfigHistory")
@documented()
async def show_channel_config_history(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    channel_name: str,
    page: Annotated[ConfigHistoryQuery, Depends(query(ConfigHistoryQuery))],
) -> ConfigHistoryResponse:
    """OpenBCS extension: the channel's Fabric config blocks, oldest first, and whether they verify as an orderer
    would check them. Paged: the newest `limit` blocks (1-1000, default 100) numbered below `marker` (without it,
    the newest); the next page's `marker` is the first block's `number`, and block 0 ends the walk. `verified` covers
    the blocks answered, each checked against the one before it (the block before the page included) and, on the
    page with the newest block, against the channel's organisations; `openbcs channel verify` checks whole chains."""
    # Up to 1,001 blocks verified: in a thread, one of the project's at a time (openbcs.http.fairness).
    async with project_turn(caller.project_id):
        return await asyncio.to_thread(
            ctx.db.run_read,
            views.config_history,
            project_id=caller.project_id,
            blockchain_id=blockchain_id,
            channel_name=channel_name,
            limit=page.limit,
            marker=page.marker,
        )


BLOCK = "application/octet-stream"


@router.get("/channels/{channel_name}/blocks/{number}", name="ShowChannelConfigBlock", response_class=Response)
@documented(download="application/octet-stream", errors=[errors.INVALID_BODY])
async def show_channel_config_block(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, channel_name: str, number: QueryInt
) -> Response:
    """OpenBCS extension: config block ``number`` of the channel, a serialized Fabric ``common.Block``."""
    content = await ctx.db.read(
        service.block_bytes,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        channel_name=channel_name,
        number=number,
    )
    return Response(content, media_type=BLOCK)


@router.get("/channels/{channel_name}/blocks/{number}/update", name="ShowChannelConfigUpdate", response_class=Response)
@documented(download="application/octet-stream", errors=[errors.INVALID_BODY])
async def show_channel_config_update(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, channel_name: str, number: QueryInt
) -> Response:
    """OpenBCS extension: the CONFIG_UPDATE ``common.Envelope`` that produced block ``number`` (from 1)."""
    content = await ctx.db.read(
        service.update_bytes,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        channel_name=channel_name,
        number=number,
    )
    return Response(content, media_type=BLOCK)
