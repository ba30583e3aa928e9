"""The ``prometheus`` metrics source against a Prometheus-API-compatible server on loopback: the PromQL sent (the
documented table with the instance's pods and volume claims filled in, or a JSON/YAML override), the range
parameters, the conversion of the answer into dataPoints, and a failing Prometheus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.monitoring.sources import DEFAULT_QUERIES
from tests.monitoring.helpers import (
    ALL_METRICS,
    DEFAULT_METRICS,
    ENTITY_FIELDS,
    TWO_ORGS,
    UNITS,
    FakePrometheus,
    Query,
    call,
    event_rows,
    events,
    pods_of,
    pvcs_of,
)
from tests.support.accounts import TestAccount
from tests.support.errors import error
from tests.support.servers import free_port
from tests.support.tenants import Tenant, new_tenant

UNAVAILABLE = (500, "BCS.5000500", "Internal Server Error: the metrics source is unavailable")


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


PrometheusApp = Callable[..., AbstractContextManager[tuple[Tenant, str]]]


@pytest.fixture
def prometheus_app(
    settings: Settings, prometheus: FakePrometheus, make_account: Callable[..., TestAccount]
) -> PrometheusApp:
    """``with prometheus_app(**settings) as (tenant, bid):`` an app with the prometheus source pointed at the fake,
    a tenant on it and the tenant's Normal instance (orga, orgb, the orderers). Never combined with ``client``."""

    @contextmanager
    def run(**updates: Any) -> Iterator[tuple[Tenant, str]]:
        chosen = settings.model_copy(
            update={"metrics_source": "prometheus", "prometheus_url": prometheus.url, **updates}
        )
        with TestClient(create_app(chosen), raise_server_exceptions=False) as test_client:
            tenant = new_tenant(test_client, make_account)
            yield tenant, tenant.create_instance(**TWO_ORGS)

    return run


def _fill(template: str, pods: list[str], pvcs: list[str], bid: str) -> str:
    return template.replace("{pods}", "|".join(pods)).replace("{pvcs}", "|".join(pvcs)).replace("{blockchain_id}", bid)


def _points(query: Query) -> list[dict[str, Any]]:
    """The data points the fake's default answer becomes."""
    return [
        {"timestamp": int(query.start * 1000), "statistics": [{"statistic": "average", "value": 3.75}]},
        {"timestamp": int((query.start + query.step) * 1000), "statistics": [{"statistic": "average", "value": 1.5}]},
        {"timestamp": int(query.end * 1000), "statistics": [{"statistic": "average", "value": 0.5}]},
    ]


def _check_range(query: Query) -> None:
    """The last hour in five-minute steps, ending on a step boundary; step as Prometheus accepts it."""
    assert query.end % 300 == 0
    assert query.end - query.start == 3300
    assert query.step == 300


def test_bcs_metrics_send_the_documented_queries_and_sum_the_series(
    prometheus_app: PrometheusApp,
    prometheus: FakePrometheus,
    db: Database,
) -> None:
    with prometheus_app() as (tenant, bid):
        pods, pvcs = pods_of(db, bid), pvcs_of(db, bid)
        assert len(pods) == 6
        assert len(pvcs) == 3
        stored = event_rows(db, bid)

        response = call(tenant, bid, "metric/list", {})
        assert response.status_code == 200, (response.text, prometheus.refused)
        assert prometheus.refused == []
        sent = prometheus.queries
        assert [q.query for q in sent] == [_fill(DEFAULT_QUERIES[name], pods, pvcs, bid) for name in DEFAULT_METRICS]
        # The documented cpuUsage query, literally.
        selector = "|".join(pods)
        assert sent[0].query == (
            f'sum(rate(container_cpu_usage_seconds_total{{pod=~"{selector}"}}[5m])) / '
            f'sum(kube_pod_container_resource_limits{{resource="cpu",pod=~"{selector}"}}) * 100'
        )
        assert sent[1].query == (
            f'sum(kubelet_volume_stats_used_bytes{{persistentvolumeclaim=~"{"|".join(pvcs)}"}}) / '
            f'sum(kubelet_volume_stats_capacity_bytes{{persistentvolumeclaim=~"{"|".join(pvcs)}"}}) * 100'
        )
        for query in sent:
            _check_range(query)
        assert len({(q.start, q.end) for q in sent}) <= 2  # one window per call (a step boundary may pass)

        body = response.json()
        assert [r["metric"] for r in body["metrics"]] == [
            {"namespace": "BCS.Node", "metricName": name, "dimensions": [{"name": "blockchain_id", "value": bid}]}
            for name in DEFAULT_METRICS
        ]
        for result, query in zip(body["metrics"], sent, strict=True):
            name = result["metric"]["metricName"]
            assert result["dataPoints"] == [{**p, "unit": UNITS[name]} for p in _points(query)]
        assert event_rows(db, bid) == stored


def test_entity_and_instance_metrics_query_their_own_pods(
    prometheus_app: PrometheusApp,
    prometheus: FakePrometheus,
    db: Database,
) -> None:
    # sendBytesRate answers a large rate: the entity value keeps every digit.
    def answer(query: Query) -> dict[str, Any]:
        value = "1234567.5" if "container_network_transmit_bytes_total" in query.query else "0.25"
        return {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": {}, "values": [[query.start, "9"], [query.end, value]]}],
            },
        }

    prometheus.responder = answer
    with prometheus_app() as (tenant, bid):
        orga_pods, orga_pvcs = pods_of(db, bid, "orga"), pvcs_of(db, bid, "orga")

        response = call(tenant, bid, "entity/metric/list", {"type": "org", "entity_name": "orga"})
        assert response.status_code == 200, (response.text, prometheus.refused)
        assert [q.query for q in prometheus.queries] == [
            _fill(DEFAULT_QUERIES[metric], orga_pods, orga_pvcs, bid) for metric in ENTITY_FIELDS.values()
        ]
        assert response.json() == {
            "metrics": [
                {
                    "dimensions": [{"name": "blockchain_id", "value": bid}, {"name": "org", "value": "orga"}],
                    "values": [{f: ("1234567.5" if f == "sendBytesRate" else "0.25") for f in ENTITY_FIELDS}],
                }
            ]
        }

        # Plugins: their own pod, no volume claim.
        prometheus.queries.clear()
        response = call(tenant, bid, "entity/metric/list", {"type": "plugin"})
        assert response.status_code == 200
        agent = f"baas-agent-{bid[:8]}"
        assert prometheus.queries[0].query == _fill(DEFAULT_QUERIES["cpuUsage"], [agent], [], bid)
        assert prometheus.queries[-1].query == _fill(DEFAULT_QUERIES["diskUsedRate"], [], [], bid).replace(
            'persistentvolumeclaim=~""', 'persistentvolumeclaim=~"^$"'
        )

        # One pod: every metric, for that pod only.
        prometheus.queries.clear()
        peer = orga_pods[1]
        body = {"type": "org", "entity_name": "orga", "instance_name": peer}
        response = call(tenant, bid, "entity/instance/metric/list", body)
        assert response.status_code == 200
        assert [q.query for q in prometheus.queries] == [
            _fill(DEFAULT_QUERIES[name], [peer], orga_pvcs, bid) for name in ALL_METRICS
        ]
        results = response.json()["metrics"]
        assert [r["metric"]["metricName"] for r in results] == ALL_METRICS
        for result, query in zip(results, prometheus.queries, strict=True):
            _check_range(query)
            assert result["metric"]["dimensions"][2] == {"name": "instance", "value": peer}
            latest = 1234567.5 if result["metric"]["metricName"] == "sendBytesRate" else 0.25
            assert [(p["timestamp"], p["statistics"][0]["value"]) for p in result["dataPoints"]] == [
                (int(query.start * 1000), 9.0),
                (int(query.end * 1000), latest),
            ]


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_a_queries_file_overrides_the_table(
    prometheus_app: PrometheusApp,
    prometheus: FakePrometheus,
    db: Database,
    tmp_path: Path,
    suffix: str,
) -> None:
    overrides = {
        "cpuUsage": 'avg(my_cpu_percent{pod=~"{pods}",bcs="{blockchain_id}"})',
        "diskUsedRate": 'max(my_disk_percent{claim=~"{pvcs}"})',
    }
    path = tmp_path / f"queries{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(overrides))
    else:
        path.write_text("".join(f"{name}: '{query}'\n" for name, query in overrides.items()))

    with prometheus_app(metrics_queries_file=path) as (tenant, bid):
        pods, pvcs = pods_of(db, bid), pvcs_of(db, bid)
        response = call(tenant, bid, "metric/list", {"metric_names": ["cpuUsage", "diskUsedRate", "memUsedRate"]})
        assert response.status_code == 200, response.text
        assert [q.query for q in prometheus.queries] == [
            f'avg(my_cpu_percent{{pod=~"{"|".join(pods)}",bcs="{bid}"}})',
            f'max(my_disk_percent{{claim=~"{"|".join(pvcs)}"}})',
            _fill(DEFAULT_QUERIES["memUsedRate"], pods, pvcs, bid),
        ]


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("q.json", json.dumps({"cpuUsed": "x"}), "unknown metric names ['cpuUsed']"),
        ("q.json", json.dumps(["cpuUsage"]), "expected a mapping of metric names to PromQL strings"),
        ("q.yaml", "cpuUsage: 5\n", "expected a mapping of metric names to PromQL strings"),
    ],
)
def test_a_bad_queries_file_stops_the_server(
    settings: Settings, prometheus: FakePrometheus, tmp_path: Path, name: str, text: str, complaint: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    chosen = settings.model_copy(
        update={"metrics_source": "prometheus", "prometheus_url": prometheus.url, "metrics_queries_file": path}
    )
    with pytest.raises(ValueError) as raised:
        create_app(chosen)
    assert str(raised.value) == f"{path}: {complaint}"


def test_the_prometheus_source_needs_a_url(settings: Settings) -> None:
    with pytest.raises(ValueError, match="the prometheus metrics source needs OPENBCS_PROMETHEUS_URL"):
        create_app(settings.model_copy(update={"metrics_source": "prometheus", "prometheus_url": None}))


def _all_unavailable(tenant: Tenant, bid: str) -> None:
    """Each of the three metric operations answers 500: the metrics source is unavailable."""
    bodies = {
        "metric/list": {},
        "entity/metric/list": {"type": "org"},
        "entity/instance/metric/list": {
            "type": "plugin",
            "entity_name": "baas-agent",
            "instance_name": f"baas-agent-{bid[:8]}",
        },
    }
    for path, body in bodies.items():
        assert error(call(tenant, bid, path, body)) == UNAVAILABLE, path


def test_a_failing_prometheus_is_a_500(
    prometheus_app: PrometheusApp,
    prometheus: FakePrometheus,
    db: Database,
) -> None:
    def failing(_query: Query) -> dict[str, Any]:
        return {"status": "error", "errorType": "execution", "error": "query timed out"}

    prometheus.responder = failing
    with prometheus_app() as (tenant, bid):
        stored = event_rows(db, bid)
        _all_unavailable(tenant, bid)
        assert len(prometheus.queries) == 3  # each call stopped at its first query
        # Events do not depend on the metrics source.
        assert len(events(tenant, bid)) == len(stored)
        assert event_rows(db, bid) == stored

    # Nobody listening at all.
    with prometheus_app(prometheus_url=f"http://127.0.0.1:{free_port()}") as (tenant, bid):
        _all_unavailable(tenant, bid)
        # Refusals come before the source is asked.
        assert error(call(tenant, bid, "metric/list", {"metric_names": ["nope"]}))[:2] == (400, "BCS.4006014")
