"""Fabric MSPs: the verifying ``MSPConfig`` written into channel configs, and identity validation against it.

Validation follows ``msp/mspimpl.go`` and ``msp/mspimplvalidate.go`` (MSP version 1.4.3+, NodeOUs):

* an identity is valid (role MEMBER) when its certificate is issued by one of the MSP's root certificates, is not
  revoked by a CRL of that root, and carries exactly one NodeOU (client, peer, admin or orderer) certified by the
  OU's certificate;
* ADMIN is an explicitly listed admin certificate, or a valid identity with the admin OU; CLIENT, PEER and ORDERER
  are valid identities with that OU.

Like Fabric, certificate validity periods are not checked (Fabric verifies chains at the certificate's NotBefore).
Intermediate CAs are not modelled: OpenBCS organisations sign leaves directly with their root CA.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID
from fabric_protos.msp.msp_config_pb2 import (
    FabricCryptoConfig,
    FabricMSPConfig,
    FabricNodeOUs,
    FabricOUIdentifier,
    MSPConfig,
)
from fabric_protos.msp.msp_principal_pb2 import MSPRole

from .crypto import load_cert
from .spec import MSPSpec

FABRIC_MSP_TYPE = 0  # msp.ProviderType FABRIC


def msp_config(spec: MSPSpec) -> MSPConfig:
    """The verifying MSP config configtxgen writes for an org (``msp.GetVerifyingMspConfig``), NodeOUs enabled."""
    if not spec.root_certs:
        raise ValueError(f"MSP {spec.msp_id} needs at least one root certificate")
    ca = spec.root_certs[0]
    node_ous = FabricNodeOUs(
        enable=True,
        client_ou_identifier=FabricOUIdentifier(certificate=ca, organizational_unit_identifier="client"),
        peer_ou_identifier=FabricOUIdentifier(certificate=ca, organizational_unit_identifier="peer"),
        orderer_ou_identifier=FabricOUIdentifier(certificate=ca, organizational_unit_identifier="orderer"),
    )
    if not spec.admins:
        # Explicit admins (external custody): only they are admins, the admin OU is then an unknown OU.
        node_ous.admin_ou_identifier.CopyFrom(
            FabricOUIdentifier(certificate=ca, organizational_unit_identifier="admin")
        )
    fabric = FabricMSPConfig(
        name=spec.msp_id,
        root_certs=list(spec.root_certs),
        admins=list(spec.admins),
        revocation_list=list(spec.revocation_list),
        crypto_config=FabricCryptoConfig(signature_hash_family="SHA2", identity_identifier_hash_function="SHA256"),
        tls_root_certs=list(spec.tls_root_certs),
        fabric_node_ous=node_ous,
    )
    return MSPConfig(type=FABRIC_MSP_TYPE, config=fabric.SerializeToString(deterministic=True))


@functools.lru_cache(maxsize=8192)
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    # Cached: the same admin certificates are validated against the same roots for every policy evaluation.
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _load_crl(pem: bytes) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(pem)


@dataclass(frozen=True)
class MSP:
    """A channel MSP, parsed once from its ``MSPConfig`` value, able to validate identities and test roles."""

    name: str
    roots: tuple[x509.Certificate, ...]
    admins: frozenset[x509.Certificate]
    crls: tuple[x509.CertificateRevocationList, ...]
    # role -> (OU name, certifying CA or None for any); None when NodeOUs are disabled
    node_ous: dict[int, tuple[str, x509.Certificate | None]] | None
    # cert -> (validation problem, node roles): one policy evaluation asks about the same signers many times
    _verdicts: dict[x509.Certificate, tuple[str | None, tuple[int, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_config(cls, config: MSPConfig) -> MSP:
        """Parse a FABRIC-type ``MSPConfig``; raise ValueError for other MSP types or unreadable certificates."""
        if config.type != FABRIC_MSP_TYPE:
            raise ValueError(f"unsupported MSP type {config.type}")
        fabric = FabricMSPConfig.FromString(config.config)
        node_ous: dict[int, tuple[str, x509.Certificate | None]] | None = None
        if fabric.fabric_node_ous.enable:
            ous = fabric.fabric_node_ous
            node_ous = {}
            for role, ident in (
                (MSPRole.CLIENT, ous.client_ou_identifier),
                (MSPRole.PEER, ous.peer_ou_identifier),
                (MSPRole.ADMIN, ous.admin_ou_identifier),
                (MSPRole.ORDERER, ous.orderer_ou_identifier),
            ):
                if ident.organizational_unit_identifier:
                    certifier = load_cert(ident.certificate) if ident.certificate else None
                    node_ous[role] = (ident.organizational_unit_identifier, certifier)
        return cls(
            name=fabric.name,
            roots=tuple(load_cert(pem) for pem in fabric.root_certs),
            admins=frozenset(load_cert(pem) for pem in fabric.admins),
            crls=tuple(_load_crl(pem) for pem in fabric.revocation_list),
            node_ous=node_ous,
        )

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The root certificate that issued ``cert``, if any."""
        for root in self.roots:
            if _issued_by(cert, root):
                return root
        return None

    def _revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        for crl in self.crls:
            # Fabric only trusts a CRL the issuing CA signed (validateCertAgainstChain).
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                return True
        return False

    def _roles_of(self, cert: x509.Certificate, issuer: x509.Certificate) -> list[int]:
        # The node roles whose OU the certificate carries. An OU only counts when its certifier (if set) is the CA
        # the identity chains to (Fabric compares certifiers identifiers, i.e. hashes of the chain).
        assert self.node_ous is not None
        units = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}
        return [
            role
            for role, (unit, certifier) in self.node_ous.items()
            if unit in units and (certifier is None or certifier == issuer)
        ]

    def _verdict(self, cert: x509.Certificate) -> tuple[str | None, tuple[int, ...]]:
        verdict = self._verdicts.get(cert)
        if verdict is None:
            verdict = self._judge(cert)
            self._verdicts[cert] = verdict
        return verdict

    def _judge(self, cert: x509.Certificate) -> tuple[str | None, tuple[int, ...]]:
        issuer = self.issuer_of(cert)
        if issuer is None:
            return f"certificate is not issued by a root CA of {self.name}", ()
        if self._revoked(cert, issuer):
            return f"certificate is revoked by {self.name}", ()
        if self.node_ous is None:
            return None, ()
        roles = tuple(self._roles_of(cert, issuer))
        if len(roles) != 1:
            return f"certificate must carry exactly one node OU of {self.name}", ()
        return None, roles

    def validation_problem(self, cert: x509.Certificate) -> str | None:
        """Why ``cert`` is not a valid identity of this MSP (``Validate``); None when it is."""
        return self._verdict(cert)[0]

    def has_role(self, cert: x509.Certificate, role: int) -> bool:
        """Whether ``cert`` satisfies the MSP role principal ``role`` of this MSP (``SatisfiesPrincipal``).
        Without NodeOUs only MEMBER and explicitly listed admins can be told apart, as in Fabric."""
        if role == MSPRole.ADMIN and cert in self.admins:
            return True
        problem, roles = self._verdict(cert)
        if problem is not None:
            return False
        return role == MSPRole.MEMBER or role in roles
