"""Switching an organisation's admin custody to ``external``: OpenBCS issues the admin certificate for the tenant's
own key (from a CSR: P-256, proof of possession), changes the organisation's MSP in every channel it belongs to so
that its admins are exactly that certificate (explicit admins; the admin OU confers nothing any more), signs that
change with the hosted admin key — its last use — and then deletes the hosted admin keys.

OpenBCS keeps running the organisation's nodes: a "node operator" identity (OU admin, ``runtime.nodespecs``) is
issued in the same transaction, an admin of the peers' local MSPs only (joining channels), never of the channel."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.kinds import OperationContext, OperationKind, Payload, Pending, Step, SubStep
from openbcs.engine.locks import Lock
from openbcs.fabric.crypto import HALF_ORDER
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import config_history, identities, lookups, pki
from openbcs.network.channel_config import EXTERNAL_ADMIN
from openbcs.network.guards import require_idle
from openbcs.network.models import Channel, ChannelOrg, IssuedCert, Organization
from openbcs.network.naming import msp_id
from openbcs.runtime import ordering
from openbcs.runtime.nodespecs import NODE_OPERATOR


class CustodyPayload(Payload):
    """The organisation and the admin certificate issued for its tenant's key."""

    org_id: int
    org_name: str
    admin_cert: str


def _load_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise errors.invalid_parameter("csr", "not a PEM certificate signing request") from exc
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise errors.invalid_parameter("csr", "the key must be ECDSA P-256")
    if not csr.is_signature_valid:
        raise errors.invalid_parameter("csr", "its signature does not verify (no proof of possession of the key)")
    return csr


def issue_admin_cert(ca: pki.KeyPair, org: Organization, csr: x509.CertificateSigningRequest) -> tuple[str, str]:
    """The tenant's admin certificate (PEM) and its serial (hex): subject ``CN=Admin@<org>``, OU client — the OU
    keeps it a valid identity of the MSP once the admin OU confers nothing; the explicit admin list makes it admin."""
    ca_cert, ca_key = pki.load_cert(ca.cert_pem), pki.load_key(ca.key_pem)
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, msp_id(org)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Admin@{org.name}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + pki.LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    # Fabric "sanitizes" an ECDSA-signed certificate to its low-S form before comparing it with the MSP's admins
    # (msp.sanitizeCert): the peer CLI then puts those re-encoded bytes in its signatures. A certificate signed
    # low-S is its own sanitized form, so it is the same certificate everywhere; ECDSA signing is randomised, so a
    # few attempts find one (each has an even chance).
    for _ in range(64):
        cert = builder.sign(ca_key, hashes.SHA256())
        if decode_dss_signature(cert.signature)[1] <= HALF_ORDER:
            break
    else:  # pragma: no cover - one chance in 2**64
        raise errors.BCSError(errors.INTERNAL, "could not sign a low-S certificate")
    return cert.public_bytes(serialization.Encoding.PEM).decode(), format(serial, "x")


def is_external(session: Session, org_id: int) -> bool:
    """Whether the organisation's tenant holds its admin key."""
    found = session.scalar(
        select(IssuedCert.id).where(IssuedCert.org_id == org_id, IssuedCert.role == EXTERNAL_ADMIN).limit(1)
    )
    return found is not None


def _channels_of(session: Session, org_id: int) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel).join(ChannelOrg, ChannelOrg.channel_id == Channel.id).where(ChannelOrg.org_id == org_id)
        )
    )


def _switch(session: Session, ctx: OperationContext[CustodyPayload]) -> str | Pending:
    org = session.get_one(Organization, ctx.payload.org_id)
    channels = _channels_of(session, org.id)
    instance_ids = sorted({org.blockchain_id, *(c.blockchain_id for c in channels)})

    def change() -> str:
        cert = x509.load_pem_x509_certificate(ctx.payload.admin_cert.encode())
        session.add(
            IssuedCert(
                org_id=org.id,
                role=EXTERNAL_ADMIN,
                subject=f"Admin@{org.name}",
                hosted=False,
                serial=format(cert.serial_number, "x"),
                cert=ctx.payload.admin_cert,
                key=None,
                created_time=now_ns(),
            )
        )
        session.flush()
        for channel in channels:  # signed by the hosted admin key: its last use
            config_history.append(
                session, channel, event="org_custody", cause=ctx.operation_id, keys=ctx.keys(), acting=org.blockchain_id
            )
        for role in ("admin", "admin-tls"):  # then the hosted admin keys go
            hosted = identities.issued(session, org.id, role)
            hosted.key = None
            hosted.hosted = False
        _issue_node_operator(session, ctx, org)
        return f"admin custody of {org.name} is external in {len(channels)} channel(s); hosted admin keys deleted"

    return ordering.through_runtime(session, ctx, change, instance_ids=instance_ids)


def _issue_node_operator(session: Session, ctx: OperationContext[CustodyPayload], org: Organization) -> None:
    """The identity the local runtime joins the organisation's peers to channels with once its admin key is gone
    (``nodespecs.admin_client``). OU admin: the peers' local MSP (whose config.yaml keeps the admin OU) takes it as
    its admin, which cscc JoinChain requires; the channel MSP, its admin OU removed just now, does not even take it
    as a member, so it can sign nothing that counts on the channel. ``peer node unjoin`` needs no identity."""
    org_pki, now = identities.pki_of(session, org), identities.utc_now()
    who, msp = f"NodeOperator@{org.name}", msp_id(org)
    ca = identities.ca_pair(org_pki, ctx.keys(), tls=False)
    pair, serial = pki.issue(ca, common_name=who, organization=msp, unit="admin", now=now)
    identities.store(session, ctx.keys(), org.id, NODE_OPERATOR, pair, serial, subject=who)
    tlsca = identities.ca_pair(org_pki, ctx.keys(), tls=True)
    pair, serial = pki.issue(tlsca, common_name=who, organization=msp, unit=None, tls=True, now=now)
    identities.store(session, ctx.keys(), org.id, f"{NODE_OPERATOR}-tls", pair, serial, subject=who)


def _done(_session: Session, _ctx: OperationContext[CustodyPayload]) -> str:
    return "done"


CUSTODY = OperationKind(
    name="governance.admin_custody",
    resource_type="BCSSVC01",
    operation_type="08",
    payload=CustodyPayload,
    description="switch an organisation's admin custody to external",
    steps=(
        Step("Switch admin custody", (SubStep("Update channel configurations", _switch),)),
        Step("Finish", (SubStep("Update instance", _done),)),
    ),
)
KINDS = (CUSTODY,)


def start_switch(
    session: Session, *, project_id: str, blockchain_id: str, org_name: str, csr: str, server_key: ServerKey
) -> tuple[str, str]:
    """Issue the tenant's admin certificate and start the switch; ``(admin certificate PEM, operation id)``."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    require_idle(session, instance)
    org = lookups.org_named(session, instance.id, org_name)
    if is_external(session, org.id):
        raise errors.wrong_state(f"org {org_name}", "its admin custody is external already")
    parsed = _load_csr(csr)
    ca = identities.ca_pair(identities.pki_of(session, org), server_key, tls=False)
    cert_pem, _ = issue_admin_cert(ca, org, parsed)
    operation_id = engine.start(
        session,
        CUSTODY,
        CustodyPayload(org_id=org.id, org_name=org.name, admin_cert=cert_pem),
        domain_id=instance.domain_id,
        project_id=instance.project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        locks_taken=[Lock(instance.id)],
    )
    return cert_pem, operation_id
