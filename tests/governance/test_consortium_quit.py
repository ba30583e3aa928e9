"""The seed's quit (HandleUnionMemberQuitList) when the inviter's organisation holds its own admin key: the quit
answers as today, the membership is ``quitting`` while the operation waits for the inviter's signature (ListOpRecord
shows the waiting step), and it ends when the inviter signs — or fails, the membership ``joined`` again and the
channel unchanged, when the inviter refuses."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from openbcs.consortium import states
from openbcs.kernel.db import Database
from tests.governance.helpers import TenantKey, signature_body, update_of
from tests.support.bodies import CHANNEL, DEFAULT_ORG
from tests.support.consortia import Consortium, setup_consortium
from tests.support.snapshots import config_blocks, invitation_row


@pytest.fixture
def external(client: TestClient, make_account: Any) -> tuple[Consortium, TenantKey]:
    """A consortium whose invitee joined, then whose inviter's organisation switched to its own admin key."""
    consortium = setup_consortium(client, make_account)
    consortium.join()
    key = TenantKey.new()
    path = f"/blockchains/{consortium.inviter_bcs_id}/orgs/{DEFAULT_ORG}/admin-custody"
    switched = consortium.inviter.call("POST", path, {"csr": key.csr()})
    assert switched.status_code == 200, switched.text
    consortium.inviter.wait(switched.json()["operation_id"])
    key.cert_pem = switched.json()["admin_cert"]
    cert = x509.load_pem_x509_certificate(key.cert_pem.encode())
    key.msp_id = str(cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)
    return consortium, key


def _quit(consortium: Consortium, db: Database) -> tuple[str, dict[str, Any]]:
    response = consortium.invitee.quit(consortium.quit_body())
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["result", "operation_id"]
    operation_id = response.json()["operation_id"]
    assert invitation_row(db)["status"] == states.QUITTING
    record = consortium.invitee.record(operation_id)
    assert record["operation_status"] == "processing"
    assert "waiting for signatures" in str(record)
    (request,) = consortium.inviter.ok("GET", "/signature-requests", status="pending")["signature_requests"]
    # The invitee sees the request its operation made, too.
    assert consortium.invitee.ok("GET", f"/signature-requests/{request['id']}")["id"] == request["id"]
    return operation_id, request


def test_quit_finishes_when_the_inviter_signs(external: tuple[Consortium, TenantKey], db: Database) -> None:
    consortium, key = external
    before = len(config_blocks(db, consortium.inviter_bcs_id, CHANNEL))
    operation_id, request = _quit(consortium, db)
    assert request["missing"] == [key.msp_id]
    file = consortium.inviter.call("GET", f"/signature-requests/{request['id']}/envelope").content
    signature = key.signature(update_of(file).config_update)
    body = signature_body(signature)
    signed = consortium.inviter.call("POST", f"/signature-requests/{request['id']}/signatures", body)
    assert signed.status_code == 200, signed.text
    consortium.invitee.wait(operation_id)
    assert invitation_row(db)["status"] == states.QUIT
    blocks = config_blocks(db, consortium.inviter_bcs_id, CHANNEL)
    assert len(blocks) == before + 1
    assert [o["msp_id"] for o in blocks[-1]["orgs"]] == [key.msp_id]


def test_quit_fails_when_the_inviter_refuses(external: tuple[Consortium, TenantKey], db: Database) -> None:
    consortium, _ = external
    before = config_blocks(db, consortium.inviter_bcs_id, CHANNEL)
    operation_id, request = _quit(consortium, db)
    refused = consortium.inviter.call("POST", f"/signature-requests/{request['id']}/reject", {"reason": "stay"})
    assert refused.status_code == 200, refused.text
    record = consortium.invitee.wait(operation_id, expect="failed")
    assert "rejected: stay" in str(record)
    assert invitation_row(db)["status"] == states.JOINED
    assert config_blocks(db, consortium.inviter_bcs_id, CHANNEL) == before
