"""DownloadBlockchainCert: MSP archives of every organisation that chain to the organisation's CAs, keys that
match, TLS node certificates with the hosts the connection profile names; and its errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network.models import IssuedCert, OrgPki
from tests.certs.helpers import (
    Certs,
    cert,
    check_msp_base,
    domain,
    filename,
    issued_by,
    issued_rows,
    msp_base_files,
    names,
    org_pki,
    refused,
    same_key,
    sans,
    unchanged,
    unzip,
)
from tests.support.accounts import TestAccount
from tests.support.bodies import DEFAULT_ORG, create_body
from tests.support.expected import msp_id
from tests.support.snapshots import row_count
from tests.support.tenants import new_tenant

ORGS = ("orga", "orgb", "orderer")


@pytest.mark.parametrize("cert_type", ["admin", "user"])
def test_identity_archives_of_every_org_chain_to_its_cas(
    certs: Certs, bid: str, db: Database, server_key: ServerKey, cert_type: str
) -> None:
    who = "Admin" if cert_type == "admin" else "User1"
    unit = "admin" if cert_type == "admin" else "client"
    with unchanged(db):  # downloading issues nothing
        for org in ORGS:
            response = certs.download(bid, org, cert_type)
            assert response.status_code == 200, response.text
            assert filename(response) == f"bcs-certs-{org}-{cert_type}.zip"
            files = unzip(response)
            subject = f"{who}@{org}"
            signcert = f"msp/signcerts/{subject}-cert.pem"
            assert set(files) == msp_base_files(bid, org) | {
                signcert,
                "msp/keystore/priv_sk",
                "tls/ca.crt",
                "tls/client.crt",
                "tls/client.key",
            }
            ca, tlsca = check_msp_base(files, db, bid, org)

            sign = cert(files[signcert])
            assert issued_by(sign, ca)
            assert not issued_by(sign, tlsca)
            assert names(sign) == [subject]
            assert names(sign, NameOID.ORGANIZATIONAL_UNIT_NAME) == [unit]
            assert names(sign, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]
            assert sign.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
            assert same_key(sign, files["msp/keystore/priv_sk"])

            assert files["tls/ca.crt"] == files[f"msp/tlscacerts/tlsca.{domain(bid, org)}-cert.pem"]
            tls = cert(files["tls/client.crt"])
            assert issued_by(tls, tlsca)
            assert not issued_by(tls, ca)
            assert names(tls) == [subject]
            eku = tls.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
            assert same_key(tls, files["tls/client.key"])
            assert not same_key(tls, files["msp/keystore/priv_sk"])

            # The archive is what is stored: the rows of this role, keys sealed with the server key.
            (row,) = issued_rows(db, bid, org, role=cert_type)
            (tls_row,) = issued_rows(db, bid, org, role=f"{cert_type}-tls")
            assert row.cert.encode() == files[signcert]
            assert tls_row.cert.encode() == files["tls/client.crt"]
            assert row.serial == format(sign.serial_number, "x")
            assert row.key is not None
            assert "PRIVATE KEY" not in row.key
            assert server_key.decrypt("pki-key", row.key) == files["msp/keystore/priv_sk"]
            assert tls_row.key is not None
            assert server_key.decrypt("pki-key", tls_row.key) == files["tls/client.key"]
            # Downloading again gives the same identity.
            again = certs.archive(bid, org, cert_type)
            assert again[signcert] == files[signcert]
            assert again["msp/keystore/priv_sk"] == files["msp/keystore/priv_sk"]


def test_ca_archives_hold_only_public_material(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        for org in ORGS:
            response = certs.download(bid, org, "ca")
            assert response.status_code == 200, response.text
            assert filename(response) == f"bcs-certs-{org}-ca.zip"
            files = unzip(response)
            assert set(files) == msp_base_files(bid, org)
            check_msp_base(files, db, bid, org)
            assert b"PRIVATE KEY" not in b"".join(files.values())
    # Each org has its own CAs.
    cas = {org_pki(db, bid, org).ca_cert for org in ORGS} | {org_pki(db, bid, org).tlsca_cert for org in ORGS}
    assert len(cas) == 2 * len(ORGS)


def test_every_org_and_node_has_its_certificates(certs: Certs, bid: str, db: Database, server_key: ServerKey) -> None:
    endpoints = certs.endpoints(bid)
    assert set(endpoints) == set(ORGS)
    assert (len(endpoints["orga"]), len(endpoints["orgb"]), len(endpoints["orderer"])) == (2, 1, 3)
    for org, nodes in endpoints.items():
        stored = org_pki(db, bid, org)
        ca, tlsca = cert(stored.ca_cert), cert(stored.tlsca_cert)
        rows = issued_rows(db, bid, org)
        assert sorted(r.role for r in rows if r.node_name is None) == ["admin", "admin-tls", "user", "user-tls"]
        unit = "orderer" if org == "orderer" else "peer"
        assert sorted(r.node_name for r in rows if r.role == "node") == sorted(nodes)
        assert sorted(r.node_name for r in rows if r.role == "node-tls") == sorted(nodes)
        assert len({r.serial for r in rows}) == len(rows)
        for row in rows:
            issued = cert(row.cert)
            assert row.serial == format(issued.serial_number, "x")
            assert issued_by(issued, tlsca if row.role.endswith("-tls") else ca)
            assert not issued_by(issued, ca if row.role.endswith("-tls") else tlsca)
            assert row.key is not None
            assert row.hosted
            assert same_key(issued, server_key.decrypt("pki-key", row.key))
            assert names(issued, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]
            if row.role == "node":
                assert names(issued) == [row.node_name]
                assert names(issued, NameOID.ORGANIZATIONAL_UNIT_NAME) == [unit]
            if row.role == "node-tls":
                host, ip = nodes[row.node_name]
                assert host == f"{row.node_name}.{domain(bid, org)}"
                assert sans(issued) == ({host, row.node_name}, {ip})
                eku = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                assert ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_node_tls_certificates_carry_the_hosts_the_profile_names(certs: Certs, bid: str, db: Database) -> None:
    response = certs.sdk_cfg(
        bid,
        {
            "chaincode_name": "mycc01",
            "cert_path": "/opt/app/crypto",
            "channel_name": "channel",
            "peer_orgs": {"orga": ["0", "1"], "orgb": ["0"]},
        },
    )
    assert response.status_code == 200, response.text
    files = unzip(response)
    profile = yaml.safe_load(files["sdk-config.yaml"])
    endpoints = [("orderer", name, entry) for name, entry in profile["orderers"].items()]
    endpoints += [
        (org, name, profile["peers"][name]) for org, o in profile["organizations"].items() for name in o["peers"]
    ]
    assert len(endpoints) == 3 + 3
    for org, node, entry in endpoints:
        (row,) = issued_rows(db, bid, org, role="node-tls", node_name=node)
        tls = cert(row.cert)
        tlsca = cert(files[entry["tlsCACerts"]["path"].removeprefix("/opt/app/crypto/")])
        assert issued_by(tls, tlsca)
        dns, _ips = sans(tls)
        url_host = entry["url"].removeprefix("grpcs://").rsplit(":", 1)[0]
        assert entry["grpcOptions"]["ssl-target-name-override"] in dns
        assert url_host in dns


def test_chinese_instance_and_org_names(certs: Certs, make_instance: Callable[..., str], db: Database) -> None:
    """Instance and organisation names may be Chinese: the attachment name then travels in ``filename*``."""
    org = "组织甲乙"
    bid = make_instance("区块链实例", peer_orgs=[(org, 1)], channels=[("channel", [org])])
    sdk_body = {"chaincode_name": "mycc01", "cert_path": "/c", "channel_name": "channel", "peer_orgs": {org: ["0"]}}
    answers = {
        f"{org}-admin": certs.download(bid, org, "admin"),
        f"{org}-alice": certs.user_cert(bid, org, "alice"),
        "sdk-config": certs.sdk_cfg(bid, sdk_body),
    }
    ca = cert(org_pki(db, bid, org).ca_cert)
    assert names(ca) == [f"ca.{org}"]
    archives = {}
    for suffix, response in answers.items():
        assert response.status_code == 200, response.text
        assert filename(response) == f"区块链实例-{suffix}.zip"
        assert response.headers["content-disposition"].startswith('attachment; filename="_____-')
        archives[suffix] = unzip(response)
    admin_cert = archives[f"{org}-admin"][f"msp/signcerts/Admin@{org}-cert.pem"]
    assert issued_by(cert(admin_cert), ca)
    alice = cert(archives[f"{org}-alice"][f"msp/signcerts/alice@{org}-cert.pem"])
    assert issued_by(alice, ca)
    assert names(alice) == ["alice"]
    profile = yaml.safe_load(archives["sdk-config"]["sdk-config.yaml"])
    assert list(profile["organizations"]) == [org]
    signed = profile["organizations"][org]["signedCert"]["path"]
    assert signed == f"/c/{org}/admin/Admin@{org}-cert.pem"
    assert archives["sdk-config"][signed.removeprefix("/c/")] == admin_cert
    assert len(issued_rows(db, bid, org, role="enrolled")) == 1


def test_errors_name_what_is_wrong_and_change_nothing(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        refused(certs.download(bid, "orga", "blok"), "BCS.4006005", "keyType error, keyType: blok not supported")
        refused(certs.download(bid, "orga", "Admin"), "BCS.4006005", "keyType error, keyType: Admin not supported")
        refused(certs.download(bid, "nope", "admin"), "BCS.4001051", "Input org nope is not exist")
        refused(certs.download(bid, "nope", "ca"), "BCS.4001051", "Input org nope is not exist")
        refused(certs.download(bid, None, "admin"), "BCS.4006009", "one of parameters is nil: org_name")
        refused(certs.download(bid, "orga", None), "BCS.4006009", "one of parameters is nil: cert_type")
        refused(certs.download(bid, None, None), "BCS.4006009", contains="one of parameters is nil: ")
        refused(certs.download(bid, "orga", ""), "BCS.4006009", "one of parameters is nil: cert_type")
        # An unknown query parameter is ignored, as the cloud does (docs/api.md): the same CA folder as without it.
        ignored = certs.download(bid, "orga", "ca", extra="1")
        assert ignored.status_code == 200, ignored.text
        with_extra, without = unzip(ignored), certs.archive(bid, "orga", "ca")
        assert with_extra.keys() == without.keys()  # the CRL is signed anew each time: its bytes differ
        assert {k: v for k, v in with_extra.items() if "crl" not in k} == {
            k: v for k, v in without.items() if "crl" not in k
        }
        refused(certs.download("no-such-instance", "orga", "admin"), "BCS.4001011")


def test_before_the_pki_is_made_downloads_are_refused(
    frozen_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    """While the creation has not run (the worker is stopped), nothing is issued and both calls that need the
    organisation's CA answer "still creating"; once the creation ran, the same download works."""
    api = Certs(new_tenant(frozen_client, make_account, drive=db))
    created = api.tenant.start_creation(create_body("bcs-early"))
    bid = created["blockchain_id"]
    assert (row_count(db, OrgPki), row_count(db, IssuedCert)) == (0, 0)
    refused(api.download(bid, DEFAULT_ORG, "admin"), "BCS.4001001")
    refused(api.user_cert(bid, DEFAULT_ORG, "alice"), "BCS.4001001")
    assert (row_count(db, OrgPki), row_count(db, IssuedCert)) == (0, 0)

    api.tenant.wait(created["operation_id"])
    files = api.archive(bid, DEFAULT_ORG, "admin")
    admin = cert(files[f"msp/signcerts/Admin@{DEFAULT_ORG}-cert.pem"])
    assert issued_by(admin, cert(org_pki(db, bid, DEFAULT_ORG).ca_cert))
    assert row_count(db, OrgPki) == 2  # organization and orderer
