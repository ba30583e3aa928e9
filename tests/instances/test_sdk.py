"""The instance operations through the official SDK (huaweicloudsdkbcs BcsClient, AK/SK signed) on a live server."""

from __future__ import annotations

import time

import pytest
from huaweicloudsdkbcs.v2 import (
    CCEClusterInfo,
    ChannelInfoV2,
    CreateNewBlockchainRequest,
    CreateRequestBody,
    DeleteBlockchainRequest,
    ListBlockchainsRequest,
    ListOpRecordRequest,
    ListQuotasRequest,
    NodeOrgs,
    OrgPeer,
    ShowBlockchainDetailRequest,
    ShowBlockchainFlavorsRequest,
    ShowBlockchainNodesRequest,
    ShowBlockchainStatusRequest,
    UpdateInstanceRequest,
    UpdateInstanceRequestBody,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.network.models import Instance
from tests.support.bodies import CLUSTER, create_body
from tests.support.operations import operation_locks
from tests.support.snapshots import row_count


def _wait(client, operation_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        response = client.list_op_record(ListOpRecordRequest(operation_id=operation_id))
        assert response.count == 1
        record = response.operation_records[0]
        if record.operation_status in ("finished", "failed"):
            return record
        assert time.monotonic() < deadline, f"{operation_id} still {record.operation_status}"
        time.sleep(0.02)


def _body(name: str, **extra) -> CreateRequestBody:
    """The suite's valid creation body (``create_body``) as the SDK's model, with ``extra`` fields."""
    fields = {**create_body(name), "cce_cluster_info": CCEClusterInfo(**CLUSTER), "fabric_version": "2.2", **extra}
    return CreateRequestBody(**fields)


def test_the_sdk_creates_reads_scales_and_deletes_an_instance(sdk_client, make_account, db):
    account = make_account()
    client = sdk_client(account)

    created = client.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=_body(
                "bcs-sdk",
                peer_orgs=[OrgPeer(name="org-one", node_count=2)],
                channels=[ChannelInfoV2(name="sdkchannel", org_names=["org-one"], description="via sdk")],
            )
        )
    )
    assert created.blockchain_name == "bcs-sdk"
    assert created.operation_id.startswith("BCSSVC01-99-")
    bid = created.blockchain_id
    record = _wait(client, created.operation_id)
    assert (record.operation_type, record.operation_status, record.blockchain_id) == ("99", "finished", bid)
    assert record.operation_process["Finish"].sub_steps["Check instance health"].status == "finished"

    listed = client.list_blockchains(ListBlockchainsRequest())
    assert listed.count == 1
    assert [(b.id, b.name) for b in listed.blockchains] == [(bid, "bcs-sdk")]

    shown = client.show_blockchain_detail(ShowBlockchainDetailRequest(blockchain_id=bid))
    assert (shown.basic_info.id, shown.basic_info.status, shown.basic_info.process_status) == (bid, "Normal", "")
    assert (shown.basic_info.consensus, shown.basic_info.version_type) == ("etcdraft", 4)
    assert [(p.name, p.node_cnt, p.status_detail) for p in shown.peer_info] == [("org-one", 2, "2/2")]
    assert shown.orderer_info.node_cnt == 3
    [channel] = shown.channels
    assert (channel.name, channel.org_names) == ("sdkchannel", ["org-one"])

    state = client.show_blockchain_status(ShowBlockchainStatusRequest(blockchain_id=bid))
    assert state.bcs.status == "finished"
    assert state.cce.cluster.status == "finished"

    node_orgs = client.show_blockchain_nodes(ShowBlockchainNodesRequest(blockchain_id=bid)).node_orgs
    assert list(node_orgs) == ["org-one"]
    org = node_orgs["org-one"]
    assert org.org_msp_id == channel.org_name_hash[0] + "MSP"
    assert sorted(org.peers) == sorted(channel.peers["org-one"])
    assert all(peer.channels == ["sdkchannel"] for peer in org.peers.values())

    [quota] = client.list_quotas(ListQuotasRequest()).resources
    assert (quota.type, quota.quota, quota.used, quota.free) == ("instance", 5, 1, 4)
    spec = client.show_blockchain_flavors(ShowBlockchainFlavorsRequest(limit=10, offset=0)).enterprise_spec
    assert (spec.org_peer_max_num, spec.orderer_max_num, spec.member_max_num) == (5, 10, 20)

    scaled = client.update_instance(
        UpdateInstanceRequest(
            blockchain_id=bid, body=UpdateInstanceRequestBody(node_orgs=[NodeOrgs(name="org-one", node_count=1)])
        )
    )
    assert scaled.operation_id.startswith("BCSSVC01-03-")
    assert _wait(client, scaled.operation_id).operation_status == "finished"
    shown = client.show_blockchain_detail(ShowBlockchainDetailRequest(blockchain_id=bid))
    assert [(p.node_cnt, p.status_detail) for p in shown.peer_info] == [(1, "1/1")]
    assert (
        len(client.show_blockchain_nodes(ShowBlockchainNodesRequest(blockchain_id=bid)).node_orgs["org-one"].peers) == 1
    )

    added = client.update_instance(
        UpdateInstanceRequest(
            blockchain_id=bid,
            body=UpdateInstanceRequestBody(node_orgs=[NodeOrgs(name="org-two", node_count=1, pvc_name="pvc-two")]),
        )
    )
    assert _wait(client, added.operation_id).operation_type == "02"
    removed = client.update_instance(
        UpdateInstanceRequest(
            blockchain_id=bid,
            body=UpdateInstanceRequestBody(node_orgs=[NodeOrgs(name="org-two", node_count=1)], is_delete_org=True),
        )
    )
    assert _wait(client, removed.operation_id).operation_status == "finished"
    shown = client.show_blockchain_detail(ShowBlockchainDetailRequest(blockchain_id=bid))
    assert [p.name for p in shown.peer_info] == ["org-one"]

    deleted = client.delete_blockchain(
        DeleteBlockchainRequest(blockchain_id=bid, is_delete_storage=True, is_delete_obs=False)
    )
    assert deleted.operation_id.startswith("BCSSVC01-00-")
    assert _wait(client, deleted.operation_id).operation_status == "finished"
    assert db.run_read(Session.get, Operation, deleted.operation_id).payload == {
        "flags": {"is_delete_storage": True, "is_delete_obs": False}
    }
    assert client.list_blockchains(ListBlockchainsRequest()).count == 0
    history = client.list_op_record(ListOpRecordRequest(blockchain_id=bid))
    assert [r.operation_type for r in history.operation_records] == ["00", "02", "02", "03", "99"]
    assert row_count(db, Instance) == 0
    assert operation_locks(db) == []


def test_sdk_errors_carry_the_bcs_code(sdk_client, make_account, db):
    account = make_account()
    client = sdk_client(account)
    with pytest.raises(ClientRequestException) as caught:
        client.show_blockchain_detail(ShowBlockchainDetailRequest(blockchain_id="no-such-instance"))
    assert caught.value.status_code == 400
    assert caught.value.error_code == "BCS.4001011"
    assert (
        caught.value.error_msg == "Operation failed. The service does not exist or has been deleted. Refresh the page."
    )
    assert caught.value.request_id

    with pytest.raises(ClientRequestException) as caught:
        client.create_new_blockchain(CreateNewBlockchainRequest(body=_body("bcs-sdk", orderer_node_number=4)))
    assert (caught.value.status_code, caught.value.error_code) == (400, "BCS.4006014")
    assert caught.value.error_msg == "Invalid Parameter orderer_node_number : 3 for etcdraft consensus on Fabric 2.2"

    with pytest.raises(ClientRequestException) as caught:
        client.show_blockchain_flavors(ShowBlockchainFlavorsRequest(limit=0))
    assert (caught.value.status_code, caught.value.error_code) == (400, "BCS.4006014")
    assert caught.value.error_msg == "Invalid Parameter limit : Input should be greater than 0"
    assert row_count(db, Instance) == 0
    assert row_count(db, Operation) == 0
