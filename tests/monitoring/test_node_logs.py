"""ShowBlockchainNodeLogs (an OpenBCS extension, docs/runtime.md "Node logs"): ``GET .../nodes/{node_name}/logs``
answers the last ``tail`` lines of a node's ``node.log``. ``tail`` (1-1000, default 100) is checked before any
database work; the instance is the caller's own (another project's is unknown) and the node one of its peers or
orderers; a modelled node answers no lines; a local-runtime node's log is read from its end. Nothing is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.monitoring import logs
from openbcs.monitoring.logs import read_tail
from openbcs.runtime.local.process import tail_file
from tests.monitoring.helpers import pods_of
from tests.support import bodies
from tests.support.bodies import DEFAULT_ORG
from tests.support.errors import assert_error
from tests.support.snapshots import Statements, snapshot
from tests.support.tenants import Tenant

DECIMAL = "expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)"


def _logs(tenant: Tenant, bid: str, node: str, query: str = "") -> tuple[int, object]:
    response = tenant.call("GET", f"/blockchains/{bid}/nodes/{node}/logs{query}")
    return response.status_code, response.json()


def _peers(tenant: Tenant, bid: str) -> list[str]:
    """The peers ShowBlockchainNodes shows."""
    return sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])


def _orderers(tenant: Tenant, bid: str) -> list[str]:
    """The orderers' names, from ShowBlockchainDetail's ``orderer_info`` (``<name>.<org domain>:7050``)."""
    addresses = tenant.detail(bid)["orderer_info"]["address"]
    return sorted(a["domain_port"].split(".", 1)[0] for a in addresses)


# --- the modelled runtime ----------------------------------------------------------------------------------------


@pytest.fixture
def bid(tenant: Tenant) -> str:
    return tenant.create_instance()


def test_a_modelled_node_has_no_log(tenant: Tenant, bid: str, db: Database) -> None:
    peers, orderers = _peers(tenant, bid), _orderers(tenant, bid)
    assert len(peers) == 2
    assert len(orderers) == 3
    before = snapshot(db)
    for node in (*peers, *orderers):
        for query in ("", "?tail=1", "?tail=1000"):
            assert _logs(tenant, bid, node, query) == (
                200,
                {"node_name": node, "runtime": "modelled", "lines": [], "truncated": False},
            )
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("tail=0", "BCS.4006014", "Invalid Parameter tail : Input should be greater than or equal to 1"),
        ("tail=-1", "BCS.4006014", "Invalid Parameter tail : Input should be greater than or equal to 1"),
        ("tail=1001", "BCS.4006014", "Invalid Parameter tail : Input should be less than or equal to 1000"),
        ("tail=99999999999999999999999", "BCS.4006014", "Invalid Parameter tail : out of range"),
        ("tail=abc", "BCS.4006003", f"Invalid Parameter tail : {DECIMAL}"),
        ("tail=", "BCS.4006003", f"Invalid Parameter tail : {DECIMAL}"),
        ("tail=1.5", "BCS.4006003", f"Invalid Parameter tail : {DECIMAL}"),
        ("tail=+5", "BCS.4006003", f"Invalid Parameter tail : {DECIMAL}"),
        ("tail=1&tail=2", "BCS.4006014", "Invalid Parameter tail : given more than once"),
    ],
)
def test_tail_is_checked_before_any_database_work(
    tenant: Tenant, bid: str, db: Database, query: str, code: str, message: str
) -> None:
    node = _peers(tenant, bid)[0]
    before = snapshot(db)
    with Statements(db) as sql:
        assert_error(tenant.call("GET", f"/blockchains/{bid}/nodes/{node}/logs?{query}"), 400, code, message)
        # The same for an instance that does not exist: the query is judged first.
        assert_error(tenant.call("GET", f"/blockchains/no-such-id/nodes/{node}/logs?{query}"), 400, code, message)
    assert sql.touching("blockchains") == []
    assert snapshot(db) == before


def test_another_projects_instance_is_unknown(tenant: Tenant, other_tenant: Tenant, bid: str, db: Database) -> None:
    node = _peers(tenant, bid)[0]
    before = snapshot(db)
    unknown = ("BCS.4001011", "Operation failed. The service does not exist or has been deleted. Refresh the page.")
    assert_error(other_tenant.call("GET", f"/blockchains/{bid}/nodes/{node}/logs"), 400, *unknown)
    assert_error(tenant.call("GET", f"/blockchains/no-such-id/nodes/{node}/logs"), 400, *unknown)
    # Their own project in the path, another's token: refused before anything is looked up.
    assert_error(
        other_tenant.call("GET", f"/blockchains/{bid}/nodes/{node}/logs", project_id=tenant.project_id),
        403,
        "BCS.4030403",
    )
    assert snapshot(db) == before


def test_a_node_the_instance_does_not_have_is_refused_naming_it(tenant: Tenant, bid: str, db: Database) -> None:
    second = tenant.create_instance("bcs-second")
    theirs = _peers(tenant, second)[0]  # a node of another instance of the same project
    mine = _peers(tenant, bid)[0]
    before = snapshot(db)
    for node in ("peer-nosuchnode-0", theirs, mine.upper(), mine[:-1] + "9", "organization", "baas-agent"):
        assert_error(
            tenant.call("GET", f"/blockchains/{bid}/nodes/{node}/logs"),
            400,
            "BCS.4006014",
            f"Invalid Parameter node_name : the instance has no node {node}",
        )
    assert snapshot(db) == before


# --- the local runtime -------------------------------------------------------------------------------------------


def _write_log(settings: Settings, bid: str, node: str, lines: list[str]) -> Path:
    path = settings.data_dir / "nodes" / bid / node / "node.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_a_local_node_answers_the_end_of_its_log(local_tenant: Tenant, local_settings: Settings, db: Database) -> None:
    bid = local_tenant.create_instance(bodies.union_instance_body())
    # (Local nodes' addresses are host:port, not names: the orderers' names are read from the model.)
    peer, orderer = _peers(local_tenant, bid)[0], next(n for n in pods_of(db, bid) if n.startswith("orderer-"))
    written = [f"2025-01-01 12:00:00 [peer] line {i} {'x' * 150}" for i in range(2000)]
    _write_log(local_settings, bid, peer, written)
    _write_log(local_settings, bid, orderer, ["orderer one", "orderer two", "orderer three"])
    before = snapshot(db)

    def expect(node: str, lines: list[str], truncated: bool) -> dict[str, object]:
        return {"node_name": node, "runtime": "local", "lines": lines, "truncated": truncated}

    assert _logs(local_tenant, bid, peer) == (200, expect(peer, written[-100:], True))
    assert _logs(local_tenant, bid, peer, "?tail=1") == (200, expect(peer, written[-1:], True))
    assert _logs(local_tenant, bid, peer, "?tail=7") == (200, expect(peer, written[-7:], True))
    assert _logs(local_tenant, bid, peer, "?tail=1000") == (200, expect(peer, written[-1000:], True))
    # A short log: all of it, nothing before it.
    short = ["orderer one", "orderer two", "orderer three"]
    assert _logs(local_tenant, bid, orderer, "?tail=3") == (200, expect(orderer, short, False))
    assert _logs(local_tenant, bid, orderer, "?tail=2") == (
        200,
        expect(orderer, ["orderer two", "orderer three"], True),
    )
    # A node that has not written a log yet (or whose log is gone): no lines.
    other_peer = _peers(local_tenant, bid)[1]
    assert _logs(local_tenant, bid, other_peer, "?tail=5") == (200, expect(other_peer, [], False))
    # Tenancy and unknown nodes as in the modelled runtime.
    assert_error(
        local_tenant.call("GET", f"/blockchains/{bid}/nodes/peer-nosuchnode-0/logs"),
        400,
        "BCS.4006014",
        "Invalid Parameter node_name : the instance has no node peer-nosuchnode-0",
    )
    assert snapshot(db) == before


def test_the_log_is_read_off_the_event_loop(
    local_tenant: Tenant, local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bid = local_tenant.create_instance(bodies.union_instance_body())
    peer = _peers(local_tenant, bid)[0]
    _write_log(local_settings, bid, peer, ["one", "two"])
    loops: list[bool] = []

    def spy(path: Path, lines: int) -> list[str]:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:  # no loop runs in this thread: a worker thread
            loops.append(False)
        return tail_file(path, lines)

    monkeypatch.setattr(logs, "tail_file", spy)
    assert _logs(local_tenant, bid, peer, "?tail=2") == (
        200,
        {"node_name": peer, "runtime": "local", "lines": ["one", "two"], "truncated": False},
    )
    assert loops == [False]


def test_read_tail_says_whether_earlier_lines_exist(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    assert read_tail(log, 5) == ([], False)
    log.write_text("a\nb\nc\n")
    assert read_tail(log, 3) == (["a", "b", "c"], False)
    assert read_tail(log, 4) == (["a", "b", "c"], False)
    assert read_tail(log, 2) == (["b", "c"], True)
    log.write_text("a\nb\npartial")  # a node in the middle of writing a line
    assert read_tail(log, 2) == (["b", "partial"], True)
    log.write_text("")
    assert read_tail(log, 1) == ([], False)
