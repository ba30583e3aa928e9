"""Where node metrics come from. In the modelled runtime no Fabric node runs, so a *source* is chosen in settings:

- ``model`` (default): deterministic series computed from the instance model and its activity — modelled, never
  measured (``docs/monitoring.md`` gives the formulas);
- ``prometheus``: PromQL range queries against a Prometheus HTTP API, one query per metric name over the labels of the
  instance's nodes (:data:`DEFAULT_QUERIES`, overridable from a JSON or YAML file);
- ``none``: no data points.

The local runtime's nodes answer for themselves (:mod:`openbcs.monitoring.nodes_source`, in place of ``model``). Each
source declares the metric names it accepts (``names``); ListBcsMetric refuses any other.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

METRIC_NAMES = (
    "cpuUsage",
    "diskUsedRate",
    "memUsedRate",
    "sendBytesRate",
    "recvBytesRate",
    "cpuCoreLimit",
    "cpuCoreUsed",
    "totalMem",
    "freeMem",
    "diskCapacity",
    "diskAvailableCapacity",
)
DEFAULT_METRIC_NAMES = METRIC_NAMES[:5]
# The fields of ListEntityMetric's values, and the series each reads.
ENTITY_FIELDS = {
    "cpuUsage": "cpuUsage",
    "diskReadRate": "diskReadRate",
    "diskWriteRate": "diskWriteRate",
    "memUsage": "memUsedRate",
    "recvBytesRate": "recvBytesRate",
    "sendBytesRate": "sendBytesRate",
    "filesystemUsage": "diskUsedRate",
}
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
    "diskReadRate": "Byte/s",
    "diskWriteRate": "Byte/s",
}

_PODS = 'pod=~"{pods}"'
_PVCS = 'persistentvolumeclaim=~"{pvcs}"'
DEFAULT_QUERIES: dict[str, str] = {
    "cpuUsage": f"sum(rate(container_cpu_usage_seconds_total{{{_PODS}}}[5m])) / "
    f'sum(kube_pod_container_resource_limits{{resource="cpu",{_PODS}}}) * 100',
    "memUsedRate": f"sum(container_memory_working_set_bytes{{{_PODS}}}) / "
    f'sum(kube_pod_container_resource_limits{{resource="memory",{_PODS}}}) * 100',
    "diskUsedRate": f"sum(kubelet_volume_stats_used_bytes{{{_PVCS}}}) / "
    f"sum(kubelet_volume_stats_capacity_bytes{{{_PVCS}}}) * 100",
    "sendBytesRate": f"sum(rate(container_network_transmit_bytes_total{{{_PODS}}}[5m]))",
    "recvBytesRate": f"sum(rate(container_network_receive_bytes_total{{{_PODS}}}[5m]))",
    "cpuCoreLimit": f'sum(kube_pod_container_resource_limits{{resource="cpu",{_PODS}}})',
    "cpuCoreUsed": f"sum(rate(container_cpu_usage_seconds_total{{{_PODS}}}[5m]))",
    "totalMem": f'sum(kube_pod_container_resource_limits{{resource="memory",{_PODS}}}) / 1048576',
    "freeMem": f'(sum(kube_pod_container_resource_limits{{resource="memory",{_PODS}}}) - '
    f"sum(container_memory_working_set_bytes{{{_PODS}}})) / 1048576",
    "diskCapacity": f"sum(kubelet_volume_stats_capacity_bytes{{{_PVCS}}}) / 1073741824",
    "diskAvailableCapacity": f"sum(kubelet_volume_stats_available_bytes{{{_PVCS}}}) / 1073741824",
    "diskReadRate": f"sum(rate(container_fs_reads_bytes_total{{{_PODS}}}[5m]))",
    "diskWriteRate": f"sum(rate(container_fs_writes_bytes_total{{{_PODS}}}[5m]))",
}


@dataclass(frozen=True)
class Target:
    """What a series is about: some pods (nodes) of an instance, their volumes, and the instance's activity."""

    blockchain_id: str
    pods: Sequence[str]
    pvcs: Sequence[str]
    activity_ms: Sequence[int] = field(default_factory=tuple)  # times of the instance's operations


class MetricsSource(Protocol):
    """Gives ``[(timestamp ms, value)]`` for one metric of a target over ``[start_ms, end_ms]`` every ``step_ms``;
    ``names`` are the metric names it accepts."""

    names: tuple[str, ...]

    def series(
        self, metric: str, target: Target, *, start_ms: int, end_ms: int, step_ms: int
    ) -> list[tuple[int, float]]:
        """The metric's series."""
        ...


class NoMetrics:
    """``none``: empty series."""

    names: tuple[str, ...] = METRIC_NAMES

    def series(
        self, metric: str, target: Target, *, start_ms: int, end_ms: int, step_ms: int
    ) -> list[tuple[int, float]]:
        """No data points."""
        return []


class ModelMetrics:
    """``model``: values computed from the node count and the operations that ran in each step (modelled)."""

    names: tuple[str, ...] = METRIC_NAMES

    def series(
        self, metric: str, target: Target, *, start_ms: int, end_ms: int, step_ms: int
    ) -> list[tuple[int, float]]:
        """The modelled series."""
        points = []
        nodes = len(target.pods)
        for t in range(start_ms, end_ms + 1, step_ms):
            ops = sum(1 for a in target.activity_ms if t <= a < t + step_ms)
            points.append((t, round(self.value(metric, nodes, ops), 3)))
        return points

    @staticmethod
    def value(metric: str, nodes: int, ops: int) -> float:
        """One modelled value: ``nodes`` pods, ``ops`` operations in the step."""
        cpu = min(95.0, 3 + 1.5 * nodes + 12 * ops) if nodes else 0.0
        mem = min(90.0, 18 + 2.5 * nodes + 3 * ops) if nodes else 0.0
        disk = min(90.0, 5 + 0.8 * nodes) if nodes else 0.0
        formulas = {
            "cpuUsage": cpu,
            "memUsedRate": mem,
            "diskUsedRate": disk,
            "sendBytesRate": 2048.0 * nodes + 40960 * ops,
            "recvBytesRate": 1536.0 * nodes + 40960 * ops,
            "cpuCoreLimit": 2.0 * nodes,
            "cpuCoreUsed": 2.0 * nodes * cpu / 100,
            "totalMem": 4096.0 * nodes,
            "freeMem": 4096.0 * nodes * (1 - mem / 100),
            "diskCapacity": 100.0 * nodes,
            "diskAvailableCapacity": 100.0 * nodes * (1 - disk / 100),
            "diskReadRate": 512.0 * nodes + 8192 * ops,
            "diskWriteRate": 1024.0 * nodes + 16384 * ops,
        }
        return formulas[metric]


class PrometheusMetrics:
    """``prometheus``: ``/api/v1/query_range`` with the query for the metric, the target's labels filled in."""

    names: tuple[str, ...] = METRIC_NAMES

    def __init__(self, url: str, queries: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.queries = {**DEFAULT_QUERIES, **(queries or {})}
        self.timeout = timeout

    def query_for(self, metric: str, target: Target) -> str:
        """The PromQL of ``metric`` for ``target`` (placeholders ``{pods}``, ``{pvcs}``, ``{blockchain_id}``)."""
        return (
            self.queries[metric]
            .replace("{pods}", "|".join(target.pods) or "^$")
            .replace("{pvcs}", "|".join(target.pvcs) or "^$")
            .replace("{blockchain_id}", target.blockchain_id)
        )

    def series(
        self, metric: str, target: Target, *, start_ms: int, end_ms: int, step_ms: int
    ) -> list[tuple[int, float]]:
        """Query Prometheus; the values of every returned series are summed per timestamp."""
        params = urllib.parse.urlencode(
            {
                "query": self.query_for(metric, target),
                "start": start_ms / 1000,
                "end": end_ms / 1000,
                # Float seconds: Prometheus's duration syntax has no fractions ("300.0s" is refused).
                "step": f"{step_ms / 1000:g}",
            }
        )
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{params}", timeout=self.timeout) as response:  # noqa: S310 - the operator's configured URL
            answer = json.loads(response.read())
        if answer.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {answer.get('status')}: {answer.get('error', '')}")
        summed: dict[int, float] = {}
        for result in answer.get("data", {}).get("result", []):
            for timestamp, value in result.get("values", []):
                summed[int(float(timestamp) * 1000)] = summed.get(int(float(timestamp) * 1000), 0.0) + float(value)
        return sorted(summed.items())


def load_queries(path: Path | None) -> dict[str, str]:
    """Query overrides from a JSON or YAML file mapping metric names to PromQL."""
    if path is None:
        return {}
    text = path.read_text()
    loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
        raise ValueError(f"{path}: expected a mapping of metric names to PromQL strings")
    unknown = set(loaded) - set(DEFAULT_QUERIES)
    if unknown:
        raise ValueError(f"{path}: unknown metric names {sorted(unknown)}")
    return loaded


def make_source(kind: str, *, prometheus_url: str | None, queries_file: Path | None) -> MetricsSource:
    """The metrics source the settings choose."""
    if kind == "none":
        return NoMetrics()
    if kind == "prometheus":
        if not prometheus_url:
            raise ValueError("the prometheus metrics source needs OPENBCS_PROMETHEUS_URL")
        return PrometheusMetrics(prometheus_url, load_queries(queries_file))
    return ModelMetrics()
