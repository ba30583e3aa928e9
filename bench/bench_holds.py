"""How long one request or one operation step holds the database, at the largest inputs the limits allow (issue 12
item 3; ``docs/limits.md``). Every transaction is timed from BEGIN to COMMIT/ROLLBACK on the engine; each phase
reports its longest one, and the ratio to a same-work floor measured in the same run (a one-row write transaction).

    .venv/bin/python bench/bench_holds.py                                   # SQLite in a temporary directory
    .venv/bin/python bench/bench_holds.py --database-url postgresql+psycopg://...   # an empty PostgreSQL database
    .venv/bin/python bench/bench_holds.py --smoke      # CI: the same phases at a tenth of the sizes, a few seconds

In process (the app under Starlette's test client, its operation worker running with 0 s steps): what is measured
is the database's hold, not HTTP. Bounded: a few hundred requests, about a minute.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openbcs.app import create_app
from openbcs.iam import service as iam
from openbcs.kernel.settings import Settings
from openbcs.network import limits
from tests.support.accounts import TestAccount, issue_token
from tests.support.bodies import create_body, union_instance_body
from tests.support.tenants import Tenant

PASSWORD = "Passw0rd!bench"


class HoldTimer:
    """Each transaction's hold, with the OpenBCS function that opened it, collected under the current phase."""

    def __init__(self, engine: Any) -> None:
        self.started: dict[int, tuple[float, str]] = {}
        self.phase = "setup"
        self.samples: dict[str, list[tuple[float, str]]] = {}
        self.lock = threading.Lock()
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, conn: Any) -> None:
        label = "?"
        for frame in reversed(traceback.extract_stack(limit=40)):
            if "/openbcs/" in frame.filename and "kernel/db.py" not in frame.filename:
                label = f"{frame.filename.split('/openbcs/')[1]}:{frame.name}"
                break
        self.started[id(conn)] = (time.perf_counter(), label)

    def _end(self, conn: Any) -> None:
        found = self.started.pop(id(conn), None)
        if found is not None:
            with self.lock:
                self.samples.setdefault(self.phase, []).append((time.perf_counter() - found[0], found[1]))

    @contextmanager
    def measuring(self, phase: str) -> Iterator[None]:
        self.phase = phase
        yield
        self.phase = "setup"


def _tenant(http: TestClient, app: Any, name: str) -> Tenant:
    ctx = app.state.ctx
    created = ctx.db.run_write(
        lambda s: iam.create_account(
            s, name=name, password=PASSWORD, region=ctx.settings.region, server_key=ctx.server_key
        )
    )
    account = TestAccount(created, PASSWORD)
    return Tenant(http, account, issue_token(http, account))


def _floor(app: Any, samples: int = 200) -> float:
    """Median seconds of a one-row write transaction (the same-work floor)."""
    db = app.state.ctx.db
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        with db.writing() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(frozen=True)
class Sizes:
    """The largest inputs the limits allow (a smoke run: a small share of them)."""

    orgs: int = limits.PEER_ORGS_MAX
    peers: int = limits.ORG_PEER_MAX
    channels: int = limits.CHANNELS_MAX
    inviters: int = 3
    instances: int = limits.DEFAULT_INSTANCE_QUOTA
    churn: int = limits.CANCELLED_NOTIFICATIONS_KEPT + 5


SMOKE = Sizes(orgs=2, peers=2, channels=2, inviters=1, instances=1, churn=3)


def _largest(http: Tenant, name: str, sizes: Sizes, *, channels: bool = True) -> str:
    orgs = [(f"org-{i:02d}", sizes.peers) for i in range(sizes.orgs)]
    chans = [(f"chan{i:02d}", [o for o, _ in orgs]) for i in range(sizes.channels)] if channels else []
    return http.create_instance(create_body(name, peer_orgs=orgs, channels=chans))


def _phases(http: TestClient, app: Any, timer: HoldTimer, sizes: Sizes) -> dict[str, Any]:
    found: dict[str, Any] = {}
    owner = _tenant(http, app, f"bench-owner-{secrets.token_hex(3)}")
    orgs = [f"org-{i:02d}" for i in range(sizes.orgs)]
    shape = f"{sizes.orgs} orgs x {sizes.peers} peers, {sizes.channels} channels"
    with timer.measuring(f"CreateNewBlockchain: {shape} of all orgs (request + steps)"):
        bid = _largest(owner, "bench-largest", sizes)
    with timer.measuring("UpdateInstance: every org down to 1 peer (the others leave every channel)"):
        owner.run(owner.update(bid, {"node_orgs": [{"name": o, "node_count": 1} for o in orgs]}))
    with timer.measuring("UpdateInstance: every org from 1 peer to 2"):
        owner.run(owner.update(bid, {"node_orgs": [{"name": o, "node_count": 2} for o in orgs]}))
    with timer.measuring("BatchRemoveOrgsFromChannel: every org leaves a channel"):
        owner.run(owner.remove_orgs(bid, "chan00", orgs))
    with timer.measuring("BatchAddPeersToChannel: every org's 2 peers join a channel"):
        owner.run(owner.add_peers(bid, "chan00", dict.fromkeys(orgs, 2)))
    bare = _largest(owner, "bench-bare", sizes, channels=False)
    with timer.measuring(f"BatchCreateChannels: {sizes.channels} channels"):
        owner.run(owner.create_channels(bare, *[f"new{i:02d}" for i in range(sizes.channels)]))
    with timer.measuring(f"DeleteBlockchain: the largest instance ({shape})"):
        owner.run(owner.delete_instance(bid))
    found["notifications"] = _worst_inbox(http, app, timer, sizes)
    with timer.measuring("ListOpRecord: a project after all of the above"):
        started = time.perf_counter()
        records = owner.records()
        found["records"] = (len(records), time.perf_counter() - started)
    return found


def _worst_inbox(http: TestClient, app: Any, timer: HoldTimer, sizes: Sizes) -> tuple[int, int, float]:
    """One invitee; ``sizes.inviters`` accounts, each with its quota of consortium instances with 5 invitations
    waiting for it (the cap) and more withdrawn than are kept. ListNotifications: (notifications, bytes, seconds)."""
    invitee = _tenant(http, app, f"bench-invitee-{secrets.token_hex(3)}")
    inviters = sizes.inviters
    for n in range(inviters):
        inviter = _tenant(http, app, f"bench-inviter-{n}-{secrets.token_hex(3)}")
        for i in range(sizes.instances):
            bcs = inviter.create_instance(union_instance_body(f"bench-union-{i}"))
            extra = [f"extra{k}" for k in range(limits.PENDING_INVITATIONS_PER_INVITEE - 1)]
            inviter.run(inviter.create_channels(bcs, *extra))
            for channel in ["channel", *extra]:
                assert inviter.invite(bcs, channel, invitee.name).status_code == 200
        for _ in range(sizes.churn):  # invite and withdraw on one channel
            entry = [{"invited_user": invitee.name}]
            assert inviter.delete_invites(bcs, "channel", entry).status_code == 200
            assert inviter.invite(bcs, "channel", invitee.name).status_code == 200
    with timer.measuring(f"ListNotifications: the worst allowed inbox of {inviters} inviter account(s)"):
        started = time.perf_counter()
        response = invitee.call("GET", "/notifications")
        seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return len(response.json()["notifications"]), len(response.content), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="small sizes, a few seconds (CI)")
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else Sizes()
    os.environ.setdefault("HOME", tempfile.mkdtemp())
    data = Path(tempfile.mkdtemp(prefix="openbcs-bench-"))
    settings = Settings(
        data_dir=data,
        database_url=args.database_url,
        operation_step_seconds=0,
        worker_poll_seconds=0.05,
        secret_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        log_level="WARNING",
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as http:
        timer = HoldTimer(app.state.ctx.db.engine)
        floor = _floor(app)
        started = time.perf_counter()
        found = _phases(http, app, timer, sizes)
        elapsed = time.perf_counter() - started
    backend = "SQLite" if app.state.ctx.db.is_sqlite else "PostgreSQL"
    print(
        f"# Database hold per transaction ({backend}), floor (one-row write) {floor * 1000:.2f} ms, run {elapsed:.0f} s"
    )
    print()
    print("| phase | transactions | longest hold ms | x floor | opened by |")
    print("|---|---|---|---|---|")
    worst = (0.0, "", "")
    for phase, samples in timer.samples.items():
        if phase == "setup":
            continue
        seconds, label = max(samples)
        worst = max(worst, (seconds, phase, label))
        print(f"| {phase} | {len(samples)} | {seconds * 1000:.1f} | {seconds / floor:.0f} | `{label}` |")
    count, size, seconds = found["notifications"]
    print()
    print(
        f"ListNotifications of the worst allowed inbox: {count} notifications, {size / 1024:.0f} KB, "
        f"{seconds * 1000:.0f} ms"
    )
    records, seconds = found["records"]
    print(f"ListOpRecord of the project afterwards: {records} operations, {seconds * 1000:.0f} ms")
    print(f"Worst hold of one transaction ({backend}): {worst[0] * 1000:.1f} ms ({worst[1]}; `{worst[2]}`)")


if __name__ == "__main__":
    main()
