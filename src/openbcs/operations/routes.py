"""HTTP routes of the operations domain: ListOpRecord."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from openbcs.engine.records import list_records
from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, query
from openbcs.http.openapi import documented
from openbcs.http.responses import JSONAnswer
from openbcs.http.routing import API_DEPENDENCIES
from openbcs.operations.schemas import ListOpRecordQuery, ListOpRecordResponse, record_answer

router = APIRouter(prefix="/v2/{project_id}", dependencies=API_DEPENDENCIES)


@router.get(
    "/operation/record",
    name="ListOpRecord",
    response_model=ListOpRecordResponse,
    response_model_exclude_none=True,
    response_class=JSONAnswer,
)
@documented(sdk="list_op_record")
async def list_op_record(
    caller: CurrentCaller, ctx: Context, filters: Annotated[ListOpRecordQuery, Depends(query(ListOpRecordQuery))]
) -> JSONAnswer:
    """The caller's asynchronous operations with their steps, newest first."""
    found = await ctx.db.read_rows(list_records, project_id=caller.project_id, **filters.model_dump(exclude_none=True))
    return JSONAnswer({"count": len(found), "operation_records": [record_answer(r) for r in found]})
