"""ListBcsEvents / ListBcsEventsStatistic over records with chosen times: exact windows (both ends included, to the
nanosecond), step buckets, search, metadata relations, sorting, alarm windows, and every refusal."""

from __future__ import annotations

import time
from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.monitoring.helpers import (
    MINUTE_MS,
    MS,
    T0,
    add_alarm,
    add_event,
    alarm_rows,
    call,
    counts,
    event_rows,
    events,
    names,
    shown,
    statistics,
)
from tests.support.errors import error
from tests.support.tenants import Tenant

WINDOW = f"{T0}.{T0 + 1000}.1"


def _add(db: Database, tenant: Tenant, bid: str, name: str, at_ms: int, extra_ns: int = 0, **kwargs: Any) -> None:
    add_event(db, bid, tenant.project_id, name, at_ms * MS + extra_ns, **kwargs)


# --- windows -------------------------------------------------------------------------------------------------------


def test_an_explicit_window_holds_exactly_the_events_between_its_ends_inclusive(
    tenant: Tenant, db: Database, bid: str
) -> None:
    _add(db, tenant, bid, "before", T0 - 1, 999_999)  # the last nanosecond before the start
    _add(db, tenant, bid, "start", T0)  # the first nanosecond of the start
    _add(db, tenant, bid, "middle", T0 + 500)
    _add(db, tenant, bid, "end", T0 + 1000, 999_999)  # the last nanosecond of the end millisecond
    _add(db, tenant, bid, "after", T0 + 1001)
    stored = event_rows(db, bid)

    found = [shown(r, bid) for r in events(tenant, bid, WINDOW)]
    assert [(e.name, e.timestamp, e.severity, e.message, e.metadata) for e in found] == [
        ("end", T0 + 1000, "info", "end happened", {}),
        ("middle", T0 + 500, "info", "middle happened", {}),
        ("start", T0, "info", "start happened", {}),
    ]
    # A one-millisecond window.
    assert names(events(tenant, bid, f"{T0 + 500}.{T0 + 500}.1")) == ["middle"]
    assert names(events(tenant, bid, f"{T0 + 1}.{T0 + 499}.1")) == []
    assert names(events(tenant, bid, f"{T0 - 1}.{T0 + 1001}.5")) == [
        "after",
        "end",
        "middle",
        "start",
        "before",
    ]
    # The minutes part of an explicit window is not its length.
    assert names(events(tenant, bid, f"{T0}.{T0 + 1000}.1440")) == ["end", "middle", "start"]
    assert event_rows(db, bid) == stored  # queries write nothing


def test_the_last_n_minutes(tenant: Tenant, db: Database, bid: str) -> None:
    now = time.time_ns() // MS
    _add(db, tenant, bid, "half-a-minute-ago", now - 30_000)
    _add(db, tenant, bid, "nine-minutes-ago", now - 9 * MINUTE_MS)
    _add(db, tenant, bid, "eleven-minutes-ago", now - 11 * MINUTE_MS)
    _add(db, tenant, bid, "two-hours-ago", now - 120 * MINUTE_MS)
    _add(db, tenant, bid, "long-ago", T0)

    assert names(events(tenant, bid, "-1.-1.1")) == ["half-a-minute-ago"]
    assert names(events(tenant, bid, "-1.-1.10")) == ["half-a-minute-ago", "nine-minutes-ago"]
    assert names(events(tenant, bid, "-1.-1.180")) == [
        "half-a-minute-ago",
        "nine-minutes-ago",
        "eleven-minutes-ago",
        "two-hours-ago",
    ]
    assert len(event_rows(db, bid)) == 5


def test_statistics_count_each_name_per_step_bucket(tenant: Tenant, db: Database, bid: str) -> None:
    # Window [T0, T0+999] with step 250: buckets start at T0, T0+250, T0+500, T0+750.
    for name, at in [
        ("Alpha", T0),
        ("Alpha", T0 + 249),
        ("Alpha", T0 + 250),
        ("Alpha", T0 + 999),
        ("Beta", T0 + 749),
        ("Beta", T0 + 750),
        ("Alpha", T0 - 1),  # outside
        ("Gamma", T0 + 1000),  # outside: no result for Gamma at all
    ]:
        _add(db, tenant, bid, name, at)

    results = statistics(tenant, bid, f"{T0}.{T0 + 999}.1", 250)
    assert [r["metric"] for r in results] == [
        {"namespace": "BCS.Events", "metricName": name, "dimensions": [{"name": "blockchain_id", "value": bid}]}
        for name in ("Alpha", "Beta")
    ]
    for result in results:
        assert [p["timestamp"] for p in result["dataPoints"]] == [T0, T0 + 250, T0 + 500, T0 + 750]
        assert {p["unit"] for p in result["dataPoints"]} == {"count"}
        assert {p["statistics"][0]["statistic"] for p in result["dataPoints"]} == {"count"}
    assert counts(results) == {"Alpha": [2.0, 1.0, 0.0, 1.0], "Beta": [0.0, 0.0, 1.0, 1.0]}

    # The window's end is included: [T0, T0+1000] holds a fifth bucket, with Gamma's event at T0+1000.
    results = statistics(tenant, bid, f"{T0}.{T0 + 1000}.1", 250)
    assert counts(results) == {
        "Alpha": [2.0, 1.0, 0.0, 1.0, 0.0],
        "Beta": [0.0, 0.0, 1.0, 1.0, 0.0],
        "Gamma": [0.0, 0.0, 0.0, 0.0, 1.0],
    }
    assert [p["timestamp"] for p in results[0]["dataPoints"]] == [T0 + i * 250 for i in range(5)]

    # One step covering everything; filters apply to statistics as well.
    (alpha,) = statistics(tenant, bid, f"{T0}.{T0 + 999}.1", 1000, search="alpha")
    assert (alpha["metric"]["metricName"], [p["statistics"][0]["value"] for p in alpha["dataPoints"]]) == (
        "Alpha",
        [4.0],
    )
    assert statistics(tenant, bid, f"{T0 + 2000}.{T0 + 3000}.1", 100) == []
    assert len(event_rows(db, bid)) == 8


def test_1440_buckets_are_allowed_and_1441_are_not(tenant: Tenant, db: Database, bid: str) -> None:
    _add(db, tenant, bid, "Edge", T0 + 1439)
    (result,) = statistics(tenant, bid, f"{T0}.{T0 + 1439}.1", 1)
    assert len(result["dataPoints"]) == 1440
    assert result["dataPoints"][-1] == {
        "timestamp": T0 + 1439,
        "unit": "count",
        "statistics": [{"statistic": "count", "value": 1.0}],
    }
    response = call(tenant, bid, "events/statistic", {"time_range": f"{T0}.{T0 + 1440}.1", "step": 1})
    assert error(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter step : the window holds more than 1440 steps of 1 ms",
    )
    # The last day in one-minute steps is 1441 buckets (both ends included): refused; two-minute steps are fine.
    response = call(tenant, bid, "events/statistic", {"time_range": "-1.-1.1440", "step": MINUTE_MS})
    assert error(response)[:2] == (400, "BCS.4006014")
    assert "Invalid Parameter step :" in error(response)[2]
    assert statistics(tenant, bid, "-1.-1.1440", 2 * MINUTE_MS) == []


# --- filters and sorting -------------------------------------------------------------------------------------------


def _seed_filterable(db: Database, tenant: Tenant, bid: str) -> None:
    rows = [
        ("PeerAdded", 1, "info", "peer-0 of orga added", {"org": "orga", "node": "peer-0"}),
        ("PeerAdded", 2, "info", "peer-0 of orgb added", {"org": "orgb", "node": "peer-0"}),
        ("PeerRemoved", 3, "minor", "peer-1 of orga removed", {"org": "orga", "node": "peer-1"}),
        ("ChannelCreated", 4, "info", "channel mychannel: create (block 0)", {"channel": "mychannel", "block": "0"}),
        ("OperationFailed", 5, "major", "scale failed: no capacity", {"operation_kind": "blockchain.scale"}),
        ("InstanceAbnormal", 6, "critical", "instance is Abnormal", {"status": "Abnormal"}),
    ]
    for name, offset, severity, message, metadata in rows:
        _add(db, tenant, bid, name, T0 + offset, severity=severity, message=message, metadata=metadata)


def test_search_matches_name_message_or_metadata_values_ignoring_case(tenant: Tenant, db: Database, bid: str) -> None:
    _seed_filterable(db, tenant, bid)

    def search(text: str) -> list[tuple[str, int]]:
        return [(e.name, e.timestamp - T0) for e in (shown(r, bid) for r in events(tenant, bid, WINDOW, search=text))]

    assert search("PEERADDED") == [("PeerAdded", 2), ("PeerAdded", 1)]  # the name
    assert search("no capacity") == [("OperationFailed", 5)]  # the message
    assert search("MyChannel") == [("ChannelCreated", 4)]  # message and metadata
    assert search("blockchain.SCALE") == [("OperationFailed", 5)]  # a metadata value only
    assert search("orgb") == [("PeerAdded", 2)]
    assert search("peer-1") == [("PeerRemoved", 3)]
    assert search("nothing like this") == []
    assert len(search("")) == 6  # empty: no filter
    # Metadata keys are not searched.
    assert search("operation_kind") == []


def test_metadata_relations_and_or_not(tenant: Tenant, db: Database, bid: str) -> None:
    _seed_filterable(db, tenant, bid)

    def matching(*relations: dict[str, Any]) -> list[int]:
        found = events(tenant, bid, WINDOW, metadata_relation=list(relations))
        return sorted(shown(r, bid).timestamp - T0 for r in found)

    def rel(key: str, relation: str, *values: str) -> dict[str, Any]:
        return {"key": key, "value": list(values), "relation": relation}

    assert matching(rel("org", "AND", "orga")) == [1, 3]
    assert matching(rel("org", "AND", "orga", "orgb")) == [1, 2, 3]
    assert matching(rel("org", "AND", "orga"), rel("node", "AND", "peer-1")) == [3]
    assert matching(rel("org", "AND", "orga"), rel("node", "AND", "peer-9")) == []
    # NOT: the value is not one of these (events without the key pass).
    assert matching(rel("org", "NOT", "orga")) == [2, 4, 5, 6]
    assert matching(rel("org", "NOT", "orga", "orgb")) == [4, 5, 6]
    # OR: at least one OR condition holds.
    assert matching(rel("org", "OR", "orgb"), rel("channel", "OR", "mychannel")) == [2, 4]
    assert matching(rel("status", "OR", "Abnormal")) == [6]
    # Combined: ANDs and NOTs all hold, and one of the ORs.
    assert matching(rel("node", "AND", "peer-0"), rel("org", "OR", "orgb"), rel("block", "OR", "0")) == [2]
    assert matching(rel("node", "NOT", "peer-0"), rel("org", "OR", "orga", "orgb"), rel("block", "OR", "0")) == [3, 4]
    # With a search as well.
    found = events(tenant, bid, WINDOW, search="added", metadata_relation=[rel("org", "AND", "orga")])
    assert [shown(r, bid).timestamp - T0 for r in found] == [1]


def test_sort_by_time_name_and_severity_either_way(tenant: Tenant, db: Database, bid: str) -> None:
    _seed_filterable(db, tenant, bid)

    def order(**sort: Any) -> list[int]:
        return [shown(r, bid).timestamp - T0 for r in events(tenant, bid, WINDOW, sort=sort)]

    assert [shown(r, bid).timestamp - T0 for r in events(tenant, bid, WINDOW)] == [6, 5, 4, 3, 2, 1]
    assert order(order_by=["time"], order="asc") == [1, 2, 3, 4, 5, 6]
    assert order(order_by=["time"], order="desc") == [6, 5, 4, 3, 2, 1]
    assert order(order_by=["time"]) == [6, 5, 4, 3, 2, 1]  # order defaults to desc
    assert order(order="asc") == [1, 2, 3, 4, 5, 6]  # order_by defaults to time
    # By name; equal names keep the next key's order (time, here asc / desc like the rest).
    assert order(order_by=["name", "time"], order="asc") == [4, 6, 5, 1, 2, 3]
    assert order(order_by=["name", "time"], order="desc") == [3, 2, 1, 5, 6, 4]
    # By severity: info < minor < major < critical.
    assert order(order_by=["severity", "time"], order="desc") == [6, 5, 3, 4, 2, 1]
    assert order(order_by=["severity", "time"], order="asc") == [1, 2, 4, 3, 5, 6]
    assert order(order_by=["severity", "name", "time"], order="asc") == [4, 1, 2, 3, 5, 6]
    # The same order statistics ignore: they are per name.
    assert names(statistics(tenant, bid, WINDOW, 1001, sort={"order_by": ["time"], "order": "asc"})) == [
        "ChannelCreated",
        "InstanceAbnormal",
        "OperationFailed",
        "PeerAdded",
        "PeerRemoved",
    ]


# --- alarms in windows ---------------------------------------------------------------------------------------------


def test_alarm_windows_select_alarms_that_overlap_them(tenant: Tenant, db: Database, bid: str) -> None:
    def at(ms: int) -> int:
        return ms * MS

    # Active alarms: raised before the window's end (however long ago) are listed.
    add_alarm(db, bid, tenant.project_id, "ActiveLongAgo", at(T0 - 10_000), key="a1")
    add_alarm(db, bid, tenant.project_id, "ActiveInside", at(T0 + 200), key="a2", severity="critical")
    add_alarm(db, bid, tenant.project_id, "ActiveAtEnd", at(T0 + 1000) + 999_999, key="a3")
    add_alarm(db, bid, tenant.project_id, "ActiveAfter", at(T0 + 1001), key="a4")
    # History alarms: raised before the end and cleared after the start.
    add_alarm(db, bid, tenant.project_id, "ClearedBefore", at(T0 - 500), at(T0 - 1) + 999_999, key="h1")
    add_alarm(db, bid, tenant.project_id, "ClearedAtStart", at(T0 - 500), at(T0), key="h2")
    add_alarm(db, bid, tenant.project_id, "ClearedInside", at(T0 + 100), at(T0 + 300), key="h3")
    add_alarm(db, bid, tenant.project_id, "ClearedAfter", at(T0 + 900), at(T0 + 5000), key="h4")
    add_alarm(db, bid, tenant.project_id, "RaisedAfter", at(T0 + 1001), at(T0 + 1002), key="h5")
    stored = alarm_rows(db, bid)

    active = events(tenant, bid, WINDOW, type_="active_alert")
    assert names(active) == ["ActiveAtEnd", "ActiveInside", "ActiveLongAgo"]
    assert [shown(r, bid, "BCS.Alarms").timestamp for r in active] == [T0 + 1000, T0 + 200, T0 - 10_000]
    assert shown(active[1], bid, "BCS.Alarms").severity == "critical"
    history = events(tenant, bid, WINDOW, type_="history_alert")
    assert names(history) == ["ClearedAfter", "ClearedInside", "ClearedAtStart"]
    assert [r["metric"]["dimensions"][-1] for r in history] == [
        {"name": "cleared_time", "value": str(T0 + 5000)},
        {"name": "cleared_time", "value": str(T0 + 300)},
        {"name": "cleared_time", "value": str(T0)},
    ]
    # Alarms are not events: without a type nothing is in the window (no event rows).
    assert events(tenant, bid, WINDOW) == []

    # Statistics of alarms bucket them by the time they were raised; raised before the window: not counted.
    results = statistics(tenant, bid, f"{T0}.{T0 + 999}.1", 500, type_="history_alert")
    assert counts(results) == {"ClearedAfter": [0.0, 1.0], "ClearedInside": [1.0, 0.0]}
    assert all(r["metric"]["namespace"] == "BCS.Alarms" for r in results)
    results = statistics(tenant, bid, f"{T0}.{T0 + 999}.1", 500, type_="active_alert")
    assert counts(results) == {"ActiveInside": [1.0, 0.0]}
    assert alarm_rows(db, bid) == stored


# --- refusals ------------------------------------------------------------------------------------------------------


BAD_TIME_RANGES = [
    "bogus",
    "1.2",
    "1.2.3.4",
    f"{T0 + 1}.{T0}.5",  # start after end
    "-1.5.10",  # one end only
    "5.-1.10",
    "-1.-1.0",  # zero minutes
    f"{T0}.{T0 + 1}.0",
    "-1.-1.-5",
    "-2.-1.5",
    " -1.-1.5",
    "1.5e3.2000.1",
    "-1.-1.5x",
    "-1.-1.5\n",  # a trailing newline
]


@pytest.mark.parametrize("path", ["events", "events/statistic"])
def test_malformed_time_ranges_are_refused_naming_the_field(tenant: Tenant, db: Database, bid: str, path: str) -> None:
    _add(db, tenant, bid, "Kept", T0)
    for value in BAD_TIME_RANGES:
        response = call(tenant, bid, path, {"time_range": value, "step": 1000})
        status, code, message = error(response)
        assert (status, code) == (400, "BCS.4006014"), value
        assert message.startswith("Invalid Parameter time_range : "), (value, message)
    for body, expected in [
        ({"step": 1000}, (400, "BCS.4006009", "one of parameters is nil: time_range")),
        ({"time_range": "", "step": 1000}, (400, "BCS.4006009", "one of parameters is nil: time_range")),
        ({"time_range": "-1.-1.5"}, (400, "BCS.4006009", "one of parameters is nil: step")),
        ({"time_range": 5, "step": 1000}, (400, "BCS.4006003", "Invalid Parameter time_range : expected a string")),
        (
            {"time_range": "-1.-1.5", "step": "1000"},
            (400, "BCS.4006003", "Invalid Parameter step : expected an integer"),
        ),
    ]:
        assert error(call(tenant, bid, path, body)) == expected, body
    for step in (0, -1):
        status, code, message = error(call(tenant, bid, path, {"time_range": "-1.-1.5", "step": step}))
        assert (status, code) == (400, "BCS.4006014")
        assert message.startswith("Invalid Parameter step : ")
    assert [e.name for e in event_rows(db, bid)] == ["Kept"]


@pytest.mark.parametrize("path", ["events", "events/statistic"])
def test_unknown_and_malformed_fields_are_refused(tenant: Tenant, db: Database, bid: str, path: str) -> None:
    base = {"time_range": "-1.-1.5", "step": 1000}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "metric_names": ["x"]}, "Invalid Parameter metric_names : unknown field"),
        (
            {**base, "sort": {"order_by": ["time"], "direction": "asc"}},
            "Invalid Parameter sort.direction : unknown field",
        ),
        (
            {**base, "metadata_relation": [{"key": "org", "value": ["a"], "relation": "AND", "x": 1}]},
            "metadata_relation[0].x",
        ),
        ({**base, "sort": {"order_by": ["size"]}}, "sort.order_by[0]"),
        ({**base, "sort": {"order": "up"}}, "sort.order"),
        (
            {**base, "metadata_relation": [{"key": "org", "value": ["a"], "relation": "XOR"}]},
            "metadata_relation[0].relation",
        ),
        ({**base, "metadata_relation": [{"key": "org", "value": [], "relation": "AND"}]}, "metadata_relation[0].value"),
    ]
    for body, named in cases:
        status, code, message = error(call(tenant, bid, path, body))
        assert status == 400, body
        assert code in ("BCS.4006014", "BCS.4006009"), body
        assert named in message, (body, message)
    # An unknown query parameter is ignored (docs/api.md, tests/http/test_head_and_query.py); a repeated type is not.
    plain, ignored = call(tenant, bid, path, base), call(tenant, bid, path, base, kind="active_alert")
    assert (ignored.status_code, ignored.json()) == (plain.status_code, plain.json()) == (200, plain.json())
    response = tenant.http.post(
        f"{tenant.base}/blockchains/{bid}/{path}?type=active_alert&type=history_alert",
        json=base,
        headers=tenant.headers,
    )
    assert error(response) == (400, "BCS.4006014", "Invalid Parameter type : given more than once")
    assert event_rows(db, bid) == []


def test_another_tenants_instance_is_unknown(tenant: Tenant, db: Database, bid: str, other_tenant: Tenant) -> None:
    _add(db, tenant, bid, "Private", T0)
    expected = (
        400,
        "BCS.4001011",
        "Operation failed. The service does not exist or has been deleted. Refresh the page.",
    )
    bodies = {
        "events": {"time_range": WINDOW, "step": 1000},
        "events/statistic": {"time_range": WINDOW, "step": 1000},
        "metric/list": {},
        "entity/metric/list": {"type": "org"},
        "entity/instance/metric/list": {"type": "org", "entity_name": "organization", "instance_name": "x"},
    }
    for path, body in bodies.items():
        types: list[dict[str, Any]] = [{}, {"type": "active_alert"}] if path.startswith("events") else [{}]
        for type_ in types:
            assert error(call(other_tenant, bid, path, body, **type_)) == expected, path
        # An id nobody has.
        assert error(call(tenant, "0" * 8 + bid[8:], path, body)) == expected, path
    # The owner still sees it; nothing was written.
    assert names(events(tenant, bid, WINDOW)) == ["Private"]
    assert [e.name for e in event_rows(db, bid)] == ["Private"]


def test_time_order_holds_within_one_millisecond(tenant: Tenant, db: Database, bid: str) -> None:
    # Recorded in the reverse of their time order, all in the same millisecond.
    for name, ns in [("third", 300), ("second", 200), ("first", 100)]:
        _add(db, tenant, bid, name, T0, ns)
    assert names(events(tenant, bid, WINDOW)) == ["third", "second", "first"]
    assert names(events(tenant, bid, WINDOW, sort={"order_by": ["time"], "order": "asc"})) == [
        "first",
        "second",
        "third",
    ]
    # Sorted by another key, equal names keep time order too.
    for name, ns in [("same", 600), ("same", 400), ("same", 500)]:
        _add(db, tenant, bid, name, T0 + 1, ns, message=f"at {ns}")
    found = events(tenant, bid, WINDOW, search="same", sort={"order_by": ["name"], "order": "desc"})
    assert [shown(r, bid).message for r in found] == ["at 400", "at 500", "at 600"]


def test_statistics_read_the_window_once(
    tenant: Tenant, db: Database, bid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buckets and the records they count come from one reading of the clock: a clock that moved in between
    (here, by a whole minute) changes neither."""
    from openbcs.monitoring import service, views

    now_ms = T0 + 3_600_000
    clock = iter([now_ms * MS, (now_ms + MINUTE_MS) * MS, (now_ms + 2 * MINUTE_MS) * MS])
    monkeypatch.setattr(views, "now_ns", lambda: next(clock))
    monkeypatch.setattr(service, "now_ns", lambda: next(clock))
    _add(db, tenant, bid, "Early", now_ms - 5 * MINUTE_MS + 30_000)  # in the first minute of the window
    _add(db, tenant, bid, "Late", now_ms - 10_000)

    results = statistics(tenant, bid, "-1.-1.5", MINUTE_MS)
    assert counts(results) == {"Early": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Late": [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]}
    assert [p["timestamp"] for p in results[0]["dataPoints"]] == [
        now_ms - 5 * MINUTE_MS + i * MINUTE_MS for i in range(6)
    ]
