"""ListBcsEvents and ListBcsEventsStatistic: events and alarms as the API shows them (metrics: ``metrics.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.kernel.clock import now_ns
from openbcs.monitoring import service
from openbcs.monitoring.schemas import (
    Dimension,
    ListBcsEventRequestBody,
    MetricDataPoints,
    MetricDemision,
    MetricItemResultAPI,
    MetricsResponse,
    StatisticValue,
)
from openbcs.network import lookups


def _kind(type_: str | None) -> str | None:
    return type_ if type_ in (service.ACTIVE_ALERT, service.HISTORY_ALERT) else None


def events(
    session: Session, *, project_id: str, blockchain_id: str, type_: str | None, body: ListBcsEventRequestBody
) -> MetricsResponse:
    """ListBcsEvents: one result per event (or alarm), newest first unless sorted otherwise."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
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
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
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
