"""OpenBCS's own metrics in Prometheus's text format (``GET /metrics``), with ``prometheus-client``.

Request counts and latencies are counted in-process by the request middleware; operation counts and the worker's
queue depth are read from the database at scrape time, so they are right whichever process ran what.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.engine.engine import count_active
from openbcs.engine.models import Operation

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Telemetry:
    """One registry per application (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "openbcs_requests",
            "HTTP requests by operation, method, status and error code",
            ["operation", "method", "status", "error_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "openbcs_request_duration_seconds",
            "HTTP request latency by operation",
            ["operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.database_errors = Counter(
            "openbcs_database_errors", "Requests that failed with a database error", registry=self.registry
        )
        self.operations = Gauge(
            "openbcs_operations",
            "Asynchronous operations by kind and status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "openbcs_worker_queue_depth", "Operations waiting or processing", registry=self.registry
        )

    def observe_request(
        self,
        *,
        operation: str | None,
        method: str,
        status: int,
        error_code: str | None,
        seconds: float,
        database_error: bool,
    ) -> None:
        """Count one finished request."""
        name = operation or "unmatched"
        self.requests.labels(name, method, str(status), error_code or "").inc()
        self.latency.labels(name).observe(seconds)
        if database_error:
            self.database_errors.inc()

    def render(self, session: Session) -> bytes:
        """The exposition text, operation gauges refreshed from the database first."""
        self.operations.clear()
        rows = session.execute(
            select(Operation.kind, Operation.status, func.count()).group_by(Operation.kind, Operation.status)
        )
        for kind, status, count in rows:
            self.operations.labels(kind, status).set(count)
        self.queue_depth.set(count_active(session))
        return generate_latest(self.registry)
