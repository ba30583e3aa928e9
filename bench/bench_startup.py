"""Start-up: how long ``openbcs serve`` takes to answer ``GET /healthz`` 200 on an existing data directory, and its
RSS once healthy; the floor app beside it for context.

Run from the repository root with the project's venv active:

    python bench/bench_startup.py [--starts 5] [--smoke]

A fresh data directory is made with the CLI (``openbcs db upgrade``, then ``openbcs account create``), the reading
tenant of ``bench_reads.py`` is seeded into it, and ``openbcs serve`` is started once (a first start) and stopped.
Then, each of ``--starts`` times, OpenBCS is started on that data directory and timed from launch until ``/healthz``
answers 200 (polled every 5 ms), its RSS read, and stopped; the floor app likewise. No load runs here (``--seconds`` is
accepted for symmetry and not used).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.harness import BenchError, floor_command, floor_env, free_port, run_cli, running, serve_command
from bench.procfs import tree_rss_kib
from bench.runner import Run, main, options
from bench.scenarios import create_store, seed_reader
from bench.seeding import PASSWORD


def start_once(run: Run, name: str, command: Callable[[int], list[str]], env: dict[str, str]) -> tuple[float, int]:
    """Launch, wait for health, read the RSS, stop: (seconds to healthy, RSS in KiB)."""
    port = free_port()
    log = run.tmp / f"{name}.log"
    with running(name, command(port), env=env, log=log, port=port, health="/healthz") as server:
        return server.started_seconds, tree_rss_kib(server.pid)


def summary(name: str, samples: list[tuple[float, int]]) -> str:
    times = [t * 1000 for t, _ in samples]
    rss = [kib / 1024 for _, kib in samples]
    return (
        f"| {name} | {statistics.median(times):.0f} | {min(times):.0f} | {max(times):.0f} "
        f"| {statistics.median(rss):.1f} | {len(samples)} |"
    )


def body(run: Run) -> None:
    data_dir = run.tmp / "data"
    run_cli(["db", "upgrade", "--data-dir", str(data_dir)], env=run.env)  # the CLI works on an existing database
    created = json.loads(
        run_cli(
            ["account", "create", "startup-owner", "--password", PASSWORD, "--data-dir", str(data_dir), "--json"],
            env=run.env,
        )
    )
    if not created.get("access_key"):
        raise BenchError(f"`openbcs account create` printed {created}")
    store = create_store(data_dir)
    reader = seed_reader(store)
    store.db.dispose()
    starts = 1 if run.smoke else run.args.starts
    run.report.header(f"{starts} starts of each server on an existing data directory, SQLite, uvicorn --workers 1")

    def openbcs(port: int) -> list[str]:
        return serve_command(data_dir, port)

    def floor(port: int) -> list[str]:
        return floor_command(port)

    first = start_once(run, "OpenBCS-first", openbcs, run.env)
    fenv = floor_env(run.env, database=store.floor_database(), server_key=store.settings.secret_key_path)
    found: dict[str, list[tuple[float, int]]] = {"OpenBCS": [], "floor": []}
    for _ in range(starts):
        found["OpenBCS"].append(start_once(run, "OpenBCS", openbcs, run.env))
        found["floor"].append(start_once(run, "floor", floor, fenv))
    run.report.add(
        f"Data directory: one account made with the CLI, the reading tenant ({reader.records} records, "
        f"{reader.members} members) and its 13 peers seeded. First start (after the CLI had migrated): "
        f"{first[0] * 1000:.0f} ms.",
        "",
        "| server | time to healthy, median (ms) | min (ms) | max (ms) | RSS when healthy, median (MiB) | starts |",
        "|---|---:|---:|---:|---:|---:|",
        summary("OpenBCS (`openbcs serve`)", found["OpenBCS"]),
        summary("floor app (uvicorn + Starlette)", found["floor"]),
    )
    print("  " + "\n  ".join(run.report.lines[-4:]), flush=True)


if __name__ == "__main__":
    parser = options(__doc__)
    parser.add_argument("--starts", type=int, default=5, help="starts of each server (default 5)")
    main(__doc__, parser, "startup", "OpenBCS start-up", body)
