"""DeleteBlockchain: the operation, the instance's way out of every view, and the validated flags."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine.models import Operation
from openbcs.network.models import Instance, IssuedCert, Organization, OrgPki
from tests.support.errors import INSTANCE_DELETING, INSTANCE_NOT_FOUND, assert_error
from tests.support.operations import operation_locks
from tests.support.snapshots import row_count, snapshot


def test_delete_removes_the_instance_everywhere(tenant, other_tenant, db):
    bid = tenant.create_instance("bcs-doomed")
    kept = tenant.create_instance("bcs-kept")
    theirs = other_tenant.create_instance("bcs-theirs")
    response = tenant.delete_instance(bid)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"operation_id"}
    op = response.json()["operation_id"]
    assert op.startswith("BCSSVC01-00-")
    record = tenant.wait(op)
    assert (record["operation_type"], record["blockchain_id"]) == ("00", bid)
    assert {name: list(step["sub_steps"]) for name, step in record["operation_process"].items()} == {
        "Delete blockchain": ["Stop nodes"],
        "Delete Other Dependent Resource": ["Release storage", "Remove instance"],
    }

    assert tenant.instance_ids() == [kept]
    for suffix in ("", "/status", "/nodes", "/channels"):
        assert_error(tenant.call("GET", f"/blockchains/{bid}{suffix}"), *INSTANCE_NOT_FOUND)
    # Its rows and its lock are gone; the other instances are whole.
    assert db.run_read(Session.get, Instance, bid) is None
    assert operation_locks(db) == []
    assert row_count(db, "blockchains") == 2
    assert row_count(db, "blockchain_orgs") == 4
    assert row_count(db, "blockchain_nodes") == 10
    assert row_count(db, "channels") == 2
    assert row_count(db, "channel_orgs") == 2
    assert row_count(db, "channel_peers") == 4
    assert row_count(db, "channel_config_blocks") == 2
    # Nor is any key material of its organisations left behind.
    assert row_count(db, OrgPki) == 4
    assert row_count(db, OrgPki, OrgPki.org_id.not_in(select(Organization.id))) == 0
    assert row_count(db, IssuedCert, IssuedCert.org_id.not_in(select(Organization.id))) == 0
    assert other_tenant.detail(theirs)["basic_info"]["status"] == "Normal"
    # The records stay: creation and deletion of the deleted instance.
    assert [r["operation_type"] for r in tenant.records(blockchain_id=bid)] == ["00", "99"]
    # Deleting it again: it does not exist any more.
    assert_error(tenant.delete_instance(bid), *INSTANCE_NOT_FOUND)
    assert row_count(db, Operation) == 4


def test_an_instance_is_deleting_until_its_operation_completes(frozen_tenant, db):
    bid = frozen_tenant.create_instance("bcs-doomed")
    response = frozen_tenant.delete_instance(bid)
    assert response.status_code == 200, response.text
    op = response.json()["operation_id"]
    assert operation_locks(db) == [(bid, op, "IsDeleting")]
    shown = frozen_tenant.detail(bid)
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "IsDeleting")
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("Isdeleting", "0/2")]
    assert shown["orderer_info"]["status"] == "Isdeleting"
    # Still listed (and counted against the quota) while it goes.
    assert frozen_tenant.instance_ids() == [bid]
    assert frozen_tenant.quota()["used"] == 1
    # A second delete meanwhile is refused.
    before = snapshot(db)
    assert_error(frozen_tenant.delete_instance(bid), *INSTANCE_DELETING)
    assert snapshot(db) == before
    assert row_count(db, Operation) == 2
    frozen_tenant.wait(op)
    assert frozen_tenant.instance_ids() == []
    assert_error(frozen_tenant.call("GET", f"/blockchains/{bid}"), *INSTANCE_NOT_FOUND)
    assert operation_locks(db) == []


@pytest.mark.parametrize(
    ("query", "flags"),
    [
        ("", {}),
        (
            "?is_delete_storage=true&is_delete_obs=false&is_delete_resource=true",
            {"is_delete_storage": True, "is_delete_obs": False, "is_delete_resource": True},
        ),
        (
            "?is_delete_ief=false&is_delete_lightpeer=node-a,node-b",
            {"is_delete_ief": False, "is_delete_lightpeer": "node-a,node-b"},
        ),
    ],
    ids=["none", "booleans", "lightpeer"],
)
def test_accepted_flags_are_kept_with_the_operation(tenant, db, query: str, flags: dict[str, Any]):
    bid = tenant.create_instance()
    response = tenant.call("DELETE", f"/blockchains/{bid}{query}")
    assert response.status_code == 200, response.text
    op = response.json()["operation_id"]
    assert db.run_read(Session.get, Operation, op).payload == {"flags": flags}
    tenant.wait(op)
    assert tenant.instance_ids() == []


REFUSED_FLAGS = [
    (
        "is_delete_storage=maybe",
        "BCS.4006003",
        "Invalid Parameter is_delete_storage : expected a boolean: true or false",
    ),
    # Only what the SDK sends: pydantic's lax spellings (yes, on, 1, t, TRUE) are not booleans here.
    ("is_delete_storage=yes", "BCS.4006003", "Invalid Parameter is_delete_storage : expected a boolean: true or false"),
    ("is_delete_obs=1", "BCS.4006003", "Invalid Parameter is_delete_obs : expected a boolean: true or false"),
    ("is_delete_obs=TRUE", "BCS.4006003", "Invalid Parameter is_delete_obs : expected a boolean: true or false"),
    ("is_delete_obs=2", "BCS.4006003", "Invalid Parameter is_delete_obs : expected a boolean: true or false"),
    (
        "is_delete_ief=true",
        "BCS.4006014",
        "Invalid Parameter is_delete_ief : only for IEF instances, which OpenBCS does not model",
    ),
    (
        "ief_nodes_id=n1,n2",
        "BCS.4006014",
        "Invalid Parameter ief_nodes_id : only for IEF instances, which OpenBCS does not model",
    ),
    ("is_delete_everything=true", "BCS.4006014", "Invalid Parameter is_delete_everything : unknown field"),
    (
        "is_delete_storage=true&is_delete_storage=false",
        "BCS.4006014",
        "Invalid Parameter is_delete_storage : given more than once",
    ),
]


def test_refused_flags_change_nothing(tenant, db):
    bid = tenant.create_instance()
    before, before_detail = snapshot(db), tenant.detail(bid)
    for query, code, message in REFUSED_FLAGS:
        assert_error(tenant.call("DELETE", f"/blockchains/{bid}?{query}"), 400, code, message)
        assert snapshot(db) == before, query
        assert operation_locks(db) == [], query
    assert row_count(db, Operation) == 1
    assert tenant.detail(bid) == before_detail


def test_deleting_an_unknown_instance_is_refused(tenant, db):
    assert_error(tenant.delete_instance("00000000-0000-0000-0000-000000000000"), *INSTANCE_NOT_FOUND)
    assert row_count(db, Operation) == 0
