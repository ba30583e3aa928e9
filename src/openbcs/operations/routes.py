"""HTTP routes of the operations domain: ListOpRecord."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, query
from openbcs.http.fairness import project_turn
from openbcs.http.openapi import documented
from openbcs.http.responses import JSONAnswer
from openbcs.http.routing import API_DEPENDENCIES
from openbcs.operations.answers import list_answer
from openbcs.operations.schemas import ListOpRecordQuery, ListOpRecordResponse

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
    """The caller's asynchronous operations with their steps, newest first. Finished ones are kept
    --operation-retention days (default 30), at most the newest 1,000 per project; running ones always."""
    # Its cost grows with the project's operations (up to 1,000 kept): read in a thread, one of the project's at a
    # time (openbcs.http.fairness); finished records come encoded from the last time (openbcs.operations.answers).
    async with project_turn(caller.project_id):
        answer = await asyncio.to_thread(
            ctx.db.run_read_rows, list_answer, project_id=caller.project_id, **filters.model_dump()
        )
        return JSONAnswer(answer)
