"""ECDSA P-256 signing and verification the way Fabric's BCCSP does it, and the ``Signer`` identity.

Fabric signs SHA-256 digests with ECDSA and accepts only DER signatures whose S is in the lower half of the curve
order ("low-S", ``bccsp/sw/ecdsa.go``), so the same message cannot carry two valid signatures. We always produce low-S
signatures and refuse high-S ones when verifying.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fabric_protos.msp.identities_pb2 import SerializedIdentity

# Order of the P-256 group; Fabric's low-S rule is S <= N/2.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HALF_ORDER = P256_ORDER >> 1


@functools.lru_cache(maxsize=4096)
def load_cert(pem: bytes) -> x509.Certificate:
    """Parse a PEM certificate (cached: the same certificates recur in every config and signature)."""
    return x509.load_pem_x509_certificate(pem)


@functools.lru_cache(maxsize=256)
def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("Fabric identities here are ECDSA keys")
    return key


def to_low_s(signature: bytes) -> bytes:
    """Re-encode a DER ECDSA P-256 signature with S replaced by N - S when S is in the upper half."""
    r, s = decode_dss_signature(signature)
    if s > HALF_ORDER:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def sign(key_pem: bytes, message: bytes) -> bytes:
    """ECDSA P-256 over SHA-256 of ``message``: DER, always low-S."""
    return to_low_s(_load_key(key_pem).sign(message, ec.ECDSA(hashes.SHA256())))


def signature_problem(cert: x509.Certificate, message: bytes, signature: bytes) -> str | None:
    """Why ``signature`` is not ``cert``'s valid low-S ECDSA signature over ``message``; None when it is."""
    try:
        public_key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "certificate has an unusable public key"
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return "not an ECDSA key"
    try:
        _, s = decode_dss_signature(signature)
    except ValueError:
        return "signature is not DER"
    if s > HALF_ORDER:
        return "signature is not low-S"
    try:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "signature does not verify"
    return None


def serialize_identity(msp_id: str, cert_pem: bytes) -> bytes:
    """A ``SerializedIdentity`` (the "creator" of Fabric headers): MSP id and PEM certificate."""
    identity = SerializedIdentity(mspid=msp_id, id_bytes=cert_pem)
    return bytes(identity.SerializeToString(deterministic=True))


def identity_id(cert: x509.Certificate) -> str:
    """Fabric's identity identifier: hex SHA-256 of the certificate's DER (used to de-duplicate signers)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class Signer:
    """An MSP identity that can sign: MSP id, PEM certificate, PEM private key."""

    msp_id: str
    cert_pem: bytes
    key_pem: bytes

    def creator(self) -> bytes:
        """The serialized ``SerializedIdentity`` put in signature headers."""
        return serialize_identity(self.msp_id, self.cert_pem)

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256/SHA-256 signature over ``message``, DER, low-S."""
        return sign(self.key_pem, message)
