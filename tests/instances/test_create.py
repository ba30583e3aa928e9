"""CreateNewBlockchain happy paths: what the answer says, what the model holds, and what every view derives."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from openbcs.network.models import Instance, Node, Organization
from openbcs.network.models import Channel
from openbcs.engine.models import Operation
from tests.instances.helpers import (
    PASSWORD,
    create_body,
    create_instance,
    detail,
    drive_operations,
    new_tenant,
    nodes,
    op_records,
    start_creation,
    status,
    step_operation,
    wait_for_operation,
)

CREATE_STEPS = {
    "Preparation": ["Generate basic configurations", "Generate certificates"],
    "Prepare the cluster": ["Check CCE cluster", "Configure network", "Configure security group"],
    "Create Other Dependent Resource": ["Create EIP", "Create network storage"],
    "Deploy blockchain": ["Deploy orderers", "Deploy peers", "Create channels"],
    "Finish": ["Check instance health"],
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _sha1(blockchain_id: str, org: str) -> str:
    return hashlib.sha1(f"{blockchain_id}/{org}".encode()).hexdigest()


def test_default_instance_answer_record_and_model(client, tenant, db):
    created = start_creation(client, tenant.headers, tenant.project_id, create_body("bcs-default"))
    assert set(created) == {"blockchain_id", "blockchain_name", "operation_id"}
    assert UUID.match(created["blockchain_id"])
    assert created["blockchain_name"] == "bcs-default"
    assert re.match(r"^BCSSVC01-99-\d{19}$", created["operation_id"])

    record = wait_for_operation(client, tenant.headers, tenant.project_id, created["operation_id"])
    assert record["operation_status"] == "finished"
    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "99")
    assert (record["blockchain_id"], record["blockchain_name"]) == (created["blockchain_id"], "bcs-default")
    assert (record["project_id"], record["domain_id"]) == (tenant.project_id, tenant.domain_id)
    assert {name: list(step["sub_steps"]) for name, step in record["operation_process"].items()} == CREATE_STEPS
    assert [step["serial_num"] for step in record["operation_process"].values()] == [1, 2, 3, 4, 5]
    assert all(step["status"] == "finished" for step in record["operation_process"].values())
    eip = record["operation_process"]["Create Other Dependent Resource"]["sub_steps"]["Create EIP"]
    assert eip["detail"] == "not requested"

    bid = created["blockchain_id"]
    stored = db.run_read(lambda s: s.get(Instance, bid))
    assert (stored.status, stored.process_status, stored.deploy_status, stored.busy_operation_id) == (
        "Normal",
        None,
        1,
        None,
    )
    assert (stored.consensus, stored.fabric_version, stored.blockchain_type) == ("etcdraft", "2.2", "private")
    # The passwords are never kept.
    assert PASSWORD not in repr(stored.settings)
    assert "resource_password" not in stored.settings
    orgs = db.run_read(
        lambda s: [(o.name, o.role, o.name_hash) for o in s.scalars(select(Organization).order_by(Organization.id))]
    )
    assert orgs == [
        ("organization", "peer", _sha1(bid, "organization")),
        ("orderer", "orderer", _sha1(bid, "orderer")),
    ]
    assert db.run_read(lambda s: len(list(s.scalars(select(Node))))) == 5
    assert db.run_read(lambda s: [c.name for c in s.scalars(select(Channel))]) == ["channel"]


def test_default_detail_is_derived_from_the_model(client, tenant):
    bid = create_instance(client, tenant.headers, tenant.project_id, "bcs-detail")
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    basic = shown["basic_info"]
    assert basic["id"] == bid
    assert basic["name"] == "bcs-detail"
    assert (basic["version"], basic["service_type"], basic["consensus"], basic["sign_algorithm"]) == (
        "2.2",
        "private",
        "etcdraft",
        "ECDSA",
    )
    assert (basic["version_type"], basic["database_type"], basic["charging_mode"]) == (4, "goleveldb", 1)
    assert (basic["cluster_id"], basic["cluster_name"], basic["cluster_type"]) == ("cce-0001", "cce-test", "CCE")
    assert (basic["status"], basic["process_status"], basic["deploy_status"]) == ("Normal", "", 1)
    assert basic["deploy_type"] == ""
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", basic["created_time"])
    assert basic["block_info"] == {"batch_timeout": 2, "max_message_count": 500, "preferred_maxbytes": 2}

    org_hash = _sha1(bid, "organization")
    assert HEX40.match(org_hash)
    [peer_org] = shown["peer_info"]
    assert (peer_org["name"], peer_org["node_cnt"], peer_org["status"], peer_org["status_detail"]) == (
        "organization",
        2,
        "Normal",
        "2/2",
    )
    assert [a["domain_port"] for a in peer_org["address"]] == [
        f"peer-{org_hash}-{n}.peer-{org_hash}.default.svc.cluster.local:7051" for n in (0, 1)
    ]
    orderer = shown["orderer_info"]
    assert (orderer["name"], orderer["node_cnt"], orderer["status_detail"]) == ("orderer", 3, "3/3")
    assert shown["channels"] == [
        {
            "name": "channel",
            "org_names": ["organization"],
            "org_name_hash": [org_hash],
            "peers": {"organization": [f"peer-{org_hash}-0", f"peer-{org_hash}-1"]},
        }
    ]
    assert shown["evs_pvc_info"] == {"organization": {"pvc_name": peer_org["pvc_name"]}}
    assert "couch_db_info" not in shown
    assert "sfs_info" not in shown

    # Nodes agree with detail and channels.
    node_orgs = nodes(client, tenant.headers, tenant.project_id, bid)
    assert list(node_orgs) == ["organization"]
    org_view = node_orgs["organization"]
    assert org_view["org_msp_id"] == org_hash + "MSP"
    assert org_view["org_domain"] == f"peer-{org_hash}.default.svc.cluster.local"
    assert {name: peer["channels"] for name, peer in org_view["peers"].items()} == {
        f"peer-{org_hash}-0": ["channel"],
        f"peer-{org_hash}-1": ["channel"],
    }
    assert [p["ip_port"] for p in org_view["peers"].values()] == [a["ip_port"] for a in peer_org["address"]]

    listed = client.get(f"{tenant.base}/blockchains/{bid}/channels", headers=tenant.headers)
    assert listed.status_code == 200
    [channel] = listed.json()["channels"]
    assert channel["peers"] == shown["channels"][0]["peers"]
    orderer_hash = _sha1(bid, "orderer")
    assert channel["consensusNodes"] == {"orderer": [f"orderer-{orderer_hash}-{n}" for n in range(3)]}


def test_explicit_orgs_channels_couchdb_nfs_sflic(client, tenant, db):
    body = create_body(
        "bcs-explicit",
        consensus="SFLIC",
        orderer_node_number=4,
        version_type=2,
        org_disk_size=500,
        database_type="couchdb",
        couchdb_info={"user_name": "couch", "password": "CouchPass1"},
        volume_type="nfs",
        evs_disk_type=None,
        use_eip=True,
        bandwidth_size=5,
        restful_api_support=True,
        block_info={"batch_timeout": 3, "max_message_count": 100, "preferred_maxbytes": 4},
        peer_orgs=[{"name": "org-one", "node_count": 1}, {"name": "org-two", "node_count": 3}],
        channels=[
            {"name": "both", "org_names": ["org-one", "org-two"], "description": "shared"},
            {"name": "onlytwo", "org_names": ["org-two"]},
        ],
    )
    created = start_creation(client, tenant.headers, tenant.project_id, body)
    assert (
        wait_for_operation(client, tenant.headers, tenant.project_id, created["operation_id"])["operation_status"]
        == "finished"
    )
    bid = created["blockchain_id"]
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    basic = shown["basic_info"]
    assert (basic["consensus"], basic["sign_algorithm"], basic["version_type"], basic["database_type"]) == (
        "SFLIC",
        "ECDSA",
        2,
        "couchdb",
    )
    assert basic["is_support_restful"] is True
    assert basic["block_info"] == {"batch_timeout": 3, "max_message_count": 100, "preferred_maxbytes": 4}
    assert [(p["name"], p["node_cnt"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", 1, "1/1"),
        ("org-two", 3, "3/3"),
    ]
    assert (shown["orderer_info"]["node_cnt"], shown["orderer_info"]["status_detail"]) == (4, "4/4")
    assert shown["couch_db_info"] == {"user": "couch"}
    assert shown["sfs_info"]["type"] == "nfs"
    assert "evs_pvc_info" not in shown
    assert shown["restapi_info"]["status_detail"] == "1/1"
    one, two = _sha1(bid, "org-one"), _sha1(bid, "org-two")
    assert shown["channels"] == [
        {
            "name": "both",
            "org_names": ["org-one", "org-two"],
            "org_name_hash": [one, two],
            "peers": {"org-one": [f"peer-{one}-0"], "org-two": [f"peer-{two}-{n}" for n in range(3)]},
        },
        {
            "name": "onlytwo",
            "org_names": ["org-two"],
            "org_name_hash": [two],
            "peers": {"org-two": [f"peer-{two}-{n}" for n in range(3)]},
        },
    ]
    node_orgs = nodes(client, tenant.headers, tenant.project_id, bid)
    assert {org: {p: v["channels"] for p, v in view["peers"].items()} for org, view in node_orgs.items()} == {
        "org-one": {f"peer-{one}-0": ["both"]},
        "org-two": {f"peer-{two}-{n}": ["both", "onlytwo"] for n in range(3)},
    }
    assert {org: view["org_msp_id"] for org, view in node_orgs.items()} == {
        "org-one": one + "MSP",
        "org-two": two + "MSP",
    }

    shown_status = status(client, tenant.headers, tenant.project_id, bid)
    assert set(shown_status) == {"bcs", "eip", "sfs", "cce"}
    assert shown_status["eip"]["status"] == "finished"
    assert shown_status["eip"]["detail"] == "EIP bound to the cluster nodes (modelled)"
    assert shown_status["sfs"] == {
        **shown_status["sfs"],
        "status": "finished",
        "detail": "nfs volumes provisioned (modelled)",
    }
    # The couchdb password is not kept either.
    stored = db.run_read(lambda s: s.get(Instance, bid).settings)
    assert "CouchPass1" not in repr(stored)
    assert stored["couchdb_user"] == "couch"
    channel_descriptions = client.get(f"{tenant.base}/blockchains/{bid}/channels", headers=tenant.headers).json()
    assert [(c["name"], c["description"]) for c in channel_descriptions["channels"]] == [
        ("both", "shared"),
        ("onlytwo", ""),
    ]


def test_new_cluster_union_instance_and_chinese_name(client, tenant, db):
    body = create_body(
        "区块链-联盟",
        blockchain_type="union",
        create_new_cluster=True,
        cce_cluster_info=None,
        cce_create_info={
            "node_num": 2,
            "node_flavor": "c6.xlarge.2",
            "cce_flavor": "cce.s1.small",
            "init_node_pwd": "NodePassw0rd",
            "az": "cn-north-4a",
            "cluster_platform_type": "ARM64",
        },
        peer_orgs=[{"name": "组织-甲", "node_count": 2}],
        channels=[],
    )
    created = start_creation(client, tenant.headers, tenant.project_id, body)
    assert created["blockchain_name"] == "区块链-联盟"
    wait_for_operation(client, tenant.headers, tenant.project_id, created["operation_id"])
    shown = detail(client, tenant.headers, tenant.project_id, created["blockchain_id"])
    basic = shown["basic_info"]
    assert (basic["service_type"], basic["deploy_type"], basic["cluster_platform_type"]) == (
        "union",
        "create",
        "ARM64",
    )
    assert basic["cluster_name"] == "区块链-联盟-cce"
    assert UUID.match(basic["cluster_id"])
    assert [p["name"] for p in shown["peer_info"]] == ["组织-甲"]
    # An explicitly empty channel list creates no channel.
    assert shown["channels"] == []
    assert db.run_read(lambda s: len(list(s.scalars(select(Channel))))) == 0
    stored = db.run_read(lambda s: s.get(Instance, created["blockchain_id"]).settings)
    assert "NodePassw0rd" not in repr(stored)


def test_instance_is_creating_until_its_operation_completes(frozen_client, make_account, db):
    tenant = new_tenant(frozen_client, make_account)
    created = start_creation(frozen_client, tenant.headers, tenant.project_id, create_body("bcs-slow"))
    bid, op = created["blockchain_id"], created["operation_id"]

    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    basic = shown["basic_info"]
    assert (basic["status"], basic["process_status"], basic["deploy_status"]) == ("Normal", "IsCreating", 0)
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("IsCreating", "0/2")]
    assert (shown["orderer_info"]["status"], shown["orderer_info"]["status_detail"]) == ("IsCreating", "0/3")
    assert shown["agent_info"]["status_detail"] == "0/1"
    assert shown["channels"] == []
    # Nothing has run yet: every part waits.
    waiting = status(frozen_client, tenant.headers, tenant.project_id, bid)
    assert set(waiting) == {"bcs", "cce"}
    assert waiting["bcs"]["status"] == "waiting"
    assert {part: waiting["cce"][part]["status"] for part in waiting["cce"]} == {
        "cluster": "waiting",
        "network": "waiting",
        "security_group": "waiting",
    }
    [record] = op_records(frozen_client, tenant.headers, tenant.project_id, blockchain_id=bid)
    assert (record["operation_id"], record["operation_status"]) == (op, "waiting")

    # Its first sub-step runs; everything else waits.
    step_operation(db, op, 1)
    first = status(frozen_client, tenant.headers, tenant.project_id, bid)
    assert first["bcs"]["status"] == "deploying"
    assert first["bcs"]["start_time"]
    assert first["bcs"]["end_time"] == ""
    assert {part: first["cce"][part]["status"] for part in first["cce"]} == {
        "cluster": "waiting",
        "network": "waiting",
        "security_group": "waiting",
    }
    [record] = op_records(frozen_client, tenant.headers, tenant.project_id, blockchain_id=bid)
    assert (record["operation_id"], record["operation_status"]) == (op, "processing")
    assert record["operation_process"]["Preparation"]["status"] == "processing"
    assert record["operation_process"]["Preparation"]["detail"] == "Generate basic configurations"
    assert record["operation_process"]["Finish"]["status"] == "waiting"
    assert [
        r["operation_id"]
        for r in op_records(frozen_client, tenant.headers, tenant.project_id, operation_status="processing")
    ] == [op]

    # Through the preparation and cluster sub-steps: cce finished, bcs still deploying.
    step_operation(db, op, 5)
    middle = status(frozen_client, tenant.headers, tenant.project_id, bid)
    assert {part: middle["cce"][part]["status"] for part in middle["cce"]} == {
        "cluster": "finished",
        "network": "finished",
        "security_group": "finished",
    }
    assert middle["bcs"]["status"] == "deploying"
    assert detail(frozen_client, tenant.headers, tenant.project_id, bid)["basic_info"]["process_status"] == "IsCreating"

    drive_operations(db, operation_id=op)
    done = status(frozen_client, tenant.headers, tenant.project_id, bid)
    assert done["bcs"]["status"] == "finished"
    assert done["bcs"]["end_time"]
    basic = detail(frozen_client, tenant.headers, tenant.project_id, bid)["basic_info"]
    assert (basic["status"], basic["process_status"], basic["deploy_status"]) == ("Normal", "", 1)
    assert db.run_read(lambda s: s.get(Operation, op).status) == "finished"
