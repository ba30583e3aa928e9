"""External admin custody and signature requests (issue 20, docs/governance.md): a tenant's own key, made here and
never sent to the server, becomes its organisation's only admin; a channel change that needs that organisation then
waits for its signature, which the tenant makes over the exact bytes Fabric signs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fabric_protos.common.configtx_pb2 import ConfigSignature
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.governance import signatures
from openbcs.kernel import clock
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network import identities
from openbcs.network.models import IssuedCert, Organization, OrgPki
from openbcs.network.naming import msp_id
from openbcs.runtime import nodespecs
from tests.governance.helpers import (
    CHANNEL,
    TenantKey,
    admin_rows,
    latest_msp,
    org_id,
    setup_external,
    sign_as,
    signature_body,
    start_removal,
    update_of,
    verify,
    with_signature,
)
from tests.support.accounts import TestAccount
from tests.support.operations import drive_operations, step_operation
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant, new_tenant


def test_custody_switch_leaves_only_the_tenant_cert_as_admin(tenant: Tenant, db: Database) -> None:
    bid, key = setup_external(tenant)
    rows = admin_rows(db, org_id(db, bid, "orgb"))
    assert [(r["role"], r["hosted"], r["has_key"]) for r in rows] == [
        ("admin", False, False),
        ("admin-tls", False, False),
        ("admin-external", False, False),
    ]
    assert rows[2]["cert"] == key.cert_pem
    msp = latest_msp(db, bid, CHANNEL, key.msp_id)
    assert [bytes(a).decode() for a in msp.admins] == [key.cert_pem]
    assert msp.fabric_node_ous.enable
    assert not msp.fabric_node_ous.HasField("admin_ou_identifier")  # the admin OU makes nobody an admin any more
    blocks = config_blocks(db, bid, CHANNEL)
    assert blocks[-1]["event"] == "org_custody"
    assert blocks[-1]["signers"] == [key.msp_id]  # signed with the hosted key, its last use
    assert verify(db, bid) == []
    # The hosted org a is untouched: no explicit admins, its admin OU still confers the role.
    (msp_a,) = [o["msp_id"] for o in blocks[-1]["orgs"] if o["msp_id"] != key.msp_id]
    hosted = latest_msp(db, bid, CHANNEL, msp_a)
    assert list(hosted.admins) == []
    assert hosted.fabric_node_ous.admin_ou_identifier.organizational_unit_identifier == "admin"
    # The admin download has no key to hand out now; a second switch is refused.
    download = tenant.call("GET", f"/blockchains/{bid}/cert", org_name="orgb", cert_type="admin")
    assert download.status_code == 400
    assert "external custody" in download.json()["error_msg"]
    again = tenant.call("POST", f"/blockchains/{bid}/orgs/orgb/admin-custody", {"csr": key.csr()})
    assert again.status_code == 400
    assert "external already" in again.json()["error_msg"]


@pytest.mark.parametrize(
    ("csr", "reason"),
    [("not a csr", "not a PEM certificate signing request"), ("rsa", "the key must be ECDSA P-256")],
)
def test_custody_refuses_bad_csrs(tenant: Tenant, db: Database, csr: str, reason: str) -> None:
    bid = tenant.create_instance("gov-csr", peer_orgs=[("orga", 1)], channels=[(CHANNEL, ["orga"])])
    if csr == "rsa":
        csr = TenantKey.new().csr(rsa.generate_private_key(public_exponent=65537, key_size=2048))  # type: ignore[arg-type]
    response = tenant.call("POST", f"/blockchains/{bid}/orgs/orga/admin-custody", {"csr": csr})
    assert response.status_code == 400
    assert response.json() == {"error_code": "BCS.4006014", "error_msg": f"Invalid Parameter csr : {reason}"}
    assert tenant.records(operation_type="08") == []
    assert [r["has_key"] for r in admin_rows(db, org_id(db, bid, "orga"))] == [True, True]


def test_signature_with_cryptography_json_commits(tenant: Tenant, db: Database, server_key: ServerKey) -> None:
    bid, key = setup_external(tenant)
    blocks_before = len(config_blocks(db, bid, CHANNEL))
    operation_id, request = start_removal(tenant, bid)
    assert request["status"] == "pending"
    assert request["missing"] == [key.msp_id]
    assert len(request["signed_by"]) == 1
    assert request["signed_by"][0] != key.msp_id
    assert "remove organisation(s)" in request["summary"]
    assert "/Channel/Application/Admins" in request["policy"]
    assert tenant.record(operation_id)["operation_status"] == "processing"
    # A channel with a waiting request takes no other change.
    busy = tenant.add_peers(bid, CHANNEL, {"orgc": 1})
    assert busy.status_code == 400
    assert busy.json()["error_code"] == "BCS.4001020"

    file = tenant.call("GET", f"/signature-requests/{request['id']}/envelope")
    assert file.status_code == 200
    assert file.headers["content-type"] == "application/octet-stream"
    update = update_of(file.content).config_update
    assert hashlib.sha256(update).hexdigest() == request["update_sha256"]

    def post(signature: ConfigSignature) -> Any:
        return tenant.call(
            "POST",
            f"/signature-requests/{request['id']}/signatures",
            signature_body(signature),
        )

    # Refusals, each a 400 naming why, the request unchanged.
    orgb = org_id(db, bid, "orgb")
    user = db.run_read(lambda s: identities.issued(s, orgb, "user"))
    assert user.key is not None
    user_key = identities.unseal(server_key, user.key)
    user_private = serialization.load_pem_private_key(user_key, password=None)
    orga = org_id(db, bid, "orga")
    admin_a = db.run_read(lambda s: identities.issued(s, orga, "admin"))
    assert admin_a.key is not None
    admin_a_private = serialization.load_pem_private_key(identities.unseal(server_key, admin_a.key), password=None)
    orgc = org_id(db, bid, "orgc")
    admin_c = db.run_read(lambda s: identities.issued(s, orgc, "admin"))
    assert admin_c.key is not None
    admin_c_private = serialization.load_pem_private_key(identities.unseal(server_key, admin_c.key), password=None)
    msp_a = request["signed_by"][0]
    refusals = [
        (sign_as(user_private, key.msp_id, user.cert.encode(), update), "is not an admin of"),  # type: ignore[arg-type]
        (key.signature(update, over=b"other bytes"), "signature does not verify"),
        (key.signature(update, high_s=True), "not low-S"),
        (sign_as(admin_a_private, msp_a, admin_a.cert.encode(), update), "has signed this request already"),  # type: ignore[arg-type]
    ]
    with_c = sign_as(admin_c_private, "unknownMSP", admin_c.cert.encode(), update)  # type: ignore[arg-type]
    refusals.append((with_c, "is not in the channel"))
    for signature, reason in refusals:
        refused = post(signature)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error_code"] == "BCS.4006014"
        assert reason in refused.json()["error_msg"], refused.text
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["missing"] == [key.msp_id]

    accepted = post(key.signature(update))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] in ("approved", "submitted")
    assert accepted.json()["missing"] == []
    tenant.wait(operation_id)
    shown = tenant.ok("GET", f"/signature-requests/{request['id']}")
    assert shown["status"] == "submitted"
    blocks = config_blocks(db, bid, CHANNEL)
    assert len(blocks) == blocks_before + 1
    assert [o["msp_id"] for o in blocks[-1]["orgs"]] == [key.msp_id]
    assert sorted(blocks[-1]["signers"]) == sorted([msp_a, key.msp_id])
    assert verify(db, bid) == []
    # Signing again once submitted is refused.
    late = post(key.signature(update))
    assert late.status_code == 400
    assert "is submitted, not pending" in late.json()["error_msg"]


def test_signconfigtx_file_upload_commits(tenant: Tenant, db: Database) -> None:
    bid, key = setup_external(tenant)
    operation_id, request = start_removal(tenant, bid)
    path = f"/signature-requests/{request['id']}/signatures"
    octets = {"Content-Type": "application/octet-stream"}
    file = tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content
    update = update_of(file).config_update
    before = tenant.ok("GET", f"/signature-requests/{request['id']}")
    empty = tenant.call("POST", path, raw=b"", headers=octets)
    assert (empty.status_code, empty.json()["error_msg"]) == (400, "one of parameters is nil: body")
    too_big = tenant.call("POST", path, raw=b"\0" * (signatures.FILE_MAX + 1), headers=octets)
    assert (too_big.status_code, too_big.json()["error_msg"]) == (
        400,
        f"Invalid Parameter body : at most {signatures.FILE_MAX} bytes",
    )
    assert tenant.ok("GET", f"/signature-requests/{request['id']}") == before  # refused before anything was read
    garbage = tenant.call("POST", path, raw=b"not an envelope \xff\xff", headers=octets)
    assert garbage.status_code == 400
    assert "not a serialized CONFIG_UPDATE envelope" in garbage.json()["error_msg"]
    other = with_signature(file, key.signature(update)).replace(update, update[:-1] + bytes([update[-1] ^ 1]))
    refused = tenant.call("POST", path, raw=other, headers=octets)
    assert refused.status_code == 400
    assert "holds another update" in refused.json()["error_msg"]
    unsigned = tenant.call("POST", path, raw=file, headers=octets)
    assert unsigned.status_code == 400
    assert "carries no signature" in unsigned.json()["error_msg"]
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "pending"

    upload = tenant.call("POST", path, raw=with_signature(file, key.signature(update)), headers=octets)
    assert upload.status_code == 200, upload.text
    assert upload.json()["signed_by"][-1] == key.msp_id
    tenant.wait(operation_id)
    assert [o["msp_id"] for o in config_blocks(db, bid, CHANNEL)[-1]["orgs"]] == [key.msp_id]
    assert verify(db, bid) == []


def test_reject_fails_the_operation_and_changes_nothing(tenant: Tenant, db: Database) -> None:
    bid, _ = setup_external(tenant)
    before = config_blocks(db, bid, CHANNEL)
    operation_id, request = start_removal(tenant, bid)
    response = tenant.call("POST", f"/signature-requests/{request['id']}/reject", {"reason": "we do not agree"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "we do not agree"
    record = tenant.wait(operation_id, expect="failed")
    assert "rejected: we do not agree" in str(record)
    assert config_blocks(db, bid, CHANNEL) == before
    assert sorted(o["name"] for o in before[-1]["orgs"]) == ["orga", "orgb"]
    assert tenant.ok("GET", "/signature-requests", status="rejected")["count"] == 1


def test_expiry_fails_the_operation_and_changes_nothing(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bid, _ = setup_external(tenant)
    before = config_blocks(db, bid, CHANNEL)
    operation_id, request = start_removal(tenant, bid)
    real = clock.now_ns
    monkeypatch.setattr(clock, "now_ns", lambda: real() + 73 * 3600 * 1_000_000_000)
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "expired"
    late = tenant.call(
        "POST",
        f"/signature-requests/{request['id']}/signatures",
        {"signature_header": "AAAA", "signature": "AAAA"},
    )
    assert late.status_code == 400
    assert "is expired, not pending" in late.json()["error_msg"]
    drive_operations(db, operation_id=operation_id)
    record = tenant.wait(operation_id, expect="failed")
    assert "expired" in str(record)
    assert config_blocks(db, bid, CHANNEL) == before
    stored = db.run_read(
        lambda s: s.scalar(
            select(IssuedCert.id).where(IssuedCert.role == "admin", IssuedCert.key.is_not(None)).limit(1)
        )
    )
    assert stored is not None  # (orga's hosted admin is still there: only orgb went external)


def test_requests_are_invisible_to_other_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    bid, _ = setup_external(tenant)
    _, request = start_removal(tenant, bid)
    assert other_tenant.ok("GET", "/signature-requests") == {"count": 0, "signature_requests": []}
    for path in (f"/signature-requests/{request['id']}", f"/signature-requests/{request['id']}/envelope"):
        response = other_tenant.call("GET", path)
        assert response.status_code == 404
    refused = other_tenant.call("POST", f"/signature-requests/{request['id']}/reject", {"reason": "no"})
    assert refused.status_code == 404
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "pending"


def test_custody_in_the_local_runtime_leaves_a_node_operator(
    local_tenant: Tenant, db: Database, server_key: ServerKey
) -> None:
    """The local runtime (fake nodes here; real ones in test_local_runtime.py): the switch goes through its orderers,
    the hosted admin keys go, and the org's nodes are administered from then on by a node operator (OU admin) that
    the channel MSP, its admin OU gone, does not take as an admin."""
    bid = local_tenant.create_instance("gov-local", peer_orgs=[("orga", 1)], channels=[(CHANNEL, ["orga"])])
    key = TenantKey.new()
    response = local_tenant.call("POST", f"/blockchains/{bid}/orgs/orga/admin-custody", {"csr": key.csr()})
    assert response.status_code == 200, response.text
    local_tenant.wait(response.json()["operation_id"])
    org = org_id(db, bid, "orga")
    assert [(r["role"], r["has_key"]) for r in admin_rows(db, org)] == [
        ("admin", False),
        ("admin-tls", False),
        ("admin-external", False),
    ]

    def operator(session: Session) -> tuple[bytes, str]:
        org_row = session.get_one(Organization, org)
        client = nodespecs.admin_client(session, org_row, keys=server_key)
        return client.cert, msp_id(org_row)

    cert_pem, msp = db.run_read(operator)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "NodeOperator@orga"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "admin"
    channel_msp = latest_msp(db, bid, CHANNEL, msp)
    assert [bytes(a).decode() for a in channel_msp.admins] == [response.json()["admin_cert"]]
    assert not channel_msp.fabric_node_ous.HasField("admin_ou_identifier")


def test_a_stale_request_is_refused_at_submission(
    frozen_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    """What the channel's configuration must say (here: orgb's TLS root, changed behind the API's back) differs
    from when the request was made: the signed update is not the one the change makes now; nothing is submitted."""
    tenant = new_tenant(frozen_client, make_account, drive=db)
    bid, key = setup_external(tenant)
    before = config_blocks(db, bid, CHANNEL)
    operation_id = tenant.remove_orgs(bid, CHANNEL, ["orga"]).json()["operation_id"]
    step_operation(db, operation_id, 2)  # started, then its action made the request and waits
    (request,) = tenant.ok("GET", "/signature-requests", status="pending")["signature_requests"]
    update = update_of(tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content).config_update
    signature = key.signature(update)
    body = signature_body(signature)
    approved = tenant.call("POST", f"/signature-requests/{request['id']}/signatures", body)
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"  # the worker is stopped: not submitted yet
    orgb, orgc = org_id(db, bid, "orgb"), org_id(db, bid, "orgc")

    def change_tls_root(session: Session) -> None:
        other = session.get_one(OrgPki, orgc).tlsca_cert
        session.get_one(OrgPki, orgb).tlsca_cert = other

    db.run_write(change_tls_root)
    step_operation(db, operation_id, 1)
    record = tenant.record(operation_id)
    assert record["operation_status"] == "failed"
    assert "stale" in str(record)
    assert config_blocks(db, bid, CHANNEL) == before
    assert tenant.ok("GET", f"/signature-requests/{request['id']}")["status"] == "approved"


def test_a_retried_custody_switch_answers_the_same_certificate(tenant: Tenant, db: Database) -> None:
    """X-Client-Token (docs/idempotency.md): the answer holds the tenant's certificate, so a retry after a lost
    answer gets it again instead of "external already"; the work is done once."""
    bid = tenant.create_instance("gov-retry", peer_orgs=[("orga", 1)], channels=[(CHANNEL, ["orga"])])
    body = {"csr": TenantKey.new().csr()}
    headers = {"X-Client-Token": "custody-orga-1"}
    first = tenant.call("POST", f"/blockchains/{bid}/orgs/orga/admin-custody", body, headers=headers)
    again = tenant.call("POST", f"/blockchains/{bid}/orgs/orga/admin-custody", body, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    tenant.wait(first.json()["operation_id"])
    assert [r["operation_id"] for r in tenant.records(operation_type="08")] == [first.json()["operation_id"]]
    rows = admin_rows(db, org_id(db, bid, "orga"))
    assert [r["cert"] for r in rows if r["role"] == "admin-external"] == [first.json()["admin_cert"]]
