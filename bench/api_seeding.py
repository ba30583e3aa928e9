"""Seeding through the API: accounts in a fresh database, ``openbcs serve --operation-step-seconds 0`` on it,
instances created with ``CreateNewBlockchain`` (so their organisations, nodes, PKI, channels with configuration
blocks, and events are the server's own), then more finished operations over them written straight into the database
(:class:`bench.seeding.Seeder`), so that an account holds ~1,000 operations within seconds.

The console bench (100 default instances) and the isolation bench (one instance of the largest shape
``docs/limits.md`` allows, beside a quiet tenant's default one) start this way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bench.harness import BenchError, Server, free_port, get_token, http_call, running, serve_command
from bench.runner import Run
from bench.scenarios import Store, create_store
from bench.seeding import PASSWORD, REGION, Seeder, Tenant
from openbcs.instances import kinds as instance_kinds

CLUSTER = {"cluster_id": "cce-0001", "cluster_name": "cce-bench", "cluster_platform_type": "VirtualMachine"}
CREATE_SECONDS = 600  # the largest instance's PKI and channels take a while on a loaded machine


@dataclass(frozen=True)
class Shape:
    """An instance of ``orgs`` peer organisations with ``peers`` peers each, and ``channels`` channels of all of
    them (without a shape: the default one organisation and one channel)."""

    orgs: int
    peers: int
    channels: int


def fresh_accounts(run: Run, names: Sequence[str], database_url: str | None = None) -> tuple[Store, list[Tenant]]:
    """A migrated, empty database in the run's directory (or the throwaway ``database_url``) with accounts named
    ``names`` (password :data:`bench.seeding.PASSWORD`)."""
    store = create_store(run.tmp / "data", database_url)
    return store, Seeder(store.db, store.server_key).accounts(names)


@contextmanager
def instant_server(run: Run, store: Store) -> Iterator[Server]:
    """``openbcs serve`` on ``store`` whose operations finish as soon as the worker takes them (no step takes
    time), stopped when the block ends."""
    port = free_port()
    cmd = serve_command(
        store.settings.data_dir,
        port,
        database_url=store.settings.database_url,
        extra=["--operation-step-seconds", "0"],
    )
    with running("OpenBCS", cmd, env=run.env, log=run.tmp / "openbcs.log", port=port, health="/healthz") as server:
        yield server


def token_of(server: Server, tenant: Tenant) -> str:
    """An IAM token of the tenant's own user (the console's session cookie is that very token)."""
    return get_token(server.port, user=tenant.name, domain=tenant.name, password=PASSWORD, region=REGION)


def create_body(name: str, shape: Shape | None = None) -> bytes:
    """The ``CreateNewBlockchain`` body of a union instance on an existing CCE cluster."""
    body: dict[str, object] = {
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
    if shape is not None:
        orgs = [f"org{i:02d}" for i in range(shape.orgs)]
        body["peer_orgs"] = [{"name": org, "node_count": shape.peers} for org in orgs]
        body["channels"] = [{"name": f"chan{i:02d}", "org_names": orgs} for i in range(shape.channels)]
    return json.dumps(body).encode()


def create_instances(
    server: Server, tenant: Tenant, token: str, names: Sequence[str], shape: Shape | None = None
) -> list[tuple[str, str]]:
    """Instances named ``names`` created through the API (all asked for first, so the worker runs them one after
    another), waited for until each operation has finished; their ``(id, name)``."""
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    v2 = f"/v2/{tenant.project_id}"
    made, operations = [], []
    for name in names:
        status, answer, _ = http_call(
            server.port, "POST", f"{v2}/blockchains", headers, create_body(name, shape), CREATE_SECONDS
        )
        if status != 200:
            raise BenchError(f"CreateNewBlockchain answered {status}: {answer!r:.300}")
        made.append((str(answer["blockchain_id"]), name))
        operations.append(answer["operation_id"])
    deadline = time.monotonic() + CREATE_SECONDS
    for operation_id in operations:
        while not _finished(server, f"{v2}/operation/record?operation_id={operation_id}", headers):
            if time.monotonic() > deadline:
                raise BenchError(f"the instances were not created within {CREATE_SECONDS} s")
            time.sleep(0.2)
    return made


def _finished(server: Server, path: str, headers: dict[str, str]) -> bool:
    """Whether the operation ``path`` (ListOpRecord of one operation id) shows has finished."""
    records = http_call(server.port, "GET", path, headers)[1]["operation_records"]
    return bool(records) and records[0]["operation_status"] == "finished"


def more_operations(store: Store, tenant: Tenant, owned: Sequence[tuple[str, str]], count: int) -> str:
    """``count`` finished scaling operations spread over the instances ``owned`` (id, name), written straight into
    the database; the id of the last one."""
    seeder, last = Seeder(store.db, store.server_key), ""
    for index in range(count):
        payload = {"change": "add_peers", "orgs": ["org1"]}
        last = seeder.operation(instance_kinds.SCALE, tenant, owned[index % len(owned)], payload, [])
    seeder.flush()
    return last
