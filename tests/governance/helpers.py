"""What the governance tests share: a tenant's own admin key (made here, never sent to the server), its CSR, and
signing a request's update exactly as Fabric does (``signature_header || config_update``, ECDSA P-256, low-S)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common.common_pb2 import Block, Envelope, Payload, SignatureHeader
from fabric_protos.common.configtx_pb2 import ConfigSignature, ConfigUpdateEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity
from fabric_protos.msp.msp_config_pb2 import FabricMSPConfig, MSPConfig
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.kernel.db import Database
from openbcs.network import config_history, lookups
from openbcs.network.models import IssuedCert, Organization
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant

CHANNEL = "ledger"
ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass
class TenantKey:
    """A P-256 key of the tenant's and, once issued, its admin certificate."""

    key: ec.EllipticCurvePrivateKey
    cert_pem: str = ""
    msp_id: str = ""

    @classmethod
    def new(cls) -> TenantKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def csr(self, key: ec.EllipticCurvePrivateKey | None = None) -> str:
        """A CSR for this key (subject chosen by the tenant; the server replaces it)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever-the-tenant-says")])
        request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key or self.key, hashes.SHA256())
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def signature(self, update: bytes, *, high_s: bool = False, over: bytes | None = None) -> ConfigSignature:
        """A ConfigSignature as ``peer channel signconfigtx`` makes one (optionally high-S, or over other bytes)."""
        return sign_as(self.key, self.msp_id, self.cert_pem.encode(), update, high_s=high_s, over=over)


def sign_as(
    key: ec.EllipticCurvePrivateKey,
    msp_id: str,
    cert_pem: bytes,
    update: bytes,
    *,
    high_s: bool = False,
    over: bytes | None = None,
) -> ConfigSignature:
    creator = SerializedIdentity(mspid=msp_id, id_bytes=cert_pem).SerializeToString()
    header = SignatureHeader(creator=creator, nonce=os.urandom(24)).SerializeToString()
    r, s = decode_dss_signature(key.sign(header + (update if over is None else over), ec.ECDSA(hashes.SHA256())))
    s = min(s, ORDER - s)
    if high_s:
        s = ORDER - s
    return ConfigSignature(signature_header=header, signature=encode_dss_signature(r, s))


def update_of(envelope_file: bytes) -> ConfigUpdateEnvelope:
    """The ConfigUpdateEnvelope inside a CONFIG_UPDATE envelope file."""
    return ConfigUpdateEnvelope.FromString(Payload.FromString(Envelope.FromString(envelope_file).payload).data)


def signature_body(signature: ConfigSignature) -> dict[str, str]:
    """The JSON form of AddSignatureRequestSignatures (the console's sign form posts the same fields): base64."""
    return {
        "signature_header": base64.b64encode(signature.signature_header).decode(),
        "signature": base64.b64encode(signature.signature).decode(),
    }


def with_signature(envelope_file: bytes, signature: ConfigSignature) -> bytes:
    """What ``peer channel signconfigtx`` writes: the envelope with one more ConfigSignature."""
    envelope = Envelope.FromString(envelope_file)
    payload = Payload.FromString(envelope.payload)
    inner = ConfigUpdateEnvelope.FromString(payload.data)
    inner.signatures.append(signature)
    payload.data = inner.SerializeToString()
    return Envelope(payload=payload.SerializeToString()).SerializeToString()


def latest_msp(db: Database, blockchain_id: str, channel: str, msp_id: str) -> FabricMSPConfig:
    """The organisation's MSP as the channel's newest config block has it."""
    block = Block.FromString(config_blocks(db, blockchain_id, channel)[-1]["block"])
    group = fabric.config_of(block).channel_group.groups["Application"].groups[msp_id]
    return FabricMSPConfig.FromString(MSPConfig.FromString(group.values["MSP"].value).config)


def org_id(db: Database, blockchain_id: str, name: str) -> int:
    """The organisation's row id."""

    def read(session: Session) -> int:
        query = select(Organization.id).where(Organization.blockchain_id == blockchain_id, Organization.name == name)
        return int(session.scalars(query).one())

    return db.run_read(read)


def admin_rows(db: Database, org: int) -> list[dict[str, Any]]:
    """The organisation's admin certificates as stored: role, whether hosted, whether a key is kept."""

    def read(session: Session) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(IssuedCert).where(IssuedCert.org_id == org, IssuedCert.role.like("admin%")).order_by(IssuedCert.id)
        )
        return [{"role": r.role, "hosted": r.hosted, "has_key": r.key is not None, "cert": r.cert} for r in rows]

    return db.run_read(read)


def setup_external(tenant: Tenant) -> tuple[str, TenantKey]:
    """An instance with orgs a, b (both in the channel) and c (not in it); b's admin custody switched to the
    tenant's own key."""
    bid = tenant.create_instance(
        "gov-main", peer_orgs=[("orga", 1), ("orgb", 1), ("orgc", 1)], channels=[(CHANNEL, ["orga", "orgb"])]
    )
    key = TenantKey.new()
    response = tenant.call("POST", f"/blockchains/{bid}/orgs/orgb/admin-custody", {"csr": key.csr()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == ["admin_cert", "operation_id"]
    tenant.wait(body["operation_id"])
    key.cert_pem = body["admin_cert"]
    cert = x509.load_pem_x509_certificate(key.cert_pem.encode())
    key.msp_id = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value  # type: ignore[assignment]
    assert cert.public_key() == key.key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Admin@orgb"
    # Signed low-S by the CA: Fabric's sanitised form of the certificate is the certificate itself.
    assert decode_dss_signature(cert.signature)[1] <= ORDER // 2
    return bid, key


def verify(db: Database, bid: str) -> list[str]:
    return db.run_read(lambda s: config_history.verify(s, lookups.channel_named(s, blockchain_id=bid, name=CHANNEL)))


def start_removal(tenant: Tenant, bid: str, *, org: str = "orga") -> tuple[str, dict[str, Any]]:
    """Take ``org`` out of the channel: /Channel/Application/Admins (MAJORITY of 2) needs the other, external org."""
    response = tenant.remove_orgs(bid, CHANNEL, [org])
    assert response.status_code == 200, response.text
    operation_id = response.json()["operation_id"]
    listed = tenant.ok("GET", "/signature-requests", status="pending")
    assert listed["count"] == 1
    (request,) = listed["signature_requests"]
    assert request["operation_id"] == operation_id
    return operation_id, request
