"""ListBlockchains, ShowBlockchainFlavors and ListQuotas (with the operators' quota CLI)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from openbcs import cli
from openbcs.instances import service
from openbcs.instances.models import Quota
from openbcs.network.models import Instance
from openbcs.engine.models import Operation
from tests.instances.helpers import create_body, create_instance, list_ids, row_count, wait_for_operation
from tests.support import error_of

QUOTA_USED_UP = (400, "BCS.4001021", "Operation failed. The instance quota is used up.")


def _quota(client, tenant) -> dict:
    response = client.get(f"{tenant.base}/quotas", headers=tenant.headers)
    assert response.status_code == 200, response.text
    [resource] = response.json()["resources"]
    return resource


def test_list_blockchains_is_the_projects_instances_oldest_first(client, tenant, other_tenant):
    response = client.get(f"{tenant.base}/blockchains", headers=tenant.headers)
    assert (response.status_code, response.json()) == (200, {"blockchains": [], "count": 0})
    first = create_instance(client, tenant.headers, tenant.project_id, "bcs-first")
    second = create_instance(client, tenant.headers, tenant.project_id, "bcs-second")
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-theirs")
    response = client.get(f"{tenant.base}/blockchains", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {
        "blockchains": [{"id": first, "name": "bcs-first"}, {"id": second, "name": "bcs-second"}],
        "count": 2,
    }
    assert list_ids(client, other_tenant.headers, other_tenant.project_id) == [theirs]


@pytest.mark.parametrize("query", ["", "?limit=1000", "?limit=1&offset=0", "?offset=7"])
def test_flavors(client, tenant, db, query):
    response = client.get(f"{tenant.base}/blockchains/flavors{query}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {"enterprise_spec": {"org_peer_max_num": 5, "orderer_max_num": 10, "member_max_num": 20}}
    # The route is not mistaken for ShowBlockchainDetail of an instance called "flavors", and changes nothing.
    assert row_count(db, Operation) == 0


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("limit=0", "BCS.4006014", "Invalid Parameter limit : Input should be greater than 0"),
        ("limit=1001", "BCS.4006014", "Invalid Parameter limit : Input should be less than or equal to 1000"),
        ("limit=-1", "BCS.4006014", "Invalid Parameter limit : Input should be greater than 0"),
        ("offset=-1", "BCS.4006014", "Invalid Parameter offset : Input should be greater than or equal to 0"),
        ("limit=ten", "BCS.4006003", "Invalid Parameter limit : expected an integer"),
        ("limit=1&limit=2", "BCS.4006014", "Invalid Parameter limit : given more than once"),
        ("page=1", "BCS.4006014", "Invalid Parameter page : unknown field"),
    ],
)
def test_flavors_query_is_validated(client, tenant, query, code, message):
    response = client.get(f"{tenant.base}/blockchains/flavors?{query}", headers=tenant.headers)
    assert error_of(response) == (400, code, message)


def test_quota_follows_instances_and_is_enforced(client, tenant, other_tenant, db):
    assert _quota(client, tenant) == {
        "type": "instance",
        "unit": "",
        "min": 0,
        "max": 100,
        "quota": 5,
        "used": 0,
        "free": 5,
    }
    ids = [create_instance(client, tenant.headers, tenant.project_id, f"bcs-quota-{n}") for n in range(5)]
    assert (_quota(client, tenant)["used"], _quota(client, tenant)["free"]) == (5, 0)
    response = client.post(
        f"{tenant.base}/blockchains",
        content=json.dumps(create_body("bcs-quota-5")),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert error_of(response) == QUOTA_USED_UP
    assert list_ids(client, tenant.headers, tenant.project_id) == ids
    assert row_count(db, Operation) == 5
    # Another account's quota is its own.
    assert _quota(client, other_tenant)["used"] == 0
    create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-quota-5")

    # Deleting frees a place once the instance is gone.
    deleted = client.delete(f"{tenant.base}/blockchains/{ids[0]}", headers=tenant.headers)
    assert deleted.status_code == 200
    wait_for_operation(client, tenant.headers, tenant.project_id, deleted.json()["operation_id"])
    assert (_quota(client, tenant)["used"], _quota(client, tenant)["free"]) == (4, 1)
    create_instance(client, tenant.headers, tenant.project_id, "bcs-quota-5")
    assert row_count(db, Instance, Instance.project_id == tenant.project_id) == 5


def test_custom_quota_set_by_the_service(client, tenant, db):
    db.run_write(lambda s: service.set_instance_quota(s, domain_id=tenant.domain_id, instances=1))
    assert (_quota(client, tenant)["quota"], _quota(client, tenant)["free"]) == (1, 1)
    first = create_instance(client, tenant.headers, tenant.project_id, "bcs-only")
    assert _quota(client, tenant) == {
        "type": "instance",
        "unit": "",
        "min": 0,
        "max": 100,
        "quota": 1,
        "used": 1,
        "free": 0,
    }
    response = client.post(
        f"{tenant.base}/blockchains",
        content=json.dumps(create_body("bcs-second")),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert error_of(response) == QUOTA_USED_UP
    assert list_ids(client, tenant.headers, tenant.project_id) == [first]
    # A quota below what is used shows no free place (never negative).
    db.run_write(lambda s: service.set_instance_quota(s, domain_id=tenant.domain_id, instances=0))
    assert (_quota(client, tenant)["quota"], _quota(client, tenant)["used"], _quota(client, tenant)["free"]) == (
        0,
        1,
        0,
    )
    with pytest.raises(ValueError, match="0 to 100"):
        db.run_write(lambda s: service.set_instance_quota(s, domain_id=tenant.domain_id, instances=101))
    assert db.run_read(lambda s: s.get(Quota, tenant.domain_id).instances) == 0


def test_custom_quota_set_with_the_cli(client, tenant, db, database_url, monkeypatch):
    # The CLI exports its flags as OPENBCS_* variables; let monkeypatch put the environment back afterwards.
    monkeypatch.setenv("OPENBCS_DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(
        cli.app,
        ["quota", "set", tenant.account.name, "--instances", "7", "--database-url", database_url, "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"account": tenant.account.name, "domain_id": tenant.domain_id, "instances": 7}
    assert _quota(client, tenant)["quota"] == 7
    assert _quota(client, tenant)["free"] == 7
    assert db.run_read(lambda s: s.get(Quota, tenant.domain_id).instances) == 7

    refused = runner.invoke(
        cli.app, ["quota", "set", tenant.account.name, "--instances", "101", "--database-url", database_url]
    )
    assert refused.exit_code == 1
    assert "0 to 100" in refused.output
    assert _quota(client, tenant)["quota"] == 7
