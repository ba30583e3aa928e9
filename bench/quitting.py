"""The quit bench's parts: signed quit requests, the floor's copy of the database, how long quit operations take
to finish after their 200 (from the database, and by polling), and the consistency checks after the load."""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from fabric_protos.common.common_pb2 import Block
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.harness import BenchError, Server, http_call, run_cli
from bench.load import raw_request
from bench.scenarios import Store
from bench.seed_network import Membership
from bench.seeding import dumps
from bench.signing import signed_headers
from openbcs import fabric
from openbcs.network import membership as network_membership
from openbcs.network.models import Channel

QUIT_KIND = "consortium.quit"


@dataclass(frozen=True)
class QuitRequest:
    """A signed ``PUT /v2/{project_id}/members/quit`` of one membership, for one server (the Host is signed)."""

    membership: Membership
    path: str
    body: bytes
    headers: dict[str, str]

    def send(self, server: Server) -> tuple[int, object]:
        status, answer, _ = http_call(server.port, "PUT", self.path, self.headers, self.body)
        return status, answer

    def raw(self) -> str:
        return raw_request("PUT", self.path, self.headers, self.body)


def quit_requests(memberships: Sequence[Membership], server: Server, date: str) -> list[QuitRequest]:
    """One signed quit per membership, all with the same ``X-Sdk-Date`` (valid for the 15-minute skew)."""
    found = []
    for membership in memberships:
        tenant = membership.invitee.tenant
        path, body = f"/v2/{tenant.project_id}/members/quit", dumps(membership.quit_body()).encode()
        headers = signed_headers(
            method="PUT",
            port=server.port,
            path=path,
            access_key=tenant.access_key,
            secret_key=tenant.secret_key,
            project_id=tenant.project_id,
            body=body,
            date=date,
        )
        found.append(QuitRequest(membership, path, body, headers))
    return found


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (the online backup API), for the floor to quit the same memberships."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as dst:
        dst.execute("PRAGMA journal_mode=WAL")


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def active_operations(path: Path) -> int:
    """Operations waiting or processing."""
    with _connect(path) as db:
        return int(
            db.execute("SELECT count(*) FROM operations WHERE status IN ('waiting', 'processing')").fetchone()[0]
        )


def drain(path: Path, timeout: float = 300) -> float:
    """Wait until no operation is waiting or processing; the seconds it took."""
    started = time.monotonic()
    while active_operations(path):
        if time.monotonic() - started > timeout:
            raise BenchError(f"operations still active {timeout:.0f} s after the load")
        time.sleep(0.05)
    return time.monotonic() - started


def finish_times_ms(path: Path, since_ns: int) -> list[float]:
    """For each quit operation recorded since ``since_ns``: from its record time (set by the quit's transaction,
    just before its 200) to its last sub-step's end, in ms."""
    with _connect(path) as db:
        rows = db.execute(
            "SELECT o.record_time, max(s.end_time) FROM operations o "
            "JOIN operation_sub_steps s ON s.operation_id = o.id "
            "WHERE o.kind = ? AND o.record_time >= ? AND o.status = 'finished' GROUP BY o.id",
            (QUIT_KIND, since_ns),
        ).fetchall()
    return sorted((end - start) / 1e6 for start, end in rows)


@dataclass
class Paced:
    """Quits sent one at a time: from each 200 until a poll of the database sees it finished (ms), and how many
    were finished already at the first poll right after the 200."""

    finish_ms: list[float]
    done_when_answered: int


def polled_finish_ms(server: Server, requests: Sequence[QuitRequest], path: Path) -> Paced:
    """One quit at a time: from its 200 until a poll of the database (every millisecond) sees it ``finished``."""
    found, done_at_once = [], 0
    with _connect(path) as db:
        for request in requests:
            status, answer = request.send(server)
            answered = time.monotonic()
            if status != 200 or not isinstance(answer, dict):
                raise BenchError(f"paced quit answered {status}: {answer!r:.300}")
            first = db.execute("SELECT status FROM operations WHERE id = ?", (answer["operation_id"],)).fetchone()
            done_at_once += bool(first and first[0] == "finished")
            while True:
                row = db.execute("SELECT status FROM operations WHERE id = ?", (answer["operation_id"],)).fetchone()
                if row and row[0] in ("finished", "failed"):
                    break
                if time.monotonic() - answered > 30:
                    raise BenchError(f"operation {answer['operation_id']} not finished 30 s after its 200")
                time.sleep(0.001)
            if row[0] != "finished":
                raise BenchError(f"operation {answer['operation_id']} failed")
            found.append((time.monotonic() - answered) * 1000)
    return Paced(found, done_at_once)


def floor_channel_problems(path: Path, membership: Membership) -> tuple[int, list[str]]:
    """After the floor's quit of ``membership``: the inviter channel's newest block number, and what is wrong with
    the channel's stored history — every block checked as ``openbcs channel verify`` checks it
    (``fabric.verify_chain``: chained, hashed, signed, each update allowed by the config before it and applied to
    it), the newest block's config and the row's organisations without the invitee's, and no ``channel_orgs`` row
    left for it."""
    leaving = f"{membership.invitee.peer_org.name_hash}MSP"
    with _connect(path) as db:
        (channel_id,) = db.execute(
            "SELECT id FROM channels WHERE blockchain_id = ? AND name = ?", (membership.inviter.id, membership.channel)
        ).fetchone()
        rows = db.execute(
            "SELECT number, block, config_update, orgs FROM channel_config_blocks WHERE channel_id = ? ORDER BY number",
            (channel_id,),
        ).fetchall()
        left = db.execute(
            "SELECT count(*) FROM channel_orgs WHERE channel_id = ? AND org_id = ?",
            (channel_id, membership.invitee.peer_org.id),
        ).fetchone()[0]
    updates = {number: update for number, _, update, _ in rows if update is not None}
    problems = [str(p) for p in fabric.verify_chain([bytes(row[1]) for row in rows], updates)]
    newest = fabric.application_orgs(fabric.config_of(Block.FromString(bytes(rows[-1][1]))))
    if leaving in newest or leaving in [o["msp_id"] for o in json.loads(rows[-1][3])]:
        problems.append(f"block {rows[-1][0]} still lists {leaving}")
    if left:
        problems.append("the channel still has the invitee's organisation")
    return int(rows[-1][0]), problems


def percentiles(samples: Sequence[float]) -> str:
    """``median X ms, p99 Y ms (n=N)``."""
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms (n={len(ordered):,})"


def states(path: Path) -> tuple[Counter[str], Counter[str]]:
    """Invitations by status, and quit operations by status."""
    with _connect(path) as db:
        invitations = Counter(dict(db.execute("SELECT status, count(*) FROM consortium_invitations GROUP BY status")))
        operations = Counter(
            dict(db.execute("SELECT status, count(*) FROM operations WHERE kind = ? GROUP BY status", (QUIT_KIND,)))
        )
    return invitations, operations


def verify_channels(data_dir: Path, env: dict[str, str]) -> str:
    """``openbcs channel verify --json`` over every channel: how many, and how many with a broken history."""
    verified = json.loads(run_cli(["channel", "verify", "--data-dir", str(data_dir), "--json"], env=env))["channels"]
    bad = sorted(label for label, problems in verified.items() if problems)
    if bad:
        raise BenchError(f"`openbcs channel verify`: {len(bad)} channels with a broken history, e.g. {bad[:3]}")
    return f"`openbcs channel verify`: {len(verified):,} channels, every configuration history verifies"


def fabric_share_ms(store: Store, memberships: Sequence[Membership]) -> tuple[float, float]:
    """What a quit's channel change costs, measured in this process on seeded memberships: the median time of
    ``network.membership.leave`` (the quit operation's first sub-step: the model, the Fabric config update and
    block, their storage) and of the Fabric part alone (``fabric.next_config_block``: update, admin signatures,
    orderer-signed block), each membership in a transaction rolled back afterwards (nothing changes)."""
    fabric_times: list[float] = []
    real = fabric.next_config_block

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            fabric_times.append((time.perf_counter() - started) * 1000)

    leave_times = []
    with mock.patch.object(fabric, "next_config_block", timed):
        for membership in memberships:
            with store.db.engine.connect() as connection, connection.begin() as transaction:
                session = Session(bind=connection)
                channel = session.scalars(select(Channel).where(Channel.blockchain_id == membership.inviter.id)).one()
                started = time.perf_counter()
                network_membership.leave(
                    session,
                    channel,
                    org_ids=[membership.invitee.peer_org.id],
                    cause="bench",
                    keys=store.server_key,
                    acting=membership.invitee.id,
                )
                leave_times.append((time.perf_counter() - started) * 1000)
                session.close()
                transaction.rollback()
    return statistics.median(leave_times), statistics.median(fabric_times)
