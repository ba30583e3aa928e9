"""ListBcsMetric, ListEntityMetric and ListInstanceMetric: node metrics over the last hour from the app's source
(modelled, Prometheus or none; in the local runtime, the nodes' own ``/metrics``). The model is read in one short
transaction; the source is asked outside it, off the event loop (a Prometheus answer or a scrape may take a while)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.orm import Session

from openbcs.engine.records import list_records
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.monitoring import nodes_source, sources
from openbcs.monitoring.schemas import (
    Dimension,
    EntityMetricList,
    EntityMetricListItem,
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
from openbcs.network import lookups
from openbcs.network.models import Instance

log = logging.getLogger("openbcs.monitoring")
WINDOW_MS = 60 * 60_000
STEP_MS = 5 * 60_000
AGENT, RESTAPI = "baas-agent", "baas-restapi"
UNITS = {**sources.UNITS, **nodes_source.FABRIC_UNITS}  # Fabric's names: accepted by the nodes' source only


@dataclass(frozen=True)
class _Entity:
    name: str
    kind: str  # org or plugin
    pods: tuple[str, ...]
    pvcs: tuple[str, ...]


def _entities(session: Session, instance: Instance) -> list[_Entity]:
    found = []
    for org in lookups.orgs_of(session, instance.id):
        found.append(
            _Entity(org.name, "org", tuple(n.name for n in lookups.nodes_of(session, org.id)), (org.pvc_name,))
        )
    plugins = [AGENT] + ([RESTAPI] if instance.settings.get("restful_api_support") else [])
    for plugin in plugins:
        found.append(_Entity(plugin, "plugin", (f"{plugin}-{instance.id[:8]}",), ()))
    return found


def _activity(session: Session, instance: Instance) -> tuple[int, ...]:
    records = list_records(session, project_id=instance.project_id, blockchain_id=instance.id)
    return tuple(r.record_time // 1_000_000 for r in records)


def _entity_named(session: Session, instance: Instance, kind: str, name: str) -> _Entity | None:
    return next((e for e in _entities(session, instance) if e.kind == kind and e.name == name), None)


def _no_entity(kind: str, name: str) -> errors.BCSError:
    if kind == "org":
        return errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {name} is not exist")
    return errors.invalid_parameter("entity_name", f"no plugin {name} in this instance")


def _result(name: str, dimensions: list[Dimension], points: list[tuple[int, float]]) -> MetricItemResultAPI:
    return MetricItemResultAPI(
        metric=MetricDemision(namespace="BCS.Node", metric_name=name, dimensions=dimensions),
        data_points=[
            MetricDataPoints(timestamp=t, unit=UNITS[name], statistics=[StatisticValue(statistic="average", value=v)])
            for t, v in points
        ],
    )


async def _series(source: sources.MetricsSource, metric: str, target: sources.Target) -> list[tuple[int, float]]:
    end = now_ns() // 1_000_000 // STEP_MS * STEP_MS
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


def _check_names(names: list[str], accepted: tuple[str, ...]) -> None:
    """Every name must be one the source accepts (Fabric's own names: the local runtime's nodes only)."""
    for index, name in enumerate(names):
        if name not in accepted:
            raise errors.invalid_parameter(f"metric_names[{index}]", f"{name} is not one of {', '.join(accepted)}")


def _instance_target(session: Session, *, project_id: str, blockchain_id: str) -> sources.Target:
    """What ListBcsMetric asks the source about: every pod and volume of the instance's organisations."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    entities = [e for e in _entities(session, instance) if e.kind == "org"]
    return sources.Target(
        instance.id,
        [p for e in entities for p in e.pods],
        [v for e in entities for v in e.pvcs],
        _activity(session, instance),
    )


async def bcs_metrics(
    db: Database, source: sources.MetricsSource, *, project_id: str, blockchain_id: str, body: ListBcsMetricRequestBody
) -> MetricsResponse:
    """ListBcsMetric: the instance's node metrics over the last hour, five-minute steps."""
    names = body.metric_names or list(sources.DEFAULT_METRIC_NAMES)
    _check_names(names, source.names)
    target = await db.read(_instance_target, project_id=project_id, blockchain_id=blockchain_id)
    dimensions = [Dimension(name="blockchain_id", value=target.blockchain_id)]
    return MetricsResponse(metrics=[_result(name, dimensions, await _series(source, name, target)) for name in names])


def _entity_targets(
    session: Session, *, project_id: str, blockchain_id: str, body: ListEntityMetricRequestBody
) -> list[tuple[str, sources.Target]]:
    """``(entity name, target)`` for each organisation (or plugin) ListEntityMetric reports."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    entities = [e for e in _entities(session, instance) if e.kind == body.type]
    if body.entity_name is not None:
        entities = [e for e in entities if e.name == body.entity_name]
        if not entities:
            raise _no_entity(body.type, body.entity_name)
    activity = _activity(session, instance)
    return [(e.name, sources.Target(instance.id, e.pods, e.pvcs, activity)) for e in entities]


async def entity_metrics(
    db: Database,
    source: sources.MetricsSource,
    *,
    project_id: str,
    blockchain_id: str,
    body: ListEntityMetricRequestBody,
) -> ListEntityMetricResponse:
    """ListEntityMetric: the latest values of each organisation (or plugin) of the instance."""
    targets = await db.read(_entity_targets, project_id=project_id, blockchain_id=blockchain_id, body=body)
    results = []
    for name, target in targets:
        latest: dict[str, str] = {}
        for field, metric in sources.ENTITY_FIELDS.items():
            points = await _series(source, metric, target)
            latest[field] = _decimal(points[-1][1]) if points else ""
        results.append(
            EntityMetricList(
                dimensions=[
                    Dimension(name="blockchain_id", value=target.blockchain_id),
                    Dimension(name=body.type, value=name),
                ],
                values=[EntityMetricListItem.model_validate(latest)],
            )
        )
    return ListEntityMetricResponse(metrics=results)


def _pod_target(
    session: Session, *, project_id: str, blockchain_id: str, body: ListInstanceMetricRequestBody
) -> sources.Target:
    """What ListInstanceMetric asks the source about: one pod of one organisation or plugin."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    entity = _entity_named(session, instance, body.type, body.entity_name)
    if entity is None:
        raise _no_entity(body.type, body.entity_name)
    if body.instance_name not in entity.pods:
        raise errors.invalid_parameter("instance_name", f"{body.entity_name} has no instance {body.instance_name}")
    return sources.Target(instance.id, (body.instance_name,), entity.pvcs, _activity(session, instance))


async def instance_metrics(
    db: Database,
    source: sources.MetricsSource,
    *,
    project_id: str,
    blockchain_id: str,
    body: ListInstanceMetricRequestBody,
) -> MetricsResponse:
    """ListInstanceMetric: every metric of one pod (a node, or a plugin's pod) over the last hour."""
    target = await db.read(_pod_target, project_id=project_id, blockchain_id=blockchain_id, body=body)
    dimensions = [
        Dimension(name="blockchain_id", value=target.blockchain_id),
        Dimension(name=body.type, value=body.entity_name),
        Dimension(name="instance", value=body.instance_name),
    ]
    return MetricsResponse(
        metrics=[_result(name, dimensions, await _series(source, name, target)) for name in sources.METRIC_NAMES]
    )
