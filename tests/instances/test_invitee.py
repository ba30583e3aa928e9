"""Invitee instances: created by another tenant for a consortium (union) instance, and matching it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from openbcs.network.models import Instance, Organization
from openbcs.network.models import Channel
from openbcs.engine.models import Operation
from tests.instances.helpers import (
    Tenant,
    create_body,
    create_instance,
    detail,
    new_tenant,
    nodes,
    row_count,
    start_creation,
    wait_for_operation,
)
from tests.support import error_of

NO_SUCH_INVITER = "Invalid Parameter invitor_infos : no consortium instance with these tenant, project and ids"


def _invitee_body(inviter: Tenant, blockchain_id: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "blockchain_type": "union",
        "is_invitee": True,
        "orderer_node_number": None,
        "invitor_infos": {
            "tenant_id": inviter.domain_id,
            "project_id": inviter.project_id,
            "blockchain_id": blockchain_id,
        },
    }
    fields.update(overrides)
    return create_body("bcs-invitee", **fields)


def _post(client, tenant: Tenant, body: dict[str, Any]):
    return client.post(
        f"{tenant.base}/blockchains",
        content=json.dumps(body),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )


@pytest.fixture
def union_instance(client, tenant) -> str:
    """The inviter's consortium instance (tenant ``tenant``)."""
    return create_instance(client, tenant.headers, tenant.project_id, "bcs-union", blockchain_type="union")


def _only_inviters_rows(db, inviter_id: str) -> None:
    assert db.run_read(lambda s: list(s.scalars(select(Instance.id)))) == [inviter_id]
    assert row_count(db, Operation) == 1


def test_valid_invitee_instance(client, tenant, other_tenant, union_instance, db):
    response = _post(client, other_tenant, _invitee_body(tenant, union_instance))
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["blockchain_name"] == "bcs-invitee"
    record = wait_for_operation(client, other_tenant.headers, other_tenant.project_id, created["operation_id"])
    assert (record["operation_type"], record["operation_status"]) == ("99", "finished")
    bid = created["blockchain_id"]
    shown = detail(client, other_tenant.headers, other_tenant.project_id, bid)
    basic = shown["basic_info"]
    assert (basic["service_type"], basic["deploy_type"], basic["status"], basic["process_status"]) == (
        "union",
        "invite",
        "Normal",
        "",
    )
    assert "orderer_info" not in shown
    assert shown["channels"] == []
    assert [(p["name"], p["node_cnt"], p["status_detail"]) for p in shown["peer_info"]] == [("organization", 2, "2/2")]
    assert all(
        peer["channels"] == []
        for peer in nodes(client, other_tenant.headers, other_tenant.project_id, bid)["organization"]["peers"].values()
    )
    listed = client.get(f"{other_tenant.base}/blockchains/{bid}/channels", headers=other_tenant.headers)
    assert (listed.status_code, listed.json()) == (200, {"channels": []})

    stored = db.run_read(lambda s: s.get(Instance, bid))
    assert stored.is_invitee is True
    assert (stored.invitor_tenant_id, stored.invitor_project_id, stored.invitor_blockchain_id) == (
        tenant.domain_id,
        tenant.project_id,
        union_instance,
    )
    assert db.run_read(
        lambda s: list(s.scalars(select(Organization.role).where(Organization.blockchain_id == bid)))
    ) == ["peer"]
    assert db.run_read(lambda s: len(list(s.scalars(select(Channel).where(Channel.blockchain_id == bid))))) == 0
    # The inviter's own view is untouched.
    inviter_view = detail(client, tenant.headers, tenant.project_id, union_instance)
    assert inviter_view["basic_info"]["deploy_type"] == "create"
    assert [c["name"] for c in inviter_view["channels"]] == ["channel"]


INVITEE_REFUSALS = [
    ({"invitor_infos": None}, "BCS.4006009", "one of parameters is nil: invitor_infos"),
    (
        {"blockchain_type": "private"},
        "BCS.4006014",
        "Invalid Parameter blockchain_type : an invitee instance is a consortium (union) instance",
    ),
    (
        {"consensus": "SFLIC"},
        "BCS.4006014",
        "Invalid Parameter consensus : must match the inviter's instance (etcdraft)",
    ),
    (
        # OpenBCS refuses sm2 everywhere, so an inviter is always ECDSA and this is refused before matching.
        {"sign_algorithm": "sm2"},
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : sm2 is not supported by OpenBCS: "
        "no maintained library issues SM2 X.509 certificates",
    ),
    (
        {"version_type": 2, "org_disk_size": 500},
        "BCS.4006014",
        "Invalid Parameter version_type : must match the inviter's instance (4)",
    ),
    (
        {"channels": [{"name": "mine", "org_names": ["organization"]}]},
        "BCS.4006014",
        "Invalid Parameter channels : an invitee instance joins its inviter's channels",
    ),
    (
        {"fabric_version": "1.4"},
        "BCS.4006014",
        "Invalid Parameter fabric_version : inviters and private chains may only use Fabric 2.2",
    ),
    (
        {"orderer_node_number": 3},
        "BCS.4006014",
        "Invalid Parameter orderer_node_number : an invitee instance has no orderers: leave it out",
    ),
]


def test_invitee_rules(client, tenant, other_tenant, union_instance, db):
    for overrides, code, message in INVITEE_REFUSALS:
        response = _post(client, other_tenant, _invitee_body(tenant, union_instance, **overrides))
        assert error_of(response) == (400, code, message), overrides
        _only_inviters_rows(db, union_instance)


def test_invitor_infos_must_name_the_inviters_instance(client, tenant, other_tenant, union_instance, db):
    for wrong, value in [
        ("blockchain_id", "no-such-instance"),
        ("blockchain_id", other_tenant.project_id),
        ("tenant_id", other_tenant.domain_id),
        ("project_id", other_tenant.project_id),
    ]:
        body = _invitee_body(tenant, union_instance)
        body["invitor_infos"][wrong] = value
        response = _post(client, other_tenant, body)
        assert error_of(response) == (400, "BCS.4006014", NO_SUCH_INVITER), wrong
        _only_inviters_rows(db, union_instance)


def test_private_inviter_is_refused(client, tenant, other_tenant, db):
    private = create_instance(client, tenant.headers, tenant.project_id, "bcs-private")
    response = _post(client, other_tenant, _invitee_body(tenant, private))
    assert error_of(response) == (400, "BCS.4006014", NO_SUCH_INVITER)
    _only_inviters_rows(db, private)


def test_an_invitee_cannot_invite(client, make_account, tenant, other_tenant, union_instance, db):
    created = start_creation(
        client, other_tenant.headers, other_tenant.project_id, _invitee_body(tenant, union_instance)
    )
    wait_for_operation(client, other_tenant.headers, other_tenant.project_id, created["operation_id"])
    third = new_tenant(client, make_account)
    response = _post(client, third, _invitee_body(other_tenant, created["blockchain_id"]))
    assert error_of(response) == (400, "BCS.4006014", NO_SUCH_INVITER)
    assert row_count(db, Instance) == 2


def test_own_tenant_cannot_be_invitee(client, tenant, union_instance, db):
    response = _post(client, tenant, _invitee_body(tenant, union_instance))
    assert error_of(response) == (
        400,
        "BCS.4006014",
        "Invalid Parameter invitor_infos : an instance cannot be invited by its own tenant",
    )
    _only_inviters_rows(db, union_instance)
