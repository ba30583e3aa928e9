"""The runtime lease on both databases: one owner at a time, renewed by it, taken over when it expires, at once when
its owner was a process of this host that is gone, and given up when the server stops."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from openbcs.runtime import lease
from openbcs.runtime.models import RuntimeLease
from tests.support import bodies


def _row(db: Database) -> tuple[str, int] | None:
    found = db.run_read(lambda s: s.get(RuntimeLease, lease.NAME))
    return None if found is None else (found.owner, found.expires_at)


def test_one_owner_at_a_time_until_its_lease_expires(db: Database) -> None:
    first, second = lease.owner_id(), lease.owner_id()
    assert db.run_write(lease.hold, first) is True
    owner, expires = _row(db) or ("", 0)
    assert owner == first
    assert db.run_write(lease.hold, second) is False  # alive: refused, nothing changed
    assert _row(db) == (first, expires)
    assert db.run_write(lease.hold, first) is True  # renewed
    assert _row(db)[1] >= expires  # type: ignore[index]
    db.run_write(lease.hold, first, ttl_seconds=-1)  # as if its owner had stopped renewing it
    assert db.run_write(lease.hold, second) is True
    assert _row(db)[0] == second  # type: ignore[index]
    assert db.run_write(lease.hold, first) is False


def test_a_dead_owner_of_this_host_is_replaced_at_once(db: Database) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = lease.owner_id().split(":")[0]
    dead = f"{host}:{int(gone.stdout)}:abcd1234"
    assert db.run_write(lease.hold, dead) is True
    successor = lease.owner_id()
    assert db.run_write(lease.hold, successor) is True
    assert _row(db)[0] == successor  # type: ignore[index]
    # An owner on another host is never judged by a local pid.
    assert db.run_write(lease.hold, "elsewhere:1:abcd1234", ttl_seconds=-1) is False


def test_a_stopping_server_gives_its_lease_up(db: Database) -> None:
    owner, next_owner = lease.owner_id(), lease.owner_id()
    db.run_write(lease.hold, owner)
    db.run_write(lease.release, owner)
    assert _row(db)[1] == 0  # type: ignore[index]
    assert db.run_write(lease.hold, next_owner) is True


def test_the_servers_health_says_whether_it_holds_the_lease(local: TestClient, tenant: Any) -> None:
    tenant.create_instance(bodies.union_instance_body())
    answer = local.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["runtime"] == {"lease": "held", "nodes": 5}
