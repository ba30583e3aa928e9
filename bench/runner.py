"""What every script shares: its options (``--seconds``, ``--smoke``, ...), a temporary directory, the report, the
list of unexpected answers, and the exit code (0, 1 when an answer was unexpected, 2 when the bench could not run).

``--smoke`` is for CI: about two seconds per script, tiny seeds, short load runs without warm-up, no waiting for a
quiet machine, every answer still checked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import BenchError, child_env
from bench.load import Measurement
from bench.procfs import wait_quiet
from bench.report import Report

SMOKE_SECONDS = 0.3  # wrk runs whole seconds: a smoke run interrupts it after this
SMOKE_CONNECTIONS = 8


def options(doc: str | None, *, workers: bool = False, database_url: bool = False) -> argparse.ArgumentParser:
    """The common options; ``workers`` and ``database_url`` add ``--workers`` and ``--database-url``."""
    parser = argparse.ArgumentParser(
        description=(doc or "").split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per run (default 10)")
    parser.add_argument("--smoke", action="store_true", help="CI smoke run: ~2 s in all, every answer still checked")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unmeasured load before each run")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60,
        metavar="S",
        help="wait up to S s for a quiet machine first (default 60)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    if workers:
        parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of both servers (default 1)")
    if database_url:
        parser.add_argument(
            "--database-url",
            help="run on this empty, throwaway PostgreSQL database (postgresql+psycopg://...) instead of SQLite",
        )
    return parser


@dataclass
class Run:
    """One script's run: options, temporary directory, child environment, report and unexpected answers."""

    args: argparse.Namespace
    tmp: Path
    report: Report
    problems: list[str] = field(default_factory=list)

    @property
    def smoke(self) -> bool:
        return bool(self.args.smoke)

    @property
    def seconds(self) -> float:
        return 1.0 if self.smoke else float(self.args.seconds)

    @property
    def warmup(self) -> float:
        return 0.0 if self.smoke else float(self.args.warmup)

    @property
    def connections(self) -> int:
        return min(self.args.connections, SMOKE_CONNECTIONS) if self.smoke else int(self.args.connections)

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.tmp)

    @property
    def interrupt_after(self) -> float | None:
        """Smoke runs interrupt wrk after this many seconds (wrk itself runs whole seconds)."""
        return SMOKE_SECONDS if self.smoke else None

    def load(self) -> dict[str, Any]:
        """The keyword arguments of :func:`bench.load.measure` for this run."""
        return {
            "connections": self.connections,
            "seconds": self.seconds,
            "warmup": self.warmup,
            "interrupt_after": self.interrupt_after,
        }

    def keep(self, measurement: Measurement) -> Measurement:
        """Record a measurement's unexpected answers; return it."""
        self.problems += measurement.problems
        return measurement

    def settings(self, extra: str = "") -> str:
        """The load settings, for the report's header."""
        if self.smoke:
            load = f"wrk -t1 -c{self.connections} --latency, interrupted after {SMOKE_SECONDS:g} s (smoke run)"
        else:
            load = f"wrk -t1 -c{self.connections} -d{round(self.seconds)}s --latency --timeout 30s"
            load += f" after {self.warmup:g} s of warm-up"
        return f"{load}, loopback" + (f", {extra}" if extra else "")


def main(doc: str | None, parser: argparse.ArgumentParser, name: str, title: str, body: Callable[[Run], None]) -> None:
    """Run ``body`` in a fresh temporary directory, write the report, and exit with the script's code."""
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        sys.exit(2)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"openbcs-bench-{name}-"))
    os.environ["HOME"] = str(tmp)  # the Huawei SDK writes $HOME/.huaweicloud when imported
    code = 0
    try:
        if args.wait_quiet and not args.smoke:
            print(f"  {wait_quiet(args.wait_quiet)}", flush=True)
        run = Run(args, tmp, Report(name, title))
        print(f"{title} in {tmp} (load average {run.report.load_at_start})", flush=True)
        body(run)
        if run.problems:
            run.report.add("", "## Unexpected answers", "", *(f"- {p}" for p in run.problems))
            print("FAILED: unexpected answers:\n  " + "\n  ".join(run.problems), file=sys.stderr)
            code = 1
        path = run.report.write()
        print("\n" + run.report.text() + f"\nwritten to {path}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except Exception:
        traceback.print_exc()
        code = 2
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s", flush=True)
    sys.exit(code)
