"""Helpers of the monitoring tests.

Calling the API
- :func:`call` — POST one of the five monitoring operations (``events``, ``events/statistic``, ``metric/list``,
  ``entity/metric/list``, ``entity/instance/metric/list``) as a tenant; the raw answer.
- :func:`events` / :func:`statistics` — ListBcsEvents / ListBcsEventsStatistic answering 200; the ``metrics`` list.
- :func:`shown` — ``(metricName, severity, message, {metadata}, timestamp)`` of one ListBcsEvents result, checking the
  fixed parts of its shape (namespace, dimensions order, one ``count`` data point).
- :func:`run_diagnostic` — an operation of the engine's diagnostic kind on an instance, run to its end.

Stored state (read and written straight in the database, not through the API under test)
- :func:`event_rows` / :func:`alarm_rows` — the instance's ``monitoring_events`` / ``monitoring_alarms`` rows.
- :func:`wipe_records` — delete an instance's events and alarms (a clean slate for exact windows).
- :func:`add_event` / :func:`add_alarm` — insert rows with chosen times (ns).
- :func:`pods_of` / :func:`pvcs_of` — an instance's node names and volume claims, in organisation then ordinal order.
- :func:`operation_times_ms` / :func:`set_operation_times` — record times of an instance's operations.

Metrics
- :func:`model_value` — the modelled formulas of docs/monitoring.md, written out again here (not imported).
- :class:`FakePrometheus` — a Prometheus-HTTP-API-compatible ``/api/v1/query_range`` on loopback, in a thread, that
  records every query and answers canned series; it refuses parameters real Prometheus refuses (400 ``bad_data``).
- :func:`scrape` — ``GET /metrics`` parsed with ``prometheus_client.parser`` into ``{(sample name, labels): value}``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.events.models import Alarm, Event
from openbcs.kernel.db import Database
from openbcs.network.models import Node, Organization
from tests.support.diagnostic import DiagnosticPayload, start_in
from tests.support.tenants import Tenant

MS = 1_000_000  # ns per ms
MINUTE_MS = 60_000
# An explicit window start far from "now" (2023-11-14T22:13:20Z), so windows hold exactly the inserted rows.
T0 = 1_700_000_000_000
STEP_MS = 5 * MINUTE_MS
DEFAULT_METRICS = ["cpuUsage", "diskUsedRate", "memUsedRate", "sendBytesRate", "recvBytesRate"]
ALL_METRICS = [
    *DEFAULT_METRICS,
    "cpuCoreLimit",
    "cpuCoreUsed",
    "totalMem",
    "freeMem",
    "diskCapacity",
    "diskAvailableCapacity",
]
UNITS = {
    "cpuUsage": "%",
    "diskUsedRate": "%",
    "memUsedRate": "%",
    "sendBytesRate": "Byte/s",
    "recvBytesRate": "Byte/s",
    "cpuCoreLimit": "Core",
    "cpuCoreUsed": "Core",
    "totalMem": "MB",
    "freeMem": "MB",
    "diskCapacity": "GB",
    "diskAvailableCapacity": "GB",
}
# ListEntityMetric's value fields and the metric each reads (docs/monitoring.md).
ENTITY_FIELDS = {
    "cpuUsage": "cpuUsage",
    "diskReadRate": "diskReadRate",
    "diskWriteRate": "diskWriteRate",
    "memUsage": "memUsedRate",
    "recvBytesRate": "recvBytesRate",
    "sendBytesRate": "sendBytesRate",
    "filesystemUsage": "diskUsedRate",
}
# CreateNewBlockchain overrides: orga (2 peers) and orgb (1 peer) in the channel "channel", with 3 orderers (6 pods).
TWO_ORGS: dict[str, Any] = {"peer_orgs": [("orga", 2), ("orgb", 1)], "channels": [("channel", ["orga", "orgb"])]}


# --- the API -----------------------------------------------------------------------------------------------------


def call(
    tenant: Tenant, bid: str, path: str, body: Any = None, *, raw: bytes | None = None, **params: Any
) -> httpx.Response:
    """POST ``/v2/<project>/blockchains/<bid>/<path>`` as ``tenant`` with ``body`` as JSON (or ``raw`` bytes)."""
    return tenant.call("POST", f"/blockchains/{bid}/{path}", body, raw=raw, **params)


def _listed(
    tenant: Tenant, bid: str, path: str, time_range: str, step: int, type_: str | None, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"type": type_} if type_ is not None else {}
    response = call(tenant, bid, path, {"time_range": time_range, "step": step, **extra}, **params)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["metrics"]
    return list(response.json()["metrics"])


def events(
    tenant: Tenant,
    bid: str,
    time_range: str = "-1.-1.60",
    step: int = MINUTE_MS,
    type_: str | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """ListBcsEvents (asserts 200 and the answer's only key); its ``metrics``."""
    return _listed(tenant, bid, "events", time_range, step, type_, extra)


def statistics(
    tenant: Tenant, bid: str, time_range: str, step: int, type_: str | None = None, **extra: Any
) -> list[dict[str, Any]]:
    """ListBcsEventsStatistic (asserts 200 and the answer's only key); its ``metrics``."""
    return _listed(tenant, bid, "events/statistic", time_range, step, type_, extra)


def counts(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """``{metricName: [count of each bucket]}`` of ListBcsEventsStatistic results."""
    return {r["metric"]["metricName"]: [p["statistics"][0]["value"] for p in r["dataPoints"]] for r in results}


@dataclass(frozen=True)
class _Described:
    """What events (and alarms) say, stored or shown."""

    name: str
    severity: str
    message: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Shown(_Described):
    """One ListBcsEvents result, flattened (``timestamp`` in ms)."""

    timestamp: int


def shown(result: dict[str, Any], bid: str, namespace: str = "BCS.Events") -> Shown:
    """Flatten a ListBcsEvents result after checking what every result has: the namespace, ``blockchain_id``,
    ``severity`` and ``message`` first, then the metadata sorted by name, and one data point ``count`` = 1."""
    assert set(result) == {"metric", "dataPoints"}
    metric = result["metric"]
    assert set(metric) == {"namespace", "metricName", "dimensions"}
    assert metric["namespace"] == namespace
    dims = [(d["name"], d["value"]) for d in metric["dimensions"]]
    assert [n for n, _ in dims[:3]] == ["blockchain_id", "severity", "message"]
    assert dims[0][1] == bid
    rest = dims[3:]
    assert [n for n, _ in rest] == sorted(n for n, _ in rest)
    (point,) = result["dataPoints"]
    assert point["unit"] == "count"
    assert point["statistics"] == [{"statistic": "count", "value": 1.0}]
    return Shown(metric["metricName"], dims[1][1], dims[2][1], dict(rest), point["timestamp"])


def names(results: list[dict[str, Any]]) -> list[str]:
    """The ``metricName`` of each result, in order."""
    return [r["metric"]["metricName"] for r in results]


def run_diagnostic(db: Database, tenant: Tenant, bid: str, *, fail_at: str | None = None) -> str:
    """Start an operation of the engine's diagnostic kind on the instance (``fail_at=<sub-step>`` makes it fail
    there) and wait until it ended as it should; its id."""
    operation_id = db.run_write(
        start_in,
        domain_id=tenant.domain_id,
        project_id=tenant.project_id,
        payload=DiagnosticPayload(fail_at=fail_at),
        blockchain_id=bid,
        blockchain_name="bcs-test",
    )
    tenant.wait(operation_id, expect="finished" if fail_at is None else "failed")
    return operation_id


# --- stored state ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow(_Described):
    """A stored event (``time`` in ns)."""

    time: int
    project_id: str


@dataclass(frozen=True)
class AlarmRow:
    key: str
    name: str
    severity: str
    message: str
    metadata: dict[str, str]
    raised_time: int
    cleared_time: int | None
    project_id: str


def _event_rows(session: Session, *, bid: str) -> list[EventRow]:
    query = select(Event).where(Event.blockchain_id == bid).order_by(Event.time, Event.id)
    return [
        EventRow(e.name, e.severity, e.message, dict(e.metadata_), e.time, e.project_id) for e in session.scalars(query)
    ]


def event_rows(db: Database, bid: str) -> list[EventRow]:
    """The instance's events, oldest first (id breaks ties)."""
    return db.run_read(_event_rows, bid=bid)


def _alarm_rows(session: Session, *, bid: str) -> list[AlarmRow]:
    query = select(Alarm).where(Alarm.blockchain_id == bid).order_by(Alarm.id)
    return [
        AlarmRow(a.key, a.name, a.severity, a.message, dict(a.metadata_), a.raised_time, a.cleared_time, a.project_id)
        for a in session.scalars(query)
    ]


def alarm_rows(db: Database, bid: str) -> list[AlarmRow]:
    """The instance's alarms, in the order they were raised."""
    return db.run_read(_alarm_rows, bid=bid)


def _wipe(session: Session, *, bid: str) -> None:
    session.execute(delete(Event).where(Event.blockchain_id == bid))
    session.execute(delete(Alarm).where(Alarm.blockchain_id == bid))


def wipe_records(db: Database, bid: str) -> None:
    """Delete the instance's events and alarms."""
    db.run_write(_wipe, bid=bid)


def _add(session: Session, *, row: Event | Alarm) -> None:
    session.add(row)


def add_event(
    db: Database,
    bid: str,
    project_id: str,
    name: str,
    time_ns: int,
    *,
    severity: str = "info",
    message: str | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Insert one event row at ``time_ns``."""
    row = Event(
        blockchain_id=bid,
        project_id=project_id,
        name=name,
        severity=severity,
        message=message if message is not None else f"{name} happened",
        metadata_=dict(metadata or {}),
        time=time_ns,
    )
    db.run_write(_add, row=row)


def add_alarm(
    db: Database,
    bid: str,
    project_id: str,
    name: str,
    raised_ns: int,
    cleared_ns: int | None = None,
    *,
    key: str | None = None,
    severity: str = "major",
    metadata: dict[str, str] | None = None,
) -> None:
    """Insert one alarm row (active when ``cleared_ns`` is None)."""
    row = Alarm(
        blockchain_id=bid,
        project_id=project_id,
        key=key or name.lower(),
        name=name,
        severity=severity,
        message=f"{name} raised",
        metadata_=dict(metadata or {}),
        raised_time=raised_ns,
        cleared_time=cleared_ns,
    )
    db.run_write(_add, row=row)


def _pods(session: Session, *, bid: str, org: str | None) -> list[str]:
    query = (
        select(Node.name).join(Organization, Organization.id == Node.org_id).where(Organization.blockchain_id == bid)
    )
    if org is not None:
        query = query.where(Organization.name == org)
    return list(session.scalars(query.order_by(Organization.id, Node.ordinal)))


def pods_of(db: Database, bid: str, org: str | None = None) -> list[str]:
    """Node names of the instance (or of one organisation), organisations in creation order, nodes by ordinal."""
    return db.run_read(_pods, bid=bid, org=org)


def _pvcs(session: Session, *, bid: str, org: str | None) -> list[str]:
    query = select(Organization.pvc_name).where(Organization.blockchain_id == bid)
    if org is not None:
        query = query.where(Organization.name == org)
    return list(session.scalars(query.order_by(Organization.id)))


def pvcs_of(db: Database, bid: str, org: str | None = None) -> list[str]:
    """Volume claims of the instance's organisations (or of one), in creation order."""
    return db.run_read(_pvcs, bid=bid, org=org)


def _operation_times(session: Session, *, bid: str) -> list[int]:
    return [t // MS for t in session.scalars(select(Operation.record_time).where(Operation.blockchain_id == bid))]


def operation_times_ms(db: Database, bid: str) -> list[int]:
    """Record times (ms) of the instance's operations."""
    return db.run_read(_operation_times, bid=bid)


def _set_operation_times(session: Session, *, bid: str, times_ns: list[int]) -> None:
    operations = list(session.scalars(select(Operation).where(Operation.blockchain_id == bid).order_by(Operation.id)))
    assert len(operations) == len(times_ns), (len(operations), len(times_ns))
    for operation, time_ns in zip(operations, times_ns, strict=True):
        operation.record_time = time_ns


def set_operation_times(db: Database, bid: str, times_ns: list[int]) -> None:
    """Give the instance's operations these record times (one each, in id order)."""
    db.run_write(_set_operation_times, bid=bid, times_ns=times_ns)


# --- metrics -----------------------------------------------------------------------------------------------------


def model_value(metric: str, n: int, k: int) -> float:
    """docs/monitoring.md's modelled value of ``metric`` for ``n`` pods and ``k`` operations in the step, rounded to
    3 decimals as served.

    Deliberately a second copy of the formulas of ``openbcs.monitoring.sources`` (not imported from there): the
    tests check the served values against the documented model, independently of the code that computes them."""
    cpu = min(95.0, 3 + 1.5 * n + 12 * k) if n else 0.0
    mem = min(90.0, 18 + 2.5 * n + 3 * k) if n else 0.0
    disk = min(90.0, 5 + 0.8 * n) if n else 0.0
    value = {
        "cpuUsage": cpu,
        "memUsedRate": mem,
        "diskUsedRate": disk,
        "sendBytesRate": 2048 * n + 40960 * k,
        "recvBytesRate": 1536 * n + 40960 * k,
        "cpuCoreLimit": 2 * n,
        "cpuCoreUsed": 2 * n * cpu / 100,
        "totalMem": 4096 * n,
        "freeMem": 4096 * n * (1 - mem / 100),
        "diskCapacity": 100 * n,
        "diskAvailableCapacity": 100 * n * (1 - disk / 100),
        "diskReadRate": 512 * n + 8192 * k,
        "diskWriteRate": 1024 * n + 16384 * k,
    }[metric]
    return round(float(value), 3)


def check_window(points: list[dict[str, Any]], before_ms: int, after_ms: int) -> list[int]:
    """The timestamps of a metric's data points after checking they are the last hour in 5-minute steps, ending at
    the step the call fell in (``before_ms``/``after_ms``: the clock read around the call)."""
    stamps = [p["timestamp"] for p in points]
    assert len(stamps) == 12
    assert all(t % STEP_MS == 0 for t in stamps)
    assert [b - a for a, b in itertools.pairwise(stamps)] == [STEP_MS] * 11
    assert before_ms // STEP_MS * STEP_MS <= stamps[-1] <= after_ms // STEP_MS * STEP_MS
    return stamps


def scrape(
    http: httpx.Client | TestClient, url: str = "/metrics"
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``GET /metrics`` (asserts 200 and the text format) parsed by ``prometheus_client.parser``."""
    response = http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- a fake Prometheus -------------------------------------------------------------------------------------------

_PROM_DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")


def _prom_duration_seconds(text: str) -> float | None:
    """Prometheus's API duration parameter: float seconds, or its duration syntax (``5m``, ``1h30m``); else None."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) else None
    match = _PROM_DURATION.match(text)
    if not match or not text:
        return None
    units = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
    return sum(int(match[2 * i + 2] or 0) * unit for i, unit in enumerate(units))


@dataclass(frozen=True)
class Query:
    """One ``query_range`` request as the fake Prometheus received it."""

    query: str
    start: float
    end: float
    step: float
    raw: dict[str, list[str]]


Responder = Callable[[Query], dict[str, Any]]


def two_series(query: Query) -> dict[str, Any]:
    """The default answer: two series; the first has 1.5 at ``start`` and ``start+step``, the second 2.25 at
    ``start`` and 0.5 at ``end`` — summed: ``{start: 3.75, start+step: 1.5, end: 0.5}``."""
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"pod": "a"}, "values": [[query.start, "1.5"], [query.start + query.step, "1.5"]]},
                {"metric": {"pod": "b"}, "values": [[query.start, "2.25"], [query.end, "0.5"]]},
            ],
        },
    }


@dataclass
class FakePrometheus:
    """``/api/v1/query_range`` on 127.0.0.1 (``with FakePrometheus() as prom: prom.url``); ``prom.queries`` lists
    what it received. Parameters real Prometheus refuses (start/end not float seconds, step neither float seconds nor
    a Prometheus duration, end before start) get its ``400 bad_data`` answer."""

    responder: Responder = two_series
    queries: list[Query] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query, keep_blank_values=True)
                if parts.path != "/api/v1/query_range":
                    self._answer(404, {"status": "error", "errorType": "not_found", "error": parts.path})
                    return
                problem, query = fake._parse(params)
                if query is None:
                    fake.refused.append(problem)
                    self._answer(400, {"status": "error", "errorType": "bad_data", "error": problem})
                    return
                fake.queries.append(query)
                self._answer(200, fake.responder(query))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def _parse(params: dict[str, list[str]]) -> tuple[str, Query | None]:
        for name in ("query", "start", "end", "step"):
            if len(params.get(name, [])) != 1:
                return f"exactly one {name} parameter expected", None
        try:
            start, end = float(params["start"][0]), float(params["end"][0])
        except ValueError:
            return "cannot parse start/end to a valid timestamp", None
        step = _prom_duration_seconds(params["step"][0])
        if step is None:
            return f'invalid parameter "step": cannot parse {params["step"][0]!r} to a valid duration', None
        if step <= 0:
            return "zero or negative query resolution step widths are not accepted", None
        if end < start:
            return "end timestamp must not be before start time", None
        return "", Query(params["query"][0], start, end, step, params)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextmanager
def captured_log(logger_name: str = "openbcs") -> Iterator[list[str]]:
    """Point the (already configured) handlers of ``logger_name`` at a buffer; yields the list of lines, filled when
    the block ends."""
    import io
    import logging

    buffer = io.StringIO()
    handlers = logging.getLogger(logger_name).handlers
    assert handlers, "configure_logging has not run"
    previous = [h.setStream(buffer) for h in handlers if isinstance(h, logging.StreamHandler)]  # type: ignore[func-returns-value]
    lines: list[str] = []
    try:
        yield lines
    finally:
        for handler, stream in zip(
            [h for h in handlers if isinstance(h, logging.StreamHandler)], previous, strict=True
        ):
            handler.setStream(stream)
        lines.extend(line for line in buffer.getvalue().splitlines() if line.strip())
