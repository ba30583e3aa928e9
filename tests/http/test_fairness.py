"""Per-project turns for reads whose cost grows with a project: a project waits for its own turns, never for another
project's, and nothing is kept once its requests are done."""

from __future__ import annotations

import asyncio

from openbcs.http.fairness import PER_PROJECT, TURNS, ProjectTurns


def test_a_project_waits_for_its_own_turn_only() -> None:
    turns = ProjectTurns(per_project=1)
    order: list[str] = []

    async def hold(name: str, project: str, release: asyncio.Event) -> None:
        async with turns.turn(project):
            order.append(f"{name} in")
            await release.wait()
        order.append(f"{name} out")

    async def scenario() -> None:
        first, second, other = asyncio.Event(), asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(hold("a1", "project-a", first)),
            asyncio.create_task(hold("a2", "project-a", second)),
            asyncio.create_task(hold("b1", "project-b", other)),
        ]
        await asyncio.sleep(0.01)
        # a2 waits behind a1 of its own project; b1 of another project got in at once.
        assert order == ["a1 in", "b1 in"]
        assert (turns.waiting("project-a"), turns.waiting("project-b")) == (2, 1)
        second.set()  # a2 may finish, but has no turn yet
        await asyncio.sleep(0.01)
        assert order == ["a1 in", "b1 in"]
        first.set()
        other.set()
        await asyncio.gather(*tasks)
        assert order[2:] == ["a1 out", "a2 in", "a2 out", "b1 out"] or order[2:] == [
            "a1 out",
            "b1 out",
            "a2 in",
            "a2 out",
        ]
        assert (turns.waiting("project-a"), turns.waiting("project-b")) == (0, 0)
        assert turns._gates == {}

    asyncio.run(scenario())


def test_a_turn_is_given_back_when_the_read_fails() -> None:
    turns = ProjectTurns(per_project=1)

    async def scenario() -> None:
        try:
            async with turns.turn("project-a"):
                raise RuntimeError("the read failed")
        except RuntimeError:
            pass
        # The next request of the project gets its turn at once, in another event loop too.
        async with asyncio.timeout(1), turns.turn("project-a"):
            assert turns.waiting("project-a") == 1

    asyncio.run(scenario())
    asyncio.run(scenario())
    assert turns._gates == {}
    assert (PER_PROJECT, TURNS.per_project) == (1, 1)
