"""UpdateInstance: add or delete peers, add or delete organisations — one kind per call — and its refusals."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from openbcs.network.models import Instance, Node, Organization
from openbcs.engine.models import Operation
from tests.instances.helpers import (
    Tenant,
    create_body,
    create_instance,
    detail,
    drive_operations,
    new_tenant,
    nodes,
    op_records,
    row_count,
    start_creation,
    wait_for_operation,
)
from tests.support import error_of

TWO_ORGS = {
    "peer_orgs": [{"name": "org-one", "node_count": 4}, {"name": "org-two", "node_count": 3}],
    "channels": [{"name": "mychannel", "org_names": ["org-one"]}],
}


def _hash(bid: str, org: str) -> str:
    return hashlib.sha1(f"{bid}/{org}".encode()).hexdigest()


def _put(client, tenant: Tenant, bid: str, body: dict[str, Any] | str):
    return client.put(
        f"{tenant.base}/blockchains/{bid}",
        content=body if isinstance(body, str) else json.dumps(body),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )


def _update(client, tenant: Tenant, bid: str, body: dict[str, Any], op_type: str) -> dict[str, Any]:
    response = _put(client, tenant, bid, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"operation_id"}
    operation_id = response.json()["operation_id"]
    assert re.match(rf"^BCSSVC01-{op_type}-\d{{19}}$", operation_id)
    record = wait_for_operation(client, tenant.headers, tenant.project_id, operation_id)
    assert (record["operation_type"], record["operation_status"]) == (op_type, "finished")
    return record


def _model(db, bid: str) -> dict[str, list[str]]:
    """``{org name: [node names]}`` of the stored model."""

    def read(s) -> dict[str, list[str]]:
        orgs = s.scalars(select(Organization).where(Organization.blockchain_id == bid).order_by(Organization.id))
        return {
            o.name: list(s.scalars(select(Node.name).where(Node.org_id == o.id).order_by(Node.ordinal))) for o in orgs
        }

    return db.run_read(read)


def _channel_peers(client, tenant: Tenant, bid: str) -> dict[str, dict[str, list[str]]]:
    response = client.get(f"{tenant.base}/blockchains/{bid}/channels", headers=tenant.headers)
    assert response.status_code == 200
    return {c["name"]: c["peers"] for c in response.json()["channels"]}


def test_add_peers(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id)
    record = _update(client, tenant, bid, {"node_orgs": [{"name": "organization", "node_count": 4}]}, "03")
    assert list(record["operation_process"]) == ["Preparation", "Scale peers", "Finish"]
    assert record["operation_process"]["Scale peers"]["sub_steps"]["Update peer nodes"]["detail"] == (
        "2 node(s) added, 0 removed"
    )
    h = _hash(bid, "organization")
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "")
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("organization", 4, "Normal", "4/4")
    ]
    assert len(shown["peer_info"][0]["address"]) == 4
    # New peers are in no channel yet.
    peers = nodes(client, tenant.headers, tenant.project_id, bid)["organization"]["peers"]
    assert {name: p["channels"] for name, p in peers.items()} == {
        f"peer-{h}-0": ["channel"],
        f"peer-{h}-1": ["channel"],
        f"peer-{h}-2": [],
        f"peer-{h}-3": [],
    }
    assert _channel_peers(client, tenant, bid) == {"channel": {"organization": [f"peer-{h}-0", f"peer-{h}-1"]}}
    assert _model(db, bid)["organization"] == [f"peer-{h}-{n}" for n in range(4)]
    assert db.run_read(lambda s: s.get(Instance, bid).busy_operation_id) is None


def test_delete_peers_removes_the_highest_and_takes_them_out_of_channels(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    one = _hash(bid, "org-one")
    assert _channel_peers(client, tenant, bid) == {"mychannel": {"org-one": [f"peer-{one}-{n}" for n in range(4)]}}
    history = client.get(f"{tenant.base}/blockchains/{bid}/channels/mychannel/config-history", headers=tenant.headers)
    blocks_before = len(history.json()["blocks"])

    record = _update(client, tenant, bid, {"node_orgs": [{"name": "org-one", "node_count": 1}]}, "03")
    assert record["operation_process"]["Scale peers"]["sub_steps"]["Update peer nodes"]["detail"] == (
        "0 node(s) added, 3 removed"
    )
    assert _model(db, bid) == {
        "org-one": [f"peer-{one}-0"],
        "org-two": [f"peer-{_hash(bid, 'org-two')}-{n}" for n in range(3)],
        "orderer": [f"orderer-{_hash(bid, 'orderer')}-{n}" for n in range(3)],
    }
    assert _channel_peers(client, tenant, bid) == {"mychannel": {"org-one": [f"peer-{one}-0"]}}
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    assert [(p["name"], p["node_cnt"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", 1, "1/1"),
        ("org-two", 3, "3/3"),
    ]
    assert shown["channels"][0]["peers"] == {"org-one": [f"peer-{one}-0"]}
    assert list(nodes(client, tenant.headers, tenant.project_id, bid)["org-one"]["peers"]) == [f"peer-{one}-0"]
    # Peers leaving do not change the org set: no configuration block.
    history = client.get(f"{tenant.base}/blockchains/{bid}/channels/mychannel/config-history", headers=tenant.headers)
    assert (len(history.json()["blocks"]), history.json()["verified"]) == (blocks_before, True)

    # Scaling back up reuses the freed ordinals.
    _update(client, tenant, bid, {"node_orgs": [{"name": "org-one", "node_count": 2}]}, "03")
    assert _model(db, bid)["org-one"] == [f"peer-{one}-0", f"peer-{one}-1"]


def test_scale_several_orgs_in_one_call(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    _update(
        client,
        tenant,
        bid,
        {"node_orgs": [{"name": "org-one", "node_count": 5}, {"name": "org-two", "node_count": 5}]},
        "03",
    )
    assert [len(v) for v in _model(db, bid).values()] == [5, 5, 3]


def test_add_org(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id)
    record = _update(
        client, tenant, bid, {"node_orgs": [{"name": "org-new", "node_count": 2, "pvc_name": "pvc-new"}]}, "02"
    )
    assert list(record["operation_process"]) == ["Preparation", "Update organisations", "Finish"]
    h = _hash(bid, "org-new")
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"], p["pvc_name"]) for p in shown["peer_info"]][
        1:
    ] == [("org-new", 2, "Normal", "2/2", "pvc-new")]
    assert shown["evs_pvc_info"]["org-new"] == {"pvc_name": "pvc-new"}
    # A new organisation is in no channel.
    assert shown["channels"][0]["org_names"] == ["organization"]
    view = nodes(client, tenant.headers, tenant.project_id, bid)["org-new"]
    assert view["org_msp_id"] == h + "MSP"
    assert {name: p["channels"] for name, p in view["peers"].items()} == {f"peer-{h}-0": [], f"peer-{h}-1": []}
    assert _model(db, bid)["org-new"] == [f"peer-{h}-0", f"peer-{h}-1"]


def test_delete_org(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    record = _update(
        client, tenant, bid, {"node_orgs": [{"name": "org-two", "node_count": 1}], "is_delete_org": True}, "02"
    )
    assert (
        record["operation_process"]["Update organisations"]["sub_steps"]["Update organisation nodes"]["detail"]
        == "0 node(s) added, 3 removed"
    )
    assert list(_model(db, bid)) == ["org-one", "orderer"]
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    assert [p["name"] for p in shown["peer_info"]] == ["org-one"]
    assert "org-two" not in shown["evs_pvc_info"]
    assert list(nodes(client, tenant.headers, tenant.project_id, bid)) == ["org-one"]
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "")


def test_org_in_a_channel_cannot_be_deleted_and_one_org_stays(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    before = _model(db, bid)
    response = _put(client, tenant, bid, {"node_orgs": [{"name": "org-one", "node_count": 4}], "is_delete_org": True})
    assert error_of(response) == (
        400,
        "BCS.4006003",
        "Invalid Parameter org org-one status : still in channel(s) mychannel; remove it from them first",
    )
    response = _put(
        client,
        tenant,
        bid,
        {
            "node_orgs": [{"name": "org-two", "node_count": 3}, {"name": "org-one", "node_count": 4}],
            "is_delete_org": True,
        },
    )
    assert error_of(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter node_orgs : an instance keeps at least one peer organisation",
    )
    assert _model(db, bid) == before
    assert row_count(db, Operation) == 1
    shown = detail(client, tenant.headers, tenant.project_id, bid)
    assert [(p["name"], p["status"]) for p in shown["peer_info"]] == [("org-one", "Normal"), ("org-two", "Normal")]
    assert db.run_read(lambda s: s.get(Instance, bid).busy_operation_id) is None


def test_last_org_cannot_be_deleted_even_outside_channels(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, channels=[])
    response = _put(
        client, tenant, bid, {"node_orgs": [{"name": "organization", "node_count": 2}], "is_delete_org": True}
    )
    assert error_of(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter node_orgs : an instance keeps at least one peer organisation",
    )
    assert list(_model(db, bid)) == ["organization", "orderer"]
    assert row_count(db, Operation) == 1


REFUSED = [
    (
        "mixed-add-and-delete-peers",
        {"node_orgs": [{"name": "org-one", "node_count": 5}, {"name": "org-two", "node_count": 1}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : add peers, delete peers, add or delete organisations: one per call",
    ),
    (
        "mixed-add-peers-and-add-org",
        {"node_orgs": [{"name": "org-one", "node_count": 5}, {"name": "org-new", "node_count": 1, "pvc_name": "p"}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : add peers, delete peers, add or delete organisations: one per call",
    ),
    (
        "same-count",
        {"node_orgs": [{"name": "org-one", "node_count": 4}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : organisation org-one already has 4 peer(s)",
    ),
    (
        "six-peers",
        {"node_orgs": [{"name": "org-one", "node_count": 6}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : 1 to 5 peers",
    ),
    (
        "new-org-six-peers",
        {"node_orgs": [{"name": "org-new", "node_count": 6, "pvc_name": "p"}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : 1 to 5 peers",
    ),
    (
        "zero-peers",
        {"node_orgs": [{"name": "org-one", "node_count": 0}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : Input should be greater than or equal to 1",
    ),
    (
        "add-org-without-pvc",
        {"node_orgs": [{"name": "org-new", "node_count": 1}]},
        "BCS.4006009",
        "one of parameters is nil: node_orgs[0].pvc_name",
    ),
    (
        "delete-unknown-org",
        {"node_orgs": [{"name": "nobody", "node_count": 1}], "is_delete_org": True},
        "BCS.4001051",
        "Input org nobody is not exist",
    ),
    (
        "delete-orderer-org",
        {"node_orgs": [{"name": "orderer", "node_count": 3}], "is_delete_org": True},
        "BCS.4001051",
        "Input org orderer is not exist",
    ),
    (
        "scale-orderer",
        {"node_orgs": [{"name": "orderer", "node_count": 5}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].name : the orderer organisation cannot be scaled",
    ),
    (
        "org-twice",
        {"node_orgs": [{"name": "org-one", "node_count": 5}, {"name": "org-one", "node_count": 5}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : each organisation at most once",
    ),
    (
        "publicips",
        {
            "node_orgs": [{"name": "org-one", "node_count": 5}],
            "publicips": [{"status": "ACTIVE", "public_ip_address": "1.2.3.4", "id": "n1"}],
        },
        "BCS.4006014",
        "Invalid Parameter publicips : only for IEF instances, which OpenBCS does not model",
    ),
    (
        "bad-org-name",
        {"node_orgs": [{"name": "-bad", "node_count": 1, "pvc_name": "p"}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].name : "
        "4-24 characters of letters, digits, Chinese characters and '-', not starting with '-'",
    ),
    (
        "no-orgs",
        {"node_orgs": []},
        "BCS.4006014",
        "Invalid Parameter node_orgs : List should have at least 1 item after validation, not 0",
    ),
    ("node-orgs-missing", {"is_delete_org": True}, "BCS.4006009", "one of parameters is nil: node_orgs"),
    (
        "is-delete-org-string",
        {"node_orgs": [{"name": "org-two", "node_count": 1}], "is_delete_org": "true"},
        "BCS.4006003",
        "Invalid Parameter is_delete_org : expected a boolean",
    ),
    (
        "node-count-string",
        {"node_orgs": [{"name": "org-one", "node_count": "5"}]},
        "BCS.4006003",
        "Invalid Parameter node_orgs[0].node_count : expected an integer",
    ),
    (
        "unknown-field",
        {"node_orgs": [{"name": "org-one", "node_count": 5}], "force": True},
        "BCS.4006014",
        "Invalid Parameter force : unknown field",
    ),
]


def test_refused_updates_change_nothing(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, **TWO_ORGS)
    before = _model(db, bid)
    before_detail = detail(client, tenant.headers, tenant.project_id, bid)
    for case, body, code, message in REFUSED:
        assert error_of(_put(client, tenant, bid, body)) == (400, code, message), case
        assert _model(db, bid) == before, case
        assert row_count(db, Operation) == 1, case
        assert db.run_read(lambda s: s.get(Instance, bid).busy_operation_id) is None, case
    assert detail(client, tenant.headers, tenant.project_id, bid) == before_detail


def test_at_most_ten_organisations(client, tenant, db):
    orgs = [{"name": f"org-{n:02d}", "node_count": 1} for n in range(9)]
    bid = create_instance(client, tenant.headers, tenant.project_id, peer_orgs=orgs, channels=[])
    _update(client, tenant, bid, {"node_orgs": [{"name": "org-09", "node_count": 1, "pvc_name": "p9"}]}, "02")
    response = _put(client, tenant, bid, {"node_orgs": [{"name": "org-10", "node_count": 1, "pvc_name": "p10"}]})
    assert error_of(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter node_orgs : an instance has at most 10 organisations",
    )
    assert len(_model(db, bid)) == 11  # ten peer organisations and the orderers
    assert row_count(db, Operation) == 2


def test_unknown_instance(client, tenant, db):
    response = _put(client, tenant, "no-such-id", {"node_orgs": [{"name": "organization", "node_count": 3}]})
    assert error_of(response) == (
        400,
        "BCS.4001011",
        "Operation failed. The service does not exist or has been deleted. Refresh the page.",
    )
    assert row_count(db, Operation) == 0


# --- what an instance looks like while an update runs (worker stopped) -----------------------------------------------


@pytest.fixture
def frozen_instance(frozen_client, make_account, db) -> tuple[Tenant, str]:
    tenant = new_tenant(frozen_client, make_account)
    created = start_creation(frozen_client, tenant.headers, tenant.project_id, create_body("bcs-frozen", **TWO_ORGS))
    drive_operations(db)
    return tenant, created["blockchain_id"]


def _put_ok(client, tenant, bid, body) -> str:
    response = _put(client, tenant, bid, body)
    assert response.status_code == 200, response.text
    return str(response.json()["operation_id"])


def test_while_adding_peers(frozen_client, frozen_instance, db):
    tenant, bid = frozen_instance
    op = _put_ok(frozen_client, tenant, bid, {"node_orgs": [{"name": "org-two", "node_count": 5}]})
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "IsScaling")
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", 4, "Normal", "4/4"),
        ("org-two", 5, "IsScaling", "3/5"),
    ]
    [record] = op_records(frozen_client, tenant.headers, tenant.project_id, operation_id=op)
    assert (record["operation_type"], record["operation_status"]) == ("03", "waiting")
    assert db.run_read(lambda s: s.get(Instance, bid).busy_operation_id) == op
    drive_operations(db)
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert shown["basic_info"]["process_status"] == ""
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("Normal", "4/4"), ("Normal", "5/5")]


def test_while_deleting_peers(frozen_client, frozen_instance, db):
    tenant, bid = frozen_instance
    _put_ok(frozen_client, tenant, bid, {"node_orgs": [{"name": "org-one", "node_count": 1}]})
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert shown["basic_info"]["process_status"] == "IsScaling"
    assert (shown["peer_info"][0]["status"], shown["peer_info"][0]["status_detail"]) == ("IsScaling", "1/4")
    # Until the operation runs, the peers are still in their channel.
    assert len(shown["channels"][0]["peers"]["org-one"]) == 4
    drive_operations(db)
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert len(shown["channels"][0]["peers"]["org-one"]) == 1
    assert (shown["peer_info"][0]["node_cnt"], shown["peer_info"][0]["status_detail"]) == (1, "1/1")


def test_while_adding_an_org(frozen_client, frozen_instance, db):
    tenant, bid = frozen_instance
    op = _put_ok(frozen_client, tenant, bid, {"node_orgs": [{"name": "org-new", "node_count": 2, "pvc_name": "pv"}]})
    assert op.startswith("BCSSVC01-02-")
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert shown["basic_info"]["process_status"] == "IsAdding"
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]][2] == (
        "org-new",
        "Adding",
        "0/2",
    )
    drive_operations(db)
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert shown["basic_info"]["process_status"] == ""
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]][2] == (
        "org-new",
        "Normal",
        "2/2",
    )


def test_while_deleting_an_org(frozen_client, frozen_instance, db):
    tenant, bid = frozen_instance
    op = _put_ok(
        frozen_client, tenant, bid, {"node_orgs": [{"name": "org-two", "node_count": 3}], "is_delete_org": True}
    )
    assert op.startswith("BCSSVC01-02-")
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert shown["basic_info"]["process_status"] == "IsScaling"
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", "Normal", "4/4"),
        ("org-two", "Isdeleting", "0/3"),
    ]
    drive_operations(db)
    assert [p["name"] for p in detail(frozen_client, tenant.headers, tenant.project_id, bid)["peer_info"]] == [
        "org-one"
    ]
    assert list(_model(db, bid)) == ["org-one", "orderer"]
