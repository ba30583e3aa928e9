"""The one ASN.1 structure Fabric hashes outside protobuf: the block header (``protoutil.BlockHeaderBytes``, Go's
``encoding/asn1`` of a struct {*big.Int; []byte; []byte}). Three primitives, so a small DER writer suffices."""

from __future__ import annotations

_INTEGER, _OCTET_STRING, _SEQUENCE = 0x02, 0x04, 0x30


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _integer(value: int) -> bytes:
    # Minimal two's complement: a non-negative number whose top bit is set gets a leading 0x00 (so 2**63 needs 9 bytes).
    if value < 0:
        raise ValueError("block numbers are unsigned")
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def header_der(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """DER of SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash}."""
    return _tlv(_SEQUENCE, _integer(number) + _tlv(_OCTET_STRING, previous_hash) + _tlv(_OCTET_STRING, data_hash))
