"""One operation at a time: a mutating call while another operation runs gets the code for what runs.

The app's worker is stopped (``frozen_tenant``): each operation holds still until the test drives it on, so "during"
is a state, not a race. What runs is the engine's lock on the instance, shown as the API's ``process_status``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.network.models import Instance
from tests.support.bodies import create_body
from tests.support.errors import INSTANCE_BUSY, INSTANCE_CREATING, INSTANCE_DELETING, assert_error
from tests.support.operations import drive_operations, operation_locks
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

SCALE = {"node_orgs": [{"name": "organization", "node_count": 1}]}  # the default organisation has 2 peers


def _busy_with(tenant: Tenant, db, bid: str, operation_id: str, label: str) -> None:
    """The instance is Normal and held by ``operation_id`` doing ``label``, in the model and in the API."""
    assert operation_locks(db) == [(bid, operation_id, label)]
    basic = tenant.detail(bid)["basic_info"]
    assert (basic["status"], basic["process_status"]) == ("Normal", label)


def test_calls_during_creation_are_refused_as_creating(frozen_tenant, db):
    created = frozen_tenant.start_creation(create_body("bcs-busy"))
    bid = created["blockchain_id"]
    _busy_with(frozen_tenant, db, bid, created["operation_id"], "IsCreating")
    before = snapshot(db)
    assert_error(frozen_tenant.update(bid, SCALE), *INSTANCE_CREATING)
    assert_error(frozen_tenant.delete_instance(bid), *INSTANCE_CREATING)
    assert snapshot(db) == before
    # Once created, the same call is accepted.
    drive_operations(db)
    assert operation_locks(db) == []
    response = frozen_tenant.update(bid, SCALE)
    assert response.status_code == 200, response.text
    assert response.json()["operation_id"].startswith("BCSSVC01-03-")
    _busy_with(frozen_tenant, db, bid, response.json()["operation_id"], "IsScaling")


def test_calls_during_deletion_are_refused_as_deleting(frozen_tenant, db):
    bid = frozen_tenant.create_instance("bcs-busy")
    deleting = frozen_tenant.delete_instance(bid)
    assert deleting.status_code == 200, deleting.text
    _busy_with(frozen_tenant, db, bid, deleting.json()["operation_id"], "IsDeleting")
    before = snapshot(db)
    assert_error(frozen_tenant.update(bid, SCALE), *INSTANCE_DELETING)
    assert_error(frozen_tenant.delete_instance(bid), *INSTANCE_DELETING)
    assert snapshot(db) == before
    drive_operations(db)
    assert frozen_tenant.instance_ids() == []
    assert operation_locks(db) == []


def test_calls_during_scaling_are_refused_as_busy(frozen_tenant, db):
    bid = frozen_tenant.create_instance("bcs-busy")
    scaling = frozen_tenant.update(bid, SCALE)
    assert scaling.status_code == 200, scaling.text
    _busy_with(frozen_tenant, db, bid, scaling.json()["operation_id"], "IsScaling")
    before = snapshot(db)
    assert_error(frozen_tenant.update(bid, {"node_orgs": [{"name": "organization", "node_count": 2}]}), *INSTANCE_BUSY)
    assert_error(
        frozen_tenant.update(bid, {"node_orgs": [{"name": "org-x", "node_count": 1, "pvc_name": "p"}]}), *INSTANCE_BUSY
    )
    assert_error(frozen_tenant.delete_instance(bid), *INSTANCE_BUSY)
    assert_error(frozen_tenant.create_channels(bid, "another"), *INSTANCE_BUSY)
    assert snapshot(db) == before
    drive_operations(db)
    assert frozen_tenant.detail(bid)["peer_info"][0]["node_cnt"] == 1
    assert operation_locks(db) == []


def test_an_abnormal_instance_refuses_updates_but_can_be_deleted(frozen_tenant, db):
    bid = frozen_tenant.create_instance("bcs-busy")

    def break_it(s):
        s.get(Instance, bid).status = "Abnormal"

    db.run_write(break_it)
    before = snapshot(db)
    assert_error(frozen_tenant.update(bid, SCALE), *INSTANCE_BUSY)
    assert snapshot(db) == before
    deleting = frozen_tenant.delete_instance(bid)
    assert deleting.status_code == 200, deleting.text
    assert deleting.json()["operation_id"].startswith("BCSSVC01-00-")
    assert operation_locks(db) == [(bid, deleting.json()["operation_id"], "IsDeleting")]
    drive_operations(db)
    assert frozen_tenant.instance_ids() == []
    assert db.run_read(Session.get, Instance, bid) is None
