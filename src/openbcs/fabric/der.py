"""The one ASN.1 structure Fabric hashes outside protobuf: the block header (``protoutil.BlockHeaderBytes``, Go's
``encoding/asn1`` of a struct {*big.Int; []byte; []byte}), DER-encoded with ``pyasn1``."""

from __future__ import annotations

from pyasn1.codec.der import encoder
from pyasn1.type import namedtype, univ


class _BlockHeader(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("number", univ.Integer()),
        namedtype.NamedType("previous_hash", univ.OctetString()),
        namedtype.NamedType("data_hash", univ.OctetString()),
    )


def header_der(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """DER of SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash}."""
    if number < 0:
        raise ValueError("block numbers are unsigned")
    header = _BlockHeader()
    header["number"] = number
    header["previous_hash"] = previous_hash
    header["data_hash"] = data_hash
    encoded: bytes = encoder.encode(header)
    return encoded
