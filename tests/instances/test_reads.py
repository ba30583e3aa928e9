"""ListBlockchains, ShowBlockchainFlavors and ListQuotas (with the operators' quota CLI)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openbcs import cli
from openbcs.engine.models import Operation
from openbcs.instances import quotas
from openbcs.instances.models import Quota
from openbcs.network.models import Instance
from tests.support.bodies import create_body
from tests.support.errors import assert_error
from tests.support.snapshots import row_count, snapshot

QUOTA_USED_UP = (400, "BCS.4001021", "Operation failed. The instance quota is used up.")
FLAVORS = {"enterprise_spec": {"org_peer_max_num": 5, "orderer_max_num": 10, "member_max_num": 20}}


def _quota(quota: int, used: int, free: int) -> dict:
    return {"type": "instance", "unit": "", "min": 0, "max": 100, "quota": quota, "used": used, "free": free}


def _stored_quota(db, domain_id: str) -> int:
    return db.run_read(Session.get, Quota, domain_id).instances


def test_list_blockchains_is_the_projects_instances_oldest_first(tenant, other_tenant):
    assert tenant.ok("GET", "/blockchains") == {"blockchains": [], "count": 0}
    first = tenant.create_instance("bcs-first")
    second = tenant.create_instance("bcs-second")
    theirs = other_tenant.create_instance("bcs-theirs")
    assert tenant.ok("GET", "/blockchains") == {
        "blockchains": [{"id": first, "name": "bcs-first"}, {"id": second, "name": "bcs-second"}],
        "count": 2,
    }
    assert other_tenant.instance_ids() == [theirs]


@pytest.mark.parametrize("query", ["", "?limit=1000", "?limit=1&offset=0", "?offset=7"])
def test_flavors(tenant, db, query):
    # The route is not mistaken for ShowBlockchainDetail of an instance called "flavors", and changes nothing.
    before = snapshot(db)
    assert tenant.ok("GET", f"/blockchains/flavors{query}") == FLAVORS
    assert snapshot(db) == before
    assert row_count(db, Operation) == 0


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("limit=0", "BCS.4006014", "Invalid Parameter limit : Input should be greater than 0"),
        ("limit=1001", "BCS.4006014", "Invalid Parameter limit : Input should be less than or equal to 1000"),
        ("limit=-1", "BCS.4006014", "Invalid Parameter limit : Input should be greater than 0"),
        ("offset=-1", "BCS.4006014", "Invalid Parameter offset : Input should be greater than or equal to 0"),
        (
            "limit=ten",
            "BCS.4006003",
            "Invalid Parameter limit : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        # Query numbers are read as strictly as JSON numbers (each of these was 200 before issue 12).
        (
            "limit=+5",
            "BCS.4006003",
            "Invalid Parameter limit : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        (
            "limit=1.0",
            "BCS.4006003",
            "Invalid Parameter limit : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        (
            "offset=1_000",
            "BCS.4006003",
            "Invalid Parameter offset : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        (
            "offset=%205",
            "BCS.4006003",
            "Invalid Parameter offset : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        (
            "offset=05",
            "BCS.4006003",
            "Invalid Parameter offset : expected an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
        ),
        ("offset=99999999999999999999999999999", "BCS.4006014", "Invalid Parameter offset : out of range"),
        (
            "offset=2147483648",
            "BCS.4006014",
            "Invalid Parameter offset : Input should be less than or equal to 2147483647",
        ),
        ("limit=1&limit=2", "BCS.4006014", "Invalid Parameter limit : given more than once"),
    ],
)
def test_the_flavors_query_is_validated(tenant, db, query, code, message):
    before = snapshot(db)
    assert_error(tenant.call("GET", f"/blockchains/flavors?{query}"), 400, code, message)
    assert snapshot(db) == before


def test_the_quota_follows_instances_and_is_enforced(tenant, other_tenant, db):
    assert tenant.quota() == _quota(5, 0, 5)
    ids = [tenant.create_instance(f"bcs-quota-{n}") for n in range(5)]
    assert tenant.quota() == _quota(5, 5, 0)
    before = snapshot(db)
    assert_error(tenant.call("POST", "/blockchains", create_body("bcs-quota-5")), *QUOTA_USED_UP)
    assert snapshot(db) == before
    assert tenant.instance_ids() == ids
    assert row_count(db, Operation) == 5
    # Another account's quota is its own.
    assert other_tenant.quota()["used"] == 0
    other_tenant.create_instance("bcs-quota-5")

    # Deleting frees a place once the instance is gone.
    tenant.run(tenant.delete_instance(ids[0]))
    assert tenant.quota() == _quota(5, 4, 1)
    tenant.create_instance("bcs-quota-5")
    assert row_count(db, Instance, Instance.project_id == tenant.project_id) == 5


def test_a_custom_quota_set_by_the_service(tenant, db):
    db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=1)
    assert tenant.quota() == _quota(1, 0, 1)
    first = tenant.create_instance("bcs-only")
    assert tenant.quota() == _quota(1, 1, 0)
    before = snapshot(db)
    assert_error(tenant.call("POST", "/blockchains", create_body("bcs-second")), *QUOTA_USED_UP)
    assert snapshot(db) == before
    assert tenant.instance_ids() == [first]
    # A quota below what is used shows no free place (never negative).
    db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=0)
    assert tenant.quota() == _quota(0, 1, 0)
    with pytest.raises(ValueError, match="0 to 100"):
        db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=101)
    assert _stored_quota(db, tenant.domain_id) == 0


def test_a_custom_quota_set_with_the_cli(tenant, db, database_url, monkeypatch):
    # The CLI exports its flags as OPENBCS_* variables; let monkeypatch put the environment back afterwards.
    monkeypatch.setenv("OPENBCS_DATABASE_URL", database_url)
    runner = CliRunner()
    quota_set = ["quota", "set", tenant.name, "--database-url", database_url, "--instances"]
    result = runner.invoke(cli.app, [*quota_set, "7", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"account": tenant.name, "domain_id": tenant.domain_id, "instances": 7}
    assert tenant.quota() == _quota(7, 0, 7)
    assert _stored_quota(db, tenant.domain_id) == 7

    refused = runner.invoke(
        cli.app, ["quota", "set", tenant.name, "--instances", "101", "--database-url", database_url]
    )
    assert refused.exit_code == 1
    assert "0 to 100" in refused.output
    assert tenant.quota()["quota"] == 7
    assert _stored_quota(db, tenant.domain_id) == 7
