"""The local runtime's metrics source (``NodeMetrics``) against node ``/metrics`` endpoints served on loopback by the
test: the history of scrapes and the steps it answers, Fabric's names reduced over channels and pods, the BCS names
derived from the process metrics (the CPU rate between scrapes, the machine's memory, the nodes' disk), bounded age
(a request within 5 s scrapes nothing), nodes that do not answer skipped; then through the API of a local-runtime app
(a fake runtime) and a modelled one, where Fabric's names are refused."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from openbcs.kernel.db import Database
from openbcs.monitoring.nodes_source import NodeMetrics
from openbcs.monitoring.sources import METRIC_NAMES, Target
from tests.monitoring.helpers import DEFAULT_METRICS, STEP_MS, call, pods_of
from tests.runtime.fakes import FakeRuntime
from tests.support import bodies
from tests.support.errors import error
from tests.support.node_metrics import Nodes, exposition
from tests.support.tenants import Tenant

MINUTE = 60_000
START = 1_700_000_000_000 // MINUTE * MINUTE  # a step boundary
MB, GB = 1 << 20, 1 << 30
CPUS = os.cpu_count() or 1


def memory_total() -> int:
    """MemTotal of /proc/meminfo in bytes, read here again (not through the source)."""
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:"))
    return int(line.split()[1]) * 1024


def dead_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


@dataclass
class Clock:
    now: int = START

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(nodes: Nodes) -> FakeRuntime:
    return FakeRuntime(metrics_urls={name: nodes.url(name) for name in ("a", "b", "c")})


@pytest.fixture
def source(fake: FakeRuntime, clock: Clock, tmp_path: Path) -> NodeMetrics:
    return NodeMetrics(runtime=fake, nodes_dir=tmp_path / "nodes", clock_ms=clock)


def series(source: NodeMetrics, metric: str, *pods: str, steps: int = 3) -> list[tuple[int, float]]:
    """``metric`` of ``pods`` over ``steps`` one-minute steps from START."""
    target = Target("bid", pods, ())
    return source.series(metric, target, start_ms=START, end_ms=START + (steps - 1) * MINUTE, step_ms=MINUTE)


def test_each_step_answers_its_last_scrape_and_empty_steps_are_left_out(
    source: NodeMetrics, nodes: Nodes, clock: Clock
) -> None:
    nodes.texts["a"] = exposition(heights={"c": 3})
    clock.now = START + 1_000
    assert source.sample(["a"]) == 1
    nodes.texts["a"] = exposition(heights={"c": 4})
    clock.now = START + 30_000
    source.sample(["a"])
    nodes.texts["a"] = exposition(heights={"c": 5})
    clock.now = START + 2 * MINUTE + 10_000  # the third step; the second has no scrape
    source.sample(["a"])
    assert series(source, "ledger_blockchain_height", "a") == [(START, 4.0), (START + 2 * MINUTE, 5.0)]
    assert nodes.requests["a"] == 3  # the series scraped nothing: a was tried a moment ago
    # Fabric's names and the BCS names alike; a pod with no history gives no point.
    assert series(source, "ledger_blockchain_height", "b") == []


def test_fabric_names_are_reduced_over_channels_and_pods(source: NodeMetrics, nodes: Nodes) -> None:
    nodes.texts["a"] = exposition(
        heights={"c": 3, "d": 2}, tx=[2, 3], leader={"c": 0, "d": 0}, broadcast=[1, 2], cpu=1.25, rss=100 * MB
    )
    nodes.texts["b"] = exposition(heights={"c": 5}, tx=[4], leader={"c": 1}, broadcast=[4], cpu=0.5, rss=50 * MB)
    assert source.sample(["a", "b"]) == 2
    expected = {
        "ledger_blockchain_height": 5.0,  # max over pods and channels
        "ledger_transaction_count": 9.0,  # sum of every series of every pod
        "consensus_etcdraft_is_leader": 1.0,  # max
        "broadcast_processed_count": 7.0,  # sum
        "process_cpu_seconds_total": 1.75,  # sum
        "process_resident_memory_bytes": 150.0 * MB,  # sum
    }
    for name, value in expected.items():
        assert series(source, name, "a", "b") == [(START, value)], name
    # One pod alone: its own channels reduced.
    assert series(source, "ledger_blockchain_height", "a") == [(START, 3.0)]
    assert series(source, "ledger_transaction_count", "a") == [(START, 5.0)]


def test_cpu_is_the_rate_between_scrapes_memory_the_machines_and_disk_the_nodes_folder(
    source: NodeMetrics, nodes: Nodes, clock: Clock, tmp_path: Path
) -> None:
    nodes.texts["a"] = exposition(cpu=1.0, rss=100 * MB)
    nodes.texts["b"] = exposition(cpu=2.0, rss=300 * MB)
    source.sample(["a", "b"])
    # A minute later, in the next step: a used 0.5 s of CPU (1/120 of a core), b 1.5 s (1/40).
    clock.now = START + MINUTE
    nodes.texts["a"] = exposition(cpu=1.5, rss=100 * MB)
    nodes.texts["b"] = exposition(cpu=3.5, rss=300 * MB)
    source.sample(["a", "b"])

    # The first scrapes have no rate yet: no CPU use in the first step, but the limit (the machine's, per pod).
    assert series(source, "cpuCoreUsed", "a") == [(START + MINUTE, round(0.5 / 60, 3))]
    assert series(source, "cpuCoreUsed", "b") == [(START + MINUTE, round(1.5 / 60, 3))]
    assert series(source, "cpuCoreLimit", "a", "b") == [(START, 2.0 * CPUS), (START + MINUTE, 2.0 * CPUS)]
    assert series(source, "cpuCoreUsed", "a", "b") == [(START + MINUTE, round(2.0 / 60, 3))]
    assert series(source, "cpuUsage", "a", "b") == [(START + MINUTE, round(2.0 / 60 / (2 * CPUS) * 100, 3))]
    assert series(source, "cpuUsage", "a") == [(START + MINUTE, round(0.5 / 60 / CPUS * 100, 3))]

    total = memory_total()
    assert series(source, "memUsedRate", "a") == [
        (t, round(100 * MB / total * 100, 3)) for t in (START, START + MINUTE)
    ]
    assert series(source, "memUsedRate", "a", "b")[-1] == (START + MINUTE, round(400 * MB / (2 * total) * 100, 3))
    assert series(source, "totalMem", "a", "b")[-1] == (START + MINUTE, round(2 * total / MB, 3))
    assert series(source, "freeMem", "a", "b")[-1] == (START + MINUTE, round((2 * total - 400 * MB) / MB, 3))

    disk = shutil.disk_usage(tmp_path)  # the nodes' folder does not exist yet: its nearest parent's file system
    ((_, capacity),) = series(source, "diskCapacity", "a", steps=1)
    assert capacity == round(disk.total / GB, 3)
    ((_, available),) = series(source, "diskAvailableCapacity", "a", steps=1)
    assert available == pytest.approx(disk.free / GB, abs=0.5)
    ((_, used_rate),) = series(source, "diskUsedRate", "a", steps=1)
    assert used_rate == pytest.approx(disk.used / disk.total * 100, abs=1)

    # Fabric exposes no network or disk I/O: nothing, rather than a made-up figure.
    for name in ("sendBytesRate", "recvBytesRate", "diskReadRate", "diskWriteRate"):
        assert series(source, name, "a", "b") == [], name


def test_a_restarted_node_has_no_rate_until_its_next_scrape(source: NodeMetrics, nodes: Nodes, clock: Clock) -> None:
    nodes.texts["a"] = exposition(cpu=5.0)
    source.sample(["a"])
    clock.now += 10_000
    nodes.texts["a"] = exposition(cpu=0.25)  # the counter went back: a new process
    source.sample(["a"])
    assert series(source, "cpuCoreUsed", "a") == []
    clock.now += 10_000
    nodes.texts["a"] = exposition(cpu=0.75)
    source.sample(["a"])
    assert series(source, "cpuCoreUsed", "a") == [(START, 0.05)]


def test_scrapes_are_cached_for_five_seconds(source: NodeMetrics, nodes: Nodes, clock: Clock) -> None:
    nodes.texts["a"] = exposition(heights={"c": 3})
    nodes.texts["b"] = exposition(heights={"c": 1})
    assert series(source, "ledger_blockchain_height", "a", "b") == [(START, 3.0)]
    assert nodes.requests == Counter(a=1, b=1)
    nodes.texts["a"] = exposition(heights={"c": 5})
    clock.now += 4_999
    assert series(source, "ledger_blockchain_height", "a", "b") == [(START, 3.0)]
    assert series(source, "cpuUsage", "a", "b") == []  # no process metrics served
    assert nodes.requests == Counter(a=1, b=1)  # within 5 s: nothing scraped
    clock.now += 1
    assert series(source, "ledger_blockchain_height", "a", "b") == [(START, 5.0)]
    assert nodes.requests == Counter(a=2, b=2)


def test_concurrent_requests_share_one_scrape(source: NodeMetrics, nodes: Nodes) -> None:
    nodes.texts["a"] = exposition(heights={"c": 3})
    answers: list[list[tuple[int, float]]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(series(source, "ledger_blockchain_height", "a")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[(START, 3.0)]] * 8
    assert nodes.requests == Counter(a=1)


def test_a_node_that_does_not_answer_is_skipped(source: NodeMetrics, nodes: Nodes, fake: FakeRuntime) -> None:
    fake.metrics_urls["down"] = dead_url()
    nodes.texts["a"] = exposition(heights={"c": 3}, rss=MB)
    nodes.texts["b"] = "!500"  # a failing endpoint
    nodes.texts["c"] = "this is { not an exposition\n"
    # "d" has no process (no URL): not asked at all.
    assert source.sample(["down", "a", "b", "c", "d"]) == 1
    assert series(source, "ledger_blockchain_height", "down", "a", "b", "c", "d") == [(START, 3.0)]
    assert series(source, "process_resident_memory_bytes", "down", "a", "b", "c", "d") == [(START, float(MB))]
    assert nodes.requests == Counter(a=1, b=1, c=1)


def test_the_history_keeps_one_hour(source: NodeMetrics, nodes: Nodes, clock: Clock) -> None:
    nodes.texts["a"] = exposition(heights={"c": 3})
    source.sample(["a"])
    clock.now += 60 * MINUTE
    source.sample(["a"])
    assert len(source._history["a"]) == 2
    clock.now += 1
    source.sample(["a"])
    assert [s.at_ms for s in source._history["a"]] == [START + 60 * MINUTE, START + 60 * MINUTE + 1]


# --- through the API -------------------------------------------------------------------------------------------


def test_list_bcs_metric_answers_the_nodes_own_metrics_in_the_local_runtime(
    local_tenant: Tenant, fake: FakeRuntime, nodes: Nodes, db: Database
) -> None:
    bid = local_tenant.create_instance(bodies.union_instance_body())
    pods = pods_of(db, bid)
    assert len(pods) == 5
    for pod in pods:
        fake.metrics_urls[pod] = nodes.url(pod)
        nodes.texts[pod] = exposition(heights={"channel": 3}, cpu=1.0, rss=64 * MB)
    peer = next(p for p in pods if p.startswith("peer-"))
    nodes.texts[peer] = exposition(heights={"channel": 5}, cpu=1.0, rss=64 * MB)

    before = time.time_ns() // 1_000_000
    response = call(local_tenant, bid, "metric/list", {"metric_names": ["ledger_blockchain_height"]})
    after = time.time_ns() // 1_000_000
    assert response.status_code == 200, response.text
    (result,) = response.json()["metrics"]
    assert result["metric"] == {
        "namespace": "BCS.Node",
        "metricName": "ledger_blockchain_height",
        "dimensions": [{"name": "blockchain_id", "value": bid}],
    }
    last = result["dataPoints"][-1]
    assert last["unit"] == "count"
    assert last["statistics"] == [{"statistic": "average", "value": 5.0}]  # the highest ledger of the five nodes
    assert last["timestamp"] in (before // STEP_MS * STEP_MS, after // STEP_MS * STEP_MS)  # the window's last step
    assert nodes.requests == Counter(dict.fromkeys(pods, 1))

    # The default names still answer, from the same scrapes (no network or disk I/O figures from Fabric).
    response = call(local_tenant, bid, "metric/list", {})
    assert response.status_code == 200, response.text
    results = response.json()["metrics"]
    assert [r["metricName"] for r in (m["metric"] for m in results)] == DEFAULT_METRICS
    by_name = {r["metric"]["metricName"]: r["dataPoints"] for r in results}
    assert by_name["sendBytesRate"] == by_name["recvBytesRate"] == []
    assert by_name["memUsedRate"][-1]["timestamp"] == last["timestamp"]
    assert by_name["memUsedRate"][-1]["unit"] == "%"
    assert by_name["memUsedRate"][-1]["statistics"][0]["value"] > 0
    assert nodes.requests == Counter(dict.fromkeys(pods, 1))  # cached: asked a moment ago

    # One pod: ListInstanceMetric answers the BCS names of that node alone.
    response = call(
        local_tenant,
        bid,
        "entity/instance/metric/list",
        {"type": "org", "entity_name": bodies.DEFAULT_ORG, "instance_name": peer},
    )
    assert response.status_code == 200, response.text
    shown = {m["metric"]["metricName"]: m["dataPoints"] for m in response.json()["metrics"]}
    assert list(shown) == list(METRIC_NAMES)
    assert shown["totalMem"][-1]["statistics"][0]["value"] == round(memory_total() / MB, 3)
    assert shown["cpuCoreLimit"][-1]["statistics"][0]["value"] == float(CPUS)


def test_fabric_names_are_refused_by_the_modelled_sources(tenant: Tenant, bid: str) -> None:
    status, code, message = error(call(tenant, bid, "metric/list", {"metric_names": ["ledger_blockchain_height"]}))
    assert (status, code) == (400, "BCS.4006014")
    assert message == (
        "Invalid Parameter metric_names[0] : ledger_blockchain_height is not one of cpuUsage, diskUsedRate, "
        "memUsedRate, sendBytesRate, recvBytesRate, cpuCoreLimit, cpuCoreUsed, totalMem, freeMem, diskCapacity, "
        "diskAvailableCapacity"
    )
    response = call(tenant, bid, "metric/list", {})
    assert response.status_code == 200, response.text
    assert [m["metric"]["metricName"] for m in response.json()["metrics"]] == DEFAULT_METRICS
