"""Certificates (downloads, the SDK configuration, users' certificates with freeze and unfreeze), events and alarms,
operations and the overview."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from openbcs.events.models import Event
from openbcs.network.models import IssuedCert
from tests.console.helpers import flashes, text_of
from tests.support.bodies import CHANNEL, DEFAULT_ORG, create_body
from tests.support.snapshots import snapshot


def _files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_downloads_are_the_apis_archives(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-certs"))
    page = console.get(f"/console/instances/{bcs_id}/certificates")
    assert page.status_code == 200
    for kind in ("admin", "user", "ca"):
        link = f"/console/instances/{bcs_id}/certificates/{DEFAULT_ORG}/{kind}.zip"
        assert f'href="{link}"' in page.text
        mine = console.get(link)
        api = tenant.call("GET", f"/blockchains/{bcs_id}/cert", org_name=DEFAULT_ORG, cert_type=kind)
        assert mine.status_code == api.status_code == 200
        assert mine.headers["content-type"] == "application/zip"
        assert f'filename="bcs-certs-{DEFAULT_ORG}-{kind}.zip"' in mine.headers["content-disposition"]
        ours, theirs = _files(mine.content), _files(api.content)
        assert ours.keys() == theirs.keys()
        # The same certificates and keys (the CRL is signed anew on each download).
        assert {k: v for k, v in ours.items() if "crl" not in k} == {k: v for k, v in theirs.items() if "crl" not in k}
    for kind in ("admin", "ca"):  # the orderer organisation's, offered on the page too
        link = f"/console/instances/{bcs_id}/certificates/orderer/{kind}.zip"
        assert f'href="{link}"' in page.text
        api = tenant.call("GET", f"/blockchains/{bcs_id}/cert", org_name="orderer", cert_type=kind)
        assert _files(console.get(link).content).keys() == _files(api.content).keys()
    assert console.get(f"/console/instances/{bcs_id}/certificates/{DEFAULT_ORG}/secret.zip").status_code == 400


def test_sdk_configuration_is_the_apis(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-sdk"))
    form = {"org": f"{DEFAULT_ORG}:2", "channel_name": CHANNEL, "chaincode_name": "mycode1", "cert_path": "/opt/certs"}
    mine = console.post(f"/console/instances/{bcs_id}/certificates/sdk-config", form)
    body = {
        "chaincode_name": "mycode1",
        "channel_name": CHANNEL,
        "cert_path": "/opt/certs",
        "peer_orgs": {DEFAULT_ORG: ["0", "1"]},
    }
    api = tenant.call("POST", f"/blockchains/{bcs_id}/sdk-cfg", body)
    assert mine.status_code == api.status_code == 200
    assert _files(mine.content)["sdk-config.yaml"] == _files(api.content)["sdk-config.yaml"]
    refused = console.post(f"/console/instances/{bcs_id}/certificates/sdk-config", {**form, "chaincode_name": "X"})
    api = tenant.call("POST", f"/blockchains/{bcs_id}/sdk-cfg", {**body, "chaincode_name": "X"})
    expected = f"{api.json()['error_msg']} ({api.json()['error_code']})"
    assert flashes(console.follow(refused).text) == [("error", "sdk-config", expected)]


def _user_certs(db, user):
    return db.run_read(
        lambda s: [
            (c.user_name, c.revoked_at is not None)
            for c in s.scalars(select(IssuedCert).where(IssuedCert.user_name == user))
        ]
    )


def _events(db, bcs_id, name):
    return db.run_read(
        lambda s: [e.message for e in s.scalars(select(Event).where(Event.blockchain_id == bcs_id, Event.name == name))]
    )


def test_user_certificates_are_issued_frozen_and_unfrozen(console, tenant, db):
    bcs_id = tenant.create_instance(create_body("bcs-users"))
    base = f"/console/instances/{bcs_id}/certificates"
    issued = console.post(f"{base}/users", {"org": DEFAULT_ORG, "user_name": "bobby1", "security_mode": "on"})
    assert issued.status_code == 200
    assert issued.headers["content-type"] == "application/zip"
    assert f"msp/signcerts/bobby1@{DEFAULT_ORG}-cert.pem" in _files(issued.content)
    assert _user_certs(db, "bobby1") == [("bobby1", False)]
    assert 'data-user="bobby1"' in console.get(base).text
    frozen = console.post(f"{base}/users/freeze", {"org": DEFAULT_ORG, "user_name": "bobby1"})
    assert flashes(console.follow(frozen).text) == [("info", "users", "1 certificate(s) of bobby1 frozen.")]
    assert _user_certs(db, "bobby1") == [("bobby1", True)]
    assert _events(db, bcs_id, "CertFrozen") == [f"1 certificate(s) of bobby1 in {DEFAULT_ORG} frozen"]
    assert "Unfreeze bobby1" in text_of(console.get(base).text)
    before = snapshot(db)
    again = console.post(f"{base}/users/freeze", {"org": DEFAULT_ORG, "user_name": "bobby1"})
    assert flashes(console.follow(again).text) == [
        ("error", "users", "Invalid Parameter user bobby1 status : already frozen (BCS.4006003)")
    ]
    assert snapshot(db) == before
    unfrozen = console.post(f"{base}/users/unfreeze", {"org": DEFAULT_ORG, "user_name": "bobby1"})
    assert flashes(console.follow(unfrozen).text) == [("info", "users", "1 certificate(s) of bobby1 unfrozen.")]
    assert _user_certs(db, "bobby1") == [("bobby1", False)]
    bad = console.post(f"{base}/users", {"org": DEFAULT_ORG, "user_name": "B"})
    assert flashes(console.follow(bad).text) == [
        (
            "error",
            "users",
            "Invalid Parameter user_name : 4-24 lower-case letters and digits, starting with a letter (BCS.4006014)",
        )
    ]
    assert console.post(f"{base}/users/melt", {"org": DEFAULT_ORG, "user_name": "bobby1"}).status_code == 404


def test_events_and_alarms_page(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-events"))
    page = console.get(f"/console/instances/{bcs_id}/events")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "No active alarm." in text
    assert "InstanceCreated" in text or "finished" in text
    assert 'option value="1440" selected' in page.text
    assert 'option value="60" selected' in console.get(f"/console/instances/{bcs_id}/events?minutes=60").text
    assert 'option value="1440" selected' in console.get(f"/console/instances/{bcs_id}/events?minutes=7").text


def test_overview_and_operations(console, tenant, db):
    first = tenant.create_instance(create_body("bcs-one"))
    tenant.create_instance(create_body("bcs-two"))
    page = console.get("/console/")
    text = text_of(page.text)
    assert "2 / 5 instances used of the quota" in text
    assert f'href="/console/instances/{first}"' in page.text
    assert 'data-testid="no-running"' in page.text
    assert 'data-running="false"' in page.text
    records = tenant.records()
    listing = console.get("/console/operations")
    for record in records:
        assert f'href="/console/operations/{record["operation_id"]}"' in listing.text
    detail = console.get(f"/console/operations/{records[0]['operation_id']}")
    assert 'data-testid="operation-status"><span class="badge s-finished">finished</span>' in detail.text
    for step in records[0]["operation_process"]:
        assert step in detail.text
    assert console.get("/console/operations/BCSSVC01-00-0000000000000000000").status_code == 404
    assert "Page 1 of 1" in text_of(console.get("/console/operations?page=9").text)
    refused = console.get("/console/operations?page=1234567890")
    assert refused.status_code == 400
    assert "Invalid Parameter page : String should have at most 9 characters (BCS.4006014)" in text_of(refused.text)
