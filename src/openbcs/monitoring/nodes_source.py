"""The local runtime's metrics source: each node's own Prometheus ``/metrics`` (Fabric's operations endpoint), scraped
into a bounded in-memory history per node (the last hour) and answered from it.

The server samples every node every :data:`SAMPLE_SECONDS` (:func:`sample_forever`), so the last hour fills in
without requests; a request first scrapes the target's nodes not tried for :data:`MAX_AGE_MS` (cached scrapes,
bounded age). One point per step: each pod's last scrape in the step, reduced over the pods; a step without any is
left out. The BCS names come from the process metrics Fabric exposes, the machine's memory and the nodes' disk;
Fabric's own names (:data:`FABRIC_UNITS`) are accepted by this source only (``docs/monitoring.md``).
"""

from __future__ import annotations

import bisect
import http.client
import logging
import math
import os
import shutil
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from prometheus_client.parser import text_string_to_metric_families

from openbcs.kernel.clock import now_ns
from openbcs.monitoring.sources import METRIC_NAMES, Target
from openbcs.runtime.base import Runtime

log = logging.getLogger("openbcs.monitoring")

# The background sampling of every node: the metric operations answer five-minute steps, so a sample a minute is
# plenty; parsing a node's ~100 KB exposition is the costly part (measured: docs/benchmarks.md).
SAMPLE_SECONDS = 60.0
MAX_AGE_MS = 5_000  # a request scrapes a node again when it was last tried longer ago than this
HISTORY_MS = 60 * 60_000  # what is kept per node: the requests' window
MAX_SCRAPES = 1_200  # per node: an hour of samples plus a request every 5 s, with room
MIN_RATE_MS = 1_000  # the CPU rate is taken over at least this long (scrapes can come a moment apart)
SCRAPE_TIMEOUT = 1.0
MAX_BYTES = 16 << 20  # a node's exposition is some 100 KB
CPU, RSS = "process_cpu_seconds_total", "process_resident_memory_bytes"
HEIGHT = "ledger_blockchain_height"
MB, GB = 1 << 20, 1 << 30

# Fabric's own names, their units, and how they are reduced: over one node's series (its channels, its labels), then
# over the target's pods.
FABRIC_UNITS = {
    "ledger_blockchain_height": "count",
    "ledger_transaction_count": "count",
    "consensus_etcdraft_is_leader": "count",
    "broadcast_processed_count": "count",
    CPU: "seconds",
    RSS: "bytes",
}
REDUCTIONS: dict[str, Callable[[Iterable[float]], float]] = {
    "ledger_blockchain_height": max,
    "ledger_transaction_count": math.fsum,
    "consensus_etcdraft_is_leader": max,
    "broadcast_processed_count": math.fsum,
    CPU: math.fsum,
    RSS: math.fsum,
}
NAMES = METRIC_NAMES + tuple(FABRIC_UNITS)
# Fabric's processes expose no network or disk I/O counters: these BCS names answer no data points here.
NOT_EXPOSED = ("sendBytesRate", "recvBytesRate", "diskReadRate", "diskWriteRate")


@dataclass(frozen=True)
class Scrape:
    """One node's answer: when (ms), the Fabric values it needs (reduced over the node's series), and derived ones:
    ``cores`` (CPU seconds per second since an earlier scrape), ``disk_*`` (bytes of the nodes' file system)."""

    at_ms: int
    values: dict[str, float]


def parse(text: str) -> dict[str, float]:
    """The Fabric values of one exposition, each reduced over its series. Counters without ``_total`` (Fabric's) come
    back from the parser as ``<name>_total``: both spellings count."""
    found: dict[str, list[float]] = {}
    heights: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name if sample.name in REDUCTIONS else sample.name.removesuffix("_total")
            if name in REDUCTIONS and math.isfinite(sample.value):
                found.setdefault(name, []).append(float(sample.value))
                if name == HEIGHT and "channel" in sample.labels:
                    heights[f"{HEIGHT}/{sample.labels['channel']}"] = float(sample.value)
    # Each channel's height too, kept beside the reduced values: how far a peer is behind (monitoring.lag).
    return {**{name: REDUCTIONS[name](values) for name, values in found.items()}, **heights}


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT) -> dict[str, float] | None:
    """GET a node's ``/metrics`` and parse it; None when it does not answer 200 or answers no exposition. Plain
    ``http.client``: no proxy of the environment applies to a node on this machine."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        if response.status != http.client.OK:
            return None
        text = response.read(MAX_BYTES).decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    try:
        return parse(text)
    except Exception:  # whatever the parser makes of a bad answer, that node is skipped
        return None


def machine_memory() -> int | None:
    """The machine's total memory in bytes (``/proc/meminfo`` MemTotal), None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class NodeMetrics:
    """The nodes' own metrics (local runtime); ``runtime.metrics_url`` says where each node's ``/metrics`` is."""

    names: tuple[str, ...] = NAMES

    def __init__(
        self, *, runtime: Runtime, nodes_dir: Path, clock_ms: Callable[[], int] = lambda: now_ns() // 1_000_000
    ) -> None:
        self.runtime, self.nodes_dir, self.clock_ms = runtime, nodes_dir, clock_ms
        self.cpus = os.cpu_count() or 1
        self.memory = machine_memory()
        self._lock = threading.Lock()  # the histories (series() runs on worker threads)
        self._scraping = threading.Lock()  # one round of scrapes at a time: concurrent requests share it
        self._history: dict[str, deque[Scrape]] = {}
        self._tried: dict[str, int] = {}  # node name -> when its /metrics was last asked (ms), answered or not

    def sample(self, names: Iterable[str], *, max_age_ms: int = 0) -> int:
        """Scrape the nodes named (those tried longer than ``max_age_ms`` ago) once now; a node that does not
        answer is skipped. How many answered."""
        with self._scraping:
            now = self.clock_ms()
            with self._lock:
                due = [n for n in names if (tried := self._tried.get(n)) is None or now - tried >= max_age_ms]
            urls = {name: url for name in due if (url := self.runtime.metrics_url(name))}
            if not urls:
                return 0
            with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
                answers = dict(zip(urls, pool.map(self._scrape, urls.values()), strict=True))
            disk = self._disk()
            with self._lock:
                for name, (values, at) in answers.items():
                    self._tried[name] = at
                    if values is not None:
                        self._add(name, at, {**values, **disk})
                self._forget_old(now)
        return sum(1 for values, _ in answers.values() if values is not None)

    def series(
        self, metric: str, target: Target, *, start_ms: int, end_ms: int, step_ms: int
    ) -> list[tuple[int, float]]:
        """One point per step with a scrape of a target pod: the pods' last scrapes in the step, reduced."""
        if metric not in self.names or metric in NOT_EXPOSED:
            return []
        self.sample(target.pods, max_age_ms=MAX_AGE_MS)
        with self._lock:
            histories = [list(self._history.get(pod, ())) for pod in target.pods]
        points = []
        for t in range(start_ms, end_ms + 1, step_ms):
            scrapes = [s.values for h in histories if (s := _last_in(h, t, t + step_ms)) is not None]
            value = self.value(metric, scrapes)
            if value is not None:
                points.append((t, value))
        return points

    def value(self, metric: str, scrapes: Sequence[dict[str, float]]) -> float | None:
        """``metric`` over the pods' scrapes (one per pod), None when none of them has what it needs."""
        if metric in REDUCTIONS:
            found = [s[metric] for s in scrapes if metric in s]
            return REDUCTIONS[metric](found) if found else None
        cores = [s["cores"] for s in scrapes if "cores" in s]
        rss = [s[RSS] for s in scrapes if RSS in s]
        disk = next((s for s in scrapes if "disk_total" in s), None)
        memory = self.memory * len(rss) if self.memory and rss else None
        derived: dict[str, float | None] = {
            # Per pod, the machine's cores and memory are its limit; over several pods, sums over sums.
            "cpuCoreLimit": float(self.cpus * len(scrapes)) if scrapes else None,
            "cpuCoreUsed": math.fsum(cores) if cores else None,
            "cpuUsage": math.fsum(cores) / (self.cpus * len(cores)) * 100 if cores else None,
            "memUsedRate": math.fsum(rss) / memory * 100 if memory else None,
            "totalMem": memory / MB if memory else None,
            "freeMem": (memory - math.fsum(rss)) / MB if memory else None,
            "diskCapacity": disk["disk_total"] / GB if disk else None,
            "diskAvailableCapacity": disk["disk_free"] / GB if disk else None,
            "diskUsedRate": disk["disk_used"] / disk["disk_total"] * 100 if disk and disk["disk_total"] else None,
        }
        result = derived.get(metric)
        return None if result is None else round(result, 3)

    def heights(self, name: str) -> dict[str, float]:
        """``{channel: height}`` of the node's latest scrape (empty when it has none)."""
        with self._lock:
            history = self._history.get(name)
            latest = history[-1].values if history else {}
        prefix = f"{HEIGHT}/"
        return {key.removeprefix(prefix): value for key, value in latest.items() if key.startswith(prefix)}

    def _scrape(self, url: str) -> tuple[dict[str, float] | None, int]:
        return scrape(url), self.clock_ms()

    def _add(self, name: str, at: int, values: dict[str, float]) -> None:
        history = self._history.setdefault(name, deque(maxlen=MAX_SCRAPES))
        if CPU in values:
            earlier = next((s for s in reversed(history) if s.at_ms <= at - MIN_RATE_MS and CPU in s.values), None)
            if earlier is not None and values[CPU] >= earlier.values[CPU]:  # lower: the node restarted
                values["cores"] = (values[CPU] - earlier.values[CPU]) * 1000 / (at - earlier.at_ms)
        history.append(Scrape(at, values))
        while history[0].at_ms < at - HISTORY_MS:
            history.popleft()

    def _forget_old(self, now: int) -> None:
        """Drop the histories of nodes not heard of for an hour (deleted ones)."""
        for name in [n for n, h in self._history.items() if not h or h[-1].at_ms < now - HISTORY_MS]:
            del self._history[name]
        for name in [n for n, at in self._tried.items() if at < now - HISTORY_MS]:
            del self._tried[name]

    def _disk(self) -> dict[str, float]:
        """The file system holding the nodes' folder (its nearest existing parent before the first node)."""
        path = self.nodes_dir
        while not path.exists() and path != path.parent:
            path = path.parent
        try:
            usage = shutil.disk_usage(path)
        except OSError:
            return {}
        return {"disk_total": float(usage.total), "disk_used": float(usage.used), "disk_free": float(usage.free)}


def _last_in(history: Sequence[Scrape], start: int, end: int) -> Scrape | None:
    """The last scrape taken in ``[start, end)``."""
    index = bisect.bisect_left(history, end, key=lambda s: s.at_ms)
    return history[index - 1] if index and history[index - 1].at_ms >= start else None


async def sample_forever(
    source: NodeMetrics,
    names: Callable[[], list[str]],
    every: float = SAMPLE_SECONDS,
    after: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Sample every node the runtime has, every ``every`` seconds, off the event loop (the server's background), then
    run ``after`` (the lag check)."""
    while True:
        try:
            await anyio.to_thread.run_sync(lambda: source.sample(names()))
            if after is not None:
                await after()
        except Exception:  # never let one bad pass end the sampling
            log.exception("sampling the nodes' metrics failed")
        await anyio.sleep(every)
