"""An instance's organisations and nodes as creation and UpdateInstance change them: what a change marks when it
starts (nodes ``Adding``/``Isdeleting``) and what it does when its operation applies it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.keys import ServerKey
from openbcs.network import limits, lookups, membership
from openbcs.network.guards import (
    IS_SCALING,
    NODE_ADDING,
    NODE_CREATING,
    NODE_DELETING,
    NODE_NORMAL,
    record_event,
)
from openbcs.network.models import Instance, Node, Organization
from openbcs.network.naming import node_name, org_hash

ORDERER_ORG_NAME = "orderer"


def add_org(
    session: Session,
    instance: Instance,
    *,
    name: str,
    role: str,
    count: int,
    status: str,
    pvc_name: str | None = None,
) -> Organization:
    """A new organisation of the instance with ``count`` nodes, all in ``status``."""
    name_hash = org_hash(instance.id, name)
    org = Organization(
        blockchain_id=instance.id,
        name=name,
        role=role,
        name_hash=name_hash,
        pvc_name=pvc_name or f"pvc-{name_hash[:12]}",
        status=status,
        created_time=now_ns(),
    )
    session.add(org)
    session.flush()
    for ordinal in range(count):
        session.add(Node(org_id=org.id, ordinal=ordinal, name=node_name(org, ordinal), status=status))
    return org


def set_nodes_status(session: Session, blockchain_id: str, status: str) -> None:
    """Every organisation and node of the instance in ``status``."""
    for org in lookups.orgs_of(session, blockchain_id):
        org.status = status
        for node in lookups.nodes_of(session, org.id):
            node.status = status


def prepare_org_addition(session: Session, instance: Instance, wanted: list[tuple[str, int, str | None]]) -> None:
    """New organisations ``(name, peers, pvc_name)`` in ``Adding`` until the operation applies them."""
    existing = len(lookups.orgs_of(session, instance.id, role="peer"))
    if existing + len(wanted) > limits.PEER_ORGS_MAX:
        raise errors.invalid_parameter("node_orgs", f"an instance has at most {limits.PEER_ORGS_MAX} organisations")
    for index, (name, count, pvc_name) in enumerate(wanted):
        if name == ORDERER_ORG_NAME:
            raise errors.invalid_parameter(f"node_orgs[{index}].name", "reserved for the orderer organisation")
        if pvc_name is None:
            raise errors.missing_parameter(f"node_orgs[{index}].pvc_name")
        add_org(session, instance, name=name, role="peer", count=count, status=NODE_ADDING, pvc_name=pvc_name)


def prepare_org_deletion(session: Session, instance: Instance, names: list[str]) -> None:
    """Organisations marked ``Isdeleting``; an organisation still in a channel cannot go."""
    peer_orgs = lookups.orgs_of(session, instance.id, role="peer")
    targets = [lookups.org_named(session, instance.id, name) for name in names]
    if len(targets) >= len(peer_orgs):
        raise errors.invalid_parameter("node_orgs", "an instance keeps at least one peer organisation")
    for org in targets:
        joined = lookups.channels_with_org(session, org.id)
        if joined:
            raise errors.wrong_state(
                f"org {org.name}", f"still in channel(s) {', '.join(joined)}; remove it from them first"
            )
        org.status = NODE_DELETING
        for node in lookups.nodes_of(session, org.id):
            node.status = NODE_DELETING


def prepare_scaling(session: Session, instance: Instance, wanted: list[tuple[str, int]]) -> None:
    """Peers added (``Adding``) or the last ones marked ``Isdeleting`` so each organisation ends with its count."""
    for name, count in wanted:
        org = lookups.org_named(session, instance.id, name)
        nodes = lookups.nodes_of(session, org.id)
        org.status = IS_SCALING
        if count > len(nodes):
            for ordinal in range(len(nodes), count):
                session.add(Node(org_id=org.id, ordinal=ordinal, name=node_name(org, ordinal), status=NODE_ADDING))
        else:
            for node in nodes[count:]:
                node.status = NODE_DELETING


def _remove_doomed_nodes(session: Session, instance: Instance, org: Organization, cause: str) -> int:
    """The organisation's nodes being deleted go (they already left their channels, see apply_node_changes)."""
    doomed = [node for node in lookups.nodes_of(session, org.id) if node.status == NODE_DELETING]
    if doomed:
        for node in doomed:
            record_event(
                session,
                instance,
                "PeerRemoved",
                f"{node.name} of {org.name} removed",
                org=org.name,
                node=node.name,
                operation_id=cause,
            )
            session.delete(node)
    return len(doomed)


def _start_new_nodes(session: Session, instance: Instance, org: Organization, cause: str) -> int:
    added = 0
    for node in lookups.nodes_of(session, org.id):
        if node.status in (NODE_ADDING, NODE_CREATING):
            node.status = NODE_NORMAL
            added += 1
            record_event(
                session,
                instance,
                "PeerAdded",
                f"{node.name} of {org.name} added",
                org=org.name,
                node=node.name,
                operation_id=cause,
            )
    return added


def doomed_node_ids(session: Session, instance: Instance) -> list[int]:
    """Ids of the instance's nodes being deleted."""
    orgs = lookups.orgs_of(session, instance.id)
    return [n.id for org in orgs for n in lookups.nodes_of(session, org.id) if n.status == NODE_DELETING]


def apply_node_changes(session: Session, instance: Instance, *, cause: str, keys: ServerKey) -> str:
    """Nodes being added become Normal; nodes and organisations being deleted go (leaving their channels first)."""
    added = removed = 0
    orgs = lookups.orgs_of(session, instance.id)
    # Every peer being deleted leaves its channels in one go: each channel's configuration is rebuilt at most once.
    membership.remove_nodes(session, doomed_node_ids(session, instance), cause=cause, keys=keys)
    for org in orgs:
        new_org = org.status == NODE_ADDING
        removed += _remove_doomed_nodes(session, instance, org, cause)
        added += _start_new_nodes(session, instance, org, cause)
        if org.status == NODE_DELETING:
            record_event(
                session, instance, "OrgRemoved", f"organisation {org.name} removed", org=org.name, operation_id=cause
            )
            session.flush()
            session.delete(org)
            continue
        if new_org:
            record_event(
                session, instance, "OrgAdded", f"organisation {org.name} added", org=org.name, operation_id=cause
            )
        org.status = NODE_NORMAL
    return f"{added} node(s) added, {removed} removed"
