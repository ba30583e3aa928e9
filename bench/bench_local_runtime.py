"""The local runtime on real Fabric 2.5 nodes: CreateNewBlockchain (3 orderers, 2 peers, one channel) until
``Normal``, the seed's quit from its answer until its operation finished with the orderers' block committed, and each
node's RSS; beside them the floor: the same five nodes (identities, ports, block 0) started from fresh homes straight
through the runtime's modules, the orderers joined to the channel until they serve it, the peers joined (what Fabric
itself costs, without OpenBCS's API, operations and bookkeeping).

Run from the repository root with the project's venv active, Fabric's binaries in ``OPENBCS_FABRIC_BIN`` (or on
``PATH``, or in /opt/fabric/bin):

    python bench/bench_local_runtime.py [--creations 3] [--quits 5] [--smoke]

Each quit is a new invitee tenant: its instance (2 peers) is created, invited, agrees (its peers join the channel
with block 0), then quits with the seed's call. Without Fabric's binaries the script says so and exits 0.
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path)
import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.harness import BenchError
from bench.runner import Run, main, options
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network import lookups
from openbcs.network.models import ConfigBlock
from openbcs.runtime import nodespecs
from openbcs.runtime.local.backend import LocalRuntime
from openbcs.runtime.local.binaries import Binaries
from openbcs.runtime.specs import Client, NodeSpec
from tests.runtime.local.realnet import find_fabric
from tests.runtime.network import LocalServer, node_pids
from tests.support.accounts import issue_token
from tests.support.bodies import invitee_instance_body, union_instance_body
from tests.support.consortia import Consortium
from tests.support.tenants import Tenant

CHANNEL = "channel"


def rss_mib(pid: int) -> float | None:
    """The process's resident set in MiB; None if it is gone (a peer restarted since the supervisor noted it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


def floor_create(run: Run, server: LocalServer, secret: str, binaries: Binaries, blockchain_id: str) -> float:
    """The same work without OpenBCS's API, operations and bookkeeping: the instance's five nodes started from fresh
    homes (its own identities and ports) straight through the runtime's modules, its orderers joined to the channel
    with its block 0 until they serve it, then its peers joined. The clock starts at the first process."""
    db = Database(server.database_url)
    keys = ServerKey(base64.urlsafe_b64decode(secret))
    homes = Path(tempfile.mkdtemp(dir=run.tmp, prefix="floor-"))
    try:
        orderers, orderer_admin = db.run_read(nodespecs.orderers_of, blockchain_id, keys=keys, nodes_dir=homes)
        peers, peer_admin, genesis = db.run_read(_peers_and_genesis, blockchain_id, keys, homes)
    finally:
        db.dispose()
    runtime = LocalRuntime(binaries)
    started = time.monotonic()
    try:
        for node in [*orderers, *peers]:
            runtime.start(node)
        for node in [*orderers, *peers]:
            runtime.await_started(node.name)
        for node in orderers:
            runtime.join(node, CHANNEL, genesis, orderer_admin)
        runtime.await_channel(orderers, CHANNEL, orderer_admin)
        for node in peers:
            runtime.join(node, CHANNEL, genesis, peer_admin)
        return time.monotonic() - started
    finally:
        runtime.close()


def _peers_and_genesis(
    session: Session, blockchain_id: str, keys: ServerKey, homes: Path
) -> tuple[list[NodeSpec], Client, bytes]:
    (org,) = lookups.orgs_of(session, blockchain_id, role="peer")
    specs = [nodespecs.node_spec(session, n.id, keys=keys, nodes_dir=homes) for n in lookups.nodes_of(session, org.id)]
    channel = lookups.channel_named(session, blockchain_id=blockchain_id, name=CHANNEL)
    genesis = session.scalars(
        select(ConfigBlock.block).where(ConfigBlock.channel_id == channel.id, ConfigBlock.number == 0)
    ).one()
    return specs, nodespecs.admin_client(session, org, keys=keys), genesis


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | — | — | — | 0 |"
    return f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | {len(values)} |"


def body(run: Run) -> None:
    binaries = find_fabric()
    if isinstance(binaries, str):
        run.report.header("skipped")
        run.report.add(f"Nothing measured: {binaries}.")
        print(f"  skipped: {binaries}", flush=True)
        return
    creations = 1 if run.smoke else run.args.creations
    quits = 1 if run.smoke else run.args.quits
    run.report.header(f"Fabric {binaries.version} ({binaries.orderer.parent}), SQLite, --operation-step-seconds 0")
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    server = LocalServer(run.tmp, binaries, secret, worker_poll_seconds=1.0)  # the server's default polling
    inviter_account, *invitee_accounts = server.make_accounts(
        "bench-inviter", *(f"bench-invitee-{i}" for i in range(quits))
    )
    create_times: list[float] = []
    quit_answers: list[float] = []
    quit_times: list[float] = []
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            inviter = Tenant(http, inviter_account, issue_token(http, inviter_account))
            union = ""
            for number in range(creations):
                started = time.monotonic()
                union = inviter.create_instance(union_instance_body(f"bcs-union-{number}"))
                create_times.append(time.monotonic() - started)
            for account in invitee_accounts:
                invitee = Tenant(http, account, issue_token(http, account))
                c = Consortium(inviter, invitee, union, f"bcs-union-{creations - 1}", None, None, channel=CHANNEL)
                if c.invite().status_code != 200:
                    raise BenchError("the invitation was refused")
                c.invitee_bcs_id = invitee.create_instance(
                    invitee_instance_body(
                        domain_id=inviter.domain_id, project_id=inviter.project_id, inviter_bcs_id=union
                    )
                )
                c.invitee_bcs_name = "bcs-invitee"
                c.join()
                sent = time.monotonic()
                answer = invitee.quit(c.quit_body())
                answered = time.monotonic()
                if answer.status_code != 200:
                    run.problems.append(f"quit answered {answer.status_code}: {answer.text[:200]}")
                    continue
                invitee.wait(answer.json()["operation_id"])
                quit_answers.append(answered - sent)
                quit_times.append(time.monotonic() - answered)
            time.sleep(1)  # peers that left a channel were restarted: let the supervisor note their new pids
            rss = {name: rss_mib(pid) for name, pid in node_pids(server).items()}
            orderer_rss = [m for name, m in rss.items() if m is not None and name.startswith("orderer-")]
            peer_rss = [m for name, m in rss.items() if m is not None and name.startswith("peer-")]
            server_rss = (rss_mib(server.process.pid) if server.process else None) or 0.0
            nodes_running = len(node_pids(server))
            # The server idle with its nodes running: what supervising them costs (each node's /healthz every 3 s,
            # the supervisor's passes, the metrics sampling every 60 s), as a share of one core.
            idle_seconds = 3.0 if run.smoke else run.args.idle
            assert server.process is not None
            cpu_before, started_idle = cpu_seconds(server.process.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle_share = (cpu_seconds(server.process.pid) - cpu_before) / (time.monotonic() - started_idle)
            metric_times = []
            body = {"metric_names": ["cpuUsage", "memUsedRate", "ledger_blockchain_height"]}
            for _ in range(5 if run.smoke else 50):
                started = time.monotonic()
                answer = inviter.call("POST", f"/blockchains/{union}/metric/list", body)
                metric_times.append(time.monotonic() - started)
                if answer.status_code != 200 or len(answer.json()["metrics"]) != 3:
                    run.problems.append(f"ListBcsMetric answered {answer.status_code}: {answer.text[:200]}")
    finally:
        server.stop()
    floor = [floor_create(run, server, secret, binaries, union) for _ in range(creations)]
    run.report.add(
        f"{creations} creation(s) of a union instance (3 orderers, 2 peers, channel `{CHANNEL}` with its "
        f"organisation); {quits} quit(s), each of a new invitee (2 peers) that joined first. Times are wall-clock "
        "seconds.",
        "",
        "| what | median (s) | min (s) | max (s) | runs |",
        "|---|---:|---:|---:|---:|",
        row("CreateNewBlockchain until `Normal` (nodes healthy, channel live)", create_times),
        row("floor: the same 5 nodes started, orderers joined until they serve, peers joined", floor),
        row("the seed's quit: its answer (200)", quit_answers),
        row("the seed's quit: from its answer until the operation finished", quit_times),
        "",
        f"Idle with {nodes_running} nodes running, the server used {idle_share * 100:.1f} % of one core over "
        f"{idle_seconds:g} s (health checks every 3 s, metrics sampled every 60 s). ListBcsMetric (3 metrics, one of "
        f"them Fabric's own) answered in {statistics.median(metric_times) * 1000:.1f} ms p50, "
        f"{max(metric_times) * 1000:.1f} ms at most, over {len(metric_times)} calls.",
        "",
        f"Creation over its floor: {statistics.median(create_times) / statistics.median(floor):.1f}x. "
        f"RSS once running: orderers {statistics.median(orderer_rss):.0f} MiB (median of {len(orderer_rss)}), "
        f"peers {statistics.median(peer_rss):.0f} MiB (median of {len(peer_rss)}), the OpenBCS server "
        f"{server_rss:.0f} MiB.",
    )
    print("  " + "\n  ".join(run.report.lines[-11:]), flush=True)


if __name__ == "__main__":
    parser = options(__doc__)
    parser.add_argument("--creations", type=int, default=4, help="instances created (default 4: 20 nodes)")
    parser.add_argument("--idle", type=float, default=30, help="seconds the idle server's CPU is measured (default 30)")
    parser.add_argument("--quits", type=int, default=5, help="invitees that join and quit (default 5)")
    main(__doc__, parser, "local_runtime", "The local runtime on real Fabric nodes", body)
