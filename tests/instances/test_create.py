"""CreateNewBlockchain happy paths: what the answer says, what the model holds, and what every view derives."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.network.models import Channel, Instance, Node, Organization
from tests.support.bodies import PASSWORD, create_body
from tests.support.expected import msp_id, orderer_names, org_domain, org_hash, peer_names
from tests.support.operations import drive_operations, operation_locks, step_operation
from tests.support.snapshots import row_count

CREATE_STEPS = {
    "Preparation": ["Generate basic configurations", "Generate certificates"],
    "Prepare the cluster": ["Check CCE cluster", "Configure network", "Configure security group"],
    "Create Other Dependent Resource": ["Create EIP", "Create network storage"],
    "Deploy blockchain": ["Deploy orderers", "Deploy peers", "Create channels"],
    "Finish": ["Check instance health"],
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
CCE_PARTS = ("cluster", "network", "security_group")


def _orgs(session: Session) -> list[tuple[str, str, str]]:
    return [(o.name, o.role, o.name_hash) for o in session.scalars(select(Organization).order_by(Organization.id))]


def _channel_names(session: Session) -> list[str]:
    return list(session.scalars(select(Channel.name).order_by(Channel.id)))


def _cce(status: dict) -> dict[str, str]:
    return {part: status["cce"][part]["status"] for part in status["cce"]}


def test_the_default_instance_answer_record_and_model(tenant, db):
    created = tenant.start_creation(create_body("bcs-default"))
    assert set(created) == {"blockchain_id", "blockchain_name", "operation_id"}
    assert UUID.match(created["blockchain_id"])
    assert created["blockchain_name"] == "bcs-default"
    assert re.match(r"^BCSSVC01-99-\d{19}$", created["operation_id"])

    record = tenant.wait(created["operation_id"])
    assert (record["resource_type"], record["operation_type"]) == ("BCSSVC01", "99")
    assert (record["blockchain_id"], record["blockchain_name"]) == (created["blockchain_id"], "bcs-default")
    assert (record["project_id"], record["domain_id"]) == (tenant.project_id, tenant.domain_id)
    assert {name: list(step["sub_steps"]) for name, step in record["operation_process"].items()} == CREATE_STEPS
    assert [step["serial_num"] for step in record["operation_process"].values()] == [1, 2, 3, 4, 5]
    assert all(step["status"] == "finished" for step in record["operation_process"].values())
    eip = record["operation_process"]["Create Other Dependent Resource"]["sub_steps"]["Create EIP"]
    assert eip["detail"] == "not requested"

    bid = created["blockchain_id"]
    stored = db.run_read(Session.get, Instance, bid)
    assert (stored.status, stored.deploy_status) == ("Normal", 1)
    # Created: the engine no longer holds the instance.
    assert operation_locks(db) == []
    assert (stored.consensus, stored.fabric_version, stored.blockchain_type) == ("etcdraft", "2.2", "private")
    # The passwords are never kept.
    assert PASSWORD not in repr(stored.settings)
    assert "resource_password" not in stored.settings
    assert db.run_read(_orgs) == [
        ("organization", "peer", org_hash(bid, "organization")),
        ("orderer", "orderer", org_hash(bid, "orderer")),
    ]
    assert row_count(db, Node) == 5
    assert db.run_read(_channel_names) == ["channel"]


def test_the_default_detail_is_derived_from_the_model(tenant):
    bid = tenant.create_instance("bcs-detail")
    shown = tenant.detail(bid)
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

    org = org_hash(bid, "organization")
    assert HEX40.match(org)
    [peer_org] = shown["peer_info"]
    assert (peer_org["name"], peer_org["node_cnt"], peer_org["status"], peer_org["status_detail"]) == (
        "organization",
        2,
        "Normal",
        "2/2",
    )
    assert [a["domain_port"] for a in peer_org["address"]] == [
        f"{peer}.{org_domain(bid, 'organization')}:7051" for peer in peer_names(bid, "organization", 2)
    ]
    orderer = shown["orderer_info"]
    assert (orderer["name"], orderer["node_cnt"], orderer["status_detail"]) == ("orderer", 3, "3/3")
    assert shown["channels"] == [
        {
            "name": "channel",
            "org_names": ["organization"],
            "org_name_hash": [org],
            "peers": {"organization": peer_names(bid, "organization", 2)},
        }
    ]
    assert shown["evs_pvc_info"] == {"organization": {"pvc_name": peer_org["pvc_name"]}}
    assert "couch_db_info" not in shown
    assert "sfs_info" not in shown

    # Nodes agree with detail and channels.
    node_orgs = tenant.nodes(bid)
    assert list(node_orgs) == ["organization"]
    org_view = node_orgs["organization"]
    assert org_view["org_msp_id"] == msp_id(bid, "organization")
    assert org_view["org_domain"] == org_domain(bid, "organization")
    assert {name: peer["channels"] for name, peer in org_view["peers"].items()} == {
        peer: ["channel"] for peer in peer_names(bid, "organization", 2)
    }
    assert [p["ip_port"] for p in org_view["peers"].values()] == [a["ip_port"] for a in peer_org["address"]]

    [channel] = tenant.channels(bid)
    assert channel["peers"] == shown["channels"][0]["peers"]
    assert channel["consensusNodes"] == {"orderer": orderer_names(bid, 3)}


def test_explicit_orgs_channels_couchdb_nfs_and_sflic(tenant, db):
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
        peer_orgs=[("org-one", 1), ("org-two", 3)],
        channels=[
            {"name": "both", "org_names": ["org-one", "org-two"], "description": "shared"},
            ("onlytwo", ["org-two"]),
        ],
    )
    bid = tenant.create_instance(body)
    shown = tenant.detail(bid)
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
    one, two = org_hash(bid, "org-one"), org_hash(bid, "org-two")
    assert shown["channels"] == [
        {
            "name": "both",
            "org_names": ["org-one", "org-two"],
            "org_name_hash": [one, two],
            "peers": {"org-one": peer_names(bid, "org-one", 1), "org-two": peer_names(bid, "org-two", 3)},
        },
        {
            "name": "onlytwo",
            "org_names": ["org-two"],
            "org_name_hash": [two],
            "peers": {"org-two": peer_names(bid, "org-two", 3)},
        },
    ]
    node_orgs = tenant.nodes(bid)
    assert {org: {p: v["channels"] for p, v in view["peers"].items()} for org, view in node_orgs.items()} == {
        "org-one": {peer: ["both"] for peer in peer_names(bid, "org-one", 1)},
        "org-two": {peer: ["both", "onlytwo"] for peer in peer_names(bid, "org-two", 3)},
    }
    assert {org: view["org_msp_id"] for org, view in node_orgs.items()} == {
        "org-one": msp_id(bid, "org-one"),
        "org-two": msp_id(bid, "org-two"),
    }

    shown_status = tenant.status(bid)
    assert set(shown_status) == {"bcs", "eip", "sfs", "cce"}
    assert shown_status["eip"]["status"] == "finished"
    assert shown_status["eip"]["detail"] == "EIP bound to the cluster nodes (modelled)"
    assert shown_status["sfs"] == {
        **shown_status["sfs"],
        "status": "finished",
        "detail": "nfs volumes provisioned (modelled)",
    }
    # The couchdb password is not kept either.
    stored = db.run_read(Session.get, Instance, bid).settings
    assert "CouchPass1" not in repr(stored)
    assert stored["couchdb_user"] == "couch"
    assert [(c["name"], c["description"]) for c in tenant.channels(bid)] == [("both", "shared"), ("onlytwo", "")]


def test_a_union_instance_on_a_new_cluster_with_a_chinese_name(tenant, db):
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
        peer_orgs=[("组织-甲", 2)],
        channels=[],
    )
    created = tenant.start_creation(body)
    assert created["blockchain_name"] == "区块链-联盟"
    tenant.wait(created["operation_id"])
    shown = tenant.detail(created["blockchain_id"])
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
    assert row_count(db, Channel) == 0
    stored = db.run_read(Session.get, Instance, created["blockchain_id"]).settings
    assert "NodePassw0rd" not in repr(stored)


def test_an_instance_is_creating_until_its_operation_completes(frozen_tenant, db):
    created = frozen_tenant.start_creation(create_body("bcs-slow"))
    bid, op = created["blockchain_id"], created["operation_id"]

    shown = frozen_tenant.detail(bid)
    basic = shown["basic_info"]
    assert (basic["status"], basic["process_status"], basic["deploy_status"]) == ("Normal", "IsCreating", 0)
    assert operation_locks(db) == [(bid, op, "IsCreating")]
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("IsCreating", "0/2")]
    assert (shown["orderer_info"]["status"], shown["orderer_info"]["status_detail"]) == ("IsCreating", "0/3")
    assert shown["agent_info"]["status_detail"] == "0/1"
    assert shown["channels"] == []
    # Nothing has run yet: every part waits.
    waiting = frozen_tenant.status(bid)
    assert set(waiting) == {"bcs", "cce"}
    assert waiting["bcs"]["status"] == "waiting"
    assert _cce(waiting) == dict.fromkeys(CCE_PARTS, "waiting")
    [record] = frozen_tenant.records(blockchain_id=bid)
    assert (record["operation_id"], record["operation_status"]) == (op, "waiting")

    # Its first sub-step runs; everything else waits.
    step_operation(db, op, 1)
    first = frozen_tenant.status(bid)
    assert first["bcs"]["status"] == "deploying"
    assert first["bcs"]["start_time"]
    assert first["bcs"]["end_time"] == ""
    assert _cce(first) == dict.fromkeys(CCE_PARTS, "waiting")
    record = frozen_tenant.record(op)
    assert record["operation_status"] == "processing"
    assert record["operation_process"]["Preparation"]["status"] == "processing"
    assert record["operation_process"]["Preparation"]["detail"] == "Generate basic configurations"
    assert record["operation_process"]["Finish"]["status"] == "waiting"
    assert [r["operation_id"] for r in frozen_tenant.records(operation_status="processing")] == [op]

    # Through the preparation and cluster sub-steps: cce finished, bcs still deploying.
    step_operation(db, op, 5)
    middle = frozen_tenant.status(bid)
    assert _cce(middle) == dict.fromkeys(CCE_PARTS, "finished")
    assert middle["bcs"]["status"] == "deploying"
    assert frozen_tenant.detail(bid)["basic_info"]["process_status"] == "IsCreating"
    assert operation_locks(db) == [(bid, op, "IsCreating")]

    drive_operations(db, operation_id=op)
    done = frozen_tenant.status(bid)
    assert done["bcs"]["status"] == "finished"
    assert done["bcs"]["end_time"]
    basic = frozen_tenant.detail(bid)["basic_info"]
    assert (basic["status"], basic["process_status"], basic["deploy_status"]) == ("Normal", "", 1)
    assert db.run_read(Session.get, Operation, op).status == "finished"
    assert operation_locks(db) == []
