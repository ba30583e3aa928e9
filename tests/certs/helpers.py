"""Helpers of the certificate tests: calling the five operations, reading archives, checking X.509 material with
``cryptography`` (independently of OpenBCS's own ``pki`` module) and reading the stored PKI.

- :class:`Certs` — one tenant's calls of the five operations (over whatever client the tenant uses).
- :func:`refused` — a 400 BCS error that carries no certificate material.
- :func:`unzip`, :func:`zip_of`, :func:`cert`, :func:`same_key`, :func:`crl_of`, :func:`names`, :func:`leaf` —
  reading, writing and checking material; :func:`check_msp_base` — the part every MSP archive of an org has.
- :func:`domain` — an org's modelled domain (:func:`tests.support.expected.org_domain` with the org's role).
- :func:`pki_state`, :func:`unchanged`, :func:`issued_rows`, :func:`org_pki`, :func:`org_id`,
  :func:`database_text` — what the database holds.
- :func:`multipart` — a form encoded exactly as the SDK encodes it (requests_toolbelt's ``MultipartEncoder``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.kernel.db import Base, Database
from openbcs.network.models import IssuedCert, Organization, OrgPki
from tests.support.errors import assert_error
from tests.support.expected import msp_id, org_domain
from tests.support.tenants import Tenant

ZIP_TYPE = "application/zip"
NODE_UNITS = {"client", "peer", "admin", "orderer"}


def domain(blockchain_id: str, org: str) -> str:
    """The org's modelled DNS domain: the orderer org's role is ``orderer``, every other org's ``peer``."""
    return org_domain(blockchain_id, org, "orderer" if org == "orderer" else "peer")


# --- calls ------------------------------------------------------------------------------------------------------------


@dataclass
class Certs:
    """One tenant's calls of the certificate operations (answers returned unchecked unless the name says so)."""

    tenant: Tenant

    def download(self, bid: str, org: str | None, cert_type: str | None, **extra: str) -> httpx.Response:
        """DownloadBlockchainCert; a parameter of ``None`` is left out."""
        params: dict[str, Any] = {
            k: v for k, v in {"org_name": org, "cert_type": cert_type, **extra}.items() if v is not None
        }
        return self.tenant.call("GET", f"/blockchains/{bid}/cert", **params)

    def archive(self, bid: str, org: str, cert_type: str) -> dict[str, bytes]:
        """DownloadBlockchainCert that must answer a zip; its files."""
        response = self.download(bid, org, cert_type)
        assert response.status_code == 200, response.text
        return unzip(response)

    def user_cert(self, bid: str, org: str, user: str, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
        """CreateBlockchainCertByUserName; ``body=None`` and no ``raw`` leaves the body out."""
        return self.tenant.call("POST", f"/blockchains/{bid}/orgs/{org}/usercert/{user}", body, raw=raw)

    def issue(self, bid: str, org: str, user: str, *, hosted: bool) -> dict[str, bytes]:
        """CreateBlockchainCertByUserName that must answer a zip; its files."""
        response = self.user_cert(bid, org, user, {"security_mode": hosted})
        assert response.status_code == 200, response.text
        return unzip(response)

    def set_frozen(
        self,
        bid: str,
        org: str,
        user: str,
        action: str = "freeze",
        *,
        fields: dict[str, Any] | None = None,
        content_type: str | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        """FreezeCert / UnfreezeCert with the form ``fields`` encoded as the SDK does (no fields: just the closing
        boundary, as the SDK sends a call without a file); or ``raw`` bytes with ``content_type`` (``None``: no
        Content-Type header at all)."""
        if raw is None:
            raw, content_type = multipart(fields or {})
        headers = {**self.tenant.headers, **({"Content-Type": content_type} if content_type else {})}
        path = f"{self.tenant.base}/blockchains/{bid}/orgs/{org}/usercert/{user}/{action}"
        return self.tenant.http.post(path, content=raw, headers=headers)

    def freeze_with(self, bid: str, org: str, user: str, archive: bytes, action: str = "freeze") -> httpx.Response:
        """FreezeCert / UnfreezeCert with ``archive`` as the form's ``file``."""
        return self.set_frozen(bid, org, user, action, fields={"file": ("usercert.zip", archive)})

    def sdk_cfg(self, bid: str, body: Any) -> httpx.Response:
        """DownloadBlockchainSdkConfig of ``body`` (JSON, or raw bytes)."""
        if isinstance(body, bytes):
            return self.tenant.call("POST", f"/blockchains/{bid}/sdk-cfg", raw=body)
        return self.tenant.call("POST", f"/blockchains/{bid}/sdk-cfg", body)

    def channels(self, bid: str) -> dict[str, Any]:
        """ListBlockchainChannels by channel name."""
        return {c["name"]: c for c in self.tenant.channels(bid)}

    def endpoints(self, bid: str) -> dict[str, dict[str, tuple[str, str]]]:
        """``{org: {node: (host, ip)}}`` as the instance model shows them: peers from ShowBlockchainNodes, orderers
        from ListBlockchainChannels' consensusNodes with ShowBlockchainDetail's orderer addresses."""
        found: dict[str, dict[str, tuple[str, str]]] = {}
        for org, view in self.tenant.nodes(bid).items():
            found[org] = {
                node: (f"{node}.{view['org_domain']}", peer["ip_port"].rsplit(":", 1)[0])
                for node, peer in view["peers"].items()
            }
        consensus = {org: names for c in self.channels(bid).values() for org, names in c["consensusNodes"].items()}
        addresses = self.tenant.detail(bid)["orderer_info"]["address"]
        for org, nodes in consensus.items():
            assert len(nodes) == len(addresses)
            found[org] = {
                node: (a["domain_port"].rsplit(":", 1)[0], a["ip_port"].rsplit(":", 1)[0])
                for node, a in zip(nodes, addresses, strict=True)
            }
        return found


def multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """``(body, content type)`` of a multipart form as huaweicloudsdkcore builds it (``MultipartEncoder``); a file
    is ``(filename, bytes)``."""
    from requests_toolbelt import MultipartEncoder

    encoded = {k: (v[0], io.BytesIO(v[1])) if isinstance(v, tuple) else v for k, v in fields.items()}
    encoder = MultipartEncoder(fields=encoded)
    return encoder.to_string(), encoder.content_type


def refused(response: httpx.Response, code: str, message: str | None = None, *, contains: str | None = None) -> None:
    """A 400 BCS error with ``code`` and exactly ``message`` (or a message containing ``contains``) that betrays no
    certificate or key."""
    assert_error(response, 400, code, message, contains=contains)
    assert "BEGIN" not in response.text


# --- archives and X.509 ---------------------------------------------------------------------------------------------


def unzip(response: httpx.Response | bytes) -> dict[str, bytes]:
    """The files of a zip answer; for a response also checks the content type and the attachment header."""
    if isinstance(response, httpx.Response):
        assert response.headers["content-type"] == ZIP_TYPE
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="'), disposition
        assert filename(response).endswith(".zip"), disposition
        content = response.content
    else:
        content = response
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == len(set(names))
        return {name: archive.read(name) for name in names}


def zip_of(files: dict[str, bytes]) -> bytes:
    """A zip archive of ``files`` (as a user would send back what they were given)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def filename(response: httpx.Response) -> str:
    """The file name of an attachment: ``filename*`` (RFC 6266, UTF-8) when given, else ``filename``."""
    disposition = response.headers["content-disposition"]
    if "filename*=UTF-8''" in disposition:
        return unquote(disposition.split("filename*=UTF-8''", 1)[1])
    return disposition.split('filename="', 1)[1].rstrip('"')


def cert(pem: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else pem.encode())


def private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    return key


def _public(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def same_key(certificate: x509.Certificate, key_pem: bytes) -> bool:
    """Whether the private key belongs to the certificate (their public keys are equal)."""
    return _public(certificate.public_key()) == _public(private_key(key_pem).public_key())


def issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except Exception:
        return False
    return True


def names(certificate: x509.Certificate | x509.Name, oid: x509.ObjectIdentifier = NameOID.COMMON_NAME) -> list[str]:
    name = certificate.subject if isinstance(certificate, x509.Certificate) else certificate
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def sans(certificate: x509.Certificate) -> tuple[set[str], set[str]]:
    """``(DNS names, IP addresses)`` of the certificate's subject alternative names."""
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def crl_of(pem: bytes, ca: x509.Certificate) -> tuple[int, set[int]]:
    """``(CRL number, revoked serials)`` of a CRL, after checking that ``ca`` signed it and is its issuer."""
    crl = x509.load_pem_x509_crl(pem)
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.subject
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return number, {entry.serial_number for entry in crl}


def leaf(files: dict[str, bytes], folder: str) -> tuple[str, x509.Certificate]:
    """The one certificate file in ``msp/<folder>/`` and the certificate."""
    (path,) = [p for p in files if p.startswith(f"msp/{folder}/")]
    return path, cert(files[path])


def msp_base_files(blockchain_id: str, org: str) -> set[str]:
    """The files every MSP archive of the org holds: its CAs, the NodeOUs config and the CRL."""
    dom = domain(blockchain_id, org)
    return {
        f"msp/cacerts/ca.{dom}-cert.pem",
        f"msp/tlscacerts/tlsca.{dom}-cert.pem",
        "msp/config.yaml",
        "msp/crls/crl.pem",
    }


def _check_ca(ca: x509.Certificate, bid: str, org: str, prefix: str) -> None:
    assert issued_by(ca, ca)  # self-signed
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert names(ca) == [f"{prefix}.{org}"]
    assert names(ca, NameOID.ORGANIZATION_NAME) == [msp_id(bid, org)]


def check_msp_base(files: dict[str, bytes], db: Database, bid: str, org: str) -> tuple[x509.Certificate, ...]:
    """The part every archive of an org has, against what is stored (nothing revoked yet); returns (CA, TLS CA)."""
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
    assert crl_of(files["msp/crls/crl.pem"], ca) == (stored.crl_number, set())
    return ca, tlsca


# --- stored state ---------------------------------------------------------------------------------------------------

PkiState = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _pki_state(session: Session) -> PkiState:
    issued = [
        (c.id, c.org_id, c.role, c.subject, c.node_name, c.user_name, c.hosted, c.serial, c.cert, c.key, c.revoked_at)
        for c in session.scalars(select(IssuedCert).order_by(IssuedCert.id))
    ]
    pkis = [
        (p.org_id, p.ca_cert, p.ca_key, p.tlsca_cert, p.tlsca_key, p.crl_number)
        for p in session.scalars(select(OrgPki).order_by(OrgPki.org_id))
    ]
    return issued, pkis


def pki_state(db: Database) -> PkiState:
    """Every IssuedCert and OrgPki row, every column: a refused call must leave this exactly as it was."""
    return db.run_read(_pki_state)


@contextmanager
def unchanged(db: Database) -> Iterator[None]:
    """The block leaves every IssuedCert and OrgPki row exactly as it was."""
    before = pki_state(db)
    yield
    assert pki_state(db) == before


def _org_id(session: Session, *, bid: str, org: str) -> int:
    return int(
        session.scalars(
            select(Organization.id).where(Organization.blockchain_id == bid, Organization.name == org)
        ).one()
    )


def org_id(db: Database, bid: str, org: str) -> int:
    """The organisation's row id."""
    return db.run_read(_org_id, bid=bid, org=org)


def _issued_rows(session: Session, *, bid: str, org: str, where: dict[str, Any]) -> list[IssuedCert]:
    query = select(IssuedCert).where(IssuedCert.org_id == _org_id(session, bid=bid, org=org)).order_by(IssuedCert.id)
    for column, value in where.items():
        query = query.where(getattr(IssuedCert, column) == value)
    return list(session.scalars(query))


def issued_rows(db: Database, bid: str, org: str, **where: Any) -> list[IssuedCert]:
    """The org's IssuedCert rows (detached copies), filtered by column values, in issue order."""
    return db.run_read(_issued_rows, bid=bid, org=org, where=where)


def _org_pki(session: Session, *, bid: str, org: str) -> OrgPki:
    return session.get_one(OrgPki, _org_id(session, bid=bid, org=org))


def org_pki(db: Database, bid: str, org: str) -> OrgPki:
    """The org's stored CAs (detached)."""
    return db.run_read(_org_pki, bid=bid, org=org)


def _database_text(session: Session) -> str:
    parts: list[str] = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            parts.extend(str(value) for value in row)
    return "\n".join(parts)


def database_text(db: Database) -> str:
    """Every value of every row of every table, as one string (to prove a secret is stored nowhere in clear)."""
    return db.run_read(_database_text)


def key_body(key_pem: bytes) -> list[str]:
    """The base64 lines of a PEM key (what would betray it if stored in clear)."""
    return [line for line in key_pem.decode().splitlines() if line and not line.startswith("-----")]
