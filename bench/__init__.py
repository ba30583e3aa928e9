"""OpenBCS benchmarks: entry scripts (``bench_*.py``) built from small modules with one job each.

Run from the repository root with the project's venv active, e.g. ``python bench/bench_reads.py --smoke``.

- ``harness``: ports, starting and stopping ``openbcs serve`` and the floor app under the same uvicorn, health, HTTP.
- ``procfs``: RSS and CPU of a process tree, the machine's load, waiting for a quiet machine.
- ``load``: wrk runs (Lua scripts for methods, bodies, replayed requests), parsing, one measured load run.
- ``seeding``: accounts and bulk rows (instances, channels, memberships, operation records) written before serving.
- ``scenarios``: the seeded states the scripts share (a reading tenant, memberships to quit, foreign rows).
- ``signing``: AK/SK headers, checked against ``huaweicloudsdkcore``'s Signer when it is installed.
- ``calls``: the measured calls, their headers on each server, and the answer checks shared by the scripts.
- ``report``: markdown tables and the results file; ``runner``: the options and life cycle every script shares.
- ``floors``: the same-work floor app (Starlette + raw sqlite3/psycopg + cryptography).
"""
