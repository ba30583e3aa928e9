"""HTTP routes of the monitoring operations (25-29), of a node's log and of OpenBCS's own ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from openbcs.http.context import Context
from openbcs.http.deps import CurrentCaller, json_body, query
from openbcs.http.openapi import documented
from openbcs.http.routing import API_DEPENDENCIES
from openbcs.monitoring import logs, metrics, views
from openbcs.monitoring.deps import Monitoring
from openbcs.monitoring.schemas import (
    EventsQuery,
    ListBcsEventRequestBody,
    ListBcsMetricRequestBody,
    ListEntityMetricRequestBody,
    ListEntityMetricResponse,
    ListInstanceMetricRequestBody,
    MetricsResponse,
    NodeLogsQuery,
    NodeLogsResponse,
)
from openbcs.monitoring.telemetry import CONTENT_TYPE
from openbcs.runtime.config import RuntimeConfig

router = APIRouter(prefix="/v2/{project_id}/blockchains/{blockchain_id}", dependencies=API_DEPENDENCIES)
metrics_router = APIRouter(dependencies=API_DEPENDENCIES)

EventsBody = Annotated[ListBcsEventRequestBody, Depends(json_body(ListBcsEventRequestBody))]
EventsType = Annotated[EventsQuery, Depends(query(EventsQuery))]


@router.post("/events", name="ListBcsEvents")
@documented(sdk="list_bcs_events")
async def list_bcs_events(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, params: EventsType, body: EventsBody
) -> MetricsResponse:
    """The instance's events, or its active or past alarms."""
    return await ctx.db.read(
        views.events, project_id=caller.project_id, blockchain_id=blockchain_id, type_=params.type, body=body
    )


@router.post("/events/statistic", name="ListBcsEventsStatistic")
@documented(sdk="list_bcs_events_statistic")
async def list_bcs_events_statistic(
    caller: CurrentCaller, ctx: Context, blockchain_id: str, params: EventsType, body: EventsBody
) -> MetricsResponse:
    """Counts of the instance's events (or alarms) per name and step."""
    return await ctx.db.read(
        views.statistics, project_id=caller.project_id, blockchain_id=blockchain_id, type_=params.type, body=body
    )


@router.post("/metric/list", name="ListBcsMetric")
@documented(sdk="list_bcs_metric")
async def list_bcs_metric(
    caller: CurrentCaller,
    ctx: Context,
    monitoring: Monitoring,
    blockchain_id: str,
    body: Annotated[ListBcsMetricRequestBody, Depends(json_body(ListBcsMetricRequestBody))],
) -> MetricsResponse:
    """The instance's node metrics."""
    return await metrics.bcs_metrics(
        ctx.db, monitoring.source, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )


@router.post("/entity/metric/list", name="ListEntityMetric")
@documented(sdk="list_entity_metric")
async def list_entity_metric(
    caller: CurrentCaller,
    ctx: Context,
    monitoring: Monitoring,
    blockchain_id: str,
    body: Annotated[ListEntityMetricRequestBody, Depends(json_body(ListEntityMetricRequestBody))],
) -> ListEntityMetricResponse:
    """Each organisation's (or plugin's) latest metrics."""
    return await metrics.entity_metrics(
        ctx.db, monitoring.source, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )


@router.post("/entity/instance/metric/list", name="ListInstanceMetric")
@documented(sdk="list_instance_metric")
async def list_instance_metric(
    caller: CurrentCaller,
    ctx: Context,
    monitoring: Monitoring,
    blockchain_id: str,
    body: Annotated[ListInstanceMetricRequestBody, Depends(json_body(ListInstanceMetricRequestBody))],
) -> MetricsResponse:
    """One pod's metrics."""
    return await metrics.instance_metrics(
        ctx.db, monitoring.source, project_id=caller.project_id, blockchain_id=blockchain_id, body=body
    )


@router.get("/nodes/{node_name}/logs", name="ShowBlockchainNodeLogs")
@documented()
async def show_blockchain_node_logs(
    caller: CurrentCaller,
    ctx: Context,
    blockchain_id: str,
    node_name: str,
    params: Annotated[NodeLogsQuery, Depends(query(NodeLogsQuery))],
) -> NodeLogsResponse:
    """OpenBCS extension: the last ``tail`` lines (1-1000, default 100) of a peer's or orderer's log, oldest first;
    none for a modelled node, which runs no process."""
    return await logs.node_logs(
        ctx.db,
        RuntimeConfig.of(ctx.settings).nodes_dir,
        project_id=caller.project_id,
        blockchain_id=blockchain_id,
        node_name=node_name,
        tail=params.tail,
    )


@metrics_router.get("/metrics", name="Metrics")
@documented(download="text/plain", authenticated=False)
async def prometheus_metrics(ctx: Context, monitoring: Monitoring) -> Response:
    """OpenBCS's own metrics (no authentication; serve them on a separate --metrics-port to keep them private)."""
    return Response(await ctx.db.read(monitoring.telemetry.render), media_type=CONTENT_TYPE)
