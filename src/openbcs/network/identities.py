"""Each organisation's identities: its signing CA and TLS CA (ECDSA P-256), an admin and a default user
(``User1``) with signing and TLS client certificates, and for each node a signing certificate (OU peer/orderer) and
a TLS server certificate whose SAN carries the node's modelled host names. Private keys are kept sealed with a key
derived from the server key. The instance operations issue this material; downloads, user certificates and channel
configuration read it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import endpoints, lookups, pki
from openbcs.network.models import IssuedCert, Organization, OrgPki
from openbcs.network.naming import msp_id, node_address, org_domain

DEFAULT_USER = "User1"
_KEY_PURPOSE = "pki-key"


def utc_now() -> dt.datetime:
    """Aware UTC now, for certificate validity."""
    return dt.datetime.now(dt.UTC)


def seal(server_key: ServerKey, key_pem: bytes) -> str:
    """A private key as it is stored."""
    return server_key.encrypt(_KEY_PURPOSE, key_pem)


def unseal(server_key: ServerKey, sealed: str) -> bytes:
    """A stored private key, PEM."""
    return server_key.decrypt(_KEY_PURPOSE, sealed)


def ca_pair(org_pki: OrgPki, server_key: ServerKey, *, tls: bool) -> pki.KeyPair:
    """The organisation's signing CA (or TLS CA) with its key."""
    if tls:
        return pki.KeyPair(org_pki.tlsca_cert.encode(), unseal(server_key, org_pki.tlsca_key))
    return pki.KeyPair(org_pki.ca_cert.encode(), unseal(server_key, org_pki.ca_key))


def store(
    session: Session,
    server_key: ServerKey,
    org_id: int,
    role: str,
    pair: pki.KeyPair,
    serial: int,
    *,
    subject: str,
    node_name: str | None = None,
    user_name: str | None = None,
    keep_key: bool = True,
) -> IssuedCert:
    """Record an issued certificate (and its sealed key unless ``keep_key`` is false)."""
    issued = IssuedCert(
        org_id=org_id,
        role=role,
        subject=subject,
        node_name=node_name,
        user_name=user_name,
        hosted=keep_key,
        serial=format(serial, "x"),
        cert=pair.cert_pem.decode(),
        key=seal(server_key, pair.key_pem) if keep_key else None,
        created_time=now_ns(),
    )
    session.add(issued)
    return issued


def _new_org_pki(session: Session, org: Organization, server_key: ServerKey, now: dt.datetime) -> OrgPki:
    msp = msp_id(org)
    # Common names are capped at 64 characters, so they use the org's name; file names use its domain.
    ca = pki.new_ca(common_name=f"ca.{org.name}", organization=msp, now=now)
    tlsca = pki.new_ca(common_name=f"tlsca.{org.name}", organization=msp, now=now)
    org_pki = OrgPki(
        org_id=org.id,
        ca_cert=ca.cert_pem.decode(),
        ca_key=seal(server_key, ca.key_pem),
        tlsca_cert=tlsca.cert_pem.decode(),
        tlsca_key=seal(server_key, tlsca.key_pem),
        crl_number=0,
    )
    session.add(org_pki)
    for role, who, unit in (("admin", f"Admin@{org.name}", "admin"), ("user", f"{DEFAULT_USER}@{org.name}", "client")):
        pair, serial = pki.issue(ca, common_name=who, organization=msp, unit=unit, now=now)
        store(session, server_key, org.id, role, pair, serial, subject=who)
        pair, serial = pki.issue(tlsca, common_name=who, organization=msp, unit=None, tls=True, now=now)
        store(session, server_key, org.id, f"{role}-tls", pair, serial, subject=who)
    return org_pki


def _provision_org(session: Session, org: Organization, server_key: ServerKey) -> int:
    """Create the org's CAs, admin and default user if missing, and certificates for nodes that have none."""
    made = 0
    now = utc_now()
    org_pki = session.get(OrgPki, org.id)
    if org_pki is None:
        org_pki = _new_org_pki(session, org, server_key, now)
        made += 4
    ca, tlsca = ca_pair(org_pki, server_key, tls=False), ca_pair(org_pki, server_key, tls=True)
    have = set(
        session.scalars(select(IssuedCert.node_name).where(IssuedCert.org_id == org.id, IssuedCert.role == "node"))
    )
    msp = msp_id(org)
    nodes = lookups.nodes_of(session, org.id)
    # A local runtime node's TLS certificate names the host it advertises (allocated before its certificates).
    allocated = endpoints.ports_of(session, [n.id for n in nodes if n.name not in have])
    for node in nodes:
        if node.name in have:
            continue
        domain_port, ip_port = node_address(org, node)
        hosts = [domain_port.rsplit(":", 1)[0], f"{node.name}.{org_domain(org)}", node.name, ip_port.rsplit(":", 1)[0]]
        if node.id in allocated:
            hosts.insert(0, allocated[node.id][0])
        pair, serial = pki.issue(ca, common_name=node.name, organization=msp, unit=org.role, now=now)
        store(session, server_key, org.id, "node", pair, serial, subject=node.name, node_name=node.name)
        pair, serial = pki.issue(
            tlsca,
            common_name=node.name,
            organization=msp,
            unit=None,
            hosts=list(dict.fromkeys(hosts)),
            tls=True,
            now=now,
        )
        store(session, server_key, org.id, "node-tls", pair, serial, subject=node.name, node_name=node.name)
        made += 2
    return made


def provision_instance(session: Session, *, blockchain_id: str, server_key: ServerKey) -> int:
    """Create every missing piece of the instance's PKI; returns how many certificates were issued."""
    return sum(_provision_org(session, org, server_key) for org in lookups.orgs_of(session, blockchain_id))


def pki_of(session: Session, org: Organization) -> OrgPki:
    """The organisation's CAs; ``BCS.4001015`` while the instance is still being created."""
    org_pki = session.get(OrgPki, org.id)
    if org_pki is None:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    return org_pki


def issued(session: Session, org_id: int, role: str) -> IssuedCert:
    """The organisation's first certificate of ``role`` (``admin``, ``user-tls``, ...)."""
    cert = session.scalars(
        select(IssuedCert).where(IssuedCert.org_id == org_id, IssuedCert.role == role).order_by(IssuedCert.id)
    ).first()
    if cert is None:  # pragma: no cover - provisioning always issues these together
        raise errors.BCSError(errors.INTERNAL, f"certificate {role} missing")
    return cert


def crl_pem(session: Session, org: Organization, org_pki: OrgPki, server_key: ServerKey) -> bytes:
    """The org's current CRL: every revoked certificate issued by its signing CA."""
    revoked = session.scalars(select(IssuedCert).where(IssuedCert.org_id == org.id, IssuedCert.revoked_at.is_not(None)))
    entries = [(int(c.serial, 16), dt.datetime.fromtimestamp((c.revoked_at or 0) / 1e9, dt.UTC)) for c in revoked]
    return pki.crl(ca_pair(org_pki, server_key, tls=False), revoked=entries, number=org_pki.crl_number, now=utc_now())
