"""X.509 material made with ``cryptography``, laid out as Hyperledger Fabric expects it (cryptogen's layout).

Pure functions: keys and certificates in, PEM and zip bytes out. Storage and rules live in ``service.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class KeyPair:
    """A certificate with its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str, unit: str | None = None) -> x509.Name:
    parts = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def load_cert(pem: bytes) -> x509.Certificate:
    """Parse a PEM certificate."""
    return x509.load_pem_x509_certificate(pem)


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse a PEM private key (always an ECDSA P-256 key here)."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - OpenBCS only makes EC keys
        raise ValueError("not an EC private key")
    return key


def new_ca(*, common_name: str, organization: str, now: dt.datetime) -> KeyPair:
    """A self-signed CA (signing CA or TLS CA) for an organisation."""
    key = _new_key()
    name = _name(common_name, organization)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: KeyPair,
    *,
    common_name: str,
    organization: str,
    unit: str | None,
    hosts: Sequence[str] = (),
    tls: bool = False,
    now: dt.datetime,
) -> tuple[KeyPair, int]:
    """A leaf certificate signed by ``ca``: an identity (OU client/peer/orderer/admin) or a TLS certificate whose
    SAN carries ``hosts``. Returns the pair and its serial number."""
    ca_cert, ca_key = load_cert(ca.cert_pem), load_key(ca.key_pem)
    key = _new_key()
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization, None if tls else unit))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=tls,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if tls:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), serial


def crl(ca: KeyPair, *, revoked: Iterable[tuple[int, dt.datetime]], number: int, now: dt.datetime) -> bytes:
    """A CRL signed by ``ca`` listing ``(serial, revocation time)`` pairs, PEM."""
    ca_cert, ca_key = load_cert(ca.cert_pem), load_key(ca.key_pem)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issued_by(cert: x509.Certificate, ca_pem: bytes) -> bool:
    """True if ``cert`` carries a valid signature of the CA (and names it as issuer)."""
    ca_cert = load_cert(ca_pem)
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def node_ous_config(ca_file: str) -> bytes:
    """``msp/config.yaml`` enabling Fabric's NodeOUs against the org's CA certificate."""
    lines = ["NodeOUs:", "  Enable: true"]
    for role, unit in (("Client", "client"), ("Peer", "peer"), ("Admin", "admin"), ("Orderer", "orderer")):
        lines += [
            f"  {role}OUIdentifier:",
            f"    Certificate: cacerts/{ca_file}",
            f"    OrganizationalUnitIdentifier: {unit}",
        ]
    return ("\n".join(lines) + "\n").encode()


def zip_files(files: dict[str, bytes]) -> bytes:
    """A zip archive of ``{path: content}`` (sorted, deterministic timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16 if path.endswith(("priv_sk", ".key")) else 0o644 << 16
            archive.writestr(info, files[path])
    return buffer.getvalue()
