"""Where a node of the local runtime listens: its advertised host and the ports allocated to it from the configured
range (``node_ports``), kept in the database so that they survive restarts and two nodes never share one.

The modelled runtime allocates nothing: its nodes' addresses are derived from their names (:func:`naming.node_address`).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.kernel import errors
from openbcs.network.models import Node, NodePort, Organization
from openbcs.network.naming import node_address

# The ports each kind of node gets (runtime.specs.PortName spells the same names).
PORTS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "orderer": ("listen", "admin", "operations"),
    "peer": ("listen", "chaincode", "operations"),
}
_TRIES_PER_PORT = 64


def _free(host: str, port: int) -> bool:
    """Nothing listens on ``host:port`` now (a bind that succeeds)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def allocate(session: Session, nodes: Sequence[tuple[Organization, Node]], *, host: str, low: int, high: int) -> int:
    """Give every node that has none its ports on ``host``, each free when allocated and not already another node's;
    returns how many were allocated. Random picks keep two servers allocating at once from colliding often (the
    primary key refuses a collision, and the step is tried again)."""
    taken = set(session.scalars(select(NodePort.port).where(NodePort.host == host)))
    have = set(session.scalars(select(NodePort.node_id).where(NodePort.node_id.in_([n.id for _, n in nodes]))))
    made = 0
    for org, node in nodes:
        if node.id in have:
            continue
        for name in PORTS_BY_ROLE[org.role]:
            port = _pick(host, low, high, taken)
            taken.add(port)
            session.add(NodePort(host=host, port=port, node_id=node.id, name=name))
            made += 1
    session.flush()
    return made


def _pick(host: str, low: int, high: int, taken: set[int]) -> int:
    for _ in range(_TRIES_PER_PORT):
        port = random.randint(low, high)  # noqa: S311 - spreading picks, not a secret
        if port not in taken and _free(host, port):
            return port
    raise errors.BCSError(errors.INTERNAL, f"no free port left in node_ports {low}-{high} on {host}")


Allocated = dict[int, tuple[str, dict[str, int]]]  # node id -> (host, {port name: port})


def ports_of(session: Session, node_ids: Sequence[int]) -> Allocated:
    """The ports of these nodes (those that have some)."""
    return _collect(session.execute(select(NodePort).where(NodePort.node_id.in_(node_ids))).scalars())


def ports_of_instance(session: Session, blockchain_id: str) -> Allocated:
    """The ports of every node of an instance, in one statement (a view shows all its organisations)."""
    rows = session.execute(
        select(NodePort)
        .join(Node, Node.id == NodePort.node_id)
        .join(Organization, Organization.id == Node.org_id)
        .where(Organization.blockchain_id == blockchain_id)
    ).scalars()
    return _collect(rows)


def _collect(rows: Iterable[NodePort]) -> Allocated:
    found: Allocated = {}
    for row in rows:
        found.setdefault(row.node_id, (row.host, {}))[1][row.name] = row.port
    return found


def listen_address(org: Organization, node: Node, allocated: Allocated) -> tuple[str, int]:
    """``(host, port)`` other nodes and clients reach the node at: its advertised host and allocated listen port
    (local runtime), else its modelled domain and service port."""
    if node.id in allocated:
        host, ports = allocated[node.id]
        return host, ports["listen"]
    host, _, port = node_address(org, node)[0].rpartition(":")
    return host, int(port)


def addresses(org: Organization, nodes: Sequence[Node], allocated: Allocated) -> dict[int, tuple[str, str]]:
    """``{node id: (domain_port, ip_port)}`` as ShowBlockchainNodes and the SDK configuration show them: a local
    runtime node's advertised host and listen port (both), else the modelled addresses."""
    shown: dict[int, tuple[str, str]] = {}
    for node in nodes:
        if node.id in allocated:
            address = "{}:{}".format(*listen_address(org, node, allocated))
            shown[node.id] = (address, address)
        else:
            shown[node.id] = node_address(org, node)
    return shown
