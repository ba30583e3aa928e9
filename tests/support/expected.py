"""Names as ``docs/instances.md`` defines them, computed here independently of OpenBCS: what tests expect."""

from __future__ import annotations

import hashlib
from typing import Any


def org_hash(blockchain_id: str, org: str) -> str:
    """The organisation's ``name_hash``: SHA-1 of ``<instance id>/<org name>``."""
    return hashlib.sha1(f"{blockchain_id}/{org}".encode(), usedforsecurity=False).hexdigest()


def msp_id(blockchain_id: str, org: str) -> str:
    """The organisation's MSP id."""
    return f"{org_hash(blockchain_id, org)}MSP"


def org_domain(blockchain_id: str, org: str, role: str = "peer") -> str:
    """The organisation's modelled DNS domain."""
    return f"{role}-{org_hash(blockchain_id, org)}.default.svc.cluster.local"


def peer_names(blockchain_id: str, org: str, count: int, *, start: int = 0) -> list[str]:
    """``peer-<hash>-<n>`` for n in ``start .. start + count - 1``."""
    return [f"peer-{org_hash(blockchain_id, org)}-{n}" for n in range(start, start + count)]


def orderer_names(blockchain_id: str, count: int = 3) -> list[str]:
    """The orderers' names of an instance."""
    return [f"orderer-{org_hash(blockchain_id, 'orderer')}-{n}" for n in range(count)]


def block_orgs(*orgs: tuple[str, str]) -> list[dict[str, str]]:
    """A configuration block's organisations from ``(instance id, org name)`` pairs, sorted as blocks list them (by
    MSP id, then name)."""
    entries = [{"blockchain_id": b, "name": o, "msp_id": msp_id(b, o)} for b, o in orgs]
    return sorted(entries, key=lambda entry: (entry["msp_id"], entry["name"]))


def block_header_hash(header: Any) -> str:
    """Fabric's block header hash in hex, computed here with ``pyasn1`` (not OpenBCS's code): SHA-256 of the DER of
    SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash} (``protoutil.BlockHeaderBytes``)."""
    from pyasn1.codec.der import encoder
    from pyasn1.type import univ

    fields = univ.SequenceOf(componentType=univ.Any())
    for index, value in enumerate(
        (univ.Integer(header.number), univ.OctetString(header.previous_hash), univ.OctetString(header.data_hash))
    ):
        fields.setComponentByPosition(index, univ.Any(encoder.encode(value)))
    return hashlib.sha256(encoder.encode(fields)).hexdigest()
