"""Alarms and node health: the Alarms page (the active alarms of all the account's instances, newest first, then
those cleared lately; never another tenant's), each node's health badge on the instance page and in the fragment
``console.js`` refreshes it from, and the end of each local node's log. Local-runtime instances are run by the fake
runtime: a node failing its health check raises ``NodeAbnormal`` and makes it AbNormal until it answers again."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from openbcs.events.models import Alarm
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.models import Node
from tests.console.helpers import ConsoleUser, text_of
from tests.runtime.fakes import FakeRuntime
from tests.support.bodies import DEFAULT_ORG, union_instance_body
from tests.support.diagnostic import wait_for
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

REASON = "health check failing: ledger: failed to open"
HEALTH = re.compile(r'<section id="health".*?</section>', re.S)


def _alarms(db: Database, bid: str) -> list[tuple[str, str, bool]]:
    """``(name, resource, active)`` of the instance's stored alarms."""
    return db.run_read(
        lambda s: [
            (a.name, a.metadata_.get("resource", ""), a.cleared_time is None)
            for a in s.scalars(select(Alarm).where(Alarm.blockchain_id == bid).order_by(Alarm.id))
        ]
    )


def _node_status(db: Database, name: str) -> str:
    return db.run_read(lambda s: s.scalar(select(Node.status).where(Node.name == name)))


def _first_peer(tenant: Tenant, bid: str) -> str:
    return sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])[0]


def _badge(page: str, node: str) -> str:
    """The health badge of a node on the instance page or in the fragment."""
    match = re.search(rf'<tr data-node="{re.escape(node)}">.*?<span class="badge s-[\w-]+">([^<]*)</span>', page)
    assert match, f"no health row for {node}"
    return match.group(1)


def _sections(page: str) -> tuple[str, str]:
    """The Alarms page's active and recently cleared sections."""
    active, _, cleared = page.partition('<section aria-labelledby="cleared-h" id="cleared">')
    return active, cleared


def test_the_alarms_page_shows_the_accounts_alarms_never_another_tenants(
    local: TestClient, make_local_tenant: Callable[[], Tenant], fake: FakeRuntime, db: Database
) -> None:
    mine, theirs = make_local_tenant(), make_local_tenant()
    my_bid = mine.create_instance(union_instance_body("bcs-mine"))
    their_bid = theirs.create_instance(union_instance_body("bcs-theirs"))
    my_peer, their_peer = _first_peer(mine, my_bid), _first_peer(theirs, their_bid)
    console, other = ConsoleUser.of(local, mine.account), ConsoleUser.of(local, theirs.account)
    quiet = console.get("/console/alarms")
    assert quiet.status_code == 200
    assert 'href="/console/alarms" aria-current="page"' in quiet.text
    assert 'data-testid="no-alarm"' in quiet.text
    assert 'data-testid="none-cleared"' in quiet.text

    fake.unhealthy[my_peer] = REASON
    fake.unhealthy[their_peer] = "health check failing: theirs"
    wait_for(lambda: _alarms(db, my_bid) == [("NodeAbnormal", my_peer, True)], what="my node's alarm")
    wait_for(lambda: _alarms(db, their_bid) == [("NodeAbnormal", their_peer, True)], what="their node's alarm")

    page = console.get("/console/alarms")
    assert page.status_code == 200
    active, cleared = _sections(page.text)
    (row,) = re.findall(rf'<tr data-alarm="NodeAbnormal" data-instance="{my_bid}">.*?</tr>', active, re.S)
    assert f'<a href="/console/instances/{my_bid}">bcs-mine</a>' in row
    assert f'<td class="mono">{my_peer}</td>' in row
    assert '<span class="badge s-major">major</span>' in row
    assert f"{my_peer}: {REASON}" in text_of(row)
    assert "Active alarms (1)" in text_of(active)
    assert 'data-testid="none-cleared"' in cleared
    for foreign in (their_bid, their_peer, "bcs-theirs", "theirs"):
        assert foreign not in page.text
    # The other tenant sees its own alarm only.
    theirs_page = other.get("/console/alarms").text
    assert f'data-instance="{their_bid}"' in theirs_page
    assert my_bid not in theirs_page
    assert my_peer not in theirs_page

    del fake.unhealthy[my_peer]
    wait_for(lambda: _alarms(db, my_bid) == [("NodeAbnormal", my_peer, False)], what="my node's alarm to clear")
    page = console.get("/console/alarms")
    active, cleared = _sections(page.text)
    assert 'data-testid="no-alarm"' in active
    (row,) = re.findall(rf'<tr data-alarm="NodeAbnormal" data-instance="{my_bid}">.*?</tr>', cleared, re.S)
    assert f'<td class="mono">{my_peer}</td>' in row
    assert f'<a href="/console/instances/{my_bid}">bcs-mine</a>' in row
    assert their_bid not in page.text
    assert _alarms(db, their_bid) == [("NodeAbnormal", their_peer, True)]  # still down, still not shown to me


def test_node_health_on_the_instance_page_and_its_fragment(
    local: TestClient, make_local_tenant: Callable[[], Tenant], fake: FakeRuntime, db: Database
) -> None:
    tenant = make_local_tenant()
    bid = tenant.create_instance(union_instance_body("bcs-health"))
    peer = _first_peer(tenant, bid)
    console = ConsoleUser.of(local, tenant.account)
    page = console.get(f"/console/instances/{bid}")
    assert page.status_code == 200
    nodes = re.findall(r'<tr data-node="([^"]+)">', page.text)
    assert sorted(n for n in nodes if n.startswith("peer-")) == sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])
    assert len([n for n in nodes if n.startswith("orderer-")]) == 3
    assert {_badge(page.text, node) for node in nodes} == {"Normal"}
    health = HEALTH.search(page.text).group(0)
    assert f'data-src="/console/instances/{bid}/health" data-live="true"' in health

    fake.unhealthy[peer] = REASON

    def shown(state: str) -> str | None:
        answer = console.get(f"/console/instances/{bid}/health")
        assert answer.status_code == 200, answer.text
        return answer.text if _badge(answer.text, peer) == state else None

    part = wait_for(lambda: shown("AbNormal"), what="the AbNormal badge")
    assert _node_status(db, peer) == "AbNormal"
    assert _alarms(db, bid) == [("NodeAbnormal", peer, True)]
    # Only the two refreshed sections, no page around them.
    assert part.count("<section") == 2
    assert '<section id="progress"' in part
    assert "<nav" not in part
    assert "<html" not in part
    page = console.get(f"/console/instances/{bid}").text
    assert _badge(page, peer) == "AbNormal"
    assert HEALTH.search(page).group(0) == HEALTH.search(part).group(0)  # the same badges
    row = re.search(rf'<tr data-node="{peer}">.*?</tr>', page, re.S).group(0)
    assert REASON in text_of(row)
    org = re.search(rf'<tbody data-org-health="{DEFAULT_ORG}">.*?</tr>', page, re.S).group(0)
    assert text_of(org) == f"{DEFAULT_ORG} AbNormal 1/2 healthy"
    assert {_badge(page, node) for node in nodes if node != peer} == {"Normal"}

    del fake.unhealthy[peer]
    part = wait_for(lambda: shown("Normal"), what="the Normal badge")
    assert _node_status(db, peer) == "Normal"
    assert _alarms(db, bid) == [("NodeAbnormal", peer, False)]
    page = console.get(f"/console/instances/{bid}").text
    assert HEALTH.search(page).group(0) == HEALTH.search(part).group(0)
    assert REASON not in page
    org = re.search(rf'<tbody data-org-health="{DEFAULT_ORG}">.*?</tr>', page, re.S).group(0)
    assert text_of(org) == f"{DEFAULT_ORG} Normal 2/2 healthy"


def _write_log(settings: Settings, bid: str, node: str, lines: list[str]) -> None:
    path: Path = settings.data_dir / "nodes" / bid / node / "node.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def test_the_end_of_each_local_nodes_log_is_on_the_instance_page(
    local: TestClient, make_local_tenant: Callable[[], Tenant], local_settings: Settings
) -> None:
    tenant = make_local_tenant()
    bid = tenant.create_instance(union_instance_body("bcs-logs"))
    peer, other_peer = sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])
    console = ConsoleUser.of(local, tenant.account)
    nodes = re.findall(r'<tr data-node="([^"]+)">', console.get(f"/console/instances/{bid}").text)
    orderer = next(n for n in nodes if n.startswith("orderer-"))
    _write_log(local_settings, bid, peer, [f"peer line {i} <b>&</b>" for i in range(30)])
    _write_log(local_settings, bid, orderer, ["orderer one", "orderer two"])
    page = console.get(f"/console/instances/{bid}")
    assert page.status_code == 200
    assert "Node logs" in page.text

    def log_of(node: str) -> str:
        match = re.search(rf'<details data-log="{node}">.*?</details>', page.text, re.S)
        assert match, node
        return match.group(0)

    shown = log_of(peer)
    assert "20 line(s), earlier ones in the log" in text_of(shown)
    assert "<b>" not in shown  # the log's text, escaped
    lines = html.unescape(re.search(r'<pre class="log">(.*?)</pre>', shown, re.S).group(1)).split("\n")
    api = tenant.call("GET", f"/blockchains/{bid}/nodes/{peer}/logs", tail=20).json()
    assert lines == api["lines"] == [f"peer line {i} <b>&</b>" for i in range(10, 30)]
    assert shown.startswith(f'<details data-log="{peer}"><summary')  # collapsed
    assert re.search(r'<pre class="log">orderer one\norderer two</pre>', log_of(orderer))
    assert "2 line(s)" in text_of(log_of(orderer))
    assert "earlier" not in text_of(log_of(orderer))
    assert "no log yet" in text_of(log_of(other_peer))
    assert "<pre" not in log_of(other_peer)


def test_a_modelled_instance_shows_health_without_logs(console: ConsoleUser, tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance(union_instance_body("bcs-modelled"))
    before = snapshot(db)
    page = console.get(f"/console/instances/{bid}")
    assert page.status_code == 200
    nodes = re.findall(r'<tr data-node="([^"]+)">', page.text)
    assert len(nodes) == 2 + 3
    assert {_badge(page.text, node) for node in nodes} == {"Normal"}
    assert 'data-live="false"' in HEALTH.search(page.text).group(0)
    assert 'id="logs"' not in page.text
    assert "Node logs" not in page.text
    assert "data-log" not in page.text
    part = console.get(f"/console/instances/{bid}/health")
    assert part.status_code == 200
    assert HEALTH.search(part.text).group(0) == HEALTH.search(page.text).group(0)
    assert part.headers["cache-control"] == "no-store"
    assert snapshot(db) == before  # reading changes nothing


def test_another_tenants_health_fragment_is_not_found(console_of, tenant: Tenant, make_tenant) -> None:
    bid = tenant.create_instance(union_instance_body("bcs-private"))
    intruder = console_of(make_tenant())
    answer = intruder.get(f"/console/instances/{bid}/health")
    assert answer.status_code == 404
    assert 'data-testid="not-found"' in answer.text
    assert bid not in answer.text
    assert "data-node" not in answer.text
    assert console_of(tenant).get(f"/console/instances/{bid}/health").status_code == 200
