"""DownloadBlockchainCert: MSP archives of every organisation that chain to the organisation's CAs, keys that
match, TLS node certificates with the hosts the connection profile names; and its errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from openbcs.network.models import IssuedCert, OrgPki
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from tests.instances.helpers import Tenant, drive_operations, new_tenant, row_count, start_creation
from tests.certs.helpers import (
    Certs,
    cert,
    crl_of,
    domain,
    error,
    filename,
    issued_by,
    issued_rows,
    msp_id,
    names,
    org_pki,
    pki_state,
    same_key,
    sans,
    unzip,
)

ORGS = ("orga", "orgb", "orderer")
NODE_UNITS = {"client", "peer", "admin", "orderer"}


def _check_ca(ca: x509.Certificate, bid: str, org: str, prefix: str) -> None:
    assert issued_by(ca, ca)  # self-signed
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert names(ca) == [f"{prefix}.{org}"]
    assert names(ca, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]


def _check_msp_base(files: dict[str, bytes], db: Database, bid: str, org: str) -> tuple[x509.Certificate, ...]:
    """The part every archive of an org has; returns (CA, TLS CA)."""
    dom = domain(bid, org)
    stored = org_pki(db, bid, org)
    ca_file = f"ca.{dom}-cert.pem"
    assert files[f"msp/cacerts/{ca_file}"].decode() == stored.ca_cert
    assert files[f"msp/tlscacerts/tlsca.{dom}-cert.pem"].decode() == stored.tlsca_cert
    ca, tlsca = cert(stored.ca_cert), cert(stored.tlsca_cert)
    _check_ca(ca, bid, org, "ca")
    _check_ca(tlsca, bid, org, "tlsca")
    assert ca.public_key() != tlsca.public_key()
    config = yaml.safe_load(files["msp/config.yaml"])
    assert config["NodeOUs"]["Enable"] is True
    units = set()
    for role in ("Client", "Peer", "Admin", "Orderer"):
        identifier = config["NodeOUs"][f"{role}OUIdentifier"]
        assert identifier["Certificate"] == f"cacerts/{ca_file}"
        assert f"msp/{identifier['Certificate']}" in files
        units.add(identifier["OrganizationalUnitIdentifier"])
    assert units == NODE_UNITS
    number, revoked = crl_of(files["msp/crls/crl.pem"], ca)
    assert (number, revoked) == (stored.crl_number, set())
    return ca, tlsca


@pytest.mark.parametrize("cert_type", ["admin", "user"])
def test_identity_archives_of_every_org_chain_to_its_cas(
    certs: Certs, bid: str, db: Database, server_key: ServerKey, cert_type: str
) -> None:
    before = pki_state(db)
    who = "Admin" if cert_type == "admin" else "User1"
    unit = "admin" if cert_type == "admin" else "client"
    for org in ORGS:
        response = certs.download(bid, org, cert_type)
        assert response.status_code == 200, response.text
        assert filename(response) == f"bcs-certs-{org}-{cert_type}.zip"
        files = unzip(response)
        dom = domain(bid, org)
        subject = f"{who}@{org}"
        assert set(files) == {
            f"msp/cacerts/ca.{dom}-cert.pem",
            f"msp/tlscacerts/tlsca.{dom}-cert.pem",
            f"msp/signcerts/{subject}-cert.pem",
            "msp/keystore/priv_sk",
            "msp/config.yaml",
            "msp/crls/crl.pem",
            "tls/ca.crt",
            "tls/client.crt",
            "tls/client.key",
        }
        ca, tlsca = _check_msp_base(files, db, bid, org)

        sign = cert(files[f"msp/signcerts/{subject}-cert.pem"])
        assert issued_by(sign, ca)
        assert not issued_by(sign, tlsca)
        assert names(sign) == [subject]
        assert names(sign, NameOID.ORGANIZATIONAL_UNIT_NAME) == [unit]
        assert names(sign, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]
        assert sign.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        assert same_key(sign, files["msp/keystore/priv_sk"])

        assert files["tls/ca.crt"] == files[f"msp/tlscacerts/tlsca.{dom}-cert.pem"]
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
        assert row.cert.encode() == files[f"msp/signcerts/{subject}-cert.pem"]
        assert tls_row.cert.encode() == files["tls/client.crt"]
        assert row.serial == format(sign.serial_number, "x")
        assert row.key is not None
        assert "PRIVATE KEY" not in row.key
        assert server_key.decrypt("pki-key", row.key) == files["msp/keystore/priv_sk"]
        assert tls_row.key is not None
        assert server_key.decrypt("pki-key", tls_row.key) == files["tls/client.key"]
        # Downloading again gives the same identity.
        again = certs.archive(bid, org, cert_type)
        assert again[f"msp/signcerts/{subject}-cert.pem"] == files[f"msp/signcerts/{subject}-cert.pem"]
        assert again["msp/keystore/priv_sk"] == files["msp/keystore/priv_sk"]
    assert pki_state(db) == before  # downloading issues nothing


def test_ca_archives_hold_only_public_material(certs: Certs, bid: str, db: Database) -> None:
    before = pki_state(db)
    for org in ORGS:
        response = certs.download(bid, org, "ca")
        assert response.status_code == 200, response.text
        assert filename(response) == f"bcs-certs-{org}-ca.zip"
        files = unzip(response)
        dom = domain(bid, org)
        assert set(files) == {
            f"msp/cacerts/ca.{dom}-cert.pem",
            f"msp/tlscacerts/tlsca.{dom}-cert.pem",
            "msp/config.yaml",
            "msp/crls/crl.pem",
        }
        _check_msp_base(files, db, bid, org)
        assert b"PRIVATE KEY" not in b"".join(files.values())
    # Each org has its own CAs.
    cas = {org_pki(db, bid, org).ca_cert for org in ORGS} | {org_pki(db, bid, org).tlsca_cert for org in ORGS}
    assert len(cas) == 2 * len(ORGS)
    assert pki_state(db) == before


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
    bid = make_instance(
        "区块链实例", peer_orgs=[{"name": org, "node_count": 1}], channels=[{"name": "channel", "org_names": [org]}]
    )
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
    assert issued_by(cert(archives[f"{org}-admin"][f"msp/signcerts/Admin@{org}-cert.pem"]), ca)
    alice = cert(archives[f"{org}-alice"][f"msp/signcerts/alice@{org}-cert.pem"])
    assert issued_by(alice, ca)
    assert names(alice) == ["alice"]
    profile = yaml.safe_load(archives["sdk-config"]["sdk-config.yaml"])
    assert list(profile["organizations"]) == [org]
    signed = profile["organizations"][org]["signedCert"]["path"]
    assert signed == f"/c/{org}/admin/Admin@{org}-cert.pem"
    assert (
        archives["sdk-config"][signed.removeprefix("/c/")]
        == archives[f"{org}-admin"][f"msp/signcerts/Admin@{org}-cert.pem"]
    )
    assert len(issued_rows(db, bid, org, role="enrolled")) == 1


def test_errors_name_what_is_wrong_and_change_nothing(certs: Certs, bid: str, db: Database) -> None:
    before = pki_state(db)
    error(certs.download(bid, "orga", "blok"), "BCS.4006005", "keyType error, keyType: blok not supported")
    error(certs.download(bid, "orga", "Admin"), "BCS.4006005", "keyType error, keyType: Admin not supported")
    error(certs.download(bid, "nope", "admin"), "BCS.4001051", "Input org nope is not exist")
    error(certs.download(bid, "nope", "ca"), "BCS.4001051", "Input org nope is not exist")
    error(certs.download(bid, None, "admin"), "BCS.4006009", "one of parameters is nil: org_name")
    error(certs.download(bid, "orga", None), "BCS.4006009", "one of parameters is nil: cert_type")
    error(certs.download(bid, None, None), "BCS.4006009", contains="one of parameters is nil: ")
    error(certs.download(bid, "orga", ""), "BCS.4006009", "one of parameters is nil: cert_type")
    error(certs.download(bid, "orga", "admin", extra="1"), "BCS.4006014", contains="extra")
    error(certs.download("no-such-instance", "orga", "admin"), "BCS.4001011")
    assert pki_state(db) == before


def test_before_the_pki_is_made_downloads_are_refused(
    settings: Any, make_account: Callable[..., Any], db: Database
) -> None:
    from openbcs.app import create_app

    frozen = settings.model_copy(update={"operation_step_seconds": 3600.0, "worker_poll_seconds": 3600.0})
    with TestClient(create_app(frozen), raise_server_exceptions=False) as client:
        tenant: Tenant = new_tenant(client, make_account)
        api = Certs(client, tenant)
        created = start_creation(client, tenant.headers, tenant.project_id, _body())
        bid = created["blockchain_id"]
        assert row_count(db, OrgPki) == 0
        assert row_count(db, IssuedCert) == 0
        error(api.download(bid, "organization", "admin"), "BCS.4001001")
        error(api.user_cert(bid, "organization", "alice"), "BCS.4001001")
        assert row_count(db, OrgPki) == 0
        assert row_count(db, IssuedCert) == 0
        drive_operations(db, operation_id=created["operation_id"])
        files = api.archive(bid, "organization", "admin")
        assert issued_by(
            cert(files["msp/signcerts/Admin@organization-cert.pem"]), cert(org_pki(db, bid, "organization").ca_cert)
        )
        assert row_count(db, OrgPki) == 2  # organization and orderer


def _body() -> dict[str, Any]:
    from tests.instances.helpers import create_body

    return create_body("bcs-early")
