"""OpenBCS benchmarks: small entry scripts (``bench_*.py``) built from modules with one job each.

Run from the repository root with the project's venv active, e.g. ``python bench/bench_reads.py --smoke``; every
script takes ``--seconds S`` (per load run) and ``--smoke`` (CI: a couple of seconds, every answer still checked).

- ``harness``: ports, ``openbcs serve`` and the floor app under the same uvicorn settings, health, HTTP, tokens.
- ``procfs``: RSS and CPU of a process tree, the machine's load, waiting for a quiet machine.
- ``load``: wrk runs (Lua scripts for methods, bodies, replayed requests, status counts) and one measured run.
- ``seeding``: accounts and bulk rows written before a server starts: operation records, other tenants' rows.
- ``seed_network``: instances, channels with their configuration blocks, invitations and joined memberships.
- ``api_seeding``: instances created through a running server's API (operations finishing at once), more operations.
- ``scenarios``: the seeded states the scripts share (a reading tenant, memberships to quit).
- ``signing``: AK/SK headers, checked byte-identical to ``huaweicloudsdkcore``'s Signer when it is installed.
- ``calls``: the measured reads, the two servers they run on, the same-answer check.
- ``quitting``: signed quits, the floor's copy of the database, finish times, checks after the load.
- ``report``: markdown tables and ``bench/results/<name>-<timestamp>.md``; ``runner``: options and life cycle.
- ``moto_floor``: moto's AMB ListMembers for context, where moto is installed.
- ``floors``: the same-work floor app (Starlette + raw sqlite3 or psycopg + cryptography).
"""
