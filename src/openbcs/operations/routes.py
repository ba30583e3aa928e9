"""HTTP routes of the operations domain: ListOpRecord."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from openbcs.engine.records import list_records
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, query
from openbcs.http.openapi import documented
from openbcs.operations.schemas import ListOpRecordQuery, ListOpRecordResponse, RecordDetailInfo

router = APIRouter(prefix="/v2/{project_id}")


@router.get("/operation/record", name="ListOpRecord", response_model_exclude_none=True)
@documented(sdk="list_op_record")
async def list_op_record(
    caller: CurrentCaller, ctx: Context, filters: Annotated[ListOpRecordQuery, Depends(query(ListOpRecordQuery))]
) -> ListOpRecordResponse:
    """The caller's asynchronous operations with their steps, newest first."""
    found = await ctx.db.read(list_records, project_id=caller.project_id, **filters.model_dump(exclude_none=True))
    return ListOpRecordResponse(count=len(found), operation_records=[RecordDetailInfo.of(r) for r in found])
