"""Helpers of the certificate tests: calling the five operations, reading archives, checking X.509 material with
``cryptography`` (independently of OpenBCS's own ``pki`` module) and snapshotting the stored PKI.

- :class:`Certs` — one tenant's calls of the five operations over a ``TestClient`` or ``httpx.Client``.
- :func:`unzip`, :func:`cert`, :func:`same_key`, :func:`crl_of`, :func:`names` — reading and checking material.
- :func:`org_hash`, :func:`msp_id`, :func:`domain` — identities computed here from docs/instances.md.
- :func:`pki_state`, :func:`issued_rows`, :func:`org_pki` — what the database holds.
- :func:`multipart` — a form encoded exactly as the SDK encodes it (requests_toolbelt's ``MultipartEncoder``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from openbcs.network.models import Organization
from openbcs.network.models import IssuedCert, OrgPki
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)
from tests.instances.helpers import Tenant

JSON = {"Content-Type": "application/json"}
ZIP_TYPE = "application/zip"


# --- identities, computed independently -----------------------------------------------------------------------------


def org_hash(blockchain_id: str, org: str) -> str:
    return hashlib.sha1(f"{blockchain_id}/{org}".encode(), usedforsecurity=False).hexdigest()


def msp_id(blockchain_id: str, org: str) -> str:
    return f"{org_hash(blockchain_id, org)}MSP"


def domain(blockchain_id: str, org: str) -> str:
    role = "orderer" if org == "orderer" else "peer"
    return f"{role}-{org_hash(blockchain_id, org)}.default.svc.cluster.local"


# --- calls ------------------------------------------------------------------------------------------------------------


@dataclass
class Certs:
    """One tenant's calls of the certificate operations (answers returned unchecked)."""

    http: httpx.Client
    tenant: Tenant

    @property
    def base(self) -> str:
        return f"/v2/{self.tenant.project_id}/blockchains"

    def download(self, bid: str, org: str | None, cert_type: str | None, **extra: str) -> httpx.Response:
        params = {k: v for k, v in {"org_name": org, "cert_type": cert_type, **extra}.items() if v is not None}
        return self.http.get(f"{self.base}/{bid}/cert", params=params, headers=self.tenant.headers)

    def archive(self, bid: str, org: str, cert_type: str) -> dict[str, bytes]:
        response = self.download(bid, org, cert_type)
        assert response.status_code == 200, response.text
        return unzip(response)

    def user_cert(self, bid: str, org: str, user: str, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
        """CreateBlockchainCertByUserName; ``body=None`` and no ``raw`` leaves the body out."""
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {**self.tenant.headers, **(JSON if content is not None else {})}
        return self.http.post(f"{self.base}/{bid}/orgs/{org}/usercert/{user}", content=content, headers=headers)

    def issue(self, bid: str, org: str, user: str, *, hosted: bool) -> dict[str, bytes]:
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
        boundary, as the SDK sends a call without a file); or ``raw`` bytes with ``content_type``."""
        if raw is None:
            raw, content_type = multipart(fields or {})
        headers = {**self.tenant.headers, **({"Content-Type": content_type} if content_type else {})}
        return self.http.post(f"{self.base}/{bid}/orgs/{org}/usercert/{user}/{action}", content=raw, headers=headers)

    def freeze_with(self, bid: str, org: str, user: str, archive: bytes, action: str = "freeze") -> httpx.Response:
        return self.set_frozen(bid, org, user, action, fields={"file": ("usercert.zip", archive)})

    def sdk_cfg(self, bid: str, body: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(f"{self.base}/{bid}/sdk-cfg", content=content, headers={**self.tenant.headers, **JSON})

    def nodes(self, bid: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/{bid}/nodes", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["node_orgs"])

    def detail(self, bid: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/{bid}", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def endpoints(self, bid: str) -> dict[str, dict[str, tuple[str, str]]]:
        """``{org: {node: (host, ip)}}`` as the instance model shows them: peers from ShowBlockchainNodes, orderers
        from ListBlockchainChannels' consensusNodes with ShowBlockchainDetail's orderer addresses."""
        found: dict[str, dict[str, tuple[str, str]]] = {}
        for org, view in self.nodes(bid).items():
            found[org] = {
                node: (f"{node}.{view['org_domain']}", peer["ip_port"].rsplit(":", 1)[0])
                for node, peer in view["peers"].items()
            }
        consensus = {org: names for c in self.channels(bid).values() for org, names in c["consensusNodes"].items()}
        addresses = self.detail(bid)["orderer_info"]["address"]
        for org, names in consensus.items():
            assert len(names) == len(addresses)
            found[org] = {
                node: (a["domain_port"].rsplit(":", 1)[0], a["ip_port"].rsplit(":", 1)[0])
                for node, a in zip(names, addresses, strict=True)
            }
        return found

    def channels(self, bid: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/{bid}/channels", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        return {c["name"]: c for c in response.json()["channels"]}


def multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """``(body, content type)`` of a multipart form as huaweicloudsdkcore builds it (``MultipartEncoder``); a file
    is ``(filename, bytes)``."""
    from requests_toolbelt import MultipartEncoder

    encoded = {k: (v[0], io.BytesIO(v[1])) if isinstance(v, tuple) else v for k, v in fields.items()}
    encoder = MultipartEncoder(fields=encoded)
    return encoder.to_string(), encoder.content_type


def error(response: httpx.Response, code: str, message: str | None = None, *, contains: str | None = None) -> None:
    """Assert a 400 BCS error with ``code`` and exactly ``message`` (or a message containing ``contains``)."""
    assert response.status_code == 400, (
        response.status_code,
        response.headers.get("content-type"),
        code,
        message,
        contains,
    )
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}
    assert body["error_code"] == code, body
    if message is not None:
        assert body["error_msg"] == message, body
    if contains is not None:
        assert contains in body["error_msg"], body
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


# --- stored state ---------------------------------------------------------------------------------------------------


def pki_state(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every IssuedCert and OrgPki row, every column: a refused call must leave this exactly as it was."""

    def read(s: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        issued = [
            (
                c.id,
                c.org_id,
                c.role,
                c.subject,
                c.node_name,
                c.user_name,
                c.hosted,
                c.serial,
                c.cert,
                c.key,
                c.revoked_at,
            )
            for c in s.scalars(select(IssuedCert).order_by(IssuedCert.id))
        ]
        pkis = [
            (p.org_id, p.ca_cert, p.ca_key, p.tlsca_cert, p.tlsca_key, p.crl_number)
            for p in s.scalars(select(OrgPki).order_by(OrgPki.org_id))
        ]
        return issued, pkis

    return db.run_read(read)


def org_id(db: Database, bid: str, org: str) -> int:
    return int(
        db.run_read(
            lambda s: s.scalar(
                select(Organization.id).where(Organization.blockchain_id == bid, Organization.name == org)
            )
        )
    )


def issued_rows(db: Database, bid: str, org: str, **where: Any) -> list[IssuedCert]:
    """The org's IssuedCert rows (detached copies), filtered by column values, in issue order."""
    oid = org_id(db, bid, org)
    query = select(IssuedCert).where(IssuedCert.org_id == oid).order_by(IssuedCert.id)
    for column, value in where.items():
        query = query.where(getattr(IssuedCert, column) == value)
    return list(db.run_read(lambda s: list(s.scalars(query))))


def org_pki(db: Database, bid: str, org: str) -> OrgPki:
    oid = org_id(db, bid, org)
    found = db.run_read(lambda s: s.get(OrgPki, oid))
    assert found is not None
    return found


def database_text(db: Database) -> str:
    """Every value of every row of every table, as one string (to prove a secret is stored nowhere in clear)."""

    def read(s: Any) -> str:
        parts: list[str] = []
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                parts.extend(str(value) for value in row)
        return "\n".join(parts)

    return db.run_read(read)


def key_body(key_pem: bytes) -> list[str]:
    """The base64 lines of a PEM key (what would betray it if stored in clear)."""
    return [line for line in key_pem.decode().splitlines() if line and not line.startswith("-----")]
