"""Authentication's database read, in process (no HTTP): what every authenticated request pays before its call runs.

    python bench/bench_auth.py [--calls 2000] [--rounds 9] [--database-url postgresql+psycopg://...] [--smoke]

For a token and for an AK/SK signature, three ways of proving the caller, called in turn, round after round (the
machine's drift falls on all alike):

- **OpenBCS as it serves**: ``Database.read_rows_autocommit``, the check's one statement without a transaction around
  it (on PostgreSQL, one round trip);
- **OpenBCS in a read transaction**: the same check through ``Database.read_rows`` (BEGIN, the statement, COMMIT: three
  round trips on PostgreSQL), as every authenticated request ran it before;
- **floor**: the same check by hand (``bench/floors/auth.py``: Fernet, HMAC, the statement written out) on the raw
  driver, one statement without a transaction, from a worker thread on PostgreSQL as OpenBCS reads there.

The report gives the median wall time and CPU per check and the ratio to the floor. ``--database-url`` names an empty,
throwaway PostgreSQL database; without it, SQLite in a temporary directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import _repo  # noqa: F401  (puts the repository root on sys.path)
import anyio.to_thread
from sqlalchemy.engine import make_url

from bench.floors import auth as floor
from bench.floors.db import Query
from bench.harness import BenchError
from bench.runner import Run, main, options
from openbcs import migrations
from openbcs.iam import service as iam
from openbcs.iam import signatures, signing, tokens
from openbcs.kernel.db import Database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.settings import Settings
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)

PASSWORD = "Passw0rd!bench-auth"
SKEW = timedelta(minutes=15)
Check = Callable[[], Awaitable[str]]  # one authentication; the caller's project id


def _signed_headers(path: str, access_key: str, secret_key: str) -> dict[str, str]:
    """A GET signed as the official SDK signs it (content type, host, X-Sdk-Date)."""
    date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"content-type": "application/json", "host": "127.0.0.1:8080", "x-sdk-date": date}
    names = ("content-type", "host", "x-sdk-date")
    canonical = signing.canonical_request(
        method="GET",
        raw_path=path,
        query_string="",
        headers=headers,
        signed_headers=names,
        body=b"",
        payload=hashlib.sha256(b"").hexdigest(),
    )
    signature = signing.sign(secret_key, signing.string_to_sign(date, canonical))
    headers["authorization"] = (
        f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


class FloorConnection:
    """The floor's one connection without transactions: sqlite3 in autocommit, or psycopg in autocommit used from a
    worker thread (as OpenBCS reads PostgreSQL)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.pg = url.get_backend_name() == "postgresql"
        if self.pg:
            import psycopg

            self.connection: Any = psycopg.connect(
                url.set(drivername="postgresql").render_as_string(False), autocommit=True
            )
        else:
            self.connection = sqlite3.connect(str(url.database), isolation_level=None, check_same_thread=False)
        self.query = Query(self.connection, pg=self.pg)

    async def run(self, fn: Callable[[Query], floor.Caller]) -> floor.Caller:
        if self.pg:
            return await anyio.to_thread.run_sync(fn, self.query)
        return fn(self.query)

    def close(self) -> None:
        self.connection.close()


def checks(run: Run, database_url: str) -> tuple[str, dict[str, dict[str, Check]], Callable[[], None]]:
    """The account, its token and a signed request: the project every check must prove, ``{proof: {way: check}}``,
    and what closes the connections."""
    settings = Settings(data_dir=run.tmp / "data", database_url=database_url)
    db = Database(database_url)
    migrations.upgrade(db)
    server_key = load_server_key(settings)
    account = db.run_write(
        lambda s: iam.create_account(
            s, name="bench-auth", password=PASSWORD, region=settings.region, server_key=server_key
        )
    )
    issued = db.run_write(
        lambda s: tokens.issue_token(
            s,
            user_id=account.user_id,
            project_id=account.project_id,
            project_name=None,
            server_key=server_key,
            lifetime=timedelta(hours=1),
            now=datetime.now(UTC),
        )
    )
    path = f"/v2/{account.project_id}/operation/record"
    headers = _signed_headers(path, account.access_key, account.secret_key)
    signed = signatures.SignedRequest(method="GET", raw_path=path, query_string="", headers=headers, body=b"")
    keys = floor.Keys(settings.secret_key_path)
    floor_signed = floor.Signed(method="GET", raw_path=path, query="", headers=headers, body=b"")
    raw = FloorConnection(database_url)
    project = account.project_id

    def token_ways(read: Callable[..., Awaitable[Any]]) -> Check:
        async def check() -> str:
            caller = await read(
                tokens.authenticate_token, token=issued.token, server_key=server_key, now=datetime.now(UTC)
            )
            return str(caller.project_id)

        return check

    def signature_ways(read: Callable[..., Awaitable[Any]]) -> Check:
        async def check() -> str:
            caller = await read(
                signatures.authenticate_signature,
                request=signed,
                project_id=project,
                server_key=server_key,
                skew=SKEW,
                now=datetime.now(UTC),
            )
            return str(caller.project_id)

        return check

    async def floor_token() -> str:
        claims = floor.token_claims(keys, issued.token)
        return (await raw.run(lambda q: floor.by_token(q, claims, project))).project_id

    async def floor_signature() -> str:
        return (
            await raw.run(lambda q: floor.by_signature(q, keys, floor_signed, project, SKEW.total_seconds()))
        ).project_id

    found = {
        "token": {
            "OpenBCS as it serves": token_ways(db.read_rows_autocommit),
            "OpenBCS in a read transaction": token_ways(db.read_rows),
            "floor": floor_token,
        },
        "AK/SK signature": {
            "OpenBCS as it serves": signature_ways(db.read_rows_autocommit),
            "OpenBCS in a read transaction": signature_ways(db.read_rows),
            "floor": floor_signature,
        },
    }

    def close() -> None:
        raw.close()
        db.dispose()

    return project, found, close


async def timed(check: Check, calls: int, project_id: str) -> tuple[float, float, bool]:
    """(wall s, CPU s) per call over ``calls`` calls, and whether every call proved the expected project."""
    right = True
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        right &= await check() == project_id
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls, right


def body(run: Run) -> None:
    database_url = run.args.database_url or f"sqlite:///{run.tmp / 'auth.db'}"
    if run.args.database_url and make_url(database_url).get_backend_name() != "postgresql":
        raise BenchError("--database-url must name a PostgreSQL database (postgresql+psycopg://...)")
    calls, rounds = (50, 2) if run.smoke else (run.args.calls, run.args.rounds)
    which = "PostgreSQL" if run.args.database_url else "SQLite"
    run.report.header(f"{calls} checks of each way per round, {rounds} rounds in turn; {which}, in process")
    project, ways, close = checks(run, database_url)
    flat = {(proof, way): check for proof, by_way in ways.items() for way, check in by_way.items()}
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in flat}

    async def measure() -> None:
        for check in flat.values():  # warm: caches, compiled statements, pooled connections
            await timed(check, max(1, calls // 10), project)
        for _ in range(rounds):
            for key, check in flat.items():
                wall, cpu, right = await timed(check, calls, project)
                samples[key].append((wall, cpu))
                if not right:
                    run.problems.append(f"{key[0]}, {key[1]}: a check proved another project than the account's")

    try:
        asyncio.run(measure())
    finally:
        close()
    lines = [
        "| proof | way | wall per check, median (us) | min-max (us) | CPU per check, median (us) | wall / floor's "
        "| CPU / floor's |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for proof, by_way in ways.items():
        floor_wall = statistics.median(s[0] for s in samples[proof, "floor"])
        floor_cpu = statistics.median(s[1] for s in samples[proof, "floor"])
        for way in by_way:
            wall = [s[0] * 1e6 for s in samples[proof, way]]
            cpu = statistics.median(s[1] for s in samples[proof, way])
            lines.append(
                f"| {proof} | {way} | {statistics.median(wall):,.0f} | {min(wall):,.0f}-{max(wall):,.0f} "
                f"| {cpu * 1e6:,.0f} | {statistics.median(wall) / 1e6 / floor_wall:.2f} | {cpu / floor_cpu:.2f} |"
            )
    run.report.add(
        "One account (its project, user and access key), a token issued for it, and a GET signed as the official SDK "
        "signs it. Every check must prove the account's project.",
        "",
        *lines,
    )
    print("  " + "\n  ".join(lines), flush=True)


if __name__ == "__main__":
    parser = options(__doc__, database_url=True)
    parser.add_argument("--calls", type=int, default=2000, help="checks of each way per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds, each way in turn (default 9)")
    main(__doc__, parser, "auth", "Authentication's database read", body)
