"""What /proc says: RSS and CPU time of a process tree, the machine's load, and waiting for a quiet machine.

The machines are shared: the CPU the rest of the machine used during a run is reported beside every number.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            tree.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    return tree


def tree_pids(root: int) -> list[int]:
    """``root`` and its live descendants."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def tree_rss_kib(root: int) -> int:
    """Sum of ``VmRSS`` over ``root`` and its descendants, in KiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def tree_cpu(root: int) -> dict[int, float]:
    """User plus system CPU seconds of ``root`` and of each live descendant."""
    seconds = {}
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def postmaster_of(port: int) -> int | None:
    """The PID of the local PostgreSQL cluster listening on ``port`` (its postmaster: a ``postgres`` process whose
    working directory is the data directory, where ``postmaster.pid`` names it and its port), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() != "postgres":
                continue
            lines = Path(f"/proc/{entry}/cwd/postmaster.pid").read_text().splitlines()
        except OSError:
            continue
        if len(lines) > 3 and lines[0].strip() == entry and lines[3].strip() == str(port):
            return int(entry)
    return None


def cluster_cpu(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL cluster: the postmaster, its live backends and helpers, and (the postmaster's
    reaped children's time) the backends that have exited."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return reaped + sum(tree_cpu(postmaster).values())


def busy_ticks() -> int:
    """User + nice + system ticks of all CPUs (interrupt time, mostly loopback traffic, is left out)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(x) for x in fields[:3])


def own_cpu() -> float:
    """CPU seconds of this process and its waited-for children (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``seconds``."""
    before, started = busy_ticks(), time.monotonic()
    time.sleep(seconds)
    return (busy_ticks() - before) / CLOCK_TICKS / (time.monotonic() - started) / (os.cpu_count() or 1)


def wait_quiet(limit_seconds: float, busy_limit: float = 0.15, quiet_needed: int = 5) -> str:
    """Wait until the machine has been under ``busy_limit`` for ``quiet_needed`` seconds in a row; what happened."""
    deadline, quiet, busy = time.monotonic() + limit_seconds, 0, 1.0
    while time.monotonic() < deadline and quiet < quiet_needed:
        busy = machine_busy()
        quiet = quiet + 1 if busy < busy_limit else 0
    if quiet < quiet_needed:
        return f"machine still {busy:.0%} busy after waiting {limit_seconds:.0f} s; went on"
    return f"machine quiet (< {busy_limit:.0%} busy for {quiet_needed} s)"


def machine_info() -> dict[str, str]:
    """CPU model and count, Python and kernel versions."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


@dataclass
class Sampler:
    """While active: the peak RSS of a process tree (sampled every ``interval`` s), its CPU time, the CPU time of
    the PostgreSQL cluster it uses (``database``: the postmaster's PID, see :func:`postmaster_of`), and the CPU the
    rest of the machine used (this process and its children, wrk, and that cluster excluded), in cores."""

    root: int
    interval: float = 0.2
    database: int | None = None
    max_rss_kib: int = 0
    cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    others_cores: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._cpu0, self._busy0, self._own0 = tree_cpu(self.root), busy_ticks(), own_cpu()
        self._database0 = cluster_cpu(self.database) if self.database is not None else 0.0
        self._started = time.monotonic()
        self.max_rss_kib = tree_rss_kib(self.root)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.max_rss_kib = max(self.max_rss_kib, tree_rss_kib(self.root))

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.max_rss_kib = max(self.max_rss_kib, tree_rss_kib(self.root))
        after = tree_cpu(self.root)
        self.cpu_seconds = sum(t - self._cpu0.get(pid, 0.0) for pid, t in after.items())
        if self.database is not None:
            self.database_cpu_seconds = cluster_cpu(self.database) - self._database0
        machine = (busy_ticks() - self._busy0) / CLOCK_TICKS
        own = own_cpu() - self._own0
        elapsed = max(1e-6, time.monotonic() - self._started)
        self.others_cores = max(0.0, machine - self.cpu_seconds - self.database_cpu_seconds - own) / elapsed
