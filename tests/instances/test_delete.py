"""DeleteBlockchain: the operation, the instance's way out of every view, and the validated flags."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from openbcs.network.models import Instance, Node, Organization
from openbcs.network.models import IssuedCert, OrgPki
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, ConfigBlock
from openbcs.engine.models import Operation
from tests.instances.helpers import (
    create_body,
    create_instance,
    detail,
    drive_operations,
    list_ids,
    new_tenant,
    op_records,
    row_count,
    start_creation,
    wait_for_operation,
)
from tests.support import error_of

NOT_FOUND = (400, "BCS.4001011", "Operation failed. The service does not exist or has been deleted. Refresh the page.")


def test_delete_removes_the_instance_everywhere(client, tenant, other_tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id, "bcs-doomed")
    kept = create_instance(client, tenant.headers, tenant.project_id, "bcs-kept")
    theirs = create_instance(client, other_tenant.headers, other_tenant.project_id, "bcs-theirs")
    response = client.delete(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)
    assert response.status_code == 200
    assert set(response.json()) == {"operation_id"}
    op = response.json()["operation_id"]
    assert op.startswith("BCSSVC01-00-")
    record = wait_for_operation(client, tenant.headers, tenant.project_id, op)
    assert (record["operation_type"], record["operation_status"], record["blockchain_id"]) == ("00", "finished", bid)
    assert {name: list(step["sub_steps"]) for name, step in record["operation_process"].items()} == {
        "Delete blockchain": ["Stop nodes"],
        "Delete Other Dependent Resource": ["Release storage", "Remove instance"],
    }

    assert list_ids(client, tenant.headers, tenant.project_id) == [kept]
    for suffix in ("", "/status", "/nodes", "/channels"):
        assert error_of(client.get(f"{tenant.base}/blockchains/{bid}{suffix}", headers=tenant.headers)) == NOT_FOUND
    # Its rows are gone; the other instances are whole.
    assert db.run_read(lambda s: s.get(Instance, bid)) is None
    assert row_count(db, Instance) == 2
    assert row_count(db, Organization) == 4
    assert row_count(db, Node) == 10
    assert row_count(db, Channel) == 2
    assert row_count(db, ChannelOrg) == 2
    assert row_count(db, ChannelPeer) == 4
    assert row_count(db, ConfigBlock) == 2
    # Nor is any key material of its organisations left behind.
    assert row_count(db, OrgPki) == 4
    assert row_count(db, OrgPki, OrgPki.org_id.not_in(select(Organization.id))) == 0
    assert row_count(db, IssuedCert, IssuedCert.org_id.not_in(select(Organization.id))) == 0
    assert detail(client, other_tenant.headers, other_tenant.project_id, theirs)["basic_info"]["status"] == "Normal"
    # The records stay: creation and deletion of the deleted instance.
    assert [r["operation_type"] for r in op_records(client, tenant.headers, tenant.project_id, blockchain_id=bid)] == [
        "00",
        "99",
    ]
    # Deleting it again: it does not exist any more.
    assert error_of(client.delete(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)) == NOT_FOUND
    assert row_count(db, Operation) == 4


def test_instance_is_deleting_until_its_operation_completes(frozen_client, make_account, db):
    tenant = new_tenant(frozen_client, make_account)
    created = start_creation(frozen_client, tenant.headers, tenant.project_id, create_body("bcs-doomed"))
    drive_operations(db)
    bid = created["blockchain_id"]
    response = frozen_client.delete(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)
    assert response.status_code == 200
    shown = detail(frozen_client, tenant.headers, tenant.project_id, bid)
    assert (shown["basic_info"]["status"], shown["basic_info"]["process_status"]) == ("Normal", "IsDeleting")
    assert [(p["status"], p["status_detail"]) for p in shown["peer_info"]] == [("Isdeleting", "0/2")]
    assert shown["orderer_info"]["status"] == "Isdeleting"
    # Still listed (and counted against the quota) while it goes.
    assert list_ids(frozen_client, tenant.headers, tenant.project_id) == [bid]
    quota = frozen_client.get(f"{tenant.base}/quotas", headers=tenant.headers).json()["resources"][0]
    assert quota["used"] == 1
    # A second delete meanwhile is refused.
    assert error_of(frozen_client.delete(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)) == (
        400,
        "BCS.4001003",
        "Operation failed. The BCS service is being deleted.",
    )
    assert row_count(db, Operation) == 2
    drive_operations(db)
    assert list_ids(frozen_client, tenant.headers, tenant.project_id) == []
    assert error_of(frozen_client.get(f"{tenant.base}/blockchains/{bid}", headers=tenant.headers)) == NOT_FOUND


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
def test_accepted_flags_are_kept_with_the_operation(client, tenant, db, query, flags):
    bid = create_instance(client, tenant.headers, tenant.project_id)
    response = client.delete(f"{tenant.base}/blockchains/{bid}{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    op = response.json()["operation_id"]
    assert db.run_read(lambda s: s.get(Operation, op).payload) == {"flags": flags}
    wait_for_operation(client, tenant.headers, tenant.project_id, op)
    assert list_ids(client, tenant.headers, tenant.project_id) == []


REFUSED_FLAGS = [
    ("is_delete_storage=maybe", "BCS.4006003", "Invalid Parameter is_delete_storage : expected a boolean"),
    ("is_delete_obs=2", "BCS.4006003", "Invalid Parameter is_delete_obs : expected a boolean"),
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


def test_refused_flags_change_nothing(client, tenant, db):
    bid = create_instance(client, tenant.headers, tenant.project_id)
    before = detail(client, tenant.headers, tenant.project_id, bid)
    for query, code, message in REFUSED_FLAGS:
        response = client.delete(f"{tenant.base}/blockchains/{bid}?{query}", headers=tenant.headers)
        assert error_of(response) == (400, code, message), query
        assert row_count(db, Operation) == 1, query
        assert db.run_read(lambda s: s.get(Instance, bid).busy_operation_id) is None, query
    assert detail(client, tenant.headers, tenant.project_id, bid) == before


def test_unknown_instance(client, tenant, db):
    response = client.delete(f"{tenant.base}/blockchains/00000000-0000-0000-0000-000000000000", headers=tenant.headers)
    assert error_of(response) == NOT_FOUND
    assert row_count(db, Operation) == 0
