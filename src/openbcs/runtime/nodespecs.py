"""The network model's rows as a runtime is given them: a node's ``NodeSpec`` (its keys unsealed) and an
organisation's admin as a ``Client``. Read in short transactions by the supervisor, never by a request."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.kernel.keys import ServerKey
from openbcs.network import endpoints, identities, lookups
from openbcs.network.models import IssuedCert, Node, Organization, OrgPki
from openbcs.network.naming import msp_id
from openbcs.runtime.specs import Client, Endpoint, NodeIdentity, NodeRole, NodeSpec, PortName


def home_of(nodes_dir: Path, blockchain_id: str, node_name: str) -> Path:
    """``<data-dir>/nodes/<instance id>/<node name>``: the node's MSP, TLS, ledger, configuration and log."""
    return nodes_dir / blockchain_id / node_name


def node_spec(session: Session, node_id: int, *, keys: ServerKey, nodes_dir: Path) -> NodeSpec:
    """Everything needed to run node ``node_id``."""
    node = session.get_one(Node, node_id)
    org = session.get_one(Organization, node.org_id)
    org_pki = session.get_one(OrgPki, org.id)
    certs = {
        row.role: row
        for row in session.scalars(
            select(IssuedCert).where(
                IssuedCert.org_id == org.id,
                IssuedCert.node_name == node.name,
                IssuedCert.role.in_(("node", "node-tls")),
            )
        )
    }
    host, ports = endpoints.ports_of(session, [node.id])[node.id]
    signing, tls = certs["node"], certs["node-tls"]
    assert signing.key is not None
    assert tls.key is not None
    identity = NodeIdentity(
        msp_id=msp_id(org),
        ca_cert=org_pki.ca_cert.encode(),
        tlsca_cert=org_pki.tlsca_cert.encode(),
        cert=signing.cert.encode(),
        key=identities.unseal(keys, signing.key),
        tls_cert=tls.cert.encode(),
        tls_key=identities.unseal(keys, tls.key),
    )
    role = NodeRole(org.role)
    return NodeSpec(
        name=node.name,
        role=role,
        endpoint=Endpoint(host, {PortName(name): port for name, port in ports.items()}),
        identity=identity,
        home=home_of(nodes_dir, org.blockchain_id, node.name),
        # The orderer organisation's admin TLS certificate is issued by its TLS CA.
        admin_tls_ca=org_pki.tlsca_cert.encode() if role is NodeRole.ORDERER else None,
    )


# The identity OpenBCS administers an external-custody organisation's peers with (docs/governance.md): OU admin,
# issued by the organisation's CA at the custody switch. The peers' LOCAL MSP (msp/config.yaml, render.py) keeps the
# admin OU, so it is their local admin (cscc JoinChain checks the local MSP's Admins); the CHANNEL MSP no longer
# has an admin OU, so there it is not even a valid identity and satisfies none of the channel's policies.
NODE_OPERATOR = "operator"  # a role of issued_certs (at most 16 characters, with "-tls")


def admin_client(session: Session, org: Organization, *, keys: ServerKey) -> Client:
    """Who administers the organisation's nodes: its admin (signing pair and TLS client pair), or — its admin key
    held by its tenant (external custody) — its node operator."""
    admin, admin_tls = identities.issued(session, org.id, "admin"), identities.issued(session, org.id, "admin-tls")
    if admin.key is None:
        admin = identities.issued(session, org.id, NODE_OPERATOR)
        admin_tls = identities.issued(session, org.id, f"{NODE_OPERATOR}-tls")
    assert admin.key is not None
    assert admin_tls.key is not None
    return Client(
        msp_id=msp_id(org),
        cert=admin.cert.encode(),
        key=identities.unseal(keys, admin.key),
        tls_cert=admin_tls.cert.encode(),
        tls_key=identities.unseal(keys, admin_tls.key),
    )


def orderers_of(
    session: Session, blockchain_id: str, *, keys: ServerKey, nodes_dir: Path
) -> tuple[list[NodeSpec], Client]:
    """The instance's orderers, and its orderer organisation's admin (who reads blocks from them)."""
    orgs = lookups.orgs_of(session, blockchain_id, role="orderer")
    specs = [
        node_spec(session, node.id, keys=keys, nodes_dir=nodes_dir)
        for org in orgs
        for node in lookups.nodes_of(session, org.id)
    ]
    return specs, admin_client(session, orgs[0], keys=keys)


def signer(client: Client) -> fabric.Signer:
    """The client's signing identity as :mod:`openbcs.fabric` uses it."""
    return fabric.Signer(client.msp_id, client.cert, client.key)
