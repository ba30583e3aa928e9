"""Tenant isolation: another tenant's instance is indistinguishable from none, another project is forbidden."""

from __future__ import annotations

import json

from openbcs.engine.models import Operation
from openbcs.network.models import Instance
from tests.support.bodies import create_body
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error, assert_forbidden, assert_unauthorized
from tests.support.snapshots import row_count, snapshot

# (method, path after /blockchains/{id}, body)
INSTANCE_CALLS = [
    ("GET", "", None),
    ("GET", "/status", None),
    ("GET", "/nodes", None),
    ("PUT", "", {"node_orgs": [{"name": "organization", "node_count": 2}]}),
    ("PUT", "", {"node_orgs": [{"name": "organization", "node_count": 1}]}),
    ("PUT", "", {"node_orgs": [{"name": "org-new", "node_count": 1, "pvc_name": "p"}]}),
    ("DELETE", "", None),
    ("GET", "/channels", None),
    ("GET", "/channels/channel/config-history", None),
]
# (method, path after /v2/{project}, body): every call of a project, ``{id}`` an instance of it.
PROJECT_CALLS = [
    ("GET", "/blockchains", None),
    ("POST", "/blockchains", create_body("bcs-intruder")),
    ("GET", "/blockchains/flavors", None),
    ("GET", "/quotas", None),
    ("GET", "/operation/record", None),
    *[(m, "/blockchains/{id}" + s, b) for m, s, b in INSTANCE_CALLS],
]


def test_another_tenants_instance_is_not_found(tenant, other_tenant, db):
    theirs = other_tenant.create_instance("bcs-private")
    before = snapshot(db)
    for method, suffix, body in INSTANCE_CALLS:
        response = tenant.call(method, f"/blockchains/{theirs}{suffix}", body)
        assert_error(response, *INSTANCE_NOT_FOUND)
        assert theirs not in response.text
        assert snapshot(db) == before, (method, suffix, body)
    assert row_count(db, Operation) == 1
    assert row_count(db, Operation, Operation.project_id == tenant.project_id) == 0
    assert other_tenant.detail(theirs)["basic_info"]["process_status"] == ""


def test_operation_records_do_not_leak(tenant, other_tenant):
    theirs = other_tenant.create_instance("bcs-private")
    assert tenant.records(blockchain_id=theirs) == []
    assert tenant.records() == []
    assert tenant.instance_ids() == []
    assert [r["blockchain_id"] for r in other_tenant.records()] == [theirs]


def test_another_tenants_project_is_forbidden(tenant, other_tenant, db):
    theirs = other_tenant.create_instance("bcs-private")
    before = snapshot(db)
    for method, path, body in PROJECT_CALLS:
        response = tenant.call(method, path.replace("{id}", theirs), body, project_id=other_tenant.project_id)
        assert_forbidden(response, other_tenant.project_id)
        assert snapshot(db) == before, (method, path, body)
    assert row_count(db, Instance) == 1
    assert row_count(db, Operation) == 1


def test_no_credentials_is_401(client, other_tenant, db):
    theirs = other_tenant.create_instance("bcs-private")
    before = snapshot(db)
    for method, path, body in PROJECT_CALLS:
        response = client.request(
            method,
            f"{other_tenant.base}{path.replace('{id}', theirs)}",
            headers={"Content-Type": "application/json"} if body is not None else {},
            content=json.dumps(body) if body is not None else None,
        )
        assert_unauthorized(response)
        assert snapshot(db) == before, (method, path, body)
    assert row_count(db, Instance) == 1
    assert row_count(db, Operation) == 1
