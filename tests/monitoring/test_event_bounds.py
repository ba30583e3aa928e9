"""Issue 12 item 2: every number of an event query is range-checked where it is parsed. Times that do not fit the
database's 64-bit nanoseconds (SQLite's OverflowError, PostgreSQL's "bigint out of range": 500s before) are refused
with a 400 naming the field; the longest ``-1.-1.N`` window starts at the epoch."""

from __future__ import annotations

import pytest

from openbcs.kernel.db import Database
from openbcs.monitoring.schemas import TIME_MAX_MS
from tests.monitoring.helpers import MS, add_alarm, add_event, call, counts, events, statistics
from tests.support.errors import assert_error
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

PATHS = ["events", "events/statistic"]
TYPES = [None, "active_alert", "history_alert", "history"]
TOO_LATE = f"Invalid Parameter time_range : times are milliseconds since the epoch, at most {TIME_MAX_MS}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("type_", TYPES)
def test_times_beyond_the_database_range_are_400(tenant: Tenant, db: Database, bid: str, path: str, type_) -> None:
    params = {"type": type_} if type_ else {}
    before = snapshot(db)
    for time_range in (
        "0.100000000000000.1",  # the probe's: 1e14 ms, 1e20 ns
        f"0.{TIME_MAX_MS + 1}.1",
        f"{TIME_MAX_MS + 1}.{TIME_MAX_MS + 2}.1",
        "9999999999999999.9999999999999999.1",
    ):
        assert_error(
            call(tenant, bid, path, {"time_range": time_range, "step": 1}, **params), 400, "BCS.4006014", TOO_LATE
        )
    assert snapshot(db) == before


@pytest.mark.parametrize("path", PATHS)
def test_steps_beyond_their_range_are_400(tenant: Tenant, bid: str, path: str) -> None:
    for step in (TIME_MAX_MS + 1, 2**63, 10**30):
        assert_error(
            call(tenant, bid, path, {"time_range": "-1.-1.60", "step": step}),
            400,
            "BCS.4006014",
            f"Invalid Parameter step : Input should be less than or equal to {TIME_MAX_MS}",
        )


def test_the_longest_relative_window_starts_at_the_epoch(tenant: Tenant, db: Database, bid: str) -> None:
    add_event(db, bid, tenant.project_id, "Ancient", 1 * MS)
    add_event(db, bid, tenant.project_id, "Recent", 1_700_000_000_000 * MS)
    add_alarm(db, bid, tenant.project_id, "Old", 2 * MS, 3 * MS)
    # 999,999,999 minutes reach back before 1970: the window is clamped to start at 0, no overflow.
    assert [r["metric"]["metricName"] for r in events(tenant, bid, "-1.-1.999999999")] == ["Recent", "Ancient"]
    assert [r["metric"]["metricName"] for r in events(tenant, bid, "-1.-1.999999999", type_="history_alert")] == ["Old"]
    # A whole explicit range at the bounds, in a few large steps.
    found = counts(statistics(tenant, bid, f"0.{TIME_MAX_MS}.1", TIME_MAX_MS // 4))
    assert found == {"Ancient": [1.0, 0.0, 0.0, 0.0, 0.0], "Recent": [0.0, 1.0, 0.0, 0.0, 0.0]}
