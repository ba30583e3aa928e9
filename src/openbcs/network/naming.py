"""Names and addresses of the model as the cloud shows them: organisation hashes, MSP ids, node names, domains."""

from __future__ import annotations

import hashlib
import re

from openbcs.kernel import errors
from openbcs.network.models import Node, Organization


def org_hash(blockchain_id: str, org_name: str) -> str:
    """The 40-hex ``name_hash`` of an organisation (its MSP id is this plus ``MSP``)."""
    return hashlib.sha1(f"{blockchain_id}/{org_name}".encode(), usedforsecurity=False).hexdigest()


def msp_id(org: Organization) -> str:
    """The organisation's MSP id."""
    return f"{org.name_hash}MSP"


def org_domain(org: Organization) -> str:
    """The organisation's modelled DNS domain."""
    return f"{org.role}-{org.name_hash}.default.svc.cluster.local"


def node_name(org: Organization, ordinal: int) -> str:
    """``peer-<hash>-0``, ``orderer-<hash>-2``: node names as the cloud shows them."""
    return f"{org.role}-{org.name_hash}-{ordinal}"


def node_address(org: Organization, node: Node) -> tuple[str, str]:
    """The modelled ``(domain_port, ip_port)`` of a node."""
    digest = hashlib.sha256(node.name.encode()).digest()
    ip = f"192.168.{digest[0]}.{1 + digest[1] % 254}"
    node_port = 30000 + int.from_bytes(digest[2:4], "big") % 2000
    service_port = 7051 if org.role == "peer" else 7050
    return f"{node.name}.{org_domain(org)}:{service_port}", f"{ip}:{node_port}"


CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9]{2,22}[a-z0-9]$")


def check_channel_name(name: str) -> None:
    """4-24 lower-case letters and digits, starting with a letter (``BCS.4006012`` otherwise)."""
    if not CHANNEL_NAME.fullmatch(name):
        raise errors.BCSError(
            errors.INVALID_CHANNEL_NAME,
            f"Invalid channel name. ({name!r}: 4-24 characters of a-z and 0-9, starting with a letter)",
        )
