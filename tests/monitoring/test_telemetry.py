"""OpenBCS's own ``GET /metrics``: parsed with ``prometheus_client.parser``; request counters and latency histograms
move by exactly what a scripted sequence of calls did; operation gauges and the queue depth match the database; a
separate ``--metrics-port`` serves it instead of the main port."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.monitoring.helpers import sample, scrape
from tests.support.diagnostic import KIND, seed
from tests.support.servers import LiveServer, free_port
from tests.support.tenants import Tenant

REQUESTS = "openbcs_requests_total"
LATENCY_COUNT = "openbcs_request_duration_seconds_count"


def _delta(after: dict[Any, float], before: dict[Any, float], name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)


def test_request_counters_move_by_the_scripted_calls(client: TestClient, tenant: Tenant) -> None:
    records = f"{tenant.base}/operation/record"
    before = scrape(client)

    for _ in range(3):
        assert client.get(records, headers=tenant.headers).status_code == 200
    unauthorised = client.get(records)
    assert (unauthorised.status_code, unauthorised.json()["error_code"]) == (401, "BCS.4010401")
    unknown = client.get(f"{tenant.base}/no-such-thing", headers=tenant.headers)
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "BCS.4040404")
    refused = client.get(records, headers=tenant.headers, params={"operation_status": "bogus"})
    assert refused.status_code == 400
    refused_code = refused.json()["error_code"]

    after = scrape(client)
    labels = {"operation": "ListOpRecord", "method": "GET"}
    assert _delta(after, before, REQUESTS, **labels, status="200", error_code="") == 3
    assert _delta(after, before, REQUESTS, **labels, status="401", error_code="BCS.4010401") == 1
    assert _delta(after, before, REQUESTS, **labels, status="400", error_code=refused_code) == 1
    assert (
        _delta(after, before, REQUESTS, operation="unmatched", method="GET", status="404", error_code="BCS.4040404")
        == 1
    )
    # The first scrape itself was counted (after it answered).
    assert _delta(after, before, REQUESTS, operation="Metrics", method="GET", status="200", error_code="") == 1
    # Every request counter that moved is one of those.
    moved = {
        key: after[key] - before.get(key, 0.0) for key in after if key[0] == REQUESTS and after[key] != before.get(key)
    }
    assert sum(moved.values()) == 3 + 1 + 1 + 1 + 1
    # Latency histograms: one observation per request, in cumulative buckets ending with +Inf.
    assert _delta(after, before, LATENCY_COUNT, operation="ListOpRecord") == 5
    assert _delta(after, before, LATENCY_COUNT, operation="unmatched") == 1
    assert _delta(after, before, "openbcs_request_duration_seconds_sum", operation="ListOpRecord") > 0
    assert sample(after, "openbcs_request_duration_seconds_bucket", operation="ListOpRecord", le="+Inf") == sample(
        after, LATENCY_COUNT, operation="ListOpRecord"
    )
    buckets = sorted(
        (float(dict(labels_)["le"]), value)
        for (name, labels_), value in after.items()
        if name == "openbcs_request_duration_seconds_bucket" and dict(labels_)["operation"] == "ListOpRecord"
    )
    assert [le for le, _ in buckets] == [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf")]
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert sample(after, "openbcs_database_errors_total") == sample(before, "openbcs_database_errors_total") == 0


def _stored_counts(session: Session) -> dict[tuple[str, str], int]:
    query = select(Operation.kind, Operation.status, func.count()).group_by(Operation.kind, Operation.status)
    return {(kind, status): count for kind, status, count in session.execute(query)}


def _delete_failed(session: Session) -> None:
    session.execute(delete(Operation).where(Operation.status == "failed"))


def _shown_counts(samples: dict[Any, float]) -> dict[tuple[str, str], float]:
    """``{(kind, status): value}`` of the ``openbcs_operations`` gauge."""
    return {
        (dict(labels)["kind"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "openbcs_operations"
    }


def test_operation_gauges_and_queue_depth_match_the_database(client: TestClient, tenant: Tenant, db: Database) -> None:
    # Operations parked in each state (no worker moves them).
    for state in ["waiting", "waiting", "processing", "finished", "failed", "failed", "failed", "stop"]:
        db.run_write(seed, state, domain_id=tenant.domain_id, project_id=tenant.project_id)

    samples = scrape(client)

    stored = db.run_read(_stored_counts)
    assert stored == {
        (KIND, "waiting"): 2,
        (KIND, "processing"): 1,
        (KIND, "finished"): 1,
        (KIND, "failed"): 3,
        (KIND, "stop"): 1,
    }
    assert _shown_counts(samples) == stored
    assert sample(samples, "openbcs_worker_queue_depth") == 3  # waiting + processing

    # The gauges are read at each scrape: more operations, new values; none left over from the previous scrape.
    db.run_write(_delete_failed)
    db.run_write(seed, "waiting", domain_id=tenant.domain_id, project_id=tenant.project_id)
    samples = scrape(client)
    assert _shown_counts(samples) == {
        (KIND, "waiting"): 3,
        (KIND, "processing"): 1,
        (KIND, "finished"): 1,
        (KIND, "stop"): 1,
    }
    assert _shown_counts(samples) == db.run_read(_stored_counts)
    assert sample(samples, "openbcs_worker_queue_depth") == 4


def test_metrics_needs_no_authentication_and_lists_every_documented_family(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    from prometheus_client.parser import text_string_to_metric_families

    # (prometheus-client also exposes a ``*_created`` gauge per counter and histogram child: not ours to list.)
    families = {
        f.name: f.type for f in text_string_to_metric_families(response.text) if not f.name.endswith("_created")
    }
    assert families == {
        "openbcs_requests": "counter",
        "openbcs_request_duration_seconds": "histogram",
        "openbcs_database_errors": "counter",
        "openbcs_operations": "gauge",
        "openbcs_worker_queue_depth": "gauge",
    }


def test_a_separate_metrics_port(settings: Settings, make_account: Any) -> None:
    port = free_port()
    with LiveServer(settings.model_copy(update={"metrics_port": port})) as server, httpx.Client(timeout=30) as http:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        while True:  # the metrics server starts with the app, in the background
            try:
                first = http.get(metrics_url)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the metrics port never answered"
                time.sleep(0.02)
        assert first.status_code == 200

        main = http.get(f"{server.url}/metrics")
        assert (main.status_code, main.json()["error_code"]) == (404, "BCS.4040404")
        assert http.get(f"{server.url}/healthz").status_code == 200

        # Requests to the main port are counted and shown on the metrics port.
        account = make_account()
        records = f"{server.url}/v2/{account.project_id}/operation/record"
        before = scrape(http, metrics_url)
        for _ in range(2):
            assert http.get(records).status_code == 401
        after = scrape(http, metrics_url)
        labels = {"operation": "ListOpRecord", "method": "GET", "status": "401", "error_code": "BCS.4010401"}
        assert _delta(after, before, REQUESTS, **labels) == 2
        # Scrapes of the metrics port are not requests of the API.
        assert _delta(after, before, REQUESTS, operation="Metrics", method="GET", status="200", error_code="") == 0
        assert sample(after, REQUESTS, operation="unmatched", method="GET", status="404", error_code="BCS.4040404") == 1
