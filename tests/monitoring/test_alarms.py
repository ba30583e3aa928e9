"""Alarms from what OpenBCS does: a failed operation (the diagnostic kind's failure injection) raises the alarm
``OperationFailed``, active until a later operation on the instance finishes; then it is history."""

from __future__ import annotations

from openbcs.engine.diagnostic import KIND
from openbcs.kernel.db import Database
from tests.monitoring.helpers import (
    MS,
    Shown,
    alarm_rows,
    event_rows,
    events,
    names,
    run_diagnostic,
    shown,
    statistics,
)
from tests.support.tenants import Tenant

DESCRIPTION = "diagnostic operation of the engine's tests"  # how its OperationStarted/Failed messages name it


def test_a_failed_operation_raises_an_alarm_that_a_later_success_clears(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    assert alarm_rows(db, bid) == []
    assert events(tenant, bid, type_="active_alert") == []

    failed = run_diagnostic(db, tenant, bid, fail_at="prepare-b")

    (alarm,) = alarm_rows(db, bid)
    assert (alarm.key, alarm.name, alarm.severity, alarm.cleared_time, alarm.project_id) == (
        "operation-failed",
        "OperationFailed",
        "major",
        None,
        tenant.project_id,
    )
    assert alarm.message == f"{DESCRIPTION} failed: injected failure at prepare-b"
    assert alarm.metadata == {"operation_id": failed, "operation_kind": KIND}
    failure_events = [e for e in event_rows(db, bid) if e.name == "OperationFailed"]
    assert [(e.severity, e.message, e.metadata) for e in failure_events] == [
        ("major", alarm.message, {"operation_id": failed, "operation_kind": KIND})
    ]

    (active,) = events(tenant, bid, type_="active_alert")
    assert shown(active, bid, "BCS.Alarms") == Shown(
        "OperationFailed",
        "major",
        alarm.message,
        {"operation_id": failed, "operation_kind": KIND},
        alarm.raised_time // MS,
    )
    assert events(tenant, bid, type_="history_alert") == []
    # Statistics of active alarms: one in the bucket of its raising.
    (stat,) = statistics(tenant, bid, "-1.-1.60", 60 * 60_000, type_="active_alert")
    assert stat["metric"] == {
        "namespace": "BCS.Alarms",
        "metricName": "OperationFailed",
        "dimensions": [{"name": "blockchain_id", "value": bid}],
    }
    assert [p["statistics"][0]["value"] for p in stat["dataPoints"]] in ([1.0, 0.0], [0.0, 1.0])

    # A second failure updates the active alarm instead of duplicating it; it records a second event.
    again = run_diagnostic(db, tenant, bid, fail_at="execute-b")
    (still,) = alarm_rows(db, bid)
    assert (still.raised_time, still.cleared_time) == (alarm.raised_time, None)
    assert still.message == f"{DESCRIPTION} failed: injected failure at execute-b"
    assert still.metadata == {"operation_id": again, "operation_kind": KIND}
    assert [e.metadata["operation_id"] for e in event_rows(db, bid) if e.name == "OperationFailed"] == [failed, again]
    (active,) = events(tenant, bid, type_="active_alert")
    assert shown(active, bid, "BCS.Alarms").message == still.message

    # A later operation on the instance finishes: the alarm is cleared, with an AlarmCleared event.
    succeeded = run_diagnostic(db, tenant, bid)
    (cleared,) = alarm_rows(db, bid)
    assert cleared.cleared_time is not None
    assert cleared.raised_time <= cleared.cleared_time
    last = event_rows(db, bid)[-2:]
    assert [(e.name, e.severity, e.metadata) for e in last] == [
        ("OperationFinished", "info", {"operation_id": succeeded, "operation_kind": KIND}),
        ("AlarmCleared", "info", {"alarm": "OperationFailed", "key": "operation-failed"}),
    ]
    assert last[1].message == f"OperationFailed cleared: operation {succeeded} finished"

    assert events(tenant, bid, type_="active_alert") == []
    (history,) = events(tenant, bid, type_="history_alert")
    metric = history["metric"]
    assert metric["namespace"] == "BCS.Alarms"
    assert metric["metricName"] == "OperationFailed"
    assert metric["dimensions"] == [
        {"name": "blockchain_id", "value": bid},
        {"name": "severity", "value": "major"},
        {"name": "message", "value": still.message},
        {"name": "operation_id", "value": again},
        {"name": "operation_kind", "value": KIND},
        {"name": "cleared_time", "value": str(cleared.cleared_time // MS)},
    ]
    assert history["dataPoints"][0]["timestamp"] == cleared.raised_time // MS

    # Without a type: every event of the instance, newest first.
    every = events(tenant, bid)
    stored = event_rows(db, bid)
    assert names(every) == [e.name for e in reversed(stored)]
    assert [shown(r, bid).timestamp for r in every] == [e.time // MS for e in reversed(stored)]
    assert names(every)[:8] == [
        "AlarmCleared",
        "OperationFinished",
        "OperationStarted",
        "OperationFailed",
        "OperationStarted",
        "OperationFailed",
        "OperationStarted",
        "OperationFinished",
    ]
    # A type that is neither alarm kind means all events too.
    assert events(tenant, bid, type_="everything") == every


def test_a_new_failure_after_clearing_raises_a_new_alarm(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    first = run_diagnostic(db, tenant, bid, fail_at="complete-b")
    run_diagnostic(db, tenant, bid)
    second = run_diagnostic(db, tenant, bid, fail_at="prepare-a")

    old, new = alarm_rows(db, bid)
    assert (old.metadata["operation_id"], old.cleared_time is not None) == (first, True)
    assert (new.metadata["operation_id"], new.cleared_time) == (second, None)
    (active,) = events(tenant, bid, type_="active_alert")
    assert shown(active, bid, "BCS.Alarms").metadata["operation_id"] == second
    (history,) = events(tenant, bid, type_="history_alert")
    assert history["metric"]["dimensions"][3] == {"name": "operation_id", "value": first}


def test_alarms_of_one_instance_stay_on_it(tenant: Tenant, db: Database) -> None:
    failing = tenant.create_instance("bcs-failing")
    healthy = tenant.create_instance("bcs-healthy")
    run_diagnostic(db, tenant, failing, fail_at="execute-a")
    # An operation finishing on another instance clears nothing here.
    run_diagnostic(db, tenant, healthy)

    assert [a.cleared_time for a in alarm_rows(db, failing)] == [None]
    assert alarm_rows(db, healthy) == []
    assert names(events(tenant, failing, type_="active_alert")) == ["OperationFailed"]
    assert events(tenant, healthy, type_="active_alert") == []
    assert "OperationFailed" not in names(events(tenant, healthy))
