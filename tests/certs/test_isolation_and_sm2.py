"""Tenant isolation of the five certificate operations, and sm2 refused at creation with nothing made."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from openbcs.network.models import Instance, Node, Organization
from openbcs.network.models import IssuedCert, OrgPki
from openbcs.kernel.db import Database
from openbcs.engine.models import Operation
from tests.instances.helpers import Tenant, create_body, create_instance, list_ids, new_tenant, row_count
from tests.certs.helpers import Certs, error, issued_rows, multipart, org_hash, pki_state

NOT_FOUND = "Operation failed. The service does not exist or has been deleted. Refresh the page."
SDK_BODY = {"chaincode_name": "mycc01", "cert_path": "/c", "channel_name": "channel", "peer_orgs": {"orga": ["0"]}}


def _five_calls(api: Certs, bid: str, user_zip: bytes) -> list[tuple[str, httpx.Response]]:
    """Each operation as ``api``'s tenant, on instance ``bid``."""
    return [
        ("DownloadBlockchainCert admin", api.download(bid, "orga", "admin")),
        ("DownloadBlockchainCert ca", api.download(bid, "orderer", "ca")),
        ("CreateBlockchainCertByUserName", api.user_cert(bid, "orga", "alice", {"security_mode": True})),
        ("CreateBlockchainCertByUserName new", api.user_cert(bid, "orga", "mallory")),
        ("FreezeCert", api.set_frozen(bid, "orga", "alice", "freeze")),
        ("FreezeCert file", api.freeze_with(bid, "orga", "alice", user_zip)),
        ("UnfreezeCert", api.set_frozen(bid, "orga", "alice", "unfreeze")),
        ("DownloadBlockchainSdkConfig", api.sdk_cfg(bid, SDK_BODY)),
    ]


def test_another_tenants_instance_is_not_found_by_any_certificate_operation(
    client: TestClient, certs: Certs, bid: str, db: Database, make_account: Callable[..., Any]
) -> None:
    response = certs.user_cert(bid, "orga", "alice", {"security_mode": True})
    assert response.status_code == 200
    user_zip = response.content
    intruder = Certs(client, new_tenant(client, make_account))
    # The intruder has an instance of its own, with the same names.
    own = create_instance(
        client,
        intruder.tenant.headers,
        intruder.tenant.project_id,
        "bcs-certs",
        peer_orgs=[{"name": "orga", "node_count": 1}],
    )
    theirs = intruder.archive(own, "orga", "admin")
    mine = certs.archive(bid, "orga", "admin")
    assert theirs["msp/signcerts/Admin@orga-cert.pem"] != mine["msp/signcerts/Admin@orga-cert.pem"]
    before = pki_state(db)
    secrets = [bid, org_hash(bid, "orga"), org_hash(bid, "orderer"), "BEGIN"]
    for label, answer in _five_calls(intruder, bid, user_zip):
        error(answer, "BCS.4001011", NOT_FOUND)
        assert not any(s in answer.text for s in secrets), label
        assert "content-disposition" not in answer.headers, label
    assert pki_state(db) == before
    (alice,) = issued_rows(db, bid, "orga", role="enrolled")
    assert alice.revoked_at is None


def test_another_tenants_project_is_forbidden(
    client: TestClient, certs: Certs, bid: str, db: Database, make_account: Callable[..., Any]
) -> None:
    user_zip = certs.user_cert(bid, "orga", "alice", {"security_mode": True}).content
    stranger = new_tenant(client, make_account)
    # The stranger's token on the owner's project path.
    impostor_base = certs.base
    before = pki_state(db)
    calls = [
        client.get(
            f"{impostor_base}/{bid}/cert", params={"org_name": "orga", "cert_type": "admin"}, headers=stranger.headers
        ),
        client.post(f"{impostor_base}/{bid}/orgs/orga/usercert/alice", headers=stranger.headers),
        client.post(f"{impostor_base}/{bid}/sdk-cfg", json=SDK_BODY, headers=stranger.headers),
    ]
    for action in ("freeze", "unfreeze"):
        raw, content_type = multipart({"file": ("u.zip", user_zip)})
        calls.append(
            client.post(
                f"{impostor_base}/{bid}/orgs/orga/usercert/alice/{action}",
                content=raw,
                headers={**stranger.headers, "Content-Type": content_type},
            )
        )
    for answer in calls:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error_code"] == "BCS.4030403"
        assert "BEGIN" not in answer.text
    assert pki_state(db) == before


def test_sm2_is_refused_at_creation_and_nothing_is_made(client: TestClient, tenant: Tenant, db: Database) -> None:
    response = client.post(
        f"{tenant.base}/blockchains",
        content=json.dumps(create_body("bcs-sm2", sign_algorithm="sm2")),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    error(
        response,
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : sm2 is not supported by OpenBCS: no maintained library issues SM2 X.509 "
        "certificates",
    )
    for model in (Instance, Organization, Node, Operation, OrgPki, IssuedCert):
        assert row_count(db, model) == 0, model
    assert list_ids(client, tenant.headers, tenant.project_id) == []
