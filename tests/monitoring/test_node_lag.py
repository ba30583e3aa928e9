"""A peer behind its channel's orderers (the local runtime, a fake runtime whose nodes' /metrics the test serves):
``LAG_BLOCKS`` or more behind raises one ``NodeBehind`` alarm naming the peer and the channel, however often it is
looked at; caught up, the alarm is cleared; a peer that reported nothing changes nothing. Both databases."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from openbcs.kernel.db import Database
from openbcs.monitoring import lag
from openbcs.network.models import Node, Organization
from tests.monitoring.helpers import events
from tests.runtime.fakes import FakeRuntime
from tests.support import bodies
from tests.support.bodies import CHANNEL
from tests.support.node_metrics import Nodes, exposition
from tests.support.tenants import Tenant


def _names(db: Database, blockchain_id: str, role: str) -> list[str]:
    return sorted(
        db.run_read(
            lambda s: s.scalars(
                select(Node.name)
                .join(Organization, Organization.id == Node.org_id)
                .where(Organization.blockchain_id == blockchain_id, Organization.role == role)
            ).all()
        )
    )


def _dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["name"]: d["value"] for d in alarm["metric"]["dimensions"]}


def test_a_peer_behind_its_orderers_has_one_alarm_until_it_catches_up(
    local: TestClient, local_tenant: Tenant, fake: FakeRuntime, nodes: Nodes, db: Database
) -> None:
    tenant = local_tenant
    bid = tenant.create_instance(bodies.union_instance_body())
    orderers, (ahead, behind) = _names(db, bid, "orderer"), _names(db, bid, "peer")
    fake.metrics_urls.update({name: nodes.url(name) for name in [*orderers, ahead, behind]})
    nodes.texts.update({name: exposition(heights={CHANNEL: 12}) for name in [*orderers, ahead]})
    nodes.texts[behind] = exposition(heights={CHANNEL: 3})
    source = local.app.state.monitoring.source

    def look() -> int:
        source.sample([*orderers, ahead, behind])
        return int(db.run_write(lag.check, source))

    assert look() == 1
    (alarm,) = events(tenant, bid, type_="active_alert")
    reason = f"9 blocks behind the orderers in channel {CHANNEL} (3 of 12)"
    assert alarm["metric"]["metricName"] == "NodeBehind"
    assert {k: _dimensions(alarm)[k] for k in ("resource", "reason", "channel", "message")} == {
        "resource": behind,
        "reason": reason,
        "channel": CHANNEL,
        "message": f"{behind}: {reason}",
    }
    assert look() == 0  # looked at again: still one alarm, no new event
    assert len(events(tenant, bid, type_="active_alert")) == 1
    assert [e["metric"]["metricName"] for e in events(tenant, bid)].count("NodeBehind") == 1

    nodes.texts[behind] = "!500"  # its metrics fail: nothing is known, nothing changes
    assert look() == 0
    assert len(events(tenant, bid, type_="active_alert")) == 1

    nodes.texts[behind] = exposition(heights={CHANNEL: 10})  # 2 behind: under the threshold, caught up
    assert look() == 1
    assert events(tenant, bid, type_="active_alert") == []
    (cleared,) = events(tenant, bid, type_="history_alert")
    assert _dimensions(cleared)["resource"] == behind


def test_nothing_is_judged_without_the_orderers_heights(
    local: TestClient, local_tenant: Tenant, fake: FakeRuntime, nodes: Nodes, db: Database
) -> None:
    tenant = local_tenant
    bid = tenant.create_instance(bodies.union_instance_body())
    peers = _names(db, bid, "peer")
    fake.metrics_urls.update({name: nodes.url(name) for name in peers})
    nodes.texts.update({name: exposition(heights={CHANNEL: 1}) for name in peers})
    source = local.app.state.monitoring.source
    source.sample(peers)
    assert db.run_write(lag.check, source) == 0
    assert events(tenant, bid, type_="active_alert") == []
