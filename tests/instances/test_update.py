"""UpdateInstance: add or delete peers, add or delete organisations — one kind per call — and its refusals."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openbcs.engine.models import Operation
from tests.instances.helpers import stored_nodes
from tests.support.bodies import create_body
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error
from tests.support.expected import msp_id, orderer_names, peer_names
from tests.support.operations import drive_operations, operation_locks
from tests.support.snapshots import row_count, snapshot
from tests.support.tenants import Tenant

# UpdateInstance sets an organisation to 1 or 2 peers (spec 3.6); creation may give it up to 5.
TWO_ORGS = {"peer_orgs": [("org-one", 4), ("org-two", 1)], "channels": [("mychannel", ["org-one"])]}
KEEP_ONE_ORG = "Invalid Parameter node_orgs : an instance keeps at least one peer organisation"


def _update(tenant: Tenant, db, bid: str, body: dict[str, Any], op_type: str) -> dict[str, Any]:
    """An accepted update: 200 with only an operation id of ``op_type``; its finished record (the lock released)."""
    response = tenant.update(bid, body)
    assert response.status_code == 200, response.text
    assert re.match(rf"^BCSSVC01-{op_type}-\d{{19}}$", response.json()["operation_id"])
    record = tenant.run(response)
    assert record["operation_type"] == op_type
    assert operation_locks(db) == []
    return record


def _channel_peers(tenant: Tenant, bid: str) -> dict[str, dict[str, list[str]]]:
    return {c["name"]: c["peers"] for c in tenant.channels(bid)}


def _refused(tenant: Tenant, db, bid: str, body: dict[str, Any], code: str, message: str) -> None:
    """The update is refused with this error and changes nothing: no operation, no lock, the same rows."""
    before = snapshot(db)
    assert_error(tenant.update(bid, body), 400, code, message)
    assert snapshot(db) == before
    assert operation_locks(db) == []


def test_adding_peers(tenant, db):
    bid = tenant.create_instance(peer_orgs=[("organization", 1)])
    record = _update(tenant, db, bid, {"node_orgs": [{"name": "organization", "node_count": 2}]}, "03")
    assert list(record["operation_process"]) == ["Preparation", "Scale peers", "Finish"]
    assert record["operation_process"]["Scale peers"]["sub_steps"]["Update peer nodes"]["detail"] == (
        "1 node(s) added, 0 removed"
    )
    peers = peer_names(bid, "organization", 2)
    shown = tenant.detail(bid)
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "")
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("organization", 2, "Normal", "2/2")
    ]
    assert len(shown["peer_info"][0]["address"]) == 2
    # The new peer is in no channel yet.
    assert {name: p["channels"] for name, p in tenant.nodes(bid)["organization"]["peers"].items()} == {
        peers[0]: ["channel"],
        peers[1]: [],
    }
    assert _channel_peers(tenant, bid) == {"channel": {"organization": peers[:1]}}
    assert stored_nodes(db, bid)["organization"] == peers


def test_deleting_peers_removes_the_highest_and_takes_them_out_of_channels(tenant, db):
    bid = tenant.create_instance(**TWO_ORGS)
    one = peer_names(bid, "org-one", 4)
    assert _channel_peers(tenant, bid) == {"mychannel": {"org-one": one}}
    blocks_before = tenant.history(bid, "mychannel")["blocks"]

    record = _update(tenant, db, bid, {"node_orgs": [{"name": "org-one", "node_count": 1}]}, "03")
    assert record["operation_process"]["Scale peers"]["sub_steps"]["Update peer nodes"]["detail"] == (
        "0 node(s) added, 3 removed"
    )
    assert stored_nodes(db, bid) == {
        "org-one": one[:1],
        "org-two": peer_names(bid, "org-two", 1),
        "orderer": orderer_names(bid, 3),
    }
    assert _channel_peers(tenant, bid) == {"mychannel": {"org-one": one[:1]}}
    shown = tenant.detail(bid)
    assert [(p["name"], p["node_cnt"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", 1, "1/1"),
        ("org-two", 1, "1/1"),
    ]
    assert shown["channels"][0]["peers"] == {"org-one": one[:1]}
    assert list(tenant.nodes(bid)["org-one"]["peers"]) == one[:1]
    # Peers leaving do not change the org set: no configuration block.
    history = tenant.history(bid, "mychannel")
    assert (history["blocks"], history["verified"]) == (blocks_before, True)

    # Scaling back up reuses the freed ordinals.
    _update(tenant, db, bid, {"node_orgs": [{"name": "org-one", "node_count": 2}]}, "03")
    assert stored_nodes(db, bid)["org-one"] == one[:2]


def test_scaling_several_orgs_in_one_call(tenant, db):
    bid = tenant.create_instance(peer_orgs=[("org-one", 1), ("org-two", 1)])
    _update(
        tenant,
        db,
        bid,
        {"node_orgs": [{"name": "org-one", "node_count": 2}, {"name": "org-two", "node_count": 2}]},
        "03",
    )
    assert stored_nodes(db, bid) == {
        "org-one": peer_names(bid, "org-one", 2),
        "org-two": peer_names(bid, "org-two", 2),
        "orderer": orderer_names(bid, 3),
    }
    assert [(p["name"], p["node_cnt"]) for p in tenant.detail(bid)["peer_info"]] == [("org-one", 2), ("org-two", 2)]


def test_adding_an_org(tenant, db):
    bid = tenant.create_instance()
    record = _update(
        tenant, db, bid, {"node_orgs": [{"name": "org-new", "node_count": 2, "pvc_name": "pvc-new"}]}, "02"
    )
    assert list(record["operation_process"]) == ["Preparation", "Update organisations", "Finish"]
    shown = tenant.detail(bid)
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"], p["pvc_name"]) for p in shown["peer_info"]][
        1:
    ] == [("org-new", 2, "Normal", "2/2", "pvc-new")]
    assert shown["evs_pvc_info"]["org-new"] == {"pvc_name": "pvc-new"}
    # A new organisation is in no channel.
    assert shown["channels"][0]["org_names"] == ["organization"]
    view = tenant.nodes(bid)["org-new"]
    assert view["org_msp_id"] == msp_id(bid, "org-new")
    assert {name: p["channels"] for name, p in view["peers"].items()} == {
        peer: [] for peer in peer_names(bid, "org-new", 2)
    }
    assert stored_nodes(db, bid)["org-new"] == peer_names(bid, "org-new", 2)


def test_deleting_an_org(tenant, db):
    bid = tenant.create_instance(**TWO_ORGS)
    record = _update(
        tenant, db, bid, {"node_orgs": [{"name": "org-two", "node_count": 1}], "is_delete_org": True}, "02"
    )
    assert (
        record["operation_process"]["Update organisations"]["sub_steps"]["Update organisation nodes"]["detail"]
        == "0 node(s) added, 1 removed"
    )
    assert list(stored_nodes(db, bid)) == ["org-one", "orderer"]
    shown = tenant.detail(bid)
    assert [p["name"] for p in shown["peer_info"]] == ["org-one"]
    assert "org-two" not in shown["evs_pvc_info"]
    assert list(tenant.nodes(bid)) == ["org-one"]
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "")


def test_an_org_in_a_channel_cannot_be_deleted_and_one_org_stays(tenant, db):
    bid = tenant.create_instance(**TWO_ORGS)
    _refused(
        tenant,
        db,
        bid,
        {"node_orgs": [{"name": "org-one", "node_count": 2}], "is_delete_org": True},
        "BCS.4006003",
        "Invalid Parameter org org-one status : still in channel(s) mychannel; remove it from them first",
    )
    both = {
        "node_orgs": [{"name": "org-two", "node_count": 1}, {"name": "org-one", "node_count": 2}],
        "is_delete_org": True,
    }
    _refused(tenant, db, bid, both, "BCS.4006014", KEEP_ONE_ORG)
    assert row_count(db, Operation) == 1
    shown = tenant.detail(bid)
    assert [(p["name"], p["status"]) for p in shown["peer_info"]] == [("org-one", "Normal"), ("org-two", "Normal")]


def test_the_last_org_cannot_be_deleted_even_outside_channels(tenant, db):
    bid = tenant.create_instance(channels=[])
    body = {"node_orgs": [{"name": "organization", "node_count": 2}], "is_delete_org": True}
    _refused(tenant, db, bid, body, "BCS.4006014", KEEP_ONE_ORG)
    assert list(stored_nodes(db, bid)) == ["organization", "orderer"]
    assert row_count(db, Operation) == 1


REFUSED = [
    (
        "mixed-add-and-delete-peers",
        {"node_orgs": [{"name": "org-one", "node_count": 2}, {"name": "org-two", "node_count": 2}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : add peers, delete peers, add or delete organisations: one per call",
    ),
    (
        "mixed-add-peers-and-add-org",
        {"node_orgs": [{"name": "org-two", "node_count": 2}, {"name": "org-new", "node_count": 1, "pvc_name": "p"}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : add peers, delete peers, add or delete organisations: one per call",
    ),
    (
        "same-count",
        {"node_orgs": [{"name": "org-two", "node_count": 1}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : organisation org-two already has 1 peer(s)",
    ),
    (
        "three-peers",
        {"node_orgs": [{"name": "org-two", "node_count": 3}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : Input should be less than or equal to 2",
    ),
    (
        "new-org-three-peers",
        {"node_orgs": [{"name": "org-new", "node_count": 3, "pvc_name": "p"}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : Input should be less than or equal to 2",
    ),
    (
        "delete-with-the-created-count",
        {"node_orgs": [{"name": "org-one", "node_count": 4}], "is_delete_org": True},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : Input should be less than or equal to 2",
    ),
    (
        "node-count-beyond-64-bits",
        {"node_orgs": [{"name": "org-one", "node_count": 10**30}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].node_count : Input should be less than or equal to 2",
    ),
    (
        "eleven-orgs",
        {"node_orgs": [{"name": f"org-{n:02d}", "node_count": 1, "pvc_name": "p"} for n in range(11)]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : List should have at most 10 items after validation, not 11",
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
        {"node_orgs": [{"name": "orderer", "node_count": 1}], "is_delete_org": True},
        "BCS.4001051",
        "Input org orderer is not exist",
    ),
    (
        "scale-orderer",
        {"node_orgs": [{"name": "orderer", "node_count": 2}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs[0].name : the orderer organisation cannot be scaled",
    ),
    (
        "org-twice",
        {"node_orgs": [{"name": "org-one", "node_count": 2}, {"name": "org-one", "node_count": 2}]},
        "BCS.4006014",
        "Invalid Parameter node_orgs : each organisation at most once",
    ),
    (
        "publicips",
        {
            "node_orgs": [{"name": "org-one", "node_count": 2}],
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
        {"node_orgs": [{"name": "org-one", "node_count": "2"}]},
        "BCS.4006003",
        "Invalid Parameter node_orgs[0].node_count : expected an integer",
    ),
    (
        "unknown-field",
        {"node_orgs": [{"name": "org-one", "node_count": 2}], "force": True},
        "BCS.4006014",
        "Invalid Parameter force : unknown field",
    ),
]


@pytest.mark.parametrize(("body", "code", "message"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_refused_update_changes_nothing(tenant, db, body: dict[str, Any], code: str, message: str):
    bid = tenant.create_instance(**TWO_ORGS)
    before_detail = tenant.detail(bid)
    _refused(tenant, db, bid, body, code, message)
    assert row_count(db, Operation) == 1
    assert tenant.detail(bid) == before_detail


def test_an_instance_has_at_most_ten_organisations(tenant, db):
    bid = tenant.create_instance(peer_orgs=[(f"org-{n:02d}", 1) for n in range(9)], channels=[])
    _update(tenant, db, bid, {"node_orgs": [{"name": "org-09", "node_count": 1, "pvc_name": "p9"}]}, "02")
    body = {"node_orgs": [{"name": "org-10", "node_count": 1, "pvc_name": "p10"}]}
    _refused(
        tenant, db, bid, body, "BCS.4006014", "Invalid Parameter node_orgs : an instance has at most 10 organisations"
    )
    assert len(stored_nodes(db, bid)) == 11  # ten peer organisations and the orderers
    assert row_count(db, Operation) == 2


def test_updating_an_unknown_instance_is_refused(tenant, db):
    assert_error(
        tenant.update("no-such-id", {"node_orgs": [{"name": "organization", "node_count": 1}]}), *INSTANCE_NOT_FOUND
    )
    assert row_count(db, Operation) == 0


# --- what an instance looks like while an update runs (worker stopped) -----------------------------------------------


@pytest.fixture
def frozen_instance(frozen_tenant) -> str:
    """An instance of ``frozen_tenant`` with org-one (4 peers, in ``mychannel``) and org-two (1 peer)."""
    return frozen_tenant.create_instance(create_body("bcs-frozen", **TWO_ORGS))


def _started(tenant: Tenant, db, bid: str, body: dict[str, Any], label: str) -> str:
    """An accepted update, not run yet: it holds the instance with ``label``, which detail shows; its id."""
    response = tenant.update(bid, body)
    assert response.status_code == 200, response.text
    operation_id = str(response.json()["operation_id"])
    assert operation_locks(db) == [(bid, operation_id, label)]
    assert tenant.detail(bid)["basic_info"]["process_status"] == label
    return operation_id


def test_while_adding_peers(frozen_tenant, frozen_instance, db):
    bid = frozen_instance
    op = _started(frozen_tenant, db, bid, {"node_orgs": [{"name": "org-two", "node_count": 2}]}, "IsScaling")
    shown = frozen_tenant.detail(bid)
    assert shown["basic_info"]["status"] == "Normal"
    assert [(p["name"], p["node_cnt"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", 4, "Normal", "4/4"),
        ("org-two", 2, "IsScaling", "1/2"),
    ]
    record = frozen_tenant.record(op)
    assert (record["operation_type"], record["operation_status"]) == ("03", "waiting")
    drive_operations(db)
    shown = frozen_tenant.detail(bid)
    assert shown["basic_info"]["process_status"] == ""
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("Normal", "4/4"), ("Normal", "2/2")]
    assert operation_locks(db) == []


def test_while_deleting_peers(frozen_tenant, frozen_instance, db):
    bid = frozen_instance
    _started(frozen_tenant, db, bid, {"node_orgs": [{"name": "org-one", "node_count": 1}]}, "IsScaling")
    shown = frozen_tenant.detail(bid)
    assert (shown["peer_info"][0]["status"], shown["peer_info"][0]["status_detail"]) == ("IsScaling", "1/4")
    # Until the operation runs, the peers are still in their channel.
    assert len(shown["channels"][0]["peers"]["org-one"]) == 4
    drive_operations(db)
    shown = frozen_tenant.detail(bid)
    assert len(shown["channels"][0]["peers"]["org-one"]) == 1
    assert (shown["peer_info"][0]["node_cnt"], shown["peer_info"][0]["status_detail"]) == (1, "1/1")
    assert operation_locks(db) == []


def test_while_adding_an_org(frozen_tenant, frozen_instance, db):
    bid = frozen_instance
    body = {"node_orgs": [{"name": "org-new", "node_count": 2, "pvc_name": "pv"}]}
    op = _started(frozen_tenant, db, bid, body, "IsAdding")
    assert op.startswith("BCSSVC01-02-")
    shown = frozen_tenant.detail(bid)
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]][2] == ("org-new", "Adding", "0/2")
    drive_operations(db)
    shown = frozen_tenant.detail(bid)
    assert shown["basic_info"]["process_status"] == ""
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]][2] == ("org-new", "Normal", "2/2")
    assert operation_locks(db) == []


def test_while_deleting_an_org(frozen_tenant, frozen_instance, db):
    bid = frozen_instance
    body = {"node_orgs": [{"name": "org-two", "node_count": 1}], "is_delete_org": True}
    op = _started(frozen_tenant, db, bid, body, "IsScaling")
    assert op.startswith("BCSSVC01-02-")
    shown = frozen_tenant.detail(bid)
    assert [(p["name"], p["status"], p["status_detail"]) for p in shown["peer_info"]] == [
        ("org-one", "Normal", "4/4"),
        ("org-two", "Isdeleting", "0/1"),
    ]
    drive_operations(db)
    assert [p["name"] for p in frozen_tenant.detail(bid)["peer_info"]] == ["org-one"]
    assert list(stored_nodes(db, bid)) == ["org-one", "orderer"]
    assert operation_locks(db) == []
