"""The local runtime end to end, through the official SDK, checked with Fabric's own ``peer`` CLI: two instances whose
orderers and peers are real Fabric 2.5 processes; an invitation accepted (the invitee's peers join with block 0 and
catch up), the seed's quit ordered by the real orderers (the invitee's admin refused afterwards, its peers out of
the channel), a peer killed and restarted, OpenBCS restarted with its nodes, both instances deleted (no process left,
ports free). One network for the module: real nodes are slow to start; these tests run in order.

Runs where Fabric's binaries are (``OPENBCS_FABRIC_BIN``, ``PATH`` or /opt/fabric/bin), once (SQLite): skipped on
the PostgreSQL run and where the binaries are absent, saying why.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fabric_protos.common.common_pb2 import Block

from openbcs.fabric import application_orgs, block_header_hash, config_of
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.runtime import nodespecs
from openbcs.runtime.base import OrderingRefused
from openbcs.runtime.local.backend import LocalRuntime
from openbcs.runtime.local.binaries import Binaries
from tests.conftest import SECRET_KEY
from tests.monitoring.helpers import events
from tests.runtime.fabric_tools import PeerCli, download_admin, download_orderers, zip_of
from tests.runtime.local.realnet import fabric_bin_or_skip
from tests.runtime.network import LocalServer, fabric_children, node_pids, pid_alive
from tests.support import bodies
from tests.support.accounts import issue_token
from tests.support.bodies import DEFAULT_ORG
from tests.support.diagnostic import wait_for
from tests.support.expected import msp_id
from tests.support.tenants import Tenant

pytestmark = pytest.mark.slow
CHANNEL = "consortium"
GATEWAY_CLIENT = Path(__file__).with_name("gateway_client.js")


@dataclass
class Net:
    """The module's network and what its tests learn about it as they go."""

    server: LocalServer
    binaries: Binaries
    inviter: Any
    invitee: Any
    inviter_account: Any
    invitee_account: Any
    work: Path
    ids: dict[str, str] = field(default_factory=dict)
    tools: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    binaries = fabric_bin_or_skip()
    root = tmp_path_factory.mktemp("local-runtime")
    server = LocalServer(root, binaries, SECRET_KEY)
    inviter_account, invitee_account = server.make_accounts("runtime-inviter", "runtime-invitee")
    server.start()
    try:
        yield Net(
            server,
            binaries,
            server.sdk(inviter_account),
            server.sdk(invitee_account),
            inviter_account,
            invitee_account,
            root / "work",
        )
    finally:
        server.stop()


def _wait(client: Any, operation_id: str, timeout: float = 90) -> Any:
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest

    def ended() -> Any:
        (record,) = client.list_op_record(ListOpRecordRequest(operation_id=operation_id)).operation_records
        return record if record.operation_status not in ("waiting", "processing") else None

    record = wait_for(ended, timeout=timeout, what=f"operation {operation_id}")
    assert record.operation_status == "finished", record
    return record


def _sdk_body(name: str, **fields: Any) -> Any:
    from huaweicloudsdkbcs.v2 import CreateRequestBody
    from huaweicloudsdkbcs.v2.model.cce_cluster_info import CCEClusterInfo

    values = {**bodies.create_body(name, orderer_node_number=None, fabric_version="2.2"), **fields}
    values["cce_cluster_info"] = CCEClusterInfo(**values["cce_cluster_info"])
    return CreateRequestBody(**values)


def _peers(client: Any, blockchain_id: str) -> dict[str, str]:
    """ShowBlockchainNodes: ``{peer name: ip_port}`` of the instance's default organisation."""
    from huaweicloudsdkbcs.v2 import ShowBlockchainNodesRequest

    nodes = client.show_blockchain_nodes(ShowBlockchainNodesRequest(blockchain_id=blockchain_id)).node_orgs
    return {name: peer.ip_port for name, peer in nodes[DEFAULT_ORG].peers.items()}


def _orderer_height(net: Net) -> int:
    cli, orderers = net.tools["inviter_cli"], net.tools["orderers"]
    block, _ = cli.fetch(orderers[0], CHANNEL, "newest")
    assert block is not None
    return int(Block.FromString(block).header.number) + 1


def test_creation_runs_real_orderers_and_peers(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import (
        CreateNewBlockchainRequest,
        ShowBlockchainDetailRequest,
    )
    from huaweicloudsdkbcs.v2.model.channel_info import ChannelInfo

    started = time.monotonic()
    created = net.inviter.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=_sdk_body(
                "bcs-union",
                blockchain_type="union",
                orderer_node_number=3,
                channels=[ChannelInfo(name=CHANNEL, org_names=[DEFAULT_ORG])],
            )
        )
    )
    _wait(net.inviter, created.operation_id)
    union = net.ids["union"] = created.blockchain_id
    took = time.monotonic() - started
    detail = net.inviter.show_blockchain_detail(ShowBlockchainDetailRequest(blockchain_id=union))
    assert detail.basic_info.status == "Normal"
    # Every node is a running process of the server, on its advertised host and an allocated port.
    assert len(node_pids(net.server)) == 5
    assert sorted(node_pids(net.server).values()) == fabric_children(net.server)
    peers = _peers(net.inviter, union)
    assert len(peers) == 2
    for address in peers.values():
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert 20000 <= int(port) <= 29999
    # Fabric's own CLI, with the material the API hands out, sees the channel at block 0 with the inviter only.
    inviter_msp = msp_id(union, DEFAULT_ORG)
    admin = download_admin(net.inviter, union, DEFAULT_ORG, inviter_msp, net.work / "inviter-admin")
    orderers = download_orderers(net.inviter, union, DEFAULT_ORG, CHANNEL, net.work / "inviter-sdk")
    assert len(orderers) == 3
    cli = PeerCli(net.binaries, admin, net.work / "inviter-cli")
    net.tools.update(inviter_cli=cli, orderers=orderers, inviter_peers=list(peers.values()), create_seconds=took)
    assert cli.members(orderers[0], CHANNEL) == [inviter_msp]
    for peer in peers.values():
        assert cli.channels(peer) == [CHANNEL]
        assert cli.height(peer, CHANNEL) == 1
    print(f"\nCreateNewBlockchain (3 orderers, 2 peers) to Normal: {took:.2f} s")


def test_an_accepted_invitation_joins_the_invitees_real_peers(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import (
        BatchInviteMembersToChannelRequest,
        BatchInviteMembersToChannelRequestBody,
        CreateNewBlockchainRequest,
        HandleNotificationInvitee,
        HandleNotificationInvitor,
        HandleNotificationOrg,
        HandleNotificationRequest,
        HandleNotificationRequestBody,
        InvitedDomain,
        ListOpRecordRequest,
    )
    from huaweicloudsdkbcs.v2.model.invitor_infos import InvitorInfos

    union = net.ids["union"]
    net.inviter.batch_invite_members_to_channel(
        BatchInviteMembersToChannelRequest(
            body=BatchInviteMembersToChannelRequestBody(
                bcs_id=union,
                channel_name=CHANNEL,
                invitor_username=net.inviter_account.name,
                invited_userinfo=[InvitedDomain(invited_user=net.invitee_account.name)],
            )
        )
    )
    created = net.invitee.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=_sdk_body(
                "bcs-invitee",
                blockchain_type="union",
                is_invitee=True,
                invitor_infos=InvitorInfos(
                    tenant_id=net.inviter_account.domain_id,
                    project_id=net.inviter_account.project_id,
                    blockchain_id=union,
                ),
            )
        )
    )
    _wait(net.invitee, created.operation_id)
    invitee_bcs = net.ids["invitee"] = created.blockchain_id
    agreed = net.invitee.handle_notification(
        HandleNotificationRequest(
            body=HandleNotificationRequestBody(
                channel_name=CHANNEL,
                status="agreed",
                invitor_info=HandleNotificationInvitor(
                    invitor_bcs_id=union,
                    invitor_bcs_name="bcs-union",
                    invitor_project_id=net.inviter_account.project_id,
                    invitor_user_id=net.inviter_account.domain_id,
                ),
                invitee_info=HandleNotificationInvitee(
                    invitee_bcs_id=invitee_bcs,
                    invitee_bcs_name="bcs-invitee",
                    invitee_project_id=net.invitee_account.project_id,
                    invitee_user_id=net.invitee_account.domain_id,
                ),
                invited_orgs=[HandleNotificationOrg(name=DEFAULT_ORG)],
            )
        )
    )
    assert agreed.result == "success"
    (join,) = net.invitee.list_op_record(ListOpRecordRequest(operation_type="05")).operation_records
    _wait(net.invitee, join.operation_id)

    cli, orderers = net.tools["inviter_cli"], net.tools["orderers"]
    invitee_msp = msp_id(invitee_bcs, DEFAULT_ORG)
    assert cli.members(orderers[0], CHANNEL) == sorted([msp_id(union, DEFAULT_ORG), invitee_msp])
    height = _orderer_height(net)
    assert height == 2
    admin = download_admin(net.invitee, invitee_bcs, DEFAULT_ORG, invitee_msp, net.work / "invitee-admin")
    invitee_cli = net.tools["invitee_cli"] = PeerCli(net.binaries, admin, net.work / "invitee-cli")
    invitee_peers = net.tools["invitee_peers"] = list(_peers(net.invitee, invitee_bcs).values())
    # The invitee's peers joined with block 0 and caught up with the orderers; so did the inviter's.
    for peer in invitee_peers:
        assert invitee_cli.channels(peer) == [CHANNEL]
        wait_for(lambda p=peer: invitee_cli.height(p, CHANNEL) == height, timeout=30, what=f"{peer} to catch up")
    for peer in net.tools["inviter_peers"]:
        wait_for(lambda p=peer: cli.height(p, CHANNEL) == height, timeout=30, what=f"{peer} to catch up")
    # The invitee's admin may read the channel from the orderers now.
    block, _ = invitee_cli.fetch(orderers[0], CHANNEL, "newest")
    assert block is not None


def test_the_seeds_quit_is_ordered_by_the_real_orderers(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import HandleUnionMemberQuitListRequest, QuitUnionFromMemberListRequestBody

    union, invitee_bcs = net.ids["union"], net.ids["invitee"]
    cli, invitee_cli, orderers = net.tools["inviter_cli"], net.tools["invitee_cli"], net.tools["orderers"]
    started = time.monotonic()
    answer = net.invitee.handle_union_member_quit_list(
        HandleUnionMemberQuitListRequest(
            body=QuitUnionFromMemberListRequestBody(
                inviter_bcsid=union,
                inviter_projectid=net.inviter_account.project_id,
                inviter_domainid=net.inviter_account.domain_id,
                inviter_username=net.inviter_account.name,
                channel_name=CHANNEL,
                invitee_bcsid=invitee_bcs,
                invitee_projectid=net.invitee_account.project_id,
                invitee_domainid=net.invitee_account.domain_id,
            )
        )
    )
    assert answer.result == "success"
    _wait(net.invitee, answer.operation_id)
    print(f"\nthe seed's quit, from its answer to its operation finished: {time.monotonic() - started:.2f} s")

    # The orderers' config holds the inviter only; every inviter peer is at the orderers' height.
    assert cli.members(orderers[0], CHANNEL) == [msp_id(union, DEFAULT_ORG)]
    height = _orderer_height(net)
    assert height == 3
    for peer in net.tools["inviter_peers"]:
        wait_for(lambda p=peer: cli.height(p, CHANNEL) == height, timeout=30, what=f"{peer} to catch up")
    # The invitee's admin is refused by the orderers, and its peers no longer list the channel.
    refused, why = invitee_cli.fetch(orderers[0], CHANNEL, "newest", check=False)
    assert refused is None
    assert "FORBIDDEN" in why
    for peer in net.tools["invitee_peers"]:
        assert invitee_cli.channels(peer) == []
    # OpenBCS stored the orderers' own blocks: its block 2 is the orderer's block 2, byte for byte, and verifies.
    fetched, _ = cli.fetch(orderers[0], CHANNEL, "2")
    stored = net.server.rows(
        "SELECT b.block FROM channel_config_blocks b JOIN channels c ON c.id = b.channel_id "
        "WHERE c.blockchain_id = ? AND c.name = ? AND b.number = 2",
        union,
        CHANNEL,
    )
    assert stored == [(fetched,)]
    assert application_orgs(config_of(Block.FromString(fetched or b""))) == [msp_id(union, DEFAULT_ORG)]


def test_metrics_come_from_the_real_nodes_own_metrics(net: Net) -> None:
    """ListBcsMetric answers Fabric's ``ledger_blockchain_height`` as the nodes expose it (highest of the instance's
    nodes, scraped at most 5 s before): the height the ``peer`` CLI sees. ListInstanceMetric: one peer's process."""
    from huaweicloudsdkbcs.v2 import (
        ListBcsMetricRequest,
        ListBcsMetricRequestBody,
        ListInstanceMetricRequest,
        ListInstanceMetricRequestBody,
    )

    union, cli = net.ids["union"], net.tools["inviter_cli"]
    heights = {cli.height(peer, CHANNEL) for peer in net.tools["inviter_peers"]}
    assert heights == {3}

    def last_height() -> float:
        request = ListBcsMetricRequest(
            blockchain_id=union, body=ListBcsMetricRequestBody(metric_names=["ledger_blockchain_height"])
        )
        (result,) = net.inviter.list_bcs_metric(request).metrics
        assert result.metric.metric_name == "ledger_blockchain_height"
        last = result.data_points[-1]
        assert last.unit == "count"
        (statistic,) = last.statistics
        assert statistic.value <= 3
        return float(statistic.value)

    # A sample taken just before the quit's block may answer for up to 5 s (cached scrapes, bounded age).
    wait_for(lambda: last_height() in heights, timeout=15, what="ListBcsMetric to show the peers' height")

    peer = next(iter(_peers(net.inviter, union)))
    answer = net.inviter.list_instance_metric(
        ListInstanceMetricRequest(
            blockchain_id=union,
            body=ListInstanceMetricRequestBody(type="org", entity_name=DEFAULT_ORG, instance_name=peer),
        )
    )
    shown = {m.metric.metric_name: m.data_points for m in answer.metrics}
    assert shown["cpuCoreLimit"][-1].statistics[0].value == os.cpu_count()
    assert 0 < shown["memUsedRate"][-1].statistics[0].value < 100  # the peer's resident memory, of the machine's
    assert shown["sendBytesRate"] == shown["recvBytesRate"] == []  # Fabric exposes no network counters


def test_a_fabric_gateway_client_reads_the_chain_through_the_downloaded_configuration(net: Net) -> None:
    """Node's @hyperledger/fabric-gateway, as the organisation's default user (DownloadBlockchainCert ``user``), finds
    the peer in DownloadBlockchainSdkConfig's profile and evaluates ``qscc GetChainInfo``: the orderers' height and
    newest block hash."""
    gateway = _gateway_dir()
    union, cli, orderers = net.ids["union"], net.tools["inviter_cli"], net.tools["orderers"]
    user = net.work / "inviter-user"
    from huaweicloudsdkbcs.v2 import DownloadBlockchainCertRequest

    zip_of(
        net.inviter.download_blockchain_cert(
            DownloadBlockchainCertRequest(blockchain_id=union, org_name=DEFAULT_ORG, cert_type="user")
        )
    ).extractall(user)
    done = subprocess.run(
        ["node", str(GATEWAY_CLIENT), str(net.work / "inviter-sdk" / "sdk-config.yaml"), DEFAULT_ORG,
         str(user / "msp"), CHANNEL],
        env={**os.environ, "NODE_PATH": str(gateway / "node_modules")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    newest, _ = cli.fetch(orderers[0], CHANNEL, "newest")
    header = Block.FromString(newest or b"").header
    assert json.loads(done.stdout) == {
        "height": header.number + 1,
        "currentBlockHash": block_header_hash(header).hex(),
    }


def _gateway_dir() -> Path:
    directory = os.environ.get("OPENBCS_FABRIC_GATEWAY_DIR")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not directory or not (Path(directory) / "node_modules/@hyperledger/fabric-gateway/package.json").is_file():
        pytest.skip("OPENBCS_FABRIC_GATEWAY_DIR names no Fabric Gateway install (run scripts/install-fabric-gateway)")
    return Path(directory)


def test_a_stale_update_is_refused_by_the_orderers(net: Net) -> None:
    """The join's update again, against a config that has moved on: the orderers refuse it with their status."""
    union = net.ids["union"]
    ((envelope,),) = net.server.rows(
        "SELECT b.config_update FROM channel_config_blocks b JOIN channels c ON c.id = b.channel_id "
        "WHERE c.blockchain_id = ? AND b.number = 1",
        union,
    )
    runtime = LocalRuntime(net.binaries)
    orderer_specs, reader = _orderer_specs(net, union)
    with pytest.raises(OrderingRefused, match="status 400"):
        runtime.order(orderer_specs, CHANNEL, envelope, reader)
    assert _orderer_height(net) == 3


def _commands(pids: list[int]) -> dict[int, str]:
    """What each process runs (for a failure's message)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
        except OSError:
            found[pid] = "(gone)"
    return found


def _orderer_specs(net: Net, union: str) -> tuple[list[Any], Any]:
    db = Database(net.server.database_url)
    try:
        keys = ServerKey(base64.urlsafe_b64decode(SECRET_KEY))
        return db.run_read(nodespecs.orderers_of, union, keys=keys, nodes_dir=net.server.data_dir / "nodes")
    finally:
        db.dispose()


def test_a_killed_peer_is_restarted_at_the_same_height(net: Net) -> None:
    cli = net.tools["inviter_cli"]
    peer_address = net.tools["inviter_peers"][0]
    height = cli.height(peer_address, CHANNEL)
    before = node_pids(net.server)
    name, pid = next((n, p) for n, p in before.items() if n.startswith("peer-"))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: node_pids(net.server).get(name) not in (None, pid), timeout=60, what=f"{name} to be started again")
    assert not pid_alive(pid)
    for address in net.tools["inviter_peers"]:
        wait_for(lambda a=address: cli.height(a, CHANNEL) == height, timeout=30, what=f"{address} to serve again")
    recorded = net.server.rows(
        "SELECT name, message FROM monitoring_events WHERE name IN ('NodeAbnormal', 'NodeRestarted', 'AlarmCleared') "
        "ORDER BY id"
    )
    assert recorded == [
        ("NodeAbnormal", f"{name}: process exited with code -9"),
        ("NodeRestarted", f"{name} started again"),
        ("AlarmCleared", f"NodeAbnormal cleared: {name} runs and answers its health check"),
    ]


def test_a_paused_peer_is_abnormal_with_an_alarm_until_it_resumes(net: Net) -> None:
    """SIGSTOP: the process runs but its /healthz does not answer. Within 10 s its organisation shows it down and an
    active alarm names it; SIGCONT: Normal again, the alarm in the history. One event per change."""
    union = net.ids["union"]
    name = sorted(_peers(net.inviter, union))[0]  # one of the inviter's peers: its alarm is the inviter's instance's
    pid = node_pids(net.server)[name]
    with httpx.Client(base_url=net.server.url, timeout=30) as http:
        tenant = Tenant(http, net.inviter_account, issue_token(http, net.inviter_account))

        def org_status() -> tuple[str, str]:
            (org,) = [p for p in tenant.detail(union)["peer_info"] if p["name"] == DEFAULT_ORG]
            return org["status"], org["status_detail"]

        os.kill(pid, signal.SIGSTOP)
        paused = time.monotonic()
        try:
            (alarm,) = wait_for(lambda: events(tenant, union, type_="active_alert"), timeout=10, what=f"{name}'s alarm")
            print(f"\na paused peer shows as abnormal after {time.monotonic() - paused:.1f} s")
            dimensions = {d["name"]: d["value"] for d in alarm["metric"]["dimensions"]}
            assert (alarm["metric"]["metricName"], dimensions["resource"]) == ("NodeAbnormal", name)
            assert dimensions["reason"].startswith("health check failing: ")
            assert org_status() == ("AbNormal", "1/2")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: events(tenant, union, type_="active_alert") == [], timeout=15, what="the alarm to clear")
        assert org_status() == ("Normal", "2/2")
        assert node_pids(net.server)[name] == pid  # resumed, not restarted
        paused_alarms = [
            a
            for a in events(tenant, union, type_="history_alert")
            if {"name": "reason", "value": dimensions["reason"]} in a["metric"]["dimensions"]
        ]
        assert len(paused_alarms) == 1  # one alarm for the pause, however many times it was looked at


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_openbcs_restarted_runs_each_node_once_from_its_ledger(net: Net, how: signal.Signals) -> None:
    """Stopped, the server stops its nodes; killed with SIGKILL, its nodes die with it (a parent-death signal). Started
    again, it runs each node once, from its ledger."""
    cli = net.tools["inviter_cli"]
    before = node_pids(net.server)
    net.server.stop(how)
    wait_for(lambda: not [pid for pid in before.values() if pid_alive(pid)], timeout=30, what="the nodes to stop")
    net.server.start()
    wait_for(lambda: len(node_pids(net.server)) == len(before), timeout=60, what="every node to run again")
    try:
        wait_for(
            lambda: sorted(node_pids(net.server).values()) == fabric_children(net.server),
            timeout=15,
            what="the server's Fabric children to be its nodes",
        )
    except AssertionError as failed:
        children, nodes = _commands(fabric_children(net.server)), node_pids(net.server)
        raise AssertionError(f"the server's Fabric children {children} are not its nodes {nodes}") from failed
    assert len(fabric_children(net.server)) == len(before)
    for address in net.tools["inviter_peers"]:
        wait_for(lambda a=address: cli.height(a, CHANNEL) == 3, timeout=30, what=f"{address} to serve its ledger")


def test_a_new_channel_goes_live_with_its_first_organisation_and_goes_away(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import (
        BatchAddPeersToChannelRequest,
        BatchAddPeersToChannelRequestBody,
        BatchCreateChannelsRequest,
        BatchCreateChannelsRequestBody,
        BatchRemoveOrgsFromChannelRequest,
        BatchRemoveOrgsFromChannelRequestBody,
        BatchRemovePeersFromChannelRequest,
        BatchRemovePeersFromChannelRequestBody,
        DeleteChannelRequest,
    )
    from huaweicloudsdkbcs.v2.model.channel_create_info import ChannelCreateInfo
    from huaweicloudsdkbcs.v2.model.peer_channel_info import PeerChannelInfo

    union, cli, orderers = net.ids["union"], net.tools["inviter_cli"], net.tools["orderers"]
    created = net.inviter.batch_create_channels(
        BatchCreateChannelsRequest(
            blockchain_id=union,
            body=BatchCreateChannelsRequestBody(channels=[ChannelCreateInfo(channel_name="second")]),
        )
    )
    _wait(net.inviter, created.operation_id)
    refused, why = cli.fetch(orderers[0], "second", "newest", check=False)
    assert refused is None  # no organisation yet: no orderer serves it
    assert "NOT_FOUND" in why
    added = net.inviter.batch_add_peers_to_channel(
        BatchAddPeersToChannelRequest(
            blockchain_id=union,
            body=BatchAddPeersToChannelRequestBody(
                channel_peers=[PeerChannelInfo(channel_name="second", peers={DEFAULT_ORG: 2})]
            ),
        )
    )
    _wait(net.inviter, added.operation_id)
    assert cli.members(orderers[0], "second") == [msp_id(union, DEFAULT_ORG)]
    for peer in net.tools["inviter_peers"]:
        assert sorted(cli.channels(peer)) == [CHANNEL, "second"]
        wait_for(lambda p=peer: cli.height(p, "second") == 1, timeout=30, what=f"{peer} to join second")
    # Its peers leave it (stopped, unjoined, started again), then its organisation, then the channel goes.
    removed = net.inviter.batch_remove_peers_from_channel(
        BatchRemovePeersFromChannelRequest(
            blockchain_id=union,
            channel_id="second",
            body=BatchRemovePeersFromChannelRequestBody(org_name=DEFAULT_ORG, peers=1),
        )
    )
    _wait(net.inviter, removed.operation_id)
    listed = sorted(sorted(cli.channels(peer)) for peer in net.tools["inviter_peers"])
    assert listed == [[CHANNEL], [CHANNEL, "second"]]
    left = net.inviter.batch_remove_orgs_from_channel(
        BatchRemoveOrgsFromChannelRequest(
            blockchain_id=union,
            channel_id="second",
            body=BatchRemoveOrgsFromChannelRequestBody(org_names=[DEFAULT_ORG]),
        )
    )
    _wait(net.inviter, left.operation_id)
    # Without members nobody serves it: its peers left it, then its orderers.
    for peer in net.tools["inviter_peers"]:
        assert cli.channels(peer) == [CHANNEL]
    dark, why = cli.fetch(orderers[0], "second", "newest", check=False)
    assert dark is None
    assert "NOT_FOUND" in why
    deleted = net.inviter.delete_channel(DeleteChannelRequest(blockchain_id=union, channel_id="second"))
    _wait(net.inviter, deleted.operation_id)
    gone, why = cli.fetch(orderers[0], "second", "newest", check=False)
    assert gone is None
    assert "NOT_FOUND" in why


def test_scaling_stops_a_deleted_peer_and_starts_a_new_one(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import NodeOrgs, UpdateInstanceRequest, UpdateInstanceRequestBody

    union, cli = net.ids["union"], net.tools["inviter_cli"]
    peers = _peers(net.inviter, union)
    second = sorted(peers)[1]
    old_pid = node_pids(net.server)[second]
    for count in (1, 2):
        update = net.inviter.update_instance(
            UpdateInstanceRequest(
                blockchain_id=union,
                body=UpdateInstanceRequestBody(node_orgs=[NodeOrgs(name=DEFAULT_ORG, node_count=count)]),
            )
        )
        _wait(net.inviter, update.operation_id)
        if count == 1:
            assert sorted(_peers(net.inviter, union)) == sorted(peers)[:1]
            assert not pid_alive(old_pid)
    shown = _peers(net.inviter, union)
    assert sorted(shown) == sorted(peers)
    new_pid = node_pids(net.server)[second]
    assert new_pid != old_pid
    assert pid_alive(new_pid)
    assert cli.channels(shown[second]) == []  # a new peer is in no channel until BatchAddPeersToChannel
    assert sorted(node_pids(net.server).values()) == fabric_children(net.server)
    net.tools["inviter_peers"] = list(shown.values())


def test_deleting_the_instances_leaves_no_process_and_frees_the_ports(net: Net) -> None:
    from huaweicloudsdkbcs.v2 import DeleteBlockchainRequest

    pids = node_pids(net.server)
    ports = [port for (port,) in net.server.rows("SELECT port FROM node_ports")]
    assert len(ports) == 7 * 3  # 3 orderers and 2 + 2 peers, three ports each
    for client, key in ((net.invitee, "invitee"), (net.inviter, "union")):
        deleted = client.delete_blockchain(DeleteBlockchainRequest(blockchain_id=net.ids[key]))
        _wait(client, deleted.operation_id)
    assert [pid for pid in pids.values() if pid_alive(pid)] == []
    assert fabric_children(net.server) == []
    assert net.server.rows("SELECT count(*) FROM node_ports") == [(0,)]
    assert net.server.rows("SELECT count(*) FROM runtime_nodes") == [(0,)]
    for port in ports:  # a new listener may take each port again (closed connections may linger in TIME_WAIT)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()
    assert list((net.server.data_dir / "nodes").glob("*/*")) == []
