"""Reads against their same-work floors: ListOpRecord by token and by AK/SK, ListMembers by token.

Run from the repository root with the project's venv active:

    python bench/bench_reads.py [--seconds 10] [--connections 32] [--workers 1] [--database-url URL] [--smoke]

A reading tenant is seeded straight into a fresh database (10 operation records, 13 members, among 13 other
tenants' rows), then ``openbcs serve`` and the floor app (``bench/floors``: Starlette + raw sqlite3 or psycopg +
cryptography, same uvicorn settings, same worker count) run on that very database. Each call must answer 200 with the
same JSON on both before wrk loads it on each in turn; the table gives req/s, p50/p99, the ratio to the floor, the
server's CPU per request and peak RSS. For context: ``GET /healthz`` of OpenBCS (no auth, no database) and a bare
Starlette GET (the floor app's ``/bare``), and moto's AMB ListMembers when moto is installed.

With ``--database-url`` (an empty, throwaway PostgreSQL database, ``postgresql+psycopg://...``) both servers use it;
the floor then uses raw psycopg from the thread pool, as OpenBCS uses PostgreSQL. When that cluster runs on this
machine (a loopback host), its CPU per request (every ``postgres`` process of the cluster) is reported as well.
"""

from __future__ import annotations

import _repo  # noqa: F401  (puts the repository root on sys.path)
from sqlalchemy.engine import make_url

from bench import moto_floor
from bench.calls import ReadCall, read_calls, same_answer, servers
from bench.harness import Server, get_token
from bench.load import Measurement, measure
from bench.procfs import postmaster_of, tree_cpu
from bench.report import pairs_table, targets
from bench.runner import Run, main, options
from bench.scenarios import create_store, seed_reader
from bench.seeding import PASSWORD, REGION, Tenant


def cpu_split(server: Server, before: dict[int, float]) -> str:
    """Each process's share of the server's CPU since ``before`` (a :func:`tree_cpu` snapshot)."""
    used = {pid: cpu - before.get(pid, 0.0) for pid, cpu in tree_cpu(server.pid).items()}
    total = sum(used.values()) or 1.0
    shares = sorted((share for pid, share in used.items() if share > 0.01 * total), reverse=True)
    return f"{server.name} " + " / ".join(f"{share / total:.0%}" for share in shares)


def local_cluster(url: str | None) -> int | None:
    """The postmaster PID of the PostgreSQL cluster ``url`` names, when it runs on this machine."""
    if not url:
        return None
    parsed = make_url(url)
    if parsed.host not in {"127.0.0.1", "localhost", "::1"}:
        return None
    return postmaster_of(parsed.port or 5432)


def database_table(measured: list[tuple[Measurement, Measurement]]) -> list[str]:
    """The PostgreSQL cluster's CPU per request beside each server's own, for OpenBCS and the floor."""
    lines = [
        "| call | server | server CPU (us/req) | PostgreSQL CPU (us/req) | both (us/req) | PostgreSQL / floor's |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for pair in measured:
        floor_db = pair[1].database_cpu_us or 0.0
        for m in pair:
            db = m.database_cpu_us or 0.0
            ratio = f"{db / floor_db:.1f}" if floor_db else "-"
            lines.append(f"| {m.call} | {m.server} | {m.cpu_us:,.0f} | {db:,.0f} | {m.cpu_us + db:,.0f} | {ratio} |")
    return lines


def moto_ratio(measured: list[tuple[Measurement, Measurement]], moto: Measurement | None) -> list[str]:
    """OpenBCS's ListMembers rate over moto's AMB ListMembers in this run."""
    members = next((pair[0] for pair in measured if pair[0].call.startswith("ListMembers")), None)
    if moto is None or members is None or not moto.result.rps:
        return []
    ratio = members.result.rps / moto.result.rps
    return [
        "",
        f"ListMembers on OpenBCS / AMB ListMembers on moto: {members.result.rps:,.0f} / {moto.result.rps:,.0f} req/s "
        f"= {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'}); server CPU {members.cpu_us:,.0f} vs "
        f"{moto.cpu_us:,.0f} us/req.",
    ]


def measure_call(
    run: Run, call: ReadCall, pair: tuple[Server, Server], tenant: Tenant, token: str, database: int | None
) -> tuple[Measurement, Measurement]:
    """The call loaded on OpenBCS, then on the floor (with the PostgreSQL cluster's CPU when ``database``)."""
    found = [
        run.keep(
            measure(
                call.name,
                server,
                call.path,
                headers=call.headers(server, tenant, token),
                database=database,
                **run.load(),
            )
        )
        for server in pair
    ]
    return found[0], found[1]


def body(run: Run) -> None:
    workers, url = run.args.workers, run.args.database_url
    store = create_store(run.tmp / "data", url)
    reader = seed_reader(store)
    store.db.dispose()
    tenant = reader.tenant
    database = "PostgreSQL" if url else "SQLite"
    cluster = local_cluster(url)
    run.report.header(run.settings(f"uvicorn --workers {workers} for both servers, {database}"))
    with servers(run, store, workers=workers) as pair:
        openbcs, floor = pair
        token = get_token(openbcs.port, user=tenant.name, domain=tenant.name, password=PASSWORD, region=REGION)
        calls = read_calls(tenant)
        for call, expected in zip(calls, (reader.records, reader.records, reader.members), strict=True):
            same_answer(call, pair, tenant, token, expected)
        print("  every call answers the same JSON on OpenBCS and on the floor", flush=True)
        context = [
            (run.keep(measure("bare Starlette GET", floor, "/bare", **run.load())), None),
            (run.keep(measure("GET /healthz (no auth, no DB)", openbcs, "/healthz", **run.load())), None),
        ]
        measured, splits = [], []
        for call in calls:
            before = {server.name: tree_cpu(server.pid) for server in pair}
            measured.append(measure_call(run, call, pair, tenant, token, cluster))
            splits.append(f"- {call.name}: " + "; ".join(cpu_split(s, before[s.name]) for s in pair))
    moto, moto_members = moto_floor.measure_moto(run)
    if cluster is not None:
        database_cpu = [
            "PostgreSQL's CPU (every process of the local cluster, the backends of both servers included) per "
            "request, beside the server's own:",
            "",
            *database_table(measured),
            "",
        ]
    elif url:
        database_cpu = ["The PostgreSQL cluster does not run on this machine: its CPU is not shown.", ""]
    else:
        database_cpu = []
    run.report.add(
        f"A tenant with {reader.records} operation records and {reader.members} members; ListOpRecord and "
        "ListMembers answer the same JSON on both servers (checked before loading).",
        "",
        *pairs_table([*context, *measured]),
        "",
        *targets(measured, run.connections),
        "",
        *(
            [
                "Server CPU per process during each call's runs (warm-up included; the parent supervisor idles):",
                "",
                *splits,
                "",
            ]
            if workers > 1
            else []
        ),
        *database_cpu,
        moto,
        *moto_ratio(measured, moto_members),
    )


if __name__ == "__main__":
    main(__doc__, options(__doc__, workers=True, database_url=True), "reads", "OpenBCS reads vs same-work floors", body)
