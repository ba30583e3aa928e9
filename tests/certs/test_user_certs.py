"""CreateBlockchainCertByUserName: the user-name rule, hosted (security_mode=true) and user-managed certificates,
what is stored of them, the 100-hosted-users limit, and refused bodies."""

from __future__ import annotations

from cryptography.x509.oid import NameOID
from sqlalchemy import insert

from openbcs.network.models import IssuedCert
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from tests.certs.helpers import (
    Certs,
    cert,
    crl_of,
    database_text,
    domain,
    error,
    filename,
    issued_by,
    issued_rows,
    key_body,
    leaf,
    msp_id,
    names,
    org_id,
    org_pki,
    pki_state,
    same_key,
    unzip,
)

NAME_RULE = "Invalid Parameter user_name : 4-24 lower-case letters and digits, starting with a letter"


def _check_user_archive(files: dict[str, bytes], db: Database, bid: str, org: str, user: str) -> None:
    dom = domain(bid, org)
    assert set(files) == {
        f"msp/cacerts/ca.{dom}-cert.pem",
        f"msp/tlscacerts/tlsca.{dom}-cert.pem",
        "msp/config.yaml",
        "msp/crls/crl.pem",
        f"msp/signcerts/{user}@{org}-cert.pem",
        "msp/keystore/priv_sk",
    }
    stored = org_pki(db, bid, org)
    ca = cert(stored.ca_cert)
    assert files[f"msp/cacerts/ca.{dom}-cert.pem"].decode() == stored.ca_cert
    assert files[f"msp/tlscacerts/tlsca.{dom}-cert.pem"].decode() == stored.tlsca_cert
    _, issued = leaf(files, "signcerts")
    assert issued_by(issued, ca)
    assert not issued_by(issued, cert(stored.tlsca_cert))
    assert names(issued) == [user]
    assert names(issued, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["client"]
    assert names(issued, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]
    assert same_key(issued, files["msp/keystore/priv_sk"])
    assert crl_of(files["msp/crls/crl.pem"], ca)[0] == stored.crl_number


def test_hosted_certificate_is_the_same_on_every_call_and_its_key_is_sealed(
    certs: Certs, bid: str, db: Database, server_key: ServerKey
) -> None:
    first = certs.user_cert(bid, "orga", "alice", {"security_mode": True})
    assert first.status_code == 200, first.text
    assert filename(first) == "bcs-certs-orga-alice.zip"
    files = unzip(first)
    _check_user_archive(files, db, bid, "orga", "alice")
    second = unzip(certs.user_cert(bid, "orga", "alice", {"security_mode": True}))
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
    before = pki_state(db)
    for user in BAD_NAMES:
        error(certs.user_cert(bid, "orga", user, {"security_mode": True}), "BCS.4006014", NAME_RULE)
        error(certs.user_cert(bid, "orga", user), "BCS.4006014", NAME_RULE)
    assert pki_state(db) == before
    for user in GOOD_NAMES:
        files = certs.issue(bid, "orgb", user, hosted=False)
        _check_user_archive(files, db, bid, "orgb", user)
    assert [r.user_name for r in issued_rows(db, bid, "orgb", role="enrolled")] == GOOD_NAMES


def test_unknown_and_orderer_orgs_are_refused(certs: Certs, bid: str, db: Database) -> None:
    before = pki_state(db)
    error(certs.user_cert(bid, "nope", "alice"), "BCS.4001051", "Input org nope is not exist")
    error(
        certs.user_cert(bid, "orderer", "alice", {"security_mode": True}),
        "BCS.4001051",
        "Input org orderer is not exist",
    )
    error(certs.user_cert(bid, "orderer", "alice"), "BCS.4001051", "Input org orderer is not exist")
    assert pki_state(db) == before


MALFORMED = [
    (b'{"security_mode": true, "mode": 1}', "BCS.4006014", "Invalid Parameter mode : unknown field"),
    (b'{"securityMode": true}', "BCS.4006014", "Invalid Parameter securityMode : unknown field"),
    (b'{"security_mode": "true"}', "BCS.4006003", "Invalid Parameter security_mode : expected a boolean"),
    (b'{"security_mode": 1}', "BCS.4006003", "Invalid Parameter security_mode : expected a boolean"),
    (b"[true]", "BCS.4006003", None),
    (b"{security_mode}", "BCS.4006003", None),
]


def test_malformed_bodies_are_refused(certs: Certs, bid: str, db: Database) -> None:
    before = pki_state(db)
    for raw, code, message in MALFORMED:
        error(certs.user_cert(bid, "orga", "alice", raw=raw), code, message)
    assert pki_state(db) == before


def test_an_org_hosts_at_most_100_users(certs: Certs, bid: str, db: Database) -> None:
    first = certs.issue(bid, "orga", "hosted0", hosted=True)
    (row,) = issued_rows(db, bid, "orga", role="enrolled")
    oid = org_id(db, bid, "orga")
    # 99 more hosted users, inserted directly (same material, other names) to keep the test quick.
    db.run_write(
        lambda s: s.execute(
            insert(IssuedCert),
            [
                {
                    "org_id": oid,
                    "role": "enrolled",
                    "subject": f"hosted{i}",
                    "user_name": f"hosted{i}",
                    "hosted": True,
                    "serial": f"{i:x}",
                    "cert": row.cert,
                    "key": row.key,
                    "created_time": now_ns(),
                }
                for i in range(1, 100)
            ],
        )
    )
    before = pki_state(db)
    error(
        certs.user_cert(bid, "orga", "hosted100", {"security_mode": True}),
        "BCS.4006014",
        "Invalid Parameter security_mode : an organisation hosts at most 100 users",
    )
    assert pki_state(db) == before
    # A hosted user still gets its certificate; user-managed certificates are unlimited; the limit is per org.
    again = certs.issue(bid, "orga", "hosted0", hosted=True)
    assert again["msp/signcerts/hosted0@orga-cert.pem"] == first["msp/signcerts/hosted0@orga-cert.pem"]
    assert pki_state(db) == before
    certs.issue(bid, "orga", "hosted100", hosted=False)
    certs.issue(bid, "orgb", "hosted100", hosted=True)
    assert len(issued_rows(db, bid, "orga", role="enrolled", hosted=True)) == 100
    assert len(issued_rows(db, bid, "orga", role="enrolled", hosted=False)) == 1
    assert len(issued_rows(db, bid, "orgb", role="enrolled", hosted=True)) == 1
