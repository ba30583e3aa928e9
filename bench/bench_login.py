"""One tenant's ListOpRecord while other clients send wrong passwords: its latency quiet, then while 8 clients post
``POST /v3/auth/tokens`` with a wrong password for another tenant's user (each one a full scrypt check).

Run from the repository root with the project's venv active:

    python bench/bench_login.py [--seconds 10] [--connections 32] [--attackers 8] [--smoke]

The reading tenant of ``bench_reads.py`` and a second account are seeded; ``openbcs serve`` runs alone, with
``--login-max-failures`` so high that the attacked name never locks: every wrong password then costs a full scrypt
check, the worst case (with the default lock-out the name locks after 5 and later attempts cost nothing; an attacker
rotating names gets the same full checks as here). ListOpRecord by token is measured quiet, then again while a second
wrk sends the wrong passwords (``--attackers`` connections, a Lua body; every answer must be 401). The report gives
both runs and the ratio of their p50 and p99: a password check that runs on the event loop stalls every other request
for its whole duration; OpenBCS runs them in a worker thread, one at a time.
"""

from __future__ import annotations

import time
from functools import partial

import _repo  # noqa: F401  (puts the repository root on sys.path)

from bench.harness import TOKEN_HEADERS, TOKEN_PATH, free_port, get_token, running, serve_command, token_request
from bench.load import default_check, expect_statuses, finish_wrk, measure, start_wrk, static_script
from bench.report import pairs_table
from bench.runner import SMOKE_SECONDS, Run, main, options
from bench.scenarios import create_store, seed_reader
from bench.seeding import PASSWORD, REGION, Seeder

SETTLE = 1.0  # seconds the wrong passwords run before the measured run starts
NEVER_LOCKS = 10**9  # --login-max-failures: every wrong password gets a full scrypt check
# Login rates so high that no attempt is answered 429 (bench_login_flood.py measures the rates themselves).
NO_LIMITS = [
    *("--login-source-burst", str(NEVER_LOCKS), "--login-source-per-minute", str(NEVER_LOCKS)),
    *("--login-account-burst", str(NEVER_LOCKS), "--login-account-per-minute", str(NEVER_LOCKS)),
]


def body(run: Run) -> None:
    store = create_store(run.tmp / "data")
    reader = seed_reader(store)
    (victim,) = Seeder(store.db, store.server_key).accounts(["login-victim"])
    store.db.dispose()
    tenant, attackers = reader.tenant, run.args.attackers
    path = f"/v2/{tenant.project_id}/operation/record"
    run.report.header(run.settings(f"uvicorn --workers 1, SQLite; wrong passwords from {attackers} connections"))
    port = free_port()
    cmd = serve_command(store.settings.data_dir, port, extra=[*NO_LIMITS, "--login-max-failures", str(NEVER_LOCKS)])
    with running("OpenBCS", cmd, env=run.env, log=run.tmp / "openbcs.log", port=port, health="/healthz") as server:
        token = get_token(port, user=tenant.name, domain=tenant.name, password=PASSWORD, region=REGION)
        headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
        quiet = run.keep(measure("ListOpRecord, token, quiet", server, path, headers=headers, **run.load()))
        script = static_script(
            run.tmp / "wrong-password.lua",
            method="POST",
            headers=TOKEN_HEADERS,
            body=token_request(user=victim.name, domain=victim.name, password=PASSWORD + "-wrong", region=REGION),
        )
        attack_seconds = run.warmup + run.seconds + 2 * SETTLE
        attack = start_wrk(server.url(TOKEN_PATH), connections=attackers, seconds=attack_seconds, script=script)
        try:
            time.sleep(SMOKE_SECONDS if run.smoke else SETTLE)
            label = f"ListOpRecord, token, {attackers} wrong-password clients"
            # A stalled event loop may answer nothing in a smoke run's fraction of a second: that is the finding.
            check = partial(default_check, require_answers=not run.smoke)
            loaded = run.keep(measure(label, server, path, headers=headers, check=check, **run.load()))
        finally:
            wrong = finish_wrk(attack, attack_seconds, interrupt_after=0.0)
    run.problems += [f"wrong passwords: {p}" for p in expect_statuses(401)(wrong)]
    q, w = quiet.result, loaded.result
    run.report.add(
        f"The reading tenant's ListOpRecord ({reader.records} records) by token on OpenBCS, quiet and then while "
        f"{attackers} connections post wrong passwords for another account.",
        "",
        *pairs_table([(quiet, None), (loaded, None)]),
        "",
        f"- while loaded / quiet: req/s {w.rps / q.rps:.2f}, p50 {w.p50_ms / max(q.p50_ms, 1e-9):.1f} x, "
        f"p99 {w.p99_ms / max(q.p99_ms, 1e-9):.1f} x ({q.p99_ms:.1f} -> {w.p99_ms:.1f} ms)",
        "- the loaded run's server CPU per request includes the wrong passwords' scrypt checks (same process, in a "
        "worker thread, one at a time)",
        f"- `--login-max-failures {NEVER_LOCKS}`: the attacked name never locks, so every attempt is a full check",
        f"- wrong passwords answered: {wrong.requests:,} ({wrong.rps:,.1f}/s over the attack's {wrong.seconds:.1f} s), "
        f"statuses {dict(sorted(wrong.statuses.items()))}, p50 {wrong.p50_ms:.0f} ms, p99 {wrong.p99_ms:.0f} ms",
    )


if __name__ == "__main__":
    parser = options(__doc__)
    parser.add_argument("--attackers", type=int, default=8, help="connections sending wrong passwords (default 8)")
    main(__doc__, parser, "login", "ListOpRecord while wrong passwords arrive", body)
