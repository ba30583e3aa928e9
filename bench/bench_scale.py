"""Reads among other tenants' rows: ListOpRecord and ListMembers with 1,000 and then 100,000 foreign operation
records and invitations; the ratio of the two sizes, on OpenBCS and on its same-work floor.

Run from the repository root with the project's venv active:

    python bench/bench_scale.py [--seconds 10] [--connections 32] [--small 1000] [--large 100000] [--smoke]

The reading tenant of ``bench_reads.py`` is seeded with ``--small`` finished operation records and invitations of
other tenants (two sub-steps per record, invitations in every status), then ``openbcs serve`` and the floor start on
that database; after the small size is measured, rows are added up to ``--large`` beside the running servers and the
same calls are measured again. A read whose cost grows with other tenants' rows has a query that reads them: the
report shows each query's SQLite plan at the large size. Both servers must answer the same JSON at both sizes.
"""

from __future__ import annotations

import sqlite3
import time

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.calls import measure_pair, read_calls, same_answer, servers
from bench.floors import reads
from bench.harness import get_token
from bench.load import Measurement
from bench.report import pairs_table
from bench.runner import Run, main, options
from bench.scenarios import Reader, Store, create_store, seed_reader
from bench.seeding import PASSWORD, REGION, foreign_rows


def plans(store: Store, reader: Reader) -> list[str]:
    """SQLite's ``EXPLAIN QUERY PLAN`` of the reads' main queries (the floor runs OpenBCS's queries)."""
    tenant = reader.tenant
    lines = []
    with sqlite3.connect(str(store.sqlite_path)) as db:
        for name, sql, params in (
            ("ListOpRecord operations", reads._OPERATIONS, (tenant.project_id,)),
            ("ListMembers invitations", reads._MEMBERS, (tenant.project_id, False, tenant.domain_id)),
        ):
            plan = "; ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))
            lines.append(f"- {name}: `{plan}`")
    return lines


def body(run: Run) -> None:
    small, large = (100, 2_000) if run.smoke else (run.args.small, run.args.large)
    store = create_store(run.tmp / "data")
    reader = seed_reader(store)
    foreign_rows(store.db, operations=small, invitations=small)
    tenant, calls = reader.tenant, [c for c in read_calls(reader.tenant) if c.by == "token"]
    expected = {"operation_records": reader.records, "members": reader.members}
    run.report.header(run.settings("uvicorn --workers 1 for both servers, SQLite"))
    results: dict[int, list[tuple[Measurement, Measurement]]] = {}
    with servers(run, store) as pair:
        token = get_token(pair[0].port, user=tenant.name, domain=tenant.name, password=PASSWORD, region=REGION)
        for size in (small, large):
            if size > small:
                started = time.monotonic()
                foreign_rows(store.db, operations=size - small, invitations=size - small, first=small)
                print(f"  added foreign rows up to {size:,} in {time.monotonic() - started:.1f} s", flush=True)
            for call in calls:
                same_answer(call, pair, tenant, token, expected[call.items])
            label = f" ({size:,} foreign)"
            results[size] = [measure_pair(run, call, pair, tenant, token, label) for call in calls]
    ratio_lines = ["| call | server | req/s large / small | p99 large / small |", "|---|---|---:|---:|"]
    for (ours_small, floor_small), (ours_large, floor_large) in zip(results[small], results[large], strict=True):
        for a, b in ((ours_small, ours_large), (floor_small, floor_large)):
            ratio_lines.append(
                f"| {a.call.split(' (')[0]} | {a.server} | {b.result.rps / a.result.rps:.2f} "
                f"| {b.result.p99_ms / a.result.p99_ms:.2f} |"
            )
    run.report.add(
        f"The reading tenant ({reader.records} operation records, {reader.members} members) among {small:,} and then "
        f"{large:,} foreign operation records and invitations; both servers answer the same JSON at both sizes.",
        "",
        *pairs_table([*results[small], *results[large]]),
        "",
        f"Large ({large:,}) over small ({small:,}):",
        "",
        *ratio_lines,
        "",
        f"Query plans at {large:,} foreign rows:",
        "",
        *plans(store, reader),
    )
    store.db.dispose()


if __name__ == "__main__":
    parser = options(__doc__)
    parser.add_argument("--small", type=int, default=1_000, help="foreign rows of each kind first (default 1000)")
    parser.add_argument("--large", type=int, default=100_000, help="foreign rows of each kind then (default 100000)")
    main(__doc__, parser, "scale", "OpenBCS reads among foreign rows", body)
