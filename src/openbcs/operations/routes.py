"""HTTP routes of the operations domain: ListOpRecord."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from openbcs.api import Caller, Context, query
from openbcs.operations import service
from openbcs.operations.schemas import ListOpRecordQuery, ListOpRecordResponse, RecordDetailInfo

router = APIRouter(prefix="/v2/{project_id}")


@router.get("/operation/record", name="ListOpRecord", response_model_exclude_none=True)
async def list_op_record(
    caller: Caller, ctx: Context, filters: Annotated[ListOpRecordQuery, Depends(query(ListOpRecordQuery))]
) -> ListOpRecordResponse:
    """The caller's asynchronous operations with their steps, newest first."""
    records = await ctx.db.read(
        lambda s: service.list_records(s, project_id=caller.project_id, **filters.model_dump(exclude_none=True))
    )
    return ListOpRecordResponse(count=len(records), operation_records=[RecordDetailInfo.of(r) for r in records])
