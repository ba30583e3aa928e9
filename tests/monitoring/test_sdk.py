"""The five monitoring operations through the official SDK (huaweicloudsdkbcs BcsClient, AK/SK signed) on a live
loopback server, with each metrics source: the answers parse into the SDK's models with every documented field.
(SDK imports stay inside the functions: importing the SDK writes ``$HOME/.huaweicloud``, and only the session's
fixtures point $HOME at a temporary folder.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.monitoring.helpers import (
    ALL_METRICS,
    DEFAULT_METRICS,
    ENTITY_FIELDS,
    MS,
    TWO_ORGS,
    UNITS,
    FakePrometheus,
    alarm_rows,
    event_rows,
    model_value,
    pods_of,
    run_diagnostic,
)
from tests.support.accounts import TestAccount
from tests.support.servers import LiveServer
from tests.support.tenants import new_tenant

# sdk field name -> the API's key, for the entity values.
ENTITY_ATTRS = {
    "cpu_usage": "cpuUsage",
    "disk_read_rate": "diskReadRate",
    "disk_write_rate": "diskWriteRate",
    "mem_usage": "memUsage",
    "recv_bytes_rate": "recvBytesRate",
    "send_bytes_rate": "sendBytesRate",
    "filesystem_usage": "filesystemUsage",
}


@pytest.fixture(params=["model", "none", "prometheus"])
def server(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[str, LiveServer]]:
    """A live server with the metrics source ``request.param`` (prometheus: a fake one on loopback)."""
    source = str(request.param)
    with ExitStack() as stack:
        update: dict[str, Any] = {"metrics_source": source}
        if source == "prometheus":
            update["prometheus_url"] = stack.enter_context(FakePrometheus()).url
        yield source, stack.enter_context(LiveServer(settings.model_copy(update=update)))


def _client(server: LiveServer, account: TestAccount) -> Any:
    from huaweicloudsdkbcs.v2 import BcsClient
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    credentials = BasicCredentials(account.ak, account.sk, account.project_id)
    return BcsClient.new_builder().with_credentials(credentials).with_endpoints([server.url]).build()


def _check_result(result: Any, namespace: str) -> None:
    """A MetricItemResultAPI with every documented field present."""
    from huaweicloudsdkbcs.v2 import MetricItemResultAPI

    assert isinstance(result, MetricItemResultAPI)
    assert result.metric.namespace == namespace
    assert result.metric.metric_name
    assert result.metric.dimensions
    for dimension in result.metric.dimensions:
        assert dimension.name
        assert dimension.value is not None
    assert isinstance(result.data_points, list)
    for point in result.data_points:
        assert isinstance(point.timestamp, int)
        assert point.unit
        assert point.statistics
        for statistic in point.statistics:
            assert statistic.statistic
            assert isinstance(statistic.value, float)


def test_the_five_operations_through_the_sdk(
    server: tuple[str, LiveServer], make_account: Callable[..., TestAccount], db: Database
) -> None:
    from huaweicloudsdkbcs.v2 import (
        EntityMetricListItem,
        EventMetadataRelation,
        EventResultSort,
        ListBcsEventRequestBody,
        ListBcsEventsRequest,
        ListBcsEventsStatisticRequest,
        ListBcsMetricRequest,
        ListBcsMetricRequestBody,
        ListEntityMetricRequest,
        ListEntityMetricRequestBody,
        ListInstanceMetricRequest,
        ListInstanceMetricRequestBody,
    )
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    source, live = server
    with httpx.Client(base_url=live.url, timeout=30) as http:
        tenant = new_tenant(http, make_account)
        bid = tenant.create_instance(**TWO_ORGS)
        # A failed operation on the instance: an active alarm.
        failed = run_diagnostic(db, tenant, bid, fail_at="execute-a")
    account = tenant.account
    client = _client(live, account)
    stored = event_rows(db, bid)

    # ListBcsEvents: every event of the creation and the failure, with a filter and a sort.
    body = ListBcsEventRequestBody(
        time_range="-1.-1.60",
        step=60_000,
        search="",
        metadata_relation=[EventMetadataRelation(key="operation_kind", value=["blockchain.create"], relation="NOT")],
        sort=EventResultSort(order_by=["time"], order="asc"),
    )
    response = client.list_bcs_events(ListBcsEventsRequest(blockchain_id=bid, body=body))
    assert response.status_code == 200
    expected = [e for e in stored if e.metadata.get("operation_kind") != "blockchain.create"]
    assert [r.metric.metric_name for r in response.metrics] == [e.name for e in expected]
    assert [r.metric.metric_name for r in response.metrics] == [
        "ChannelCreated",
        "InstanceStateChanged",
        "OperationStarted",
        "OperationFailed",
    ]
    for result, row in zip(response.metrics, expected, strict=True):
        _check_result(result, "BCS.Events")
        assert [(d.name, d.value) for d in result.metric.dimensions] == [
            ("blockchain_id", bid),
            ("severity", row.severity),
            ("message", row.message),
            *sorted(row.metadata.items()),
        ]
        (point,) = result.data_points
        assert (point.timestamp, point.unit) == (row.time // MS, "count")
        assert [(s.statistic, s.value) for s in point.statistics] == [("count", 1.0)]

    # Active alarms, and none in the history.
    body = ListBcsEventRequestBody(time_range="-1.-1.60", step=60_000)
    response = client.list_bcs_events(ListBcsEventsRequest(blockchain_id=bid, type="active_alert", body=body))
    (alarm,) = response.metrics
    _check_result(alarm, "BCS.Alarms")
    (stored_alarm,) = alarm_rows(db, bid)
    assert (alarm.metric.metric_name, alarm.data_points[0].timestamp) == (
        "OperationFailed",
        stored_alarm.raised_time // MS,
    )
    assert {d.name: d.value for d in alarm.metric.dimensions}["operation_id"] == failed
    response = client.list_bcs_events(ListBcsEventsRequest(blockchain_id=bid, type="history_alert", body=body))
    assert response.metrics == []

    # ListBcsEventsStatistic: one result per event name, one point per hour.
    body = ListBcsEventRequestBody(time_range="-1.-1.120", step=3_600_000)
    response = client.list_bcs_events_statistic(ListBcsEventsStatisticRequest(blockchain_id=bid, body=body))
    assert response.status_code == 200
    counts = {r.metric.metric_name: sum(p.statistics[0].value for p in r.data_points) for r in response.metrics}
    assert counts == {name: float(sum(1 for e in stored if e.name == name)) for name in {e.name for e in stored}}
    for result in response.metrics:
        _check_result(result, "BCS.Events")
        assert len(result.data_points) == 3
        assert [(d.name, d.value) for d in result.metric.dimensions] == [("blockchain_id", bid)]

    # ListBcsMetric: default names and explicit ones.
    response = client.list_bcs_metric(ListBcsMetricRequest(blockchain_id=bid, body=ListBcsMetricRequestBody()))
    assert response.status_code == 200
    assert [r.metric.metric_name for r in response.metrics] == DEFAULT_METRICS
    names = ["totalMem", "cpuCoreLimit"]
    response = client.list_bcs_metric(
        ListBcsMetricRequest(blockchain_id=bid, body=ListBcsMetricRequestBody(metric_names=names))
    )
    assert [r.metric.metric_name for r in response.metrics] == names
    for result in response.metrics:
        _check_result(result, "BCS.Node")
        assert [(d.name, d.value) for d in result.metric.dimensions] == [("blockchain_id", bid)]
        if source == "none":
            assert result.data_points == []
        elif source == "model":
            # Independent of activity: 6 pods.
            assert {p.statistics[0].value for p in result.data_points} == {model_value(result.metric.metric_name, 6, 0)}
            assert len(result.data_points) == 12
            assert {p.unit for p in result.data_points} == {UNITS[result.metric.metric_name]}
        else:
            assert [p.statistics[0].value for p in result.data_points] == [3.75, 1.5, 0.5]

    # ListEntityMetric: each organisation's latest values.
    response = client.list_entity_metric(
        ListEntityMetricRequest(blockchain_id=bid, body=ListEntityMetricRequestBody(type="org"))
    )
    assert response.status_code == 200
    assert [[(d.name, d.value) for d in m.dimensions] for m in response.metrics] == [
        [("blockchain_id", bid), ("org", org)] for org in ("orga", "orgb", "orderer")
    ]
    for entity in response.metrics:
        (values,) = entity.values
        assert isinstance(values, EntityMetricListItem)
        shown = {key: getattr(values, attr) for attr, key in ENTITY_ATTRS.items()}
        assert set(shown) == set(ENTITY_FIELDS)
        assert all(isinstance(v, str) for v in shown.values())
        if source == "none":
            assert set(shown.values()) == {""}
        elif source == "prometheus":
            assert set(shown.values()) == {"0.5"}
        else:
            assert all(float(v) > 0 for v in shown.values())
    response = client.list_entity_metric(
        ListEntityMetricRequest(
            blockchain_id=bid, body=ListEntityMetricRequestBody(type="plugin", entity_name="baas-agent")
        )
    )
    assert [[(d.name, d.value) for d in m.dimensions] for m in response.metrics] == [
        [("blockchain_id", bid), ("plugin", "baas-agent")]
    ]

    # ListInstanceMetric: one node's metrics.
    peer = pods_of(db, bid, "orgb")[0]
    response = client.list_instance_metric(
        ListInstanceMetricRequest(
            blockchain_id=bid,
            body=ListInstanceMetricRequestBody(type="org", entity_name="orgb", instance_name=peer),
        )
    )
    assert response.status_code == 200
    assert [r.metric.metric_name for r in response.metrics] == ALL_METRICS
    for result in response.metrics:
        _check_result(result, "BCS.Node")
        assert [(d.name, d.value) for d in result.metric.dimensions] == [
            ("blockchain_id", bid),
            ("org", "orgb"),
            ("instance", peer),
        ]
        assert (result.data_points == []) == (source == "none")

    # Errors reach the SDK as ClientRequestException with the BCS code.
    with pytest.raises(ClientRequestException) as raised:
        client.list_bcs_metric(
            ListBcsMetricRequest(blockchain_id=bid, body=ListBcsMetricRequestBody(metric_names=["cpuUsed"]))
        )
    assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4006014")
    assert "metric_names[0]" in raised.value.error_msg
    with pytest.raises(ClientRequestException) as raised:
        client.list_entity_metric(
            ListEntityMetricRequest(blockchain_id=bid, body=ListEntityMetricRequestBody(type="org", entity_name="nope"))
        )
    assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4001051")
    with pytest.raises(ClientRequestException) as raised:
        client.list_bcs_events(
            ListBcsEventsRequest(blockchain_id=bid, body=ListBcsEventRequestBody(time_range="1.2", step=1000))
        )
    assert (raised.value.status_code, raised.value.error_code) == (400, "BCS.4006014")
    assert "time_range" in raised.value.error_msg
    # Queries change nothing.
    assert [e.name for e in event_rows(db, bid)] == [e.name for e in stored]
