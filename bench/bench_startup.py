"""Start-up (issue 22, target 3): ``openbcs --version`` (target ≤ 0.2 s) and ``openbcs serve`` from launch until
``GET /healthz`` answers 200 on an existing data directory (target ≤ 0.5 s), each beside same-run floors.

Run from the repository root with the project's venv active:

    python bench/bench_startup.py [--starts 7] [--smoke]

A fresh data directory is made with the CLI (``openbcs db upgrade``, then ``openbcs account create``), the reading
tenant of ``bench_reads.py`` is seeded into it, and ``openbcs serve`` is started once (a first start) and stopped.
Then, ``--starts`` times in turn: each command and its floors run to completion (wall time, and the CPU time the
child used, which a busy machine inflates less), OpenBCS is started on the data directory and timed until
``/healthz`` answers 200 (polled every 5 ms; its CPU and RSS read then), and the floor app likewise. Floors:
``python -c pass`` (the interpreter), ``import typer`` (the CLI's framework, all ``--version`` needs),
``import fastapi, sqlalchemy.orm, uvicorn`` (the server's frameworks, before any OpenBCS code) and the floor app
(uvicorn + Starlette, ``bench/floors/app.py``). Last, one ``python -X importtime`` of what ``serve`` imports, summed by
package: what start-up spends its time on. Every answer is checked (the version line, the health document). Nothing
is written into the repository but the git-ignored report. No load runs here (``--seconds`` is accepted and unused).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.harness import (
    BenchError,
    floor_command,
    floor_env,
    free_port,
    http_call,
    openbcs_command,
    run_cli,
    running,
    serve_command,
)
from bench.procfs import tree_cpu, tree_rss_kib
from bench.runner import Run, main, options
from bench.scenarios import create_store, seed_reader
from bench.seeding import PASSWORD
from openbcs import __version__

VERSION_TARGET_MS, HEALTHY_TARGET_MS = 200, 500
PYTHON = sys.executable
COMMANDS: dict[str, list[str]] = {
    "`openbcs --version`": [*openbcs_command(), "--version"],
    "floor: `python -c pass`": [PYTHON, "-c", "pass"],
    "floor: `python -c 'import typer'`": [PYTHON, "-c", "import typer"],
    "floor: `python -c 'import fastapi, sqlalchemy.orm, uvicorn'`": [
        PYTHON,
        "-c",
        "import fastapi, sqlalchemy.orm, uvicorn",
    ],
}
# As `openbcs serve` imports them: with the collector off (cli.main), so no module is charged for a collection.
SERVE_IMPORTS = "import gc; gc.disable(); import openbcs.cli, openbcs.cli.serve, openbcs.app, openbcs.serving"
Sample = tuple[float, float, int]  # wall seconds, CPU seconds, RSS KiB (0: not read)


def run_command(cmd: list[str], env: dict[str, str]) -> tuple[Sample, str]:
    """Run ``cmd`` to completion: (wall, CPU of the child, 0) and its standard output; BenchError if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return (wall, cpu, 0), done.stdout


def start_once(run: Run, name: str, command: Callable[[int], list[str]], env: dict[str, str]) -> Sample:
    """Launch, wait for health, check the health document, read CPU and RSS, stop."""
    port = free_port()
    with running(name, command(port), env=env, log=run.tmp / f"{name}.log", port=port, health="/healthz") as server:
        cpu, rss = sum(tree_cpu(server.pid).values()), tree_rss_kib(server.pid)
        status, body, _ = http_call(port, "GET", "/healthz")
        if name.startswith("OpenBCS") and (status != 200 or not isinstance(body, dict) or body.get("status") != "ok"):
            run.problems.append(f"{name}: GET /healthz answered {status} {body!r} once healthy (expected status ok)")
        return server.started_seconds, cpu, rss


def import_profile(env: dict[str, str], top: int = 12) -> str:
    """One ``python -X importtime`` of what ``serve`` imports: self time summed by package (OpenBCS by subpackage)."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", SERVE_IMPORTS], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"python -X importtime failed: {done.stderr[-2000:]}")
    spent: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].strip()
        spent[".".join(name.split(".")[:2]) if name.startswith("openbcs.") else name.split(".")[0]] += int(parts[0])
    total = sum(spent.values()) / 1000
    shown = ", ".join(f"{name} {us / 1000:.0f}" for name, us in spent.most_common(top))
    return f'`python -X importtime -c "{SERVE_IMPORTS}"`: {total:.0f} ms in all; by package (ms, self): {shown}.'


def row(name: str, samples: list[Sample], target_ms: float | None = None) -> str:
    wall = [s[0] * 1000 for s in samples]
    cpu = statistics.median(s[1] * 1000 for s in samples)
    rss = [s[2] / 1024 for s in samples if s[2]]
    met = "" if target_ms is None else ("yes" if statistics.median(wall) <= target_ms else "no")
    return (
        f"| {name} | {statistics.median(wall):.0f} | {min(wall):.0f}-{max(wall):.0f} | {cpu:.0f} "
        f"| {f'{statistics.median(rss):.1f}' if rss else '—'} | {len(samples)} | {met} |"
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
    run.report.header(f"{starts} runs of each, in turn; SQLite, uvicorn --workers 1")

    def openbcs(port: int) -> list[str]:
        return serve_command(data_dir, port)

    first = start_once(run, "OpenBCS-first", openbcs, run.env)
    fenv = floor_env(run.env, database=store.floor_database(), server_key=store.settings.secret_key_path)
    found: dict[str, list[Sample]] = {name: [] for name in [*COMMANDS, "serve", "floor app"]}
    for _ in range(starts):
        for name, cmd in COMMANDS.items():
            sample, out = run_command(cmd, run.env)
            found[name].append(sample)
            if name == "`openbcs --version`" and out != f"openbcs {__version__}\n":
                run.problems.append(f"openbcs --version printed {out!r}, expected 'openbcs {__version__}'")
        found["serve"].append(start_once(run, "OpenBCS", openbcs, run.env))
        found["floor app"].append(start_once(run, "floor", floor_command, fenv))
    run.report.add(
        f"Data directory: one account made with the CLI, the reading tenant ({reader.records} records, "
        f"{reader.members} members) and its 13 peers seeded. First start (after the CLI had migrated): "
        f"{first[0] * 1000:.0f} ms.",
        "",
        "| what | wall, median (ms) | min-max (ms) | CPU, median (ms) | RSS when healthy (MiB) | runs | target met |",
        "|---|---:|---:|---:|---:|---:|---|",
        row("`openbcs --version`", found["`openbcs --version`"], VERSION_TARGET_MS),
        *(row(name, found[name]) for name in COMMANDS if name.startswith("floor")),
        row("`openbcs serve`, launch to `/healthz` 200", found["serve"], HEALTHY_TARGET_MS),
        row("floor app (uvicorn + Starlette), launch to 200", found["floor app"]),
        "",
        import_profile(run.env),
    )
    print("  " + "\n  ".join(run.report.lines[-11:]), flush=True)


if __name__ == "__main__":
    parser = options(__doc__)
    parser.add_argument("--starts", type=int, default=7, help="runs of each command and server (default 7)")
    main(__doc__, parser, "startup", "OpenBCS start-up", body)
