"""One owner per node across servers: two servers on one database (the suite's: SQLite, and PostgreSQL on CI's second
pass), one holds the runtime lease and runs every node; killed, the other takes over within 30 s and runs each node
exactly once, from its ledger. Real Fabric nodes (skipped without the binaries)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from openbcs.kernel.db import Database
from tests.conftest import SECRET_KEY
from tests.runtime.local.realnet import fabric_bin_or_skip
from tests.runtime.network import LocalServer, fabric_children, node_pids, pid_alive
from tests.support import bodies
from tests.support.accounts import issue_token
from tests.support.diagnostic import wait_for
from tests.support.tenants import Tenant

pytestmark = pytest.mark.slow


def _runtime(server: LocalServer) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/healthz", timeout=5).json()["runtime"])


def test_another_server_takes_the_nodes_over_when_their_owner_dies(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, db: Database, make_account: Callable[..., Any]
) -> None:
    binaries = fabric_bin_or_skip(on_postgresql=True)
    root = tmp_path_factory.mktemp("owner")
    # Both servers on the suite's database (SQLite, or PostgreSQL on CI's second pass) and one data directory.
    first = LocalServer(root / "first", binaries, SECRET_KEY, database_url=database_url)
    second = LocalServer(root / "second", binaries, SECRET_KEY, database_url=database_url)
    second.data_dir = first.data_dir
    account = make_account("lease-tenant")
    try:
        first.start()
        wait_for(lambda: _runtime(first)["lease"] == "held", timeout=30, what="the first server to take the lease")
        second.start()
        assert _runtime(second) == {"lease": "standby", "nodes": 0}
        # Created through the standby: its owner, the first server, runs the nodes.
        with httpx.Client(base_url=second.url, timeout=60) as http:
            tenant = Tenant(http, account, issue_token(http, account))
            bid = tenant.create_instance(bodies.union_instance_body())
            assert tenant.detail(bid)["basic_info"]["status"] == "Normal"
        assert len(fabric_children(first)) == 5
        assert fabric_children(second) == []
        assert _runtime(first) == {"lease": "held", "nodes": 5}
        before = node_pids(first)

        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: len(fabric_children(second)) == 5, timeout=30, what="the second server to run the nodes")
        took = time.monotonic() - killed
        print(f"\nnodes taken over {took:.1f} s after their owner was killed")
        assert took <= 30
        assert [pid for pid in before.values() if pid_alive(pid)] == []  # none of the first owner's survived
        wait_for(lambda: _runtime(second) == {"lease": "held", "nodes": 5}, timeout=30, what="every node healthy")
        wait_for(
            lambda: sorted(node_pids(second).values()) == fabric_children(second),
            timeout=30,
            what="the stored pids to be the second server's",
        )
        # Nothing lost: the instance is still Normal, its channel still served by the nodes (a new member's update
        # goes through them) and the model verifies.
        with httpx.Client(base_url=second.url, timeout=60) as http:
            tenant = Tenant(http, account, issue_token(http, account))
            assert tenant.detail(bid)["basic_info"]["status"] == "Normal"
            tenant.run(tenant.create_channels(bid, "after"))
            tenant.run(tenant.add_peers(bid, "after", {bodies.DEFAULT_ORG: 2}))
            assert tenant.history(bid, "after")["verified"] is True
    finally:
        second.stop()
        first.stop()
