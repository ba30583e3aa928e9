"""One operation at a time: a mutating call while another operation runs gets the code for what runs.

The app's worker is stopped (see ``frozen_client``): each operation holds still until the test drives it on, so
"during" is a state, not a race.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from openbcs.network.models import Instance, Node, Organization
from openbcs.engine.models import Operation
from tests.instances.helpers import (
    Tenant,
    create_body,
    detail,
    drive_operations,
    list_ids,
    new_tenant,
    start_creation,
)
from tests.support import error_of

CREATING = (400, "BCS.4001001", "Operation failed. The BCS service is being created.")
DELETING = (400, "BCS.4001003", "Operation failed. The BCS service is being deleted.")
BUSY = (
    400,
    "BCS.4001020",
    "Operation failed. The service status is abnormal or the service is being processed. Try again later.",
)
SCALE_UP = {"node_orgs": [{"name": "organization", "node_count": 3}]}


@pytest.fixture
def tenant(frozen_client, make_account) -> Tenant:
    return new_tenant(frozen_client, make_account)


def _put(client, tenant: Tenant, bid: str, body: dict):
    return client.put(
        f"{tenant.base}/blockchains/{bid}",
        content=json.dumps(body),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )


def _delete(client, tenant: Tenant, bid: str):
    return client.delete(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)


def _snapshot(db, bid: str) -> tuple:
    def read(s):
        instance = s.get(Instance, bid)
        orgs = s.scalars(select(Organization).where(Organization.blockchain_id == bid).order_by(Organization.id))
        return (
            instance.status,
            instance.process_status,
            instance.busy_operation_id,
            [
                (o.name, o.status, [(n.name, n.status) for n in s.scalars(select(Node).where(Node.org_id == o.id))])
                for o in orgs
            ],
            sorted(s.scalars(select(Operation.id))),
        )

    return db.run_read(read)


def _create(frozen_client, tenant: Tenant) -> tuple[str, str]:
    created = start_creation(frozen_client, tenant.headers, tenant.project_id, create_body("bcs-busy"))
    return created["blockchain_id"], created["operation_id"]


def test_calls_during_creation(frozen_client, tenant, db):
    bid, op = _create(frozen_client, tenant)
    before = _snapshot(db, bid)
    assert before[:3] == ("Normal", "IsCreating", op)
    assert error_of(_put(frozen_client, tenant, bid, SCALE_UP)) == CREATING
    assert error_of(_delete(frozen_client, tenant, bid)) == CREATING
    assert _snapshot(db, bid) == before
    # Once created, the same call is accepted.
    drive_operations(db)
    response = _put(frozen_client, tenant, bid, SCALE_UP)
    assert response.status_code == 200
    assert response.json()["operation_id"].startswith("BCSSVC01-03-")


def test_calls_during_deletion(frozen_client, tenant, db):
    bid, _ = _create(frozen_client, tenant)
    drive_operations(db)
    deleting = _delete(frozen_client, tenant, bid)
    assert deleting.status_code == 200
    op = deleting.json()["operation_id"]
    before = _snapshot(db, bid)
    assert before[:3] == ("Normal", "IsDeleting", op)
    assert error_of(_put(frozen_client, tenant, bid, SCALE_UP)) == DELETING
    assert error_of(_delete(frozen_client, tenant, bid)) == DELETING
    assert _snapshot(db, bid) == before
    drive_operations(db)
    assert list_ids(frozen_client, tenant.headers, tenant.project_id) == []


def test_calls_during_scaling(frozen_client, tenant, db):
    bid, _ = _create(frozen_client, tenant)
    drive_operations(db)
    scaling = _put(frozen_client, tenant, bid, SCALE_UP)
    assert scaling.status_code == 200
    before = _snapshot(db, bid)
    assert before[:3] == ("Normal", "IsScaling", scaling.json()["operation_id"])
    assert (
        error_of(_put(frozen_client, tenant, bid, {"node_orgs": [{"name": "organization", "node_count": 4}]})) == BUSY
    )
    assert (
        error_of(_put(frozen_client, tenant, bid, {"node_orgs": [{"name": "org-x", "node_count": 1, "pvc_name": "p"}]}))
        == BUSY
    )
    assert error_of(_delete(frozen_client, tenant, bid)) == BUSY
    channel = frozen_client.post(
        f"{tenant.base}/blockchains/{bid}/channels",
        content=json.dumps({"channels": [{"channel_name": "another"}]}),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert error_of(channel) == BUSY
    assert _snapshot(db, bid) == before
    drive_operations(db)
    assert detail(frozen_client, tenant.headers, tenant.project_id, bid)["peer_info"][0]["node_cnt"] == 3


def test_abnormal_instance_refuses_updates_but_can_be_deleted(frozen_client, tenant, db):
    bid, _ = _create(frozen_client, tenant)
    drive_operations(db)

    def break_it(s):
        s.get(Instance, bid).status = "Abnormal"

    db.run_write(break_it)
    before = _snapshot(db, bid)
    assert error_of(_put(frozen_client, tenant, bid, SCALE_UP)) == BUSY
    assert _snapshot(db, bid) == before
    deleting = _delete(frozen_client, tenant, bid)
    assert deleting.status_code == 200
    assert deleting.json()["operation_id"].startswith("BCSSVC01-00-")
    drive_operations(db)
    assert list_ids(frozen_client, tenant.headers, tenant.project_id) == []
    assert db.run_read(lambda s: s.get(Instance, bid)) is None
