"""Console pages with 100 instances and 1,000 operations in the account: server time per page, beside the API call
that serves the same data (the page's same-work floor, on the same server in the same run).

Run from the repository root with the project's venv active:

    python bench/bench_console.py [--seconds 10] [--smoke]

One account (``bench.seeding``) in a fresh SQLite database; ``openbcs serve --operation-step-seconds 0`` creates its 100
union instances through the API (organisations, nodes, PKI, the default channel and its configuration block, events),
then 900 more finished operations over them are written straight into the database (1,000 in all). The session cookie
is a token from ``POST /v3/auth/tokens`` (the console's session is that very token). Each page must answer 200 with
HTML naming what it shows before wrk loads it with ONE connection, so that latency is one request's time in the
server (plus loopback); the server's CPU per request is the issue's figure: under 100 ms a page.
"""

from __future__ import annotations

import json
import time

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.harness import BenchError, Server, free_port, get_token, http_call, running, serve_command
from bench.load import Measurement, measure
from bench.report import pairs_table
from bench.runner import Run, main, options
from bench.seeding import PASSWORD, REGION, Seeder, Tenant
from openbcs import migrations
from openbcs.instances import kinds as instance_kinds
from openbcs.instances import quotas
from openbcs.kernel.db import Database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.settings import Settings

INSTANCES, OPERATIONS = 100, 1_000
SMOKE_INSTANCES, SMOKE_OPERATIONS = 3, 10
TARGET_MS = 100.0
CLUSTER = {"cluster_id": "cce-0001", "cluster_name": "cce-bench", "cluster_platform_type": "VirtualMachine"}


def _create_body(name: str) -> bytes:
    return json.dumps(
        {
            "name": name,
            "version_type": 4,
            "blockchain_type": "union",
            "consensus": "etcdraft",
            "enterprise_project_id": "0",
            "evs_disk_type": "SSD",
            "resource_password": PASSWORD,
            "orderer_node_number": 3,
            "cluster_type": "cce",
            "create_new_cluster": False,
            "cce_cluster_info": CLUSTER,
        }
    ).encode()


def _create_instances(server: Server, tenant: Tenant, token: str, count: int) -> list[tuple[str, str]]:
    """``count`` instances created through the API, waited for; their ``(id, name)``."""
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    made = []
    for index in range(count):
        name = f"bench-{index:03d}"
        status, answer, _ = http_call(
            server.port, "POST", f"/v2/{tenant.project_id}/blockchains", headers, _create_body(name)
        )
        if status != 200:
            raise BenchError(f"CreateNewBlockchain answered {status}: {answer!r:.300}")
        made.append((answer["blockchain_id"], name))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        path = f"/v2/{tenant.project_id}/operation/record?operation_status=finished"
        if http_call(server.port, "GET", path, headers)[1]["count"] == count:
            return made
        time.sleep(0.5)
    raise BenchError("the instances were not created within 10 minutes")


def _more_operations(seeder: Seeder, tenant: Tenant, owned: list[tuple[str, str]], count: int) -> str:
    """``count`` finished scaling operations spread over the instances, written straight into the database; the id
    of the last one."""
    last = ""
    for index in range(count):
        payload = {"change": "add_peers", "orgs": ["org1"]}
        last = seeder.operation(instance_kinds.SCALE, tenant, owned[index % len(owned)], payload, [])
    seeder.flush()
    return last


def body(run: Run) -> None:
    run.args.connections = 1  # one request at a time: latency is a page's time in the server, not a queue's
    instances, operations = (SMOKE_INSTANCES, SMOKE_OPERATIONS) if run.smoke else (INSTANCES, OPERATIONS)
    settings = Settings(data_dir=run.tmp / "data")
    settings.data_dir.mkdir(parents=True)
    db = Database(settings.resolved_database_url)
    migrations.upgrade(db)
    key = load_server_key(settings)
    (tenant,) = Seeder(db, key).accounts(["console-bench"])
    db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=instances)
    run.report.header(run.settings("uvicorn --workers 1, SQLite"))
    port = free_port()
    cmd = serve_command(settings.data_dir, port, extra=["--operation-step-seconds", "0"])
    with running("OpenBCS", cmd, env=run.env, log=run.tmp / "openbcs.log", port=port, health="/healthz") as server:
        token = get_token(server.port, user=tenant.name, domain=tenant.name, password=PASSWORD, region=REGION)
        started = time.monotonic()
        owned = _create_instances(server, tenant, token, instances)
        last = _more_operations(Seeder(db, key), tenant, owned, operations - instances)
        db.dispose()
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
