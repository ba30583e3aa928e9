"""Isolation: one tenant with the largest documented instance and ~1,000 operations sends 8 concurrent mixed reads
while another tenant's ListMembers is measured; its p99 loaded against its p99 quiet (issue 22 target 1: within 2x).

Run from the repository root with the project's venv active:

    python bench/bench_isolation.py [--seconds 10] [--smoke]
    python bench/bench_isolation.py --database-url postgresql+psycopg://...   # an empty, throwaway database

A fresh database (SQLite in a temporary directory unless ``--database-url``); ``openbcs serve
--operation-step-seconds 0`` creates the heavy tenant's instance through the API (10 organisations of 5 peers, 20
channels of all 10: the largest ``docs/limits.md`` allows), then 999 more finished operations are written straight into
the database. The quiet tenant has one default instance. Every call must answer 200 with what it shows before any
load. Then:

1. each heavy call alone with one connection: its server time (p50) and server CPU per request — the console's
   instance and channel pages must stay under 30 ms;
2. the quiet tenant's ListMembers with one connection, quiet;
3. the same while wrk sends the heavy mix (ListOpRecord, config-history, the console's instance and channel pages,
   ShowBlockchainDetail, round robin) on 8 connections; every heavy answer must be 200.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.api_seeding import Shape, create_instances, fresh_accounts, instant_server, more_operations, token_of
from bench.harness import BenchError, Server, http_call
from bench.load import Measurement, WrkResult, expect_statuses, finish_wrk, measure, start_wrk
from bench.runner import Run, main, options
from bench.seeding import Tenant

HEAVY_CONNECTIONS = 8
PAGE_TARGET_MS, ISOLATION_TARGET = 30.0, 2.0
# The heavy instance and the heavy tenant's operations in all (the largest instance docs/limits.md allows).
FULL, SMOKE = (Shape(10, 5, 20), 1_000), (Shape(2, 2, 2), 20)


@dataclass(frozen=True)
class Call:
    """A GET of the heavy mix (or the quiet tenant's), with what its answer must hold."""

    name: str
    path: str
    headers: dict[str, str]
    expect: str


def _heavy_calls(tenant: Tenant, token: str, bid: str, name: str, operations: int) -> list[Call]:
    api, cookie = {"X-Auth-Token": token}, {"Cookie": f"openbcs_console={token}"}
    v2, page = f"/v2/{tenant.project_id}", f"/console/instances/{bid}"
    return [
        Call("ListOpRecord", f"{v2}/operation/record", api, f'"count":{operations}'),
        Call("config-history", f"{v2}/blockchains/{bid}/channels/chan01/config-history", api, '"verified":true'),
        Call("console: instance page", page, cookie, name),
        Call("console: channel page", f"{page}/channels/chan01", cookie, "Configuration history"),
        Call("ShowBlockchainDetail", f"{v2}/blockchains/{bid}", api, name),
    ]


def _check(server: Server, call: Call) -> None:
    status, answer, _ = http_call(server.port, "GET", call.path, call.headers)
    text = answer if isinstance(answer, bytes) else json.dumps(answer, separators=(",", ":")).encode()
    if status != 200 or call.expect.encode() not in text:
        raise BenchError(f"{call.name} ({call.path}) answered {status} without {call.expect!r}: {text!r:.300}")


def _mix_script(path: Path, calls: list[Call]) -> Path:
    """A wrk script sending ``calls`` round robin and counting the answers by status."""
    requests = ",\n".join(
        "  wrk.format('GET', "
        + json.dumps(call.path)
        + ", {"
        + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in call.headers.items())
        + "})"
        for call in calls
    )
    path.write_text(
        "local requests, i = nil, 0\n"
        "function init(args)\n  requests = {\n" + requests + "\n  }\nend\n"
        "function request()\n  i = i % #requests + 1\n  return requests[i]\nend\n"
        "statuses = {}\n"
        "function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end\n"
        "local threads = {}\n"
        "function setup(thread) table.insert(threads, thread) end\n"
        "function done(summary, latency, requests)\n"
        "  for _, t in ipairs(threads) do\n"
        "    local parts = {}\n"
        '    for k, v in pairs(t:get("statuses")) do parts[#parts + 1] = k .. "=" .. v end\n'
        '    io.write("LUA statuses=" .. table.concat(parts, ",") .. " marked=0 exhausted=0\\n")\n'
        "  end\nend\n"
    )
    return path


def _loaded(run: Run, server: Server, quiet: Call, mix: Path) -> tuple[Measurement, WrkResult]:
    """The quiet call measured while the heavy mix runs (started first, ending after it)."""
    lead = 0.5 if run.smoke else max(1.0, run.warmup)
    heavy = start_wrk(server.url("/"), connections=HEAVY_CONNECTIONS, seconds=run.seconds + lead + 1, script=mix)
    try:
        time.sleep(lead)
        # A smoke run gives the quiet call a whole second: under the heavy mix, 0.3 s may see no answer at all.
        load = {**run.load(), "connections": 1, "warmup": 0.0, "interrupt_after": 1.0 if run.smoke else None}
        measured = run.keep(measure(f"{quiet.name}, loaded", server, quiet.path, headers=quiet.headers, **load))
    finally:
        result = finish_wrk(heavy, run.seconds + lead + 1, interrupt_after=0.0 if run.smoke else None)
    return measured, result


def body(run: Run) -> None:
    shape, operations = SMOKE if run.smoke else FULL
    store, (heavy_tenant, quiet_tenant) = fresh_accounts(
        run, ["isolation-heavy", "isolation-quiet"], run.args.database_url
    )
    backend = "PostgreSQL" if run.args.database_url else "SQLite"
    run.report.header(run.settings(f"uvicorn --workers 1, {backend}"))
    with instant_server(run, store) as server:
        tokens = [token_of(server, t) for t in (heavy_tenant, quiet_tenant)]
        started = time.monotonic()
        ((bid, name),) = create_instances(server, heavy_tenant, tokens[0], ["isolation-heavy"], shape)
        create_instances(server, quiet_tenant, tokens[1], ["isolation-quiet"])
        more_operations(store, heavy_tenant, [(bid, name)], operations - 1)
        store.db.dispose()
        print(f"  heavy instance and {operations} operations in {time.monotonic() - started:.1f} s", flush=True)
        calls = _heavy_calls(heavy_tenant, tokens[0], bid, name, operations)
        quiet = Call(
            "ListMembers (other tenant)", f"/v2/{quiet_tenant.project_id}/members", {"X-Auth-Token": tokens[1]}, ""
        )
        for call in [*calls, quiet]:
            _check(server, call)
        alone = [
            run.keep(measure(f"{c.name}, alone", server, c.path, headers=c.headers, **{**run.load(), "connections": 1}))
            for c in calls
        ]
        calm = run.keep(
            measure(
                f"{quiet.name}, quiet", server, quiet.path, headers=quiet.headers, **{**run.load(), "connections": 1}
            )
        )
        loaded, heavy = _loaded(run, server, quiet, _mix_script(run.tmp / "mix.lua", calls))
    run.problems += [f"heavy mix: {p}" for p in expect_statuses(200)(heavy)]
    _report(run, shape, operations, alone, calm, loaded, heavy)


def _report(
    run: Run,
    shape: Shape,
    operations: int,
    alone: list[Measurement],
    calm: Measurement,
    loaded: Measurement,
    heavy: WrkResult,
) -> None:
    # A page's server CPU is the figure (as bench_console's): on a machine shared with other work, one connection's
    # latency is mostly the wait for a CPU.
    slowest = max(m.cpu_us for m in alone if m.call.startswith("console:")) / 1000
    ratio = loaded.result.p99_ms / max(calm.result.p99_ms, 1e-3)
    median_ratio = loaded.result.p50_ms / max(calm.result.p50_ms, 1e-3)
    run.report.add(
        f"Heavy tenant: one instance of {shape.orgs} organisations x {shape.peers} peers, {shape.channels} channels "
        f"of all of them, {operations} operations. Quiet tenant: one default instance.",
        "",
        "| call (heavy tenant, one connection) | req/s | p50 (ms) | p99 (ms) | server CPU (us/req) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {m.call} | {m.result.rps:,.0f} | {m.result.p50_ms:.2f} | {m.result.p99_ms:.2f} | {m.cpu_us:,.0f} |"
            for m in alone
        ),
        "",
        "| other tenant's ListMembers (one connection) | req/s | p50 (ms) | p99 (ms) | heavy mix meanwhile |",
        "|---|---:|---:|---:|---|",
        f"| quiet | {calm.result.rps:,.0f} | {calm.result.p50_ms:.2f} | {calm.result.p99_ms:.2f} | none |",
        f"| loaded | {loaded.result.rps:,.0f} | {loaded.result.p50_ms:.2f} | {loaded.result.p99_ms:.2f} | "
        f"{HEAVY_CONNECTIONS} connections, {heavy.rps:,.0f} req/s, p99 {heavy.p99_ms:.1f} ms |",
        "",
        f"Console pages: the slowest took {slowest:.1f} ms of server CPU (target {PAGE_TARGET_MS:g} ms) — "
        + ("met." if slowest <= PAGE_TARGET_MS else "NOT met."),
        f"Isolation: loaded p99 / quiet p99 = {ratio:.1f}x (target {ISOLATION_TARGET:g}x) — "
        + ("met" if ratio <= ISOLATION_TARGET else "NOT met")
        + f"; p50 {median_ratio:.1f}x.",
    )


if __name__ == "__main__":
    main(
        __doc__, options(__doc__, database_url=True), "isolation", "Isolation: a heavy tenant beside a quiet one", body
    )
