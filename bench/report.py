"""Reports: a markdown header (command, commit, machine, load average at start), tables of measured calls beside
their floors, and the file ``bench/results/<name>-<timestamp>.md`` (git-ignored)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import BENCH_DIR, ROOT
from bench.load import Measurement
from bench.procfs import loadavg, machine_info

TARGET_RATIO, TARGET_P99_MS = 0.5, 25.0


def commit() -> str:
    """``git rev-parse --short HEAD`` of the repository, ``+changes`` when src/ has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--", "src") else "")


def command_line() -> str:
    """How the script was run, as a reader would type it (from the repository root)."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return " ".join(["python", str(shown), *sys.argv[1:]])


@dataclass
class Report:
    """A report under construction; :meth:`write` saves it."""

    name: str
    title: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    load_at_start: str = field(default_factory=loadavg)
    lines: list[str] = field(default_factory=list)

    def header(self, settings: str) -> None:
        info = machine_info()
        self.lines += [
            f"# {self.title}, {self.started:%Y-%m-%d %H:%M} UTC",
            "",
            f"`{command_line()}` on commit `{commit()}` — {settings}",
            "",
            f"Machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, Linux {info['kernel']}; "
            f"load average at start {self.load_at_start}",
            "",
        ]

    def add(self, *lines: str) -> None:
        self.lines += lines

    def write(self) -> Path:
        results = BENCH_DIR / "results"
        results.mkdir(exist_ok=True)
        path = results / f"{self.name}-{self.started:%Y%m%dT%H%M%SZ}.md"
        path.write_text(self.text())
        return path

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


TABLE_HEAD = (
    "| call | server | req/s | p50 (ms) | p99 (ms) | x floor | server CPU (us/req) | CPU / floor's | max RSS (MiB) "
    "| others' CPU |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
)
TABLE_NOTES = (
    "`x floor`: this rate over the floor's for the same call in the same run. Server CPU: user + system time of the "
    "server's processes per answered request; `CPU / floor's`: that over the floor's (the steadiest ratio on a shared "
    "machine). Others' CPU: cores the rest of the machine used meanwhile (wrk and the bench excluded)."
)


def row(m: Measurement, floor: Measurement | None = None) -> str:
    """One table row; ``x floor`` is this run's rate over the floor's for the same call."""
    r = m.result
    ratio = f"{r.rps / floor.result.rps:.2f}" if floor and floor.result.rps else "-"
    cpu = f"{m.cpu_us / floor.cpu_us:.1f}" if floor and floor.cpu_us else "-"
    return (
        f"| {m.call} | {m.server} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {ratio} | {m.cpu_us:,.0f} "
        f"| {cpu} | {m.rss_kib / 1024:.1f} | {m.others_cores:.2f} |"
    )


def pairs_table(pairs: Sequence[tuple[Measurement, Measurement | None]], *, notes: bool = True) -> list[str]:
    """Each measured call on OpenBCS, followed by its floor (when it has one); ``notes`` explains the columns."""
    lines = list(TABLE_HEAD)
    for measured, floor in pairs:
        lines.append(row(measured, floor))
        if floor is not None:
            lines.append(row(floor))
    return [*lines, "", TABLE_NOTES] if notes else lines


def targets(pairs: Sequence[tuple[Measurement, Measurement | None]], connections: int) -> list[str]:
    """The performance issue's targets for each call that has a floor."""
    lines = ["| call | target | measured | met |", "|---|---|---|---|"]
    for measured, floor in pairs:
        if floor is None:
            continue
        ratio, p99 = measured.result.rps / max(floor.result.rps, 1e-9), measured.result.p99_ms
        met = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS
        lines.append(
            f"| {measured.call} | >= {TARGET_RATIO} x floor, p99 < {TARGET_P99_MS:g} ms at {connections} connections "
            f"| {ratio:.2f} x, p99 {p99:.1f} ms | {'yes' if met else 'NO'} |"
        )
    return lines
