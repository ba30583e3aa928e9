"""ListBcsMetric, ListEntityMetric and ListInstanceMetric with the ``model`` source (the default) and ``none``: the
documented formulas for the node count and the operations in each step, the entities and pods, and the refusals."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.monitoring.helpers import (
    ALL_METRICS,
    DEFAULT_METRICS,
    ENTITY_FIELDS,
    MINUTE_MS,
    MS,
    STEP_MS,
    TWO_ORGS,
    UNITS,
    call,
    check_window,
    event_rows,
    model_value,
    operation_times_ms,
    pods_of,
    set_operation_times,
)
from tests.support.accounts import TestAccount
from tests.support.diagnostic import seed
from tests.support.errors import error
from tests.support.tenants import Tenant, new_tenant

# The latest values of an entity with n pods and no operation in the last step, as ListEntityMetric shows them.
QUIET = {
    1: {
        "cpuUsage": "4.5",
        "diskReadRate": "512",
        "diskWriteRate": "1024",
        "memUsage": "20.5",
        "recvBytesRate": "1536",
        "sendBytesRate": "2048",
        "filesystemUsage": "5.8",
    },
    2: {
        "cpuUsage": "6",
        "diskReadRate": "1024",
        "diskWriteRate": "2048",
        "memUsage": "23",
        "recvBytesRate": "3072",
        "sendBytesRate": "4096",
        "filesystemUsage": "6.6",
    },
    3: {
        "cpuUsage": "7.5",
        "diskReadRate": "1536",
        "diskWriteRate": "3072",
        "memUsage": "25.5",
        "recvBytesRate": "4608",
        "sendBytesRate": "6144",
        "filesystemUsage": "7.4",
    },
}


@pytest.fixture
def bid(tenant: Tenant, db: Database) -> str:
    """orga (2 peers), orgb (1 peer), orderer (3): 6 pods. Its operations: the creation, moved 3 hours back (out of
    every window), two at 20 minutes ago and one at 50 minutes ago."""
    blockchain_id = tenant.create_instance(**TWO_ORGS)
    for _ in range(3):
        db.run_write(
            seed, "finished", domain_id=tenant.domain_id, project_id=tenant.project_id, blockchain_id=blockchain_id
        )
    now = time.time_ns()
    set_operation_times(
        db, blockchain_id, [now - 180 * MINUTE_MS * MS, *[now - 20 * MINUTE_MS * MS] * 2, now - 50 * MINUTE_MS * MS]
    )
    return blockchain_id


def _ops_per_step(db: Database, bid: str, stamps: list[int]) -> list[int]:
    times = operation_times_ms(db, bid)
    return [sum(1 for t in times if stamp <= t < stamp + STEP_MS) for stamp in stamps]


def _timed(tenant: Tenant, bid: str, path: str, body: Any) -> tuple[Any, int, int]:
    before = time.time_ns() // MS
    response = call(tenant, bid, path, body)
    after = time.time_ns() // MS
    assert response.status_code == 200, response.text
    return response.json(), before, after


def _check_series(
    result: dict[str, Any], name: str, dimensions: list[dict[str, str]], n: int, ks: list[int], stamps: list[int]
) -> None:
    assert result["metric"] == {"namespace": "BCS.Node", "metricName": name, "dimensions": dimensions}
    assert result["dataPoints"] == [
        {
            "timestamp": t,
            "unit": UNITS[name],
            "statistics": [{"statistic": "average", "value": model_value(name, n, k)}],
        }
        for t, k in zip(stamps, ks, strict=True)
    ]


def test_bcs_metrics_default_names_follow_the_formulas(tenant: Tenant, db: Database, bid: str) -> None:
    events_before = event_rows(db, bid)
    body, before, after = _timed(tenant, bid, "metric/list", {})
    assert list(body) == ["metrics"]
    assert [r["metric"]["metricName"] for r in body["metrics"]] == DEFAULT_METRICS
    stamps = check_window(body["metrics"][0]["dataPoints"], before, after)
    ks = _ops_per_step(db, bid, stamps)
    assert sorted(ks) == [0] * 10 + [1, 2]  # the three operations fell into two steps
    n = len(pods_of(db, bid))
    assert n == 6
    for result in body["metrics"]:
        _check_series(result, result["metric"]["metricName"], [{"name": "blockchain_id", "value": bid}], n, ks, stamps)
    # Spot checks of the formulas: 6 pods, quiet vs two operations in the step.
    cpu = [p["statistics"][0]["value"] for p in body["metrics"][0]["dataPoints"]]
    assert {cpu[i] for i, k in enumerate(ks) if k == 0} == {12.0}
    assert [cpu[i] for i, k in enumerate(ks) if k == 2] == [36.0]
    # Metrics are read-only.
    assert event_rows(db, bid) == events_before

    # An empty list means the default names too.
    body, _, _ = _timed(tenant, bid, "metric/list", {"metric_names": []})
    assert [r["metric"]["metricName"] for r in body["metrics"]] == DEFAULT_METRICS


def test_bcs_metrics_explicit_names_in_the_order_asked(tenant: Tenant, db: Database, bid: str) -> None:
    wanted = list(reversed(ALL_METRICS))
    body, before, after = _timed(tenant, bid, "metric/list", {"metric_names": wanted})
    assert [r["metric"]["metricName"] for r in body["metrics"]] == wanted
    stamps = check_window(body["metrics"][0]["dataPoints"], before, after)
    ks = _ops_per_step(db, bid, stamps)
    for result in body["metrics"]:
        _check_series(result, result["metric"]["metricName"], [{"name": "blockchain_id", "value": bid}], 6, ks, stamps)
    quiet = {r["metric"]["metricName"]: r["dataPoints"][ks.index(0)]["statistics"][0]["value"] for r in body["metrics"]}
    assert quiet == {
        "cpuUsage": 12.0,
        "diskUsedRate": 9.8,
        "memUsedRate": 33.0,
        "sendBytesRate": 12288.0,
        "recvBytesRate": 9216.0,
        "cpuCoreLimit": 12.0,
        "cpuCoreUsed": 1.44,
        "totalMem": 24576.0,
        "freeMem": 16465.92,
        "diskCapacity": 600.0,
        "diskAvailableCapacity": 541.2,
    }

    body, _, _ = _timed(tenant, bid, "metric/list", {"metric_names": ["memUsedRate"]})
    assert [r["metric"]["metricName"] for r in body["metrics"]] == ["memUsedRate"]


def test_bcs_metrics_refusals(tenant: Tenant, db: Database, bid: str) -> None:
    status, code, message = error(call(tenant, bid, "metric/list", {"metric_names": ["cpuUsage", "memUsage"]}))
    assert (status, code) == (400, "BCS.4006014")
    assert message == (
        "Invalid Parameter metric_names[1] : memUsage is not one of cpuUsage, diskUsedRate, memUsedRate, "
        "sendBytesRate, recvBytesRate, cpuCoreLimit, cpuCoreUsed, totalMem, freeMem, diskCapacity, "
        "diskAvailableCapacity"
    )
    assert error(call(tenant, bid, "metric/list", {"metric_names": ["diskReadRate"]}))[2].startswith(
        "Invalid Parameter metric_names[0] : diskReadRate is not one of"
    )
    assert error(call(tenant, bid, "metric/list", {"metric_names": "cpuUsage"})) == (
        400,
        "BCS.4006003",
        "Invalid Parameter metric_names : expected an array",
    )
    assert error(call(tenant, bid, "metric/list", {"names": ["cpuUsage"]})) == (
        400,
        "BCS.4006014",
        "Invalid Parameter names : unknown field",
    )
    status, code, message = error(call(tenant, bid, "metric/list", {"metric_names": ["cpuUsage"] * 21}))
    assert (status, code) == (400, "BCS.4006014")
    assert message.startswith("Invalid Parameter metric_names : ")
    assert error(call(tenant, bid, "metric/list", None, raw=b"{"))[:2] == (400, "BCS.4006003")


def test_entity_metrics_of_organisations_and_plugins(tenant: Tenant, db: Database, bid: str) -> None:
    def dims(kind: str, name: str) -> list[dict[str, str]]:
        return [{"name": "blockchain_id", "value": bid}, {"name": kind, "value": name}]

    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "org"})
    assert body == {
        "metrics": [
            {"dimensions": dims("org", "orga"), "values": [QUIET[2]]},
            {"dimensions": dims("org", "orgb"), "values": [QUIET[1]]},
            {"dimensions": dims("org", "orderer"), "values": [QUIET[3]]},
        ]
    }
    assert list(QUIET[1]) == list(ENTITY_FIELDS)
    # type defaults to org.
    assert _timed(tenant, bid, "entity/metric/list", {})[0] == body
    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "org", "entity_name": "orgb"})
    assert body == {"metrics": [{"dimensions": dims("org", "orgb"), "values": [QUIET[1]]}]}
    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "plugin"})
    assert body == {"metrics": [{"dimensions": dims("plugin", "baas-agent"), "values": [QUIET[1]]}]}
    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "plugin", "entity_name": "baas-agent"})
    assert [m["dimensions"] for m in body["metrics"]] == [dims("plugin", "baas-agent")]

    refusals = [
        ({"type": "org", "entity_name": "nope"}, "BCS.4001051", "Input org nope is not exist"),
        # A plugin is not an org, and an org is not a plugin.
        ({"type": "org", "entity_name": "baas-agent"}, "BCS.4001051", "Input org baas-agent is not exist"),
        (
            {"type": "plugin", "entity_name": "orga"},
            "BCS.4006014",
            "Invalid Parameter entity_name : no plugin orga in this instance",
        ),
        # The RESTful add-on is a plugin only where it was asked for.
        (
            {"type": "plugin", "entity_name": "baas-restapi"},
            "BCS.4006014",
            "Invalid Parameter entity_name : no plugin baas-restapi in this instance",
        ),
        ({"type": "org", "extra": 1}, "BCS.4006014", "Invalid Parameter extra : unknown field"),
    ]
    for body, code, message in refusals:
        assert error(call(tenant, bid, "entity/metric/list", body)) == (400, code, message), body
    status, code, message = error(call(tenant, bid, "entity/metric/list", {"type": "node"}))
    assert (status, code) == (400, "BCS.4006014")
    assert message.startswith("Invalid Parameter type : ")


def test_entity_metrics_list_the_restful_plugin_when_enabled(tenant: Tenant) -> None:
    bid = tenant.create_instance("bcs-rest", restful_api_support=True)
    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "plugin"})
    assert [m["dimensions"][1] for m in body["metrics"]] == [
        {"name": "plugin", "value": "baas-agent"},
        {"name": "plugin", "value": "baas-restapi"},
    ]
    # One pod each (disk use depends on the pod count only; CPU also on whether the creation ran in the last step).
    assert [m["values"][0]["filesystemUsage"] for m in body["metrics"]] == ["5.8", "5.8"]
    assert {m["values"][0]["cpuUsage"] for m in body["metrics"]} <= {"4.5", "16.5"}


def _pod_metrics(tenant: Tenant, bid: str, kind: str, entity: str, pod: str) -> tuple[list[dict[str, Any]], list[int]]:
    """ListInstanceMetric of one pod: its results after checking their dimensions, and the window's timestamps."""
    body, before, after = _timed(
        tenant, bid, "entity/instance/metric/list", {"type": kind, "entity_name": entity, "instance_name": pod}
    )
    assert [r["metric"]["metricName"] for r in body["metrics"]] == ALL_METRICS
    dimensions = [
        {"name": "blockchain_id", "value": bid},
        {"name": kind, "value": entity},
        {"name": "instance", "value": pod},
    ]
    assert all(r["metric"]["dimensions"] == dimensions for r in body["metrics"])
    return body["metrics"], check_window(body["metrics"][0]["dataPoints"], before, after)


def test_instance_metrics_of_one_pod(tenant: Tenant, db: Database, bid: str) -> None:
    pods = [
        ("org", "orga", pods_of(db, bid, "orga")[1]),
        ("org", "orderer", pods_of(db, bid, "orderer")[2]),
        ("plugin", "baas-agent", f"baas-agent-{bid[:8]}"),
    ]
    for kind, entity, pod in pods:
        results, stamps = _pod_metrics(tenant, bid, kind, entity, pod)
        ks = _ops_per_step(db, bid, stamps)
        for result in results:
            _check_series(result, result["metric"]["metricName"], result["metric"]["dimensions"], 1, ks, stamps)


def test_instance_metrics_refusals(tenant: Tenant, db: Database, bid: str) -> None:
    orgb_peer = pods_of(db, bid, "orgb")[0]

    def refused(body: dict[str, Any]) -> tuple[int, str, str]:
        return error(call(tenant, bid, "entity/instance/metric/list", body))

    assert refused({"type": "org", "entity_name": "orga", "instance_name": "peer-x"}) == (
        400,
        "BCS.4006014",
        "Invalid Parameter instance_name : orga has no instance peer-x",
    )
    # Another organisation's node.
    assert refused({"type": "org", "entity_name": "orga", "instance_name": orgb_peer}) == (
        400,
        "BCS.4006014",
        f"Invalid Parameter instance_name : orga has no instance {orgb_peer}",
    )
    assert refused({"type": "org", "entity_name": "nope", "instance_name": orgb_peer}) == (
        400,
        "BCS.4001051",
        "Input org nope is not exist",
    )
    assert refused({"type": "plugin", "entity_name": "baas-agent", "instance_name": "baas-agent-00000000"}) == (
        400,
        "BCS.4006014",
        "Invalid Parameter instance_name : baas-agent has no instance baas-agent-00000000",
    )
    assert refused({"type": "plugin", "entity_name": "orgb", "instance_name": orgb_peer})[2] == (
        "Invalid Parameter entity_name : no plugin orgb in this instance"
    )
    assert refused({"type": "org", "entity_name": "orgb"}) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: instance_name",
    )
    assert refused({"entity_name": "orgb", "instance_name": orgb_peer}) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: type",
    )
    assert refused({"type": "org", "entity_name": "", "instance_name": orgb_peer}) == (
        400,
        "BCS.4006009",
        "one of parameters is nil: entity_name",
    )


@pytest.fixture
def none_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose metrics source is ``none`` (do not combine with ``client``)."""
    with TestClient(
        create_app(settings.model_copy(update={"metrics_source": "none"})), raise_server_exceptions=False
    ) as c:
        yield c


def test_the_none_source_has_no_data_points(
    none_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    tenant = new_tenant(none_client, make_account)
    bid = tenant.create_instance(**TWO_ORGS)
    blockchain = [{"name": "blockchain_id", "value": bid}]

    body, _, _ = _timed(tenant, bid, "metric/list", {"metric_names": ALL_METRICS})
    assert body == {
        "metrics": [
            {"metric": {"namespace": "BCS.Node", "metricName": name, "dimensions": blockchain}, "dataPoints": []}
            for name in ALL_METRICS
        ]
    }
    body, _, _ = _timed(tenant, bid, "entity/metric/list", {"type": "org", "entity_name": "orga"})
    assert body == {
        "metrics": [
            {
                "dimensions": [*blockchain, {"name": "org", "value": "orga"}],
                "values": [dict.fromkeys(ENTITY_FIELDS, "")],
            }
        ]
    }
    peer = pods_of(db, bid, "orga")[0]
    body, _, _ = _timed(
        tenant, bid, "entity/instance/metric/list", {"type": "org", "entity_name": "orga", "instance_name": peer}
    )
    assert [(r["metric"]["metricName"], r["dataPoints"]) for r in body["metrics"]] == [(n, []) for n in ALL_METRICS]
    # The refusals do not depend on the source.
    assert error(call(tenant, bid, "metric/list", {"metric_names": ["nope"]}))[:2] == (400, "BCS.4006014")
    assert error(call(tenant, bid, "entity/metric/list", {"entity_name": "nope"}))[1] == "BCS.4001051"
