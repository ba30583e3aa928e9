"""The measured read calls and the two servers they run on: OpenBCS and its same-work floor, started on one store.

Before a call is loaded, one request to each server must answer 200 with the same JSON (the floor does the same
work only if it gives the same answer) and the expected number of items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bench.harness import BenchError, Server, floor_command, floor_env, free_port, http_call, running, serve_command
from bench.load import Measurement, measure
from bench.runner import Run
from bench.scenarios import Store
from bench.seeding import Tenant
from bench.signing import signed_headers


@contextmanager
def servers(
    run: Run, store: Store, *, workers: int = 1, extra: Sequence[str] = (), floor_database: str | None = None
) -> Iterator[tuple[Server, Server]]:
    """``openbcs serve`` on the store, and the floor on the same database (or on ``floor_database``, a copy)."""
    url = store.settings.database_url
    with ExitStack() as stack:
        port = free_port()
        cmd = serve_command(store.settings.data_dir, port, workers=workers, database_url=url, extra=extra)
        openbcs = stack.enter_context(
            running("OpenBCS", cmd, env=run.env, log=run.tmp / "openbcs.log", port=port, health="/healthz")
        )
        port = free_port()
        env = floor_env(
            run.env, database=floor_database or store.floor_database(), server_key=store.settings.secret_key_path
        )
        floor = stack.enter_context(
            running(
                "floor",
                floor_command(port, workers=workers),
                env=env,
                log=run.tmp / "floor.log",
                port=port,
                health="/healthz",
            )
        )
        print(f"  OpenBCS healthy in {openbcs.started_seconds:.2f} s, floor in {floor.started_seconds:.2f} s")
        yield openbcs, floor


@dataclass(frozen=True)
class ReadCall:
    """A GET of the reading tenant, by token or by AK/SK signature; ``items`` names the answer's list."""

    name: str
    path: str
    by: str  # "token" or "aksk"
    items: str

    def headers(self, server: Server, tenant: Tenant, token: str) -> dict[str, str]:
        if self.by == "token":
            return {"X-Auth-Token": token, "Content-Type": "application/json"}
        return signed_headers(
            method="GET",
            port=server.port,
            path=self.path,
            access_key=tenant.access_key,
            secret_key=tenant.secret_key,
            project_id=tenant.project_id,
        )


def read_calls(tenant: Tenant) -> list[ReadCall]:
    """ListOpRecord by token and by AK/SK, ListMembers by token."""
    records, members = f"/v2/{tenant.project_id}/operation/record", f"/v2/{tenant.project_id}/members"
    return [
        ReadCall("ListOpRecord, token", records, "token", "operation_records"),
        ReadCall("ListOpRecord, AK/SK", records, "aksk", "operation_records"),
        ReadCall("ListMembers, token", members, "token", "members"),
    ]


def same_answer(call: ReadCall, pair: Sequence[Server], tenant: Tenant, token: str, expected: int) -> None:
    """Both servers answer 200 with equal JSON holding ``expected`` items."""
    answers = []
    for server in pair:
        status, body, _ = http_call(server.port, "GET", call.path, call.headers(server, tenant, token))
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"{call.name} on {server.name}: {status} {body!r:.500}")
        answers.append(body)
    if answers[0] != answers[1]:
        raise BenchError(
            f"{call.name}: the floor's answer differs from OpenBCS's:\n{answers[0]!r:.800}\n{answers[1]!r:.800}"
        )
    if len(answers[0][call.items]) != expected:
        raise BenchError(f"{call.name}: {len(answers[0][call.items])} {call.items}, {expected} expected")


def measure_pair(
    run: Run, call: ReadCall, pair: Sequence[Server], tenant: Tenant, token: str, label: str = ""
) -> tuple[Measurement, Measurement]:
    """The call loaded on OpenBCS, then on the floor."""
    found = [
        run.keep(
            measure(call.name + label, server, call.path, headers=call.headers(server, tenant, token), **run.load())
        )
        for server in pair
    ]
    return found[0], found[1]
