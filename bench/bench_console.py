"""Console pages with 100 instances and 1,000 operations in the account: server time per page, beside the API call
that serves the same data (the page's same-work floor, on the same server in the same run).

Run from the repository root with the project's venv active:

    python bench/bench_console.py [--seconds 10] [--smoke]

One account in a fresh SQLite database; ``openbcs serve --operation-step-seconds 0`` creates its 100 union instances
through the API (organisations, nodes, PKI, the default channel and its configuration block, events), then 900 more
finished operations over them are written straight into the database (1,000 in all; ``bench.api_seeding``). The
session cookie is a token from ``POST /v3/auth/tokens`` (the console's session is that very token). Each page must
answer 200 with HTML naming what it shows before wrk loads it with ONE connection, so that latency is one request's
time in the server (plus loopback); the server's CPU per request is the issue's figure: under 100 ms a page.
"""

from __future__ import annotations

import time

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.api_seeding import create_instances, fresh_accounts, instant_server, more_operations, token_of
from bench.harness import BenchError, Server, http_call
from bench.load import Measurement, measure
from bench.report import pairs_table
from bench.runner import Run, main, options
from bench.seeding import Tenant
from openbcs.instances import quotas

INSTANCES, OPERATIONS = 100, 1_000
SMOKE_INSTANCES, SMOKE_OPERATIONS = 3, 10
TARGET_MS = 100.0


def body(run: Run) -> None:
    run.args.connections = 1  # one request at a time: latency is a page's time in the server, not a queue's
    instances, operations = (SMOKE_INSTANCES, SMOKE_OPERATIONS) if run.smoke else (INSTANCES, OPERATIONS)
    store, (tenant,) = fresh_accounts(run, ["console-bench"])
    store.db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=instances)
    run.report.header(run.settings("uvicorn --workers 1, SQLite"))
    with instant_server(run, store) as server:
        token = token_of(server, tenant)
        started = time.monotonic()
        owned = create_instances(server, tenant, token, [f"bench-{i:03d}" for i in range(instances)])
        last = more_operations(store, tenant, owned, operations - instances)
        store.db.dispose()
        print(f"  {instances} instances created and {operations} operations in {time.monotonic() - started:.1f} s")
        measured = _measure_pages(run, server, tenant, token, owned, last)
    worst = max(m.cpu_us for m, _ in measured) / 1000
    run.report.add(
        f"One account with {instances} instances (created through the API) and {operations} operations. Each page is "
        "measured with one connection, followed (where one exists) by the API call that reads the same data, on the "
        "same server: `x floor` is the page's rate over that call's. `server CPU (us/req)` is the issue's figure "
        f"(target: under {TARGET_MS:g} ms a page); the slowest page took {worst:.1f} ms of server CPU.",
        "",
        *pairs_table(measured),
        "",
        f"Target: every page under {TARGET_MS:g} ms of server time — "
        + ("met." if worst < TARGET_MS else f"NOT met ({worst:.1f} ms)."),
    )
    if worst >= TARGET_MS and not run.smoke:
        run.problems.append(f"a page took {worst:.1f} ms of server CPU (target {TARGET_MS:g} ms)")


def _measure_pages(
    run: Run, server: Server, tenant: Tenant, token: str, owned: list[tuple[str, str]], operation_id: str
) -> list[tuple[Measurement, Measurement | None]]:
    """Each page (checked first), then the API call reading the same data, with one connection."""
    project, (bcs_id, bcs_name) = tenant.project_id, owned[len(owned) // 2]
    cookie, api = {"Cookie": f"openbcs_console={token}"}, {"X-Auth-Token": token}
    base, v2 = f"/console/instances/{bcs_id}", f"/v2/{project}"
    history, record = f"{v2}/blockchains/{bcs_id}/channels/channel/config-history", f"{v2}/operation/record"
    pages = [
        ("overview", "/console/", bcs_name, f"{v2}/blockchains"),
        ("operations, page 1", "/console/operations", "Page 1 of", None),
        ("operations, page 20", "/console/operations?page=20", "Page ", None),
        ("operation", f"/console/operations/{operation_id}", operation_id, f"{record}?operation_id={operation_id}"),
        ("instance", base, bcs_name, f"{v2}/blockchains/{bcs_id}"),
        ("channel", f"{base}/channels/channel", "Configuration history", history),
        ("certificates", f"{base}/certificates", "SDK configuration", None),
        ("events", f"{base}/events", "Active alarms", None),
        ("consortium", "/console/consortium", "Invite tenants", f"{v2}/members"),
        ("create form", "/console/instances/new", "Resource password", None),
    ]
    load = run.load()
    measured: list[tuple[Measurement, Measurement | None]] = []
    for label, path, marker, api_path in pages:
        status, answer, _ = http_call(server.port, "GET", path, cookie)
        if status != 200 or marker.encode() not in (answer if isinstance(answer, bytes) else b""):
            raise BenchError(f"{path} answered {status} without {marker!r}")
        page = run.keep(measure(f"page: {label}", server, path, headers=cookie, **load))
        floor = None
        if api_path is not None:
            if http_call(server.port, "GET", api_path, api)[0] != 200:
                raise BenchError(f"{api_path} did not answer 200")
            # Labels name the call, not this run's ids.
            call = "API: GET " + api_path.removeprefix(v2).replace(bcs_id, "{id}").replace(operation_id, "{op}")
            floor = run.keep(measure(call, server, api_path, headers=api, **load))
        measured.append((page, floor))
    return measured


if __name__ == "__main__":
    main(__doc__, options(__doc__), "console", "Console pages, 100 instances and 1,000 operations", body)
