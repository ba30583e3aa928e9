"""The local runtime's rules, with a fake runtime standing in for Fabric's processes (no binaries needed, both
databases): creation starts every node and joins the orderers, then the peers, to each channel with its block 0;
every channel change goes through the orderers and stores the block they cut; a refused update fails the operation
and changes nothing; an empty channel goes live with its first organisation; deletion removes every node."""

from __future__ import annotations

import time
from typing import Any

from fabric_protos.common.common_pb2 import Block
from fabric_protos.orderer.configuration_pb2 import ConsensusType
from fabric_protos.orderer.etcdraft.configuration_pb2 import ConfigMetadata
from fastapi.testclient import TestClient

from openbcs.fabric import application_orgs, config_of
from openbcs.kernel.db import Database
from tests.consortium.helpers import assert_in_channel, membership_row
from tests.monitoring.helpers import events
from tests.runtime.conftest import HIGH, LOW
from tests.runtime.fakes import FakeRuntime
from tests.support import bodies
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import setup_consortium
from tests.support.diagnostic import wait_for
from tests.support.errors import error
from tests.support.expected import msp_id
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant


def _ports(db: Database) -> list[tuple[str, int, str]]:
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT n.name, p.port, p.name FROM node_ports p JOIN blockchain_nodes n ON n.id = p.node_id"
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _block(tenant: Tenant, bid: str, channel: str, number: int) -> Block:
    answer = tenant.call("GET", f"/blockchains/{bid}/channels/{channel}/blocks/{number}")
    assert answer.status_code == 200, answer.text
    return Block.FromString(answer.content)


def test_creation_starts_every_node_and_joins_orderers_then_peers(tenant: Tenant, fake: FakeRuntime, db: Database):
    bid = tenant.create_instance(bodies.union_instance_body())
    assert tenant.detail(bid)["basic_info"]["status"] == "Normal"
    ports = _ports(db)
    names = {name for name, _, _ in ports}
    assert fake.running == names
    assert len(names) == 5
    assert all(LOW <= port <= HIGH for _, port, _ in ports)
    assert len({port for _, port, _ in ports}) == len(ports) == 15
    orderers = sorted(n for n in names if n.startswith("orderer-"))
    peers = sorted(n for n in names if n.startswith("peer-"))
    assert fake.joined == [(n, CHANNEL) for n in orderers] + [(n, CHANNEL) for n in peers]
    # ShowBlockchainNodes and the channel's block 0 carry the allocated addresses.
    listen = {name: port for name, port, kind in ports if kind == "listen"}
    shown = tenant.nodes(bid)[DEFAULT_ORG]["peers"]
    assert {name: peer["ip_port"] for name, peer in shown.items()} == {n: f"127.0.0.1:{listen[n]}" for n in peers}
    config = config_of(_block(tenant, bid, CHANNEL, 0))
    consensus = ConsensusType.FromString(config.channel_group.groups["Orderer"].values["ConsensusType"].value)
    raft = ConfigMetadata.FromString(consensus.metadata)
    assert sorted((c.host, c.port) for c in raft.consenters) == sorted(("127.0.0.1", listen[n]) for n in orderers)
    assert "OrdererAddresses" not in config.channel_group.values
    with db.engine.connect() as connection:
        states = connection.exec_driver_sql("SELECT desired, observed FROM runtime_nodes").all()
    assert sorted(tuple(s) for s in states) == [("running", "running")] * 5


def test_the_consortium_life_is_ordered_by_the_orderers(local: TestClient, make_account: Any, fake: FakeRuntime, db):
    c = setup_consortium(local, make_account)
    join = c.join()
    quit_ = c.quit()
    history = c.inviter.history(c.inviter_bcs_id)
    assert history["verified"] is True
    assert [(b["number"], b["event"], b["cause"]) for b in history["blocks"][1:]] == [
        (1, "org_added", join),
        (2, "org_removed", quit_),
    ]
    assert history["blocks"][0]["event"] == "create"
    # Blocks 1 and 2 are the orderers' own bytes.
    chain = fake.chains[CHANNEL]
    for number in (1, 2):
        assert _block(c.inviter, c.inviter_bcs_id, CHANNEL, number) == chain[number]
    assert application_orgs(config_of(chain[2])) == [msp_id(c.inviter_bcs_id, DEFAULT_ORG)]
    # The invitee's two peers joined the channel, then left it.
    invitee_hash = c.invitee.nodes(str(c.invitee_bcs_id))[DEFAULT_ORG]["peers"]
    invitee_peers = sorted(invitee_hash)
    joined = [n for n, ch in fake.joined if ch == CHANNEL and n.startswith("peer-")]
    left = [n for n, ch in fake.left if ch == CHANNEL]
    assert len(left) == 2
    assert set(left) <= set(joined)
    assert set(left) <= set(invitee_peers)
    assert_in_channel(db, c, member=False)


def test_an_update_the_orderers_refuse_fails_the_operation_and_changes_nothing(
    local: TestClient, make_account: Any, fake: FakeRuntime, db: Database
):
    c = setup_consortium(local, make_account)
    c.join()
    before = snapshot(db)
    fake.refuse = "error validating ReadSet: stale"
    answer = c.invitee.quit(c.quit_body())
    assert answer.status_code == 200, answer.text
    record = c.invitee.wait(answer.json()["operation_id"], expect="failed")
    failed = record["operation_process"]["Quit channel"]["sub_steps"]["Update channel configuration"]
    assert failed["message"] == ["the orderer refused the config update: status 400: error validating ReadSet: stale"]
    assert membership_row(db, c)["status"] == "joined"
    assert_in_channel(db, c, member=True)
    assert len(c.inviter.history(c.inviter_bcs_id)["blocks"]) == 2
    assert fake.left == []
    after = snapshot(db)
    assert after["channel_config_blocks"] == before["channel_config_blocks"]
    assert after["channel_orgs"] == before["channel_orgs"]
    assert after["channel_peers"] == before["channel_peers"]


def test_an_empty_channel_goes_live_with_its_first_organisation(tenant: Tenant, fake: FakeRuntime):
    bid = tenant.create_instance(bodies.union_instance_body())
    tenant.run(tenant.create_channels(bid, "late"))
    assert [ch for _, ch in fake.joined].count("late") == 0  # no orderer serves a channel nobody belongs to
    tenant.run(tenant.add_peers(bid, "late", {DEFAULT_ORG: 2}))
    history = tenant.history(bid, "late")
    assert [(b["number"], b["event"]) for b in history["blocks"]] == [(0, "create")]
    assert history["blocks"][0]["orgs"][0]["msp_id"] == msp_id(bid, DEFAULT_ORG)
    joined = [name for name, ch in fake.joined if ch == "late"]
    assert [n.split("-")[0] for n in joined] == ["orderer"] * 3 + ["peer"] * 2
    assert application_orgs(config_of(fake.chains["late"][0])) == [msp_id(bid, DEFAULT_ORG)]
    # Emptied and deleted, its nodes leave it; made again under its name, it is not live until an organisation joins.
    # Its last organisation leaving, its peers leave it, then its orderers: nobody serves a channel without members.
    tenant.run(tenant.remove_orgs(bid, "late", [DEFAULT_ORG]))
    assert [n.split("-")[0] for n, ch in fake.left if ch == "late"] == ["peer"] * 2 + ["orderer"] * 3
    assert "late" not in fake.chains
    tenant.run(tenant.delete_channel(bid, "late"))
    assert len([n for n, ch in fake.left if ch == "late"]) == 5  # nothing more to leave
    tenant.run(tenant.create_channels(bid, "late"))
    tenant.run(tenant.add_peers(bid, "late", {DEFAULT_ORG: 1}))
    assert [(b["number"], b["event"]) for b in tenant.history(bid, "late")["blocks"]] == [(0, "create")]
    assert len(fake.chains["late"]) == 1
    assert [n.split("-")[0] for n, ch in fake.joined if ch == "late"][5:] == ["orderer"] * 3 + ["peer"]


def test_deletion_removes_every_node_and_frees_its_ports(tenant: Tenant, fake: FakeRuntime, db: Database):
    bid = tenant.create_instance(bodies.union_instance_body())
    started = set(fake.running)
    tenant.run(tenant.delete_instance(bid))
    assert sorted(fake.removed) == sorted(started)
    assert fake.running == set()
    assert row_count(db, "node_ports") == 0
    assert row_count(db, "runtime_nodes") == 0


def test_the_local_runtime_refuses_other_consensus(tenant: Tenant, db: Database) -> None:
    before = snapshot(db)
    answer = tenant.call(
        "POST", "/blockchains", bodies.create_body("bcs-sflic", consensus="SFLIC", orderer_node_number=4)
    )
    assert error(answer) == (
        400,
        "BCS.4006014",
        "Invalid Parameter consensus : SFLIC: the local runtime runs etcdraft orderers only",
    )
    assert snapshot(db) == before


def test_scaling_stops_deleted_peers_and_starts_new_ones(tenant: Tenant, fake: FakeRuntime, db: Database) -> None:
    bid = tenant.create_instance(bodies.union_instance_body())
    peers = sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])
    history = len(tenant.history(bid)["blocks"])
    # Down to one peer: the second leaves the channel (not its anchor: no config update) and its process goes.
    tenant.run(tenant.update(bid, {"node_orgs": [{"name": DEFAULT_ORG, "node_count": 1}]}))
    assert sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"]) == peers[:1]
    assert fake.removed == peers[1:]
    assert peers[1] not in fake.running
    assert len(tenant.history(bid)["blocks"]) == history
    assert fake.left == []  # a deleted peer is stopped and removed, not unjoined
    # Back to two: a new peer with new ports runs, in no channel until BatchAddPeersToChannel.
    tenant.run(tenant.update(bid, {"node_orgs": [{"name": DEFAULT_ORG, "node_count": 2}]}))
    shown = tenant.nodes(bid)[DEFAULT_ORG]["peers"]
    assert sorted(shown) == peers
    assert shown[peers[1]]["channels"] == []
    assert set(peers) <= fake.running
    assert row_count(db, "node_ports") == 5 * 3
    tenant.run(tenant.add_peers(bid, CHANNEL, {DEFAULT_ORG: 1}))
    assert (peers[1], CHANNEL) in fake.joined[-1:]


def test_a_node_failing_its_health_check_is_abnormal_with_one_alarm_until_it_recovers(
    local: TestClient, tenant: Tenant, fake: FakeRuntime, db: Database
) -> None:
    bid = tenant.create_instance(bodies.union_instance_body())
    local.app.state.supervisor.health_seconds = 0.05  # type: ignore[attr-defined]
    peer = sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])[0]
    fake.unhealthy[peer] = "health check failing: ledger: failed to open"

    def alarms() -> list[dict[str, Any]]:
        return events(tenant, bid, type_="active_alert")

    (alarm,) = wait_for(alarms, what="the node's alarm")
    dimensions = {d["name"]: d["value"] for d in alarm["metric"]["dimensions"]}
    assert alarm["metric"]["metricName"] == "NodeAbnormal"
    assert dimensions["resource"] == peer
    assert dimensions["reason"] == "health check failing: ledger: failed to open"
    assert dimensions["message"] == f"{peer}: health check failing: ledger: failed to open"
    (org,) = [p for p in tenant.detail(bid)["peer_info"] if p["name"] == DEFAULT_ORG]
    assert (org["status"], org["status_detail"]) == ("AbNormal", "1/2")
    assert tenant.detail(bid)["basic_info"]["status"] == "Abnormal"
    # The instance shows Abnormal, yet takes the calls that could repair it (its stored status is unchanged).
    tenant.run(tenant.create_channels(bid, "meanwhile"))
    time.sleep(0.5)  # many more looks: still one alarm, one event
    assert len(alarms()) == 1
    assert [e["metric"]["metricName"] for e in events(tenant, bid)].count("NodeAbnormal") == 1

    del fake.unhealthy[peer]
    wait_for(lambda: alarms() == [], what="the alarm to clear")
    (cleared,) = events(tenant, bid, type_="history_alert")
    assert cleared["metric"]["metricName"] == "NodeAbnormal"
    assert "cleared_time" in {d["name"] for d in cleared["metric"]["dimensions"]}
    (org,) = [p for p in tenant.detail(bid)["peer_info"] if p["name"] == DEFAULT_ORG]
    assert (org["status"], org["status_detail"]) == ("Normal", "2/2")
    assert tenant.detail(bid)["basic_info"]["status"] == "Normal"
    names = [e["metric"]["metricName"] for e in events(tenant, bid)]
    assert (names.count("NodeAbnormal"), names.count("AlarmCleared")) == (1, 1)
