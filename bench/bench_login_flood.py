"""Other tenants' logins while one source floods ``POST /v3/auth/tokens`` with random names (issue 21 item 3): their
latency quiet, then while ``--flooders`` wrk connections from 127.0.0.1 post wrong passwords for names that change
with every request (none exists, so every one that is admitted costs a full scrypt check).

Run from the repository root with the project's venv active:

    python bench/bench_login_flood.py [--seconds 60] [--flooders 32] [--tenants 8] [--rate 1.5] [--smoke]

``openbcs serve`` runs with its default login limits (``docs/auth.md``): per source address and per account name a
token bucket; the flood's address finds its bucket empty after its burst and is answered 429 before routing (each
held up to a second), while its admitted checks take their turn with the other sources'. Each measuring tenant logs
in with its right password over a connection of its own bound to an address of its own (127.0.0.10, .11, ...: every
127.0.0.0/8 address reaches the server on Linux), paced to stay within the default per-account rate; a fresh set of
tenants is used for each run. The report gives both runs' p50 and p99 and their ratio (target: p99 within 2x of
quiet), and how the flood was answered.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.harness import TOKEN_HEADERS, TOKEN_PATH, free_port, running, serve_command, token_request
from bench.load import _COUNTING, _lua_string, expect_statuses, finish_wrk, start_wrk
from bench.runner import SMOKE_SECONDS, Run, main, options
from bench.scenarios import create_store
from bench.seeding import PASSWORD, REGION, Seeder
from openbcs.kernel.settings import Settings

SETTLE = 5.0  # seconds the flood runs before the measured run starts (its burst's checks are done by then)
FLOOD_NAME = "@NAME@"
TARGET = 2.0  # p99 under flood / p99 quiet


@dataclass
class Logins:
    """The measuring tenants' logins of one run: latencies (ms) and statuses."""

    label: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile of the latencies (0 without any)."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]

    def row(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"| {self.label} | {len(self.latencies_ms)} | {self.percentile(0.5):.1f} | {self.percentile(0.99):.1f} "
            f"| {max(self.latencies_ms, default=0):.1f} | {statuses} |"
        )


def _login(port: int, source: str, body: bytes) -> tuple[int, float]:
    """One login over a new connection from ``source``: status and milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    started = time.perf_counter()
    try:
        conn.request("POST", TOKEN_PATH, body=body, headers=TOKEN_HEADERS)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def measure_logins(label: str, port: int, tenants: list[str], *, seconds: float, rate: float) -> Logins:
    """Each tenant logs in from its own address for ``seconds``, ``rate`` logins a second in all (a load the
    one-at-a-time checks carry with room to spare: the wait measured is the flood's doing, not the tenants'), and
    never more than the default per-account bucket allows (its burst plus what refills meanwhile)."""
    defaults = Settings()
    allowed = defaults.login_account_burst - 1 + seconds * defaults.login_account_per_minute / 60
    count = max(1, min(int(allowed), round(seconds * rate / len(tenants))))
    interval = seconds / count
    found, guard = Logins(label), threading.Lock()

    def tenant_logins(index: int, name: str) -> None:
        body = token_request(user=name, domain=name, password=PASSWORD, region=REGION).encode()
        source = f"127.0.0.{10 + index}"
        start = time.monotonic() + interval * index / len(tenants)  # the tenants' logins spread over the interval
        for n in range(count):
            time.sleep(max(0.0, start + n * interval - time.monotonic()))
            status, ms = _login(port, source, body)
            with guard:
                found.latencies_ms.append(ms)
                found.statuses[status] = found.statuses.get(status, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=tenant_logins, args=(i, name)) for i, name in enumerate(tenants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found.seconds = time.monotonic() - started
    print(
        f"  {label}: {len(found.latencies_ms)} logins, p50 {found.percentile(0.5):.1f} ms, "
        f"p99 {found.percentile(0.99):.1f} ms, statuses {found.statuses}",
        flush=True,
    )
    return found


def flood_script(path: Path) -> Path:
    """A Lua script posting a wrong password for a new random name with every request, counting answers."""
    body = token_request(user=FLOOD_NAME, domain=FLOOD_NAME, password="flood-password", region=REGION)
    head, middle, tail = body.split(FLOOD_NAME)
    lines = [
        'wrk.method = "POST"',
        *(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in TOKEN_HEADERS.items()),
        "marker = nil",
        "sent = 0",
        "function request()",
        "  sent = sent + 1",
        '  local name = string.format("flood%08x%06d", math.random(0, 0x7fffffff), sent % 1000000)',
        f"  return wrk.format(nil, nil, nil, {_lua_string(head)} .. name .. {_lua_string(middle)} .. name .. "
        f"{_lua_string(tail)})",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n" + _COUNTING)
    return path


def body(run: Run) -> None:
    tenants = 2 if run.smoke else run.args.tenants
    flooders = min(run.args.flooders, 8) if run.smoke else run.args.flooders
    store = create_store(run.tmp / "data")
    names = [f"flood-tenant-{i:02d}" for i in range(2 * tenants)]
    Seeder(store.db, store.server_key).accounts(names)
    store.db.dispose()
    run.report.header(
        f"uvicorn --workers 1, SQLite, default login limits; {tenants} tenants logging in from their own addresses, "
        f"{flooders} wrk connections flooding from 127.0.0.1"
    )
    port = free_port()
    cmd = serve_command(store.settings.data_dir, port)
    seconds = run.seconds
    with running("OpenBCS", cmd, env=run.env, log=run.tmp / "openbcs.log", port=port, health="/healthz") as server:
        quiet = measure_logins("quiet", port, names[:tenants], seconds=seconds, rate=run.args.rate)
        script = flood_script(run.tmp / "flood.lua")
        flood_seconds = seconds + 2 * SETTLE
        flood = start_wrk(server.url(TOKEN_PATH), connections=flooders, seconds=flood_seconds, script=script)
        try:
            time.sleep(SMOKE_SECONDS if run.smoke else SETTLE)
            label = f"{flooders} flood connections"
            loaded = measure_logins(label, port, names[tenants:], seconds=seconds, rate=run.args.rate)
        finally:
            flooded = finish_wrk(flood, flood_seconds, interrupt_after=0.0)
    for logins in (quiet, loaded):
        unexpected = {s: n for s, n in logins.statuses.items() if s != 201}
        if unexpected or not logins.latencies_ms:
            run.problems.append(f"tenants' logins, {logins.label}: answers other than 201: {unexpected}")
    run.problems += [f"flood: {p}" for p in expect_statuses(401, 429)(flooded)]
    ratio = loaded.percentile(0.99) / max(quiet.percentile(0.99), 1e-9)
    checked = flooded.statuses.get(401, 0)
    run.report.add(
        f"Other tenants' `POST /v3/auth/tokens` with their right password (each from its own loopback address), quiet "
        f"and then while {flooders} connections from one address post wrong passwords for random names.",
        "",
        "| run | logins | p50 (ms) | p99 (ms) | max (ms) | statuses |",
        "|---|---:|---:|---:|---:|---|",
        quiet.row(),
        loaded.row(),
        "",
        f"- under flood / quiet: p50 {loaded.percentile(0.5) / max(quiet.percentile(0.5), 1e-9):.2f} x, "
        f"p99 {ratio:.2f} x (target within {TARGET:g} x: {'met' if ratio <= TARGET else 'NOT met'})",
        f"- the flood: {flooded.requests:,} requests ({flooded.rps:,.0f}/s over {flooded.seconds:.1f} s), "
        f"statuses {dict(sorted(flooded.statuses.items()))}: {checked} got a password check (its bucket's burst, "
        f"then its rate), the rest 429 (each held up to 1 s: the flood's pace fell to what its connections wait); "
        f"its p50 {flooded.p50_ms:.1f} ms, p99 {flooded.p99_ms:.1f} ms",
    )


if __name__ == "__main__":
    parser = options(__doc__)
    parser.set_defaults(seconds=60)  # at --rate 1.5, 90 logins a run: enough for a p99
    parser.add_argument("--flooders", type=int, default=32, help="wrk connections flooding (default 32)")
    parser.add_argument("--tenants", type=int, default=8, help="tenants logging in meanwhile, per run (default 8)")
    parser.add_argument("--rate", type=float, default=1.5, help="their logins a second, in all (default 1.5)")
    main(__doc__, parser, "login_flood", "Other tenants' logins during a login flood", body)
