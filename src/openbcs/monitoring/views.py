"""The monitoring operations (25-29): events and alarms from the records, metrics from the configured source."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.api import ServerContext
from openbcs.blockchains import service as blockchains
from openbcs.db import now_ns
from openbcs.monitoring import service, sources
from openbcs.monitoring.schemas import (
    Dimension,
    EntityMetricList,
    EntityMetricListItem,
    ListBcsEventRequestBody,
    ListBcsMetricRequestBody,
    ListEntityMetricRequestBody,
    ListEntityMetricResponse,
    ListInstanceMetricRequestBody,
    MetricDataPoints,
    MetricDemision,
    MetricItemResultAPI,
    MetricsResponse,
    StatisticValue,
)
from openbcs.operations import service as operations

log = logging.getLogger("openbcs.monitoring")
WINDOW_MS = 60 * 60_000
STEP_MS = 5 * 60_000
AGENT, RESTAPI = "baas-agent", "baas-restapi"


def _kind(type_: str | None) -> str | None:
    return type_ if type_ in (service.ACTIVE_ALERT, service.HISTORY_ALERT) else None


def events(
    session: Session, *, project_id: str, blockchain_id: str, type_: str | None, body: ListBcsEventRequestBody
) -> MetricsResponse:
    """ListBcsEvents: one result per event (or alarm), newest first unless sorted otherwise."""
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    kind = _kind(type_)
    namespace = "BCS.Alarms" if kind else "BCS.Events"
    results = []
    for record in service.records(session, blockchain_id=instance.id, kind=kind, body=body):
        dimensions = [
            Dimension(name="blockchain_id", value=instance.id),
            Dimension(name="severity", value=record.severity),
            Dimension(name="message", value=record.message),
        ]
        dimensions += [Dimension(name=k, value=v) for k, v in sorted(record.metadata.items())]
        if record.cleared_ms is not None:
            dimensions.append(Dimension(name="cleared_time", value=str(record.cleared_ms)))
        results.append(
            MetricItemResultAPI(
                metric=MetricDemision(namespace=namespace, metric_name=record.name, dimensions=dimensions),
                data_points=[
                    MetricDataPoints(
                        timestamp=record.time_ms,
                        unit="count",
                        statistics=[StatisticValue(statistic="count", value=1.0)],
                    )
                ],
            )
        )
    return MetricsResponse(metrics=results)


def statistics(
    session: Session, *, project_id: str, blockchain_id: str, type_: str | None, body: ListBcsEventRequestBody
) -> MetricsResponse:
    """ListBcsEventsStatistic: per event (alarm) name, how many fell into each ``step`` of the window."""
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    kind = _kind(type_)
    window = service.parse_time_range(body.time_range, now_ms=now_ns() // 1_000_000)
    starts = service.buckets(window, body.step)
    counts: dict[str, list[int]] = {}
    for record in service.records(session, blockchain_id=instance.id, kind=kind, body=body, window=window):
        index = (record.time_ms - window.start_ms) // body.step
        if 0 <= index < len(starts):
            counts.setdefault(record.name, [0] * len(starts))[index] += 1
    namespace = "BCS.Alarms" if kind else "BCS.Events"
    return MetricsResponse(
        metrics=[
            MetricItemResultAPI(
                metric=MetricDemision(
                    namespace=namespace,
                    metric_name=name,
                    dimensions=[Dimension(name="blockchain_id", value=instance.id)],
                ),
                data_points=[
                    MetricDataPoints(
                        timestamp=start, unit="count", statistics=[StatisticValue(statistic="count", value=float(n))]
                    )
                    for start, n in zip(starts, per_bucket, strict=True)
                ],
            )
            for name, per_bucket in sorted(counts.items())
        ]
    )


# --- metrics ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entity:
    name: str
    kind: str  # org or plugin
    pods: tuple[str, ...]
    pvcs: tuple[str, ...]


def _entities(session: Session, instance: Any) -> list[_Entity]:
    found = []
    for org in blockchains.orgs_of(session, instance.id):
        found.append(
            _Entity(org.name, "org", tuple(n.name for n in blockchains.nodes_of(session, org.id)), (org.pvc_name,))
        )
    plugins = [AGENT] + ([RESTAPI] if instance.settings.get("restful_api_support") else [])
    for plugin in plugins:
        found.append(_Entity(plugin, "plugin", (f"{plugin}-{instance.id[:8]}",), ()))
    return found


def _activity(session: Session, instance: Any) -> tuple[int, ...]:
    records = operations.list_records(session, project_id=instance.project_id, blockchain_id=instance.id)
    return tuple(r.record_time // 1_000_000 for r in records)


def _result(name: str, dimensions: list[Dimension], points: list[tuple[int, float]]) -> MetricItemResultAPI:
    return MetricItemResultAPI(
        metric=MetricDemision(namespace="BCS.Node", metric_name=name, dimensions=dimensions),
        data_points=[
            MetricDataPoints(
                timestamp=t, unit=sources.UNITS[name], statistics=[StatisticValue(statistic="average", value=v)]
            )
            for t, v in points
        ],
    )


async def _series(ctx: ServerContext, metric: str, target: sources.Target) -> list[tuple[int, float]]:
    assert ctx.metrics_source is not None
    end = now_ns() // 1_000_000 // STEP_MS * STEP_MS
    source = ctx.metrics_source
    try:
        return await anyio.to_thread.run_sync(
            lambda: source.series(metric, target, start_ms=end - WINDOW_MS + STEP_MS, end_ms=end, step_ms=STEP_MS)
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        # Unreachable, refusing, or answering in an unexpected shape: the source is unavailable either way.
        log.warning("metrics source failed for %s: %s", metric, exc)
        raise errors.BCSError(errors.INTERNAL, "Internal Server Error: the metrics source is unavailable") from exc


def _decimal(value: float) -> str:
    """A value as a plain decimal string: every digit of a large rate (``:g`` would give ``1.23457e+06``), none of the
    trailing zeros (``6``, ``6.6``)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _check_names(names: list[str]) -> None:
    for index, name in enumerate(names):
        if name not in sources.METRIC_NAMES:
            raise errors.invalid_parameter(
                f"metric_names[{index}]", f"{name} is not one of {', '.join(sources.METRIC_NAMES)}"
            )


async def bcs_metrics(
    ctx: ServerContext, *, project_id: str, blockchain_id: str, body: ListBcsMetricRequestBody
) -> MetricsResponse:
    """ListBcsMetric: the instance's node metrics over the last hour, five-minute steps."""
    names = body.metric_names or list(sources.DEFAULT_METRIC_NAMES)
    _check_names(names)

    def read(session: Session) -> sources.Target:
        instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
        entities = [e for e in _entities(session, instance) if e.kind == "org"]
        return sources.Target(
            instance.id,
            [p for e in entities for p in e.pods],
            [v for e in entities for v in e.pvcs],
            _activity(session, instance),
        )

    target = await ctx.db.read(read)
    dimensions = [Dimension(name="blockchain_id", value=target.blockchain_id)]
    return MetricsResponse(metrics=[_result(name, dimensions, await _series(ctx, name, target)) for name in names])


async def entity_metrics(
    ctx: ServerContext, *, project_id: str, blockchain_id: str, body: ListEntityMetricRequestBody
) -> ListEntityMetricResponse:
    """ListEntityMetric: the latest values of each organisation (or plugin) of the instance."""

    def read(session: Session) -> tuple[str, list[_Entity], tuple[int, ...]]:
        instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
        entities = [e for e in _entities(session, instance) if e.kind == body.type]
        if body.entity_name is not None:
            entities = [e for e in entities if e.name == body.entity_name]
            if not entities:
                if body.type == "org":
                    raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {body.entity_name} is not exist")
                raise errors.invalid_parameter("entity_name", f"no plugin {body.entity_name} in this instance")
        return instance.id, entities, _activity(session, instance)

    blockchain, entities, activity = await ctx.db.read(read)
    results = []
    for entity in entities:
        target = sources.Target(blockchain, entity.pods, entity.pvcs, activity)
        latest: dict[str, str] = {}
        for field, metric in sources.ENTITY_FIELDS.items():
            points = await _series(ctx, metric, target)
            latest[field] = _decimal(points[-1][1]) if points else ""
        results.append(
            EntityMetricList(
                dimensions=[
                    Dimension(name="blockchain_id", value=blockchain),
                    Dimension(name=body.type, value=entity.name),
                ],
                values=[EntityMetricListItem.model_validate(latest)],
            )
        )
    return ListEntityMetricResponse(metrics=results)


async def instance_metrics(
    ctx: ServerContext, *, project_id: str, blockchain_id: str, body: ListInstanceMetricRequestBody
) -> MetricsResponse:
    """ListInstanceMetric: every metric of one pod (a node, or a plugin's pod) over the last hour."""

    def read(session: Session) -> sources.Target:
        instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
        entity = next(
            (e for e in _entities(session, instance) if e.kind == body.type and e.name == body.entity_name), None
        )
        if entity is None:
            if body.type == "org":
                raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {body.entity_name} is not exist")
            raise errors.invalid_parameter("entity_name", f"no plugin {body.entity_name} in this instance")
        if body.instance_name not in entity.pods:
            raise errors.invalid_parameter("instance_name", f"{body.entity_name} has no instance {body.instance_name}")
        return sources.Target(instance.id, (body.instance_name,), entity.pvcs, _activity(session, instance))

    target = await ctx.db.read(read)
    dimensions = [
        Dimension(name="blockchain_id", value=target.blockchain_id),
        Dimension(name=body.type, value=body.entity_name),
        Dimension(name="instance", value=body.instance_name),
    ]
    return MetricsResponse(
        metrics=[_result(name, dimensions, await _series(ctx, name, target)) for name in sources.METRIC_NAMES]
    )
