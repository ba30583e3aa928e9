"""One project's share of the server for the reads whose cost grows with what the project holds (ListOpRecord,
config-history, the console's instance and channel pages): at most ``PER_PROJECT`` of them run at once per project,
the others wait their turn without using the event loop; the routes run such a read (and a page's rendering) in a
thread, so the event loop goes on serving other requests meanwhile.

On SQLite reads otherwise run on the event loop, and a request waits at each of its own steps for the work that is
ready before it: with one tenant's eight pages of tens of ms in flight, another tenant's ListMembers waited seconds
(``bench/bench_isolation.py``, ``docs/benchmarks.md``). In a thread, the loop gets the interpreter back at least
every switch interval (5 ms). A turn is taken after authentication, with the caller's own project, so nobody can
take another project's turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

PER_PROJECT = 1


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0


class ProjectTurns:
    """Per-project semaphores, kept only while some request of the project holds or waits for a turn (so the map
    stays as small as the projects being served, and no semaphore outlives the event loop it waited on)."""

    def __init__(self, per_project: int = PER_PROJECT) -> None:
        self.per_project = per_project
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def turn(self, project_id: str) -> AsyncIterator[None]:
        """Wait for one of the project's turns, hold it for the block."""
        gate = self._gates.get(project_id)
        if gate is None:
            gate = self._gates[project_id] = _Gate(asyncio.Semaphore(self.per_project))
        gate.users += 1
        try:
            async with gate.semaphore:
                yield
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[project_id]

    def waiting(self, project_id: str) -> int:
        """How many requests of the project hold or wait for a turn now."""
        gate = self._gates.get(project_id)
        return gate.users if gate else 0


TURNS = ProjectTurns()


def project_turn(project_id: str) -> AbstractAsyncContextManager[None]:
    """``async with project_turn(caller.project_id): ...`` around a read whose cost grows with the project."""
    return TURNS.turn(project_id)
