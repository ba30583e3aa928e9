"""Tenant isolation of the five certificate operations, and sm2 refused at creation with nothing made."""

from __future__ import annotations

import httpx

from openbcs.kernel.db import Database
from tests.certs.helpers import Certs, issued_rows, multipart, refused, unchanged, zip_of
from tests.support.bodies import create_body
from tests.support.errors import assert_forbidden
from tests.support.expected import org_hash
from tests.support.snapshots import MODEL_TABLES, snapshot
from tests.support.tenants import Tenant

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
    certs: Certs, bid: str, db: Database, other_tenant: Tenant
) -> None:
    user_zip = zip_of(certs.issue(bid, "orga", "alice", hosted=True))
    intruder = Certs(other_tenant)
    # The intruder has an instance of its own, with the same names.
    own = other_tenant.create_instance("bcs-certs", peer_orgs=[("orga", 1)])
    theirs = intruder.archive(own, "orga", "admin")
    mine = certs.archive(bid, "orga", "admin")
    assert theirs["msp/signcerts/Admin@orga-cert.pem"] != mine["msp/signcerts/Admin@orga-cert.pem"]
    secrets = [bid, org_hash(bid, "orga"), org_hash(bid, "orderer"), "BEGIN"]
    with unchanged(db):
        for label, answer in _five_calls(intruder, bid, user_zip):
            refused(answer, "BCS.4001011", NOT_FOUND)
            assert not any(s in answer.text for s in secrets), label
            assert "content-disposition" not in answer.headers, label
    (alice,) = issued_rows(db, bid, "orga", role="enrolled")
    assert alice.revoked_at is None


def test_another_tenants_project_is_forbidden(certs: Certs, bid: str, db: Database, other_tenant: Tenant) -> None:
    """The stranger's own token on the owner's project path."""
    user_zip = zip_of(certs.issue(bid, "orga", "alice", hosted=True))
    owner = certs.tenant.project_id
    with unchanged(db):
        calls = [
            other_tenant.call("GET", f"/blockchains/{bid}/cert", project_id=owner, org_name="orga", cert_type="admin"),
            other_tenant.call("POST", f"/blockchains/{bid}/orgs/orga/usercert/alice", project_id=owner),
            other_tenant.call("POST", f"/blockchains/{bid}/sdk-cfg", SDK_BODY, project_id=owner),
        ]
        for action in ("freeze", "unfreeze"):
            raw, content_type = multipart({"file": ("u.zip", user_zip)})
            calls.append(
                other_tenant.call(
                    "POST",
                    f"/blockchains/{bid}/orgs/orga/usercert/alice/{action}",
                    raw=raw,
                    headers={"Content-Type": content_type},
                    project_id=owner,
                )
            )
        for answer in calls:
            assert_forbidden(answer, owner)
            assert "BEGIN" not in answer.text
    (alice,) = issued_rows(db, bid, "orga", role="enrolled")
    assert alice.revoked_at is None


def test_sm2_is_refused_at_creation_and_nothing_is_made(tenant: Tenant, db: Database) -> None:
    refused(
        tenant.call("POST", "/blockchains", create_body("bcs-sm2", sign_algorithm="sm2")),
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : sm2 is not supported by OpenBCS: no maintained library issues SM2 X.509 "
        "certificates",
    )
    assert snapshot(db) == {table: [] for table in MODEL_TABLES}
    assert tenant.instance_ids() == []
