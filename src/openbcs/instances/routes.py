"""HTTP routes of the instance operations (7-13), quotas and flavors."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body, query
from openbcs.http.fairness import project_turn
from openbcs.http.openapi import documented
from openbcs.http.routing import MUTATING_API_DEPENDENCIES
from openbcs.instances import creation, service, views
from openbcs.instances.schemas import (
    BlockchainInfo,
    CreateNewBlockchainResponse,
    CreateRequestBody,
    DeleteBlockchainQuery,
    FlavorsQuery,
    ListBlockchainsResponse,
    ListQuotasResponse,
    OperationIdResponse,
    ShowBlockchainDetailResponse,
    ShowBlockchainFlavorsResponse,
    ShowBlockchainNodesResponse,
    ShowBlockchainStatusResponse,
    UpdateInstanceRequestBody,
)

router = APIRouter(prefix="/v2/{project_id}", dependencies=MUTATING_API_DEPENDENCIES)


def invitation_check(request: Request) -> creation.InvitationCheck:
    """What the app installed to tell whether an invitation waits (``app.state.invitation_check``, the consortium's
    answer); an app without it creates no invitee instance."""
    check: creation.InvitationCheck = getattr(request.app.state, "invitation_check", creation.no_invitation)
    return check


@router.post("/blockchains", name="CreateNewBlockchain")
@documented(sdk="create_new_blockchain")
async def create_new_blockchain(
    caller: CurrentCaller,
    ctx: Context,
    body: Annotated[CreateRequestBody, Depends(json_body(CreateRequestBody))],
    invited: Annotated[creation.InvitationCheck, Depends(invitation_check)],
) -> CreateNewBlockchainResponse:
    """Create an instance; it is ``IsCreating`` until its operation finishes."""
    created = await ctx.db.write(
        service.create,
        project_id=caller.project_id,
        domain_id=caller.domain_id,
        body=body,
        runtime=ctx.settings.fabric_runtime,
        invited=invited,
    )
    return CreateNewBlockchainResponse(
        blockchain_id=created.blockchain_id, blockchain_name=created.blockchain_name, operation_id=created.operation_id
    )


@router.get("/blockchains", name="ListBlockchains")
@documented(sdk="list_blockchains")
async def list_blockchains(caller: CurrentCaller, ctx: Context) -> ListBlockchainsResponse:
    """The project's instances."""
    found = await ctx.db.read(service.list_instances, project_id=caller.project_id)
    return ListBlockchainsResponse(blockchains=[BlockchainInfo(id=b.id, name=b.name) for b in found], count=len(found))


@router.get("/blockchains/flavors", name="ShowBlockchainFlavors")
@documented(sdk="show_blockchain_flavors")
async def show_blockchain_flavors(
    caller: CurrentCaller, limits: Annotated[FlavorsQuery, Depends(query(FlavorsQuery))]
) -> ShowBlockchainFlavorsResponse:
    """What one instance may hold (``limit``/``offset`` are validated; there is one flavor)."""
    return views.flavors()


@router.get("/blockchains/{blockchain_id}", name="ShowBlockchainDetail", response_model_exclude_none=True)
@documented(sdk="show_blockchain_detail")
async def show_blockchain_detail(
    caller: CurrentCaller, ctx: Context, blockchain_id: str
) -> ShowBlockchainDetailResponse:
    """Everything about an instance, from its stored model."""
    # ~10 ms of CPU at the largest instance: in a thread, one of the project's at a time (openbcs.http.fairness).
    async with project_turn(caller.project_id):
        return await asyncio.to_thread(
            ctx.db.run_read, views.detail, project_id=caller.project_id, blockchain_id=blockchain_id
        )


@router.get("/blockchains/{blockchain_id}/status", name="ShowBlockchainStatus", response_model_exclude_none=True)
@documented(sdk="show_blockchain_status")
async def show_blockchain_status(
    caller: CurrentCaller, ctx: Context, blockchain_id: str
) -> ShowBlockchainStatusResponse:
    """Progress of the instance's creation, part by part."""
    return await ctx.db.read(views.status, project_id=caller.project_id, blockchain_id=blockchain_id)


@router.get("/blockchains/{blockchain_id}/nodes", name="ShowBlockchainNodes")
@documented(sdk="show_blockchain_nodes")
async def show_blockchain_nodes(caller: CurrentCaller, ctx: Context, blockchain_id: str) -> ShowBlockchainNodesResponse:
    """Peer organisations with their peers and the channels each peer is in."""
    return await ctx.db.read(views.nodes, project_id=caller.project_id, blockchain_id=blockchain_id)


@router.put("/blockchains/{blockchain_id}", name="UpdateInstance")
@documented(sdk="update_instance")
async def update_instance(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    body: Annotated[UpdateInstanceRequestBody, Depends(json_body(UpdateInstanceRequestBody))],
) -> OperationIdResponse:
    """Add or delete peers of organisations, or add or delete organisations (one kind per call)."""
    operation_id = await ctx.db.write(
        service.update, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )
    return OperationIdResponse(operation_id=operation_id)


@router.delete("/blockchains/{blockchain_id}", name="DeleteBlockchain")
@documented(sdk="delete_blockchain")
async def delete_blockchain(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    flags: Annotated[DeleteBlockchainQuery, Depends(query(DeleteBlockchainQuery, unknown="refuse"))],
) -> OperationIdResponse:
    """Delete an instance: ``IsDeleting``, then gone from every list."""
    operation_id = await ctx.db.write(
        service.delete,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        flags=flags.model_dump(exclude_none=True),
    )
    return OperationIdResponse(operation_id=operation_id)


@router.get("/quotas", name="ListQuotas")
@documented(sdk="list_quotas")
async def list_quotas(caller: CurrentCaller, ctx: Context) -> ListQuotasResponse:
    """The account's instance quota and the project's use of it."""
    return await ctx.db.read(views.quotas, project_id=caller.project_id, domain_id=caller.domain_id)
