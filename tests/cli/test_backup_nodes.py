"""Backup and restore of a local-runtime installation with real Fabric nodes (skipped without the binaries): refused
while the server runs the nodes, taken once it stopped, restored into another data directory where a server starts
the nodes from the restored ledgers, and the restored channel goes on: the orderers order its next config block."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from openbcs.kernel.db import Database
from tests.conftest import SECRET_KEY
from tests.runtime.local.realnet import fabric_bin_or_skip
from tests.runtime.network import LocalServer, fabric_children
from tests.support import bodies
from tests.support.accounts import issue_token
from tests.support.diagnostic import wait_for
from tests.support.installations import cli, manifest_of, refused
from tests.support.tenants import Tenant

pytestmark = pytest.mark.slow


def _runtime(server: LocalServer) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/healthz", timeout=5).json()["runtime"])


def _order_when_served(tenant: Tenant, call: Callable[[], httpx.Response]) -> None:
    """Run a channel change once the restarted orderers serve the channel again: until their Raft cluster has elected
    a leader (a few seconds after they start) Deliver answers SERVICE_UNAVAILABLE and the operation fails, changing
    nothing; it is then asked again."""
    deadline = time.monotonic() + 60
    while True:
        response = call()
        assert response.status_code == 200, response.text
        record = _ended(tenant, response.json()["operation_id"])
        if record["operation_status"] == "finished":
            return
        assert "SERVICE_UNAVAILABLE" in " ".join(record["message"]), record
        assert time.monotonic() < deadline, record
        time.sleep(1)


def _ended(tenant: Tenant, operation_id: str) -> dict[str, Any]:
    """The operation's record once it ended, whatever its end."""

    def ended() -> dict[str, Any] | None:
        record = tenant.record(operation_id)
        return None if record["operation_status"] in ("waiting", "processing") else record

    return wait_for(ended, timeout=60, what=f"operation {operation_id} to end")


def test_a_local_runtime_installation_is_backed_up_with_its_ledgers_and_restored(
    tmp_path: Path, db: Database, make_account: Callable[..., Any]
) -> None:
    binaries = fabric_bin_or_skip()
    source = LocalServer(tmp_path / "source", binaries, SECRET_KEY)
    (account,) = source.make_accounts("nodes-tenant")
    archive = tmp_path / "local.tar.gz"
    target = LocalServer(tmp_path / "target", binaries, SECRET_KEY)
    try:
        source.start()
        with httpx.Client(base_url=source.url, timeout=60) as http:
            tenant = Tenant(http, account, issue_token(http, account))
            body = bodies.create_body("bcs-nodes", peer_orgs=[("orga", 1), ("orgb", 1)], channels=[("trade", ["orga"])])
            bid = tenant.create_instance(body)
            blocks_before = tenant.history(bid, "trade")["blocks"]
        assert len(fabric_children(source)) == 5
        source_args = ["--data-dir", str(source.data_dir)]

        # The server runs the nodes: their ledgers are not copied; without them the backup is taken.
        line = refused(cli("backup", archive, *source_args))
        assert line.startswith("error: a server runs the local runtime's nodes (runtime lease held by ")
        assert not archive.exists()
        partial = tmp_path / "without-nodes.tar.gz"
        assert cli("backup", partial, "--without-nodes", *source_args).exit_code == 0
        assert manifest_of(partial)["runtime"] == {"local_instances": 1, "nodes": "omitted"}

        source.stop()  # the nodes stop with it; their ledgers stay
        result = cli("backup", archive, *source_args)
        assert result.exit_code == 0, result.stderr
        manifest = manifest_of(archive)
        assert manifest["runtime"] == {"local_instances": 1, "nodes": "included"}
        (nodes,) = [m for m in manifest["members"] if m["name"] == "nodes/"]
        assert nodes["files"] > 20

        restored = cli("restore", archive, "--data-dir", str(target.data_dir))
        assert restored.exit_code == 0, restored.stderr
        assert restored.stdout.endswith("nodes: restored\n")
        node_homes = sorted(p.name for p in (target.data_dir / "nodes" / bid).iterdir())
        assert len(node_homes) == 5

        # A server on the restored data directory starts every node from its restored ledger.
        target.start()
        wait_for(lambda: _runtime(target) == {"lease": "held", "nodes": 5}, timeout=90, what="every node healthy")
        assert len(fabric_children(target)) == 5
        with httpx.Client(base_url=target.url, timeout=60) as http:
            tenant = Tenant(http, account, issue_token(http, account))
            assert tenant.detail(bid)["basic_info"]["status"] == "Normal"
            assert tenant.history(bid, "trade")["blocks"] == blocks_before
            # The restored channel's next config block (orgb joins) is ordered on the orderers' restored ledger.
            _order_when_served(tenant, lambda: tenant.add_peers(bid, "trade", {"orgb": 1}))
            history = tenant.history(bid, "trade")
            assert [b["number"] for b in history["blocks"]] == [
                *(b["number"] for b in blocks_before),
                len(blocks_before),
            ]
            assert history["verified"] is True
    finally:
        target.stop()
        source.stop()
    verified = cli("channel", "verify", "--data-dir", str(target.data_dir))
    assert verified.exit_code == 0, verified.stdout
