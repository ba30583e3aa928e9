"""Retention: events, and cleared alarms, older than the retention are pruned; newer ones and active alarms stay."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from openbcs import events
from openbcs.app import create_app
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.monitoring.helpers import add_alarm, add_event, alarm_rows, event_rows
from tests.support.diagnostic import wait_for

DAY_NS = 86_400 * 10**9
BID, OTHER = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
PROJECT = "0" * 32


def _seed(db: Database, now: int) -> None:
    for bid in (BID, OTHER):
        add_event(db, bid, PROJECT, "Old", now - 31 * DAY_NS)
        add_event(db, bid, PROJECT, "Recent", now - 29 * DAY_NS)
        add_event(db, bid, PROJECT, "New", now)
    add_alarm(db, BID, PROJECT, "ClearedLongAgo", now - 40 * DAY_NS, now - 31 * DAY_NS, key="k1")
    add_alarm(db, BID, PROJECT, "ClearedRecently", now - 40 * DAY_NS, now - 29 * DAY_NS, key="k2")
    add_alarm(db, BID, PROJECT, "ActiveForLong", now - 400 * DAY_NS, None, key="k3")


def test_prune_removes_what_is_older_than_the_retention(db: Database) -> None:
    now = time.time_ns()
    _seed(db, now)

    gone = db.run_write(events.prune, retention_seconds=30 * 86_400)

    assert gone == 3  # two old events, one old cleared alarm
    for bid in (BID, OTHER):
        assert [e.name for e in event_rows(db, bid)] == ["Recent", "New"]
    assert [(a.name, a.cleared_time is None) for a in alarm_rows(db, BID)] == [
        ("ClearedRecently", False),
        ("ActiveForLong", True),
    ]
    # Nothing more to prune.
    assert db.run_write(events.prune, retention_seconds=30 * 86_400) == 0

    # A shorter retention: the recent ones go too; active alarms never do.
    assert db.run_write(events.prune, retention_seconds=86_400) == 3
    for bid in (BID, OTHER):
        assert [e.name for e in event_rows(db, bid)] == ["New"]
    assert [a.name for a in alarm_rows(db, BID)] == ["ActiveForLong"]


def test_the_server_prunes_with_its_configured_retention(settings: Settings, db: Database) -> None:
    now = time.time_ns()
    add_event(db, BID, PROJECT, "SixDaysOld", now - 6 * DAY_NS)
    add_event(db, BID, PROJECT, "FourDaysOld", now - 4 * DAY_NS)
    add_alarm(db, BID, PROJECT, "ClearedSixDaysAgo", now - 7 * DAY_NS, now - 6 * DAY_NS, key="k1")
    add_alarm(db, BID, PROJECT, "ActiveSevenDays", now - 7 * DAY_NS, None, key="k2")

    with TestClient(create_app(settings.model_copy(update={"event_retention_days": 5})), raise_server_exceptions=False):
        wait_for(lambda: [e.name for e in event_rows(db, BID)] == ["FourDaysOld"], what="the server's pruning")
        assert [a.name for a in alarm_rows(db, BID)] == ["ActiveSevenDays"]
