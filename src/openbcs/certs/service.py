"""Certificate rules: downloads in Fabric's MSP layout, users' certificates, and freezing (revocation into the
org's CRL). The organisations' PKI itself is part of the network model (:mod:`openbcs.network.identities`).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.certs.archives import Archive
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import identities, lookups, pki
from openbcs.network.guards import IS_DELETING, process_status
from openbcs.network.models import IssuedCert, Organization, OrgPki
from openbcs.network.naming import msp_id, org_domain

CERT_TYPES = ("admin", "user", "ca")
USER_NAME = re.compile(r"^[a-z][a-z0-9]{3,23}$")
HOSTED_PER_ORG_MAX = 100
UPLOAD_MAX_BYTES = 30 * 1024


def _msp_base(session: Session, org: Organization, org_pki: OrgPki, server_key: ServerKey) -> dict[str, bytes]:
    domain = org_domain(org)
    ca_file = f"ca.{domain}-cert.pem"
    return {
        f"msp/cacerts/{ca_file}": org_pki.ca_cert.encode(),
        f"msp/tlscacerts/tlsca.{domain}-cert.pem": org_pki.tlsca_cert.encode(),
        "msp/config.yaml": pki.node_ous_config(ca_file),
        "msp/crls/crl.pem": identities.crl_pem(session, org, org_pki, server_key),
    }


def download(
    session: Session, *, project_id: str, blockchain_id: str, org_name: str, cert_type: str, server_key: ServerKey
) -> Archive:
    """DownloadBlockchainCert: the org's admin, default user or CA material as an MSP zip."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    if cert_type not in CERT_TYPES:
        raise errors.BCSError(errors.ACTION_REFUSED, f"keyType error, keyType: {cert_type} not supported")
    org = lookups.org_named(session, instance.id, org_name, role=None)
    org_pki = identities.pki_of(session, org)
    files = _msp_base(session, org, org_pki, server_key)
    if cert_type in ("admin", "user"):
        sign, tls = (
            identities.issued(session, org.id, cert_type),
            identities.issued(session, org.id, f"{cert_type}-tls"),
        )
        if sign.key is None or tls.key is None:  # the admin's key is held by its tenant (docs/governance.md)
            raise errors.wrong_state(f"org {org_name}", f"OpenBCS holds no key of its {cert_type} (external custody)")
        files[f"msp/signcerts/{sign.subject}-cert.pem"] = sign.cert.encode()
        files["msp/keystore/priv_sk"] = identities.unseal(server_key, sign.key)
        files["tls/ca.crt"] = org_pki.tlsca_cert.encode()
        files["tls/client.crt"] = tls.cert.encode()
        files["tls/client.key"] = identities.unseal(server_key, tls.key)
    return Archive(f"{instance.name}-{org.name}-{cert_type}.zip", pki.zip_files(files))


# --- users' certificates --------------------------------------------------------------------------------------------


def _check_user_name(user_name: str) -> None:
    if not USER_NAME.fullmatch(user_name):
        raise errors.invalid_parameter("user_name", "4-24 lower-case letters and digits, starting with a letter")


def issue_user_cert(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    security_mode: bool,
    server_key: ServerKey,
) -> Archive:
    """CreateBlockchainCertByUserName: a certificate for ``user_name`` signed by the org's CA, with its key.

    ``security_mode`` true keeps one hosted certificate (and key) per user name, at most 100 per organisation, and
    returns it on every call; false issues a new certificate every call, whose key OpenBCS does not keep.
    """
    _check_user_name(user_name)
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    if process_status(session, instance) == IS_DELETING:
        raise errors.BCSError(errors.INSTANCE_DELETING)
    org = lookups.org_named(session, instance.id, org_name)
    identities.pki_of(session, org)
    # The org's PKI row is the lock that keeps two calls from hosting the same user twice or passing the cap.
    org_pki = session.scalars(select(OrgPki).where(OrgPki.org_id == org.id).with_for_update()).one()
    issued: IssuedCert | None = None
    key_pem: bytes
    if security_mode:
        hosted = list(
            session.scalars(
                select(IssuedCert).where(
                    IssuedCert.org_id == org.id, IssuedCert.role == "enrolled", IssuedCert.hosted.is_(True)
                )
            )
        )
        issued = next((c for c in hosted if c.user_name == user_name), None)
        if issued is None and len(hosted) >= HOSTED_PER_ORG_MAX:
            raise errors.invalid_parameter("security_mode", f"an organisation hosts at most {HOSTED_PER_ORG_MAX} users")
    if issued is not None:
        assert issued.key is not None
        cert_pem, key_pem = issued.cert.encode(), identities.unseal(server_key, issued.key)
    else:
        pair, serial = pki.issue(
            identities.ca_pair(org_pki, server_key, tls=False),
            common_name=user_name,
            organization=msp_id(org),
            unit="client",
            now=identities.utc_now(),
        )
        identities.store(
            session,
            server_key,
            org.id,
            "enrolled",
            pair,
            serial,
            subject=user_name,
            user_name=user_name,
            keep_key=security_mode,
        )
        cert_pem, key_pem = pair.cert_pem, pair.key_pem
    files = _msp_base(session, org, org_pki, server_key)
    files[f"msp/signcerts/{user_name}@{org.name}-cert.pem"] = cert_pem
    files["msp/keystore/priv_sk"] = key_pem
    return Archive(f"{instance.name}-{org.name}-{user_name}.zip", pki.zip_files(files))


def _uploaded_serials(upload: bytes, ca_pem: bytes, user_name: str) -> set[str]:
    """The serials of the user certificates in an uploaded zip, each checked to be from this org's CA."""
    if len(upload) > UPLOAD_MAX_BYTES:
        raise errors.invalid_parameter("file", "at most 30 KB")
    if not zipfile.is_zipfile(io.BytesIO(upload)):
        raise errors.invalid_parameter("file", "not a zip archive")
    serials: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(upload)) as archive:
        for info in archive.infolist():
            name = info.filename
            if not name.endswith((".pem", ".crt")) or "signcerts" not in name:
                continue
            if info.file_size > UPLOAD_MAX_BYTES:
                raise errors.invalid_parameter("file", f"{name} is too large for a certificate")
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
                # A corrupt member (bad CRC, truncated data), an encrypted one, an unsupported compression.
                raise errors.invalid_parameter("file", f"{name} cannot be read from the zip archive") from exc
            try:
                cert = pki.load_cert(content)
            except ValueError as exc:
                raise errors.invalid_parameter("file", f"{name} is not a PEM certificate") from exc
            if not pki.issued_by(cert, ca_pem):
                raise errors.invalid_parameter("file", f"{name} was not issued by this organisation's CA")
            names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
            if not names or names[0].value != user_name:
                raise errors.invalid_parameter("file", f"{name} is not a certificate of user {user_name}")
            serials.add(format(cert.serial_number, "x"))
    if not serials:
        raise errors.invalid_parameter("file", "no user certificate (msp/signcerts/*.pem) in the archive")
    return serials


def set_frozen(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    upload: bytes | None,
    frozen: bool,
) -> int:
    """FreezeCert / UnfreezeCert: revoke (or reinstate) the user's certificates — the one in ``upload`` if given,
    else all of them. The org's CRL changes with it. Returns how many certificates changed."""
    _check_user_name(user_name)
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    org = lookups.org_named(session, instance.id, org_name)
    org_pki = session.scalars(select(OrgPki).where(OrgPki.org_id == org.id).with_for_update()).first()
    if org_pki is None:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    certs = list(
        session.scalars(
            select(IssuedCert).where(
                IssuedCert.org_id == org.id, IssuedCert.role == "enrolled", IssuedCert.user_name == user_name
            )
        )
    )
    if not certs:
        raise errors.invalid_parameter("user_name", f"no certificate was issued to {user_name} in {org.name}")
    if upload:
        serials = _uploaded_serials(upload, org_pki.ca_cert.encode(), user_name)
        certs = [c for c in certs if c.serial in serials]
        if not certs:
            raise errors.invalid_parameter("file", f"the certificate is not one OpenBCS issued to {user_name}")
    targets = [c for c in certs if (c.revoked_at is None) == frozen]
    if not targets:
        raise errors.wrong_state(f"user {user_name}", "already frozen" if frozen else "not frozen")
    now = now_ns()
    for cert in targets:
        cert.revoked_at = now if frozen else None
    org_pki.crl_number += 1
    events.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name="CertFrozen" if frozen else "CertUnfrozen",
        message=f"{len(targets)} certificate(s) of {user_name} in {org.name} {'frozen' if frozen else 'unfrozen'}",
        metadata={"org": org.name, "user": user_name, "serials": ",".join(c.serial for c in targets)},
    )
    return len(targets)
