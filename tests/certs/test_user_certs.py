"""CreateBlockchainCertByUserName: the user-name rule, hosted (security_mode=true) and user-managed certificates,
what is stored of them, the 100-hosted-users limit, and refused bodies."""

from __future__ import annotations

from cryptography.x509.oid import NameOID
from sqlalchemy import insert
from sqlalchemy.orm import Session

from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network.models import IssuedCert
from tests.certs.helpers import (
    Certs,
    cert,
    check_msp_base,
    database_text,
    filename,
    issued_by,
    issued_rows,
    key_body,
    leaf,
    msp_base_files,
    names,
    org_id,
    org_pki,
    refused,
    same_key,
    unchanged,
    unzip,
)
from tests.support.expected import msp_id

NAME_RULE = "Invalid Parameter user_name : 4-24 lower-case letters and digits, starting with a letter"


def _check_user_archive(files: dict[str, bytes], db: Database, bid: str, org: str, user: str) -> None:
    assert set(files) == msp_base_files(bid, org) | {f"msp/signcerts/{user}@{org}-cert.pem", "msp/keystore/priv_sk"}
    ca, tlsca = check_msp_base(files, db, bid, org)
    _, issued = leaf(files, "signcerts")
    assert issued_by(issued, ca)
    assert not issued_by(issued, tlsca)
    assert names(issued) == [user]
    assert names(issued, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["client"]
    assert names(issued, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]
    assert same_key(issued, files["msp/keystore/priv_sk"])


def test_hosted_certificate_is_the_same_on_every_call_and_its_key_is_sealed(
    certs: Certs, bid: str, db: Database, server_key: ServerKey
) -> None:
    first = certs.user_cert(bid, "orga", "alice", {"security_mode": True})
    assert first.status_code == 200, first.text
    assert filename(first) == "bcs-certs-orga-alice.zip"
    files = unzip(first)
    _check_user_archive(files, db, bid, "orga", "alice")
    second = certs.issue(bid, "orga", "alice", hosted=True)
    assert second["msp/signcerts/alice@orga-cert.pem"] == files["msp/signcerts/alice@orga-cert.pem"]
    assert second["msp/keystore/priv_sk"] == files["msp/keystore/priv_sk"]

    (row,) = issued_rows(db, bid, "orga", role="enrolled")
    assert (row.user_name, row.subject, row.hosted, row.revoked_at) == ("alice", "alice", True, None)
    assert row.cert.encode() == files["msp/signcerts/alice@orga-cert.pem"]
    assert row.serial == format(cert(row.cert).serial_number, "x")
    assert row.key is not None
    assert server_key.decrypt("pki-key", row.key) == files["msp/keystore/priv_sk"]
    stored = database_text(db)
    assert "PRIVATE KEY" not in stored
    for line in key_body(files["msp/keystore/priv_sk"]):
        assert line not in stored


def test_user_managed_certificates_are_new_on_every_call_and_their_keys_are_not_kept(
    certs: Certs, bid: str, db: Database
) -> None:
    answers = [
        certs.user_cert(bid, "orga", "bob1", {"security_mode": False}),
        certs.user_cert(bid, "orga", "bob1"),  # body left out: security_mode false
        certs.user_cert(bid, "orga", "bob1", {}),
    ]
    archives = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        files = unzip(answer)
        _check_user_archive(files, db, bid, "orga", "bob1")
        archives.append(files)
    serials = [leaf(files, "signcerts")[1].serial_number for files in archives]
    assert len(set(serials)) == 3
    assert len({files["msp/keystore/priv_sk"] for files in archives}) == 3
    rows = issued_rows(db, bid, "orga", role="enrolled")
    assert [(r.user_name, r.hosted, r.key, r.revoked_at) for r in rows] == [("bob1", False, None, None)] * 3
    assert [int(r.serial, 16) for r in rows] == serials
    stored = database_text(db)
    for files in archives:
        for line in key_body(files["msp/keystore/priv_sk"]):
            assert line not in stored


def test_users_of_different_orgs_chain_to_their_own_org(certs: Certs, bid: str, db: Database) -> None:
    a = certs.issue(bid, "orga", "carol", hosted=True)
    b = certs.issue(bid, "orgb", "carol", hosted=True)
    _check_user_archive(a, db, bid, "orga", "carol")
    _check_user_archive(b, db, bid, "orgb", "carol")
    assert not issued_by(leaf(b, "signcerts")[1], cert(org_pki(db, bid, "orga").ca_cert))
    assert not issued_by(leaf(a, "signcerts")[1], cert(org_pki(db, bid, "orgb").ca_cert))
    assert len(issued_rows(db, bid, "orga", role="enrolled")) == 1
    assert len(issued_rows(db, bid, "orgb", role="enrolled")) == 1


GOOD_NAMES = ["abcd", "a" * 24, "z9z9", "user2024"]
BAD_NAMES = [
    "abc",
    "Alice",
    "alicE",
    "1alice",
    "a" * 25,
    "ali_ce",
    "ali-ce",
    "bob%20x",
    "9999",
    "alice%0A",
    "alice%0Abob",
    "%C3%A9lise",
]


def test_the_user_name_rule(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        for user in BAD_NAMES:
            refused(certs.user_cert(bid, "orga", user, {"security_mode": True}), "BCS.4006014", NAME_RULE)
            refused(certs.user_cert(bid, "orga", user), "BCS.4006014", NAME_RULE)
    for user in GOOD_NAMES:
        files = certs.issue(bid, "orgb", user, hosted=False)
        _check_user_archive(files, db, bid, "orgb", user)
    assert [r.user_name for r in issued_rows(db, bid, "orgb", role="enrolled")] == GOOD_NAMES


def test_unknown_and_orderer_orgs_are_refused(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        refused(certs.user_cert(bid, "nope", "alice"), "BCS.4001051", "Input org nope is not exist")
        refused(
            certs.user_cert(bid, "orderer", "alice", {"security_mode": True}),
            "BCS.4001051",
            "Input org orderer is not exist",
        )
        refused(certs.user_cert(bid, "orderer", "alice"), "BCS.4001051", "Input org orderer is not exist")


MALFORMED = [
    (b'{"security_mode": true, "mode": 1}', "BCS.4006014", "Invalid Parameter mode : unknown field"),
    (b'{"securityMode": true}', "BCS.4006014", "Invalid Parameter securityMode : unknown field"),
    (b'{"security_mode": "true"}', "BCS.4006003", "Invalid Parameter security_mode : expected a boolean"),
    (b'{"security_mode": 1}', "BCS.4006003", "Invalid Parameter security_mode : expected a boolean"),
    (b"[true]", "BCS.4006003", None),
    (b"{security_mode}", "BCS.4006003", None),
]


def test_malformed_bodies_are_refused(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        for raw, code, message in MALFORMED:
            refused(certs.user_cert(bid, "orga", "alice", raw=raw), code, message)


def _host_users(session: Session, *, org: int, template: IssuedCert, numbers: range) -> None:
    """More hosted users of the org, inserted directly with the template's material under other names."""
    rows = [
        {
            "org_id": org,
            "role": "enrolled",
            "subject": f"hosted{i}",
            "user_name": f"hosted{i}",
            "hosted": True,
            "serial": f"{i:x}",
            "cert": template.cert,
            "key": template.key,
            "created_time": now_ns(),
        }
        for i in numbers
    ]
    session.execute(insert(IssuedCert), rows)


def test_an_org_hosts_at_most_100_users(certs: Certs, bid: str, db: Database) -> None:
    first = certs.issue(bid, "orga", "hosted0", hosted=True)
    (row,) = issued_rows(db, bid, "orga", role="enrolled")
    # 99 more hosted users, inserted directly to keep the test quick.
    db.run_write(_host_users, org=org_id(db, bid, "orga"), template=row, numbers=range(1, 100))
    with unchanged(db):
        refused(
            certs.user_cert(bid, "orga", "hosted100", {"security_mode": True}),
            "BCS.4006014",
            "Invalid Parameter security_mode : an organisation hosts at most 100 users",
        )
        # A hosted user still gets its certificate.
        again = certs.issue(bid, "orga", "hosted0", hosted=True)
        assert again["msp/signcerts/hosted0@orga-cert.pem"] == first["msp/signcerts/hosted0@orga-cert.pem"]
    # User-managed certificates are unlimited; the limit is per org.
    certs.issue(bid, "orga", "hosted100", hosted=False)
    certs.issue(bid, "orgb", "hosted100", hosted=True)
    assert len(issued_rows(db, bid, "orga", role="enrolled", hosted=True)) == 100
    assert len(issued_rows(db, bid, "orga", role="enrolled", hosted=False)) == 1
    assert len(issued_rows(db, bid, "orgb", role="enrolled", hosted=True)) == 1
