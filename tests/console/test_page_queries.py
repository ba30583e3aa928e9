"""The console's instance and channel pages read an instance in a fixed number of statements, however many
organisations, peers and channels it has (one statement per list, never one per row), and show the same as before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from openbcs.console.channels import channel_page
from openbcs.console.instances import instance_page
from openbcs.kernel.db import Database
from openbcs.network import lookups
from tests.console.helpers import ConsoleUser
from tests.support.tenants import Tenant


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``db`` in the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _statements(db: Database, tenant: Tenant, bid: str) -> tuple[int, int]:
    with counted(db) as instance:
        db.run_read(instance_page, project_id=tenant.project_id, blockchain_id=bid)
    with counted(db) as channel:
        db.run_read(channel_page, project_id=tenant.project_id, blockchain_id=bid, channel_name="chan0")
    return len(instance), len(channel)


def test_the_pages_read_a_larger_instance_in_as_many_statements(
    db: Database, tenant: Tenant, console: ConsoleUser
) -> None:
    small = tenant.create_instance("small", peer_orgs=[("org0", 1)], channels=[("chan0", ["org0"])])
    orgs = [f"org{i}" for i in range(4)]
    large = tenant.create_instance(
        "large",
        peer_orgs=[(org, 3) for org in orgs],
        channels=[(f"chan{i}", orgs) for i in range(5)],
    )
    assert _statements(db, tenant, large) == _statements(db, tenant, small)

    page = db.run_read(instance_page, project_id=tenant.project_id, blockchain_id=large)
    shown = {c.name: c.peers for c in page.channels.channels}
    assert sorted(shown) == [f"chan{i}" for i in range(5)]
    # Every organisation with its three peers in every channel, by ordinal.
    assert all(sorted(peers) == orgs for peers in shown.values()), shown
    ordinals = {tuple(name.rsplit("-", 1)[1] for name in names) for peers in shown.values() for names in peers.values()}
    assert ordinals == {("0", "1", "2")}
    assert [c.name for c in page.detail.channels] == sorted(shown)
    # The API's own views agree with what the page shows.
    assert tenant.ok("GET", f"/blockchains/{large}")["channels"] == [c.model_dump() for c in page.detail.channels]
    html = console.get(f"/console/instances/{large}")
    assert html.status_code == 200
    assert all(f"chan{i}" in html.text for i in range(5))


def test_channel_views_are_read_once_while_remembered(db: Database, tenant: Tenant) -> None:
    bid = tenant.create_instance("remembered", peer_orgs=[("org0", 1)], channels=[("chan0", ["org0"])])

    def twice(session: Any) -> tuple[bool, int, bool]:
        with counted(db) as seen, lookups.channel_views_remembered(session):
            first = lookups.channel_views(session, blockchain_id=bid)
            second = lookups.channel_views(session, blockchain_id=bid)
        after = lookups.channel_views(session, blockchain_id=bid)
        return first is second, len(seen), after is not first

    same, statements, fresh_after = db.run_read(twice)
    assert (same, statements, fresh_after) == (True, 4, True)
