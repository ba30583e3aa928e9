"""Tenant isolation: another tenant's instance is indistinguishable from none, another project is forbidden."""

from __future__ import annotations

import json

from openbcs.network.models import Instance, Node, Organization
from openbcs.engine.models import Operation
from tests.instances.helpers import create_body, create_instance, detail, list_ids, op_records, row_count

NOT_FOUND = {
    "error_code": "BCS.4001011",
    "error_msg": "Operation failed. The service does not exist or has been deleted. Refresh the page.",
}
JSON = {"Content-Type": "application/json"}

# (method, path after /blockchains/{id}, body)
INSTANCE_CALLS = [
    ("GET", "", None),
    ("GET", "/status", None),
    ("GET", "/nodes", None),
    ("PUT", "", {"node_orgs": [{"name": "organization", "node_count": 3}]}),
    ("PUT", "", {"node_orgs": [{"name": "organization", "node_count": 1}]}),
    ("PUT", "", {"node_orgs": [{"name": "org-new", "node_count": 1, "pvc_name": "p"}]}),
    ("DELETE", "", None),
    ("GET", "/channels", None),
    ("GET", "/channels/channel/config-history", None),
]


def _call(client, tenant, method: str, path: str, body):
    headers = {**tenant.headers, **(JSON if body is not None else {})}
    return client.request(method, path, headers=headers, content=json.dumps(body) if body is not None else None)


def _state(db, bid: str) -> tuple:
    def read(s):
        instance = s.get(Instance, bid)
        return (
            instance.process_status,
            instance.busy_operation_id,
            sorted(
                (n.name, n.status) for n in s.query(Node).join(Organization).filter(Organization.blockchain_id == bid)
            ),
        )

    return db.run_read(read)


def test_another_tenants_instance_is_not_found(client, tenant, other_tenant, db):
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-private")
    before = _state(db, theirs)
    for method, suffix, body in INSTANCE_CALLS:
        response = _call(client, tenant, method, f"{tenant.base}/blockchains/{theirs}{suffix}", body)
        assert (response.status_code, response.json()) == (400, NOT_FOUND), (method, suffix, body)
        assert theirs not in response.text
        assert _state(db, theirs) == before, (method, suffix, body)
    assert row_count(db, Operation) == 1
    assert row_count(db, Operation, Operation.project_id == tenant.project_id) == 0
    assert detail(client, other_tenant.headers, other_tenant.project_id, theirs)["basic_info"]["process_status"] == ""


def test_operation_records_do_not_leak(client, tenant, other_tenant):
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-private")
    assert op_records(client, tenant.headers, tenant.project_id, blockchain_id=theirs) == []
    assert op_records(client, tenant.headers, tenant.project_id) == []
    assert list_ids(client, tenant.headers, tenant.project_id) == []


PROJECT_CALLS = [
    ("GET", "/blockchains", None),
    ("POST", "/blockchains", create_body("bcs-intruder")),
    ("GET", "/blockchains/flavors", None),
    ("GET", "/quotas", None),
    ("GET", "/operation/record", None),
    *[(m, "/blockchains/{id}" + s, b) for m, s, b in INSTANCE_CALLS],
]


def test_another_tenants_project_is_forbidden(client, tenant, other_tenant, db):
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-private")
    before = _state(db, theirs)
    for method, path, body in PROJECT_CALLS:
        response = _call(client, tenant, method, f"{other_tenant.base}{path.replace('{id}', theirs)}", body)
        assert (response.status_code, response.json()) == (
            403,
            {"error_code": "BCS.4030403", "error_msg": f"forbidden to project [{other_tenant.project_id}]"},
        ), (method, path, body)
        assert _state(db, theirs) == before, (method, path, body)
    assert row_count(db, Instance) == 1
    assert row_count(db, Operation) == 1


def test_no_credentials_is_401(client, other_tenant, db):
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-private")
    before = _state(db, theirs)
    for method, path, body in PROJECT_CALLS:
        response = client.request(
            method,
            f"{other_tenant.base}{path.replace('{id}', theirs)}",
            headers=JSON if body is not None else {},
            content=json.dumps(body) if body is not None else None,
        )
        assert (response.status_code, response.json()) == (
            401,
            {"error_code": "BCS.4010401", "error_msg": "Incorrect token or token resolution failed"},
        ), (method, path, body)
    assert _state(db, theirs) == before
    assert row_count(db, Instance) == 1
    assert row_count(db, Operation) == 1
