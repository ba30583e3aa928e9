"""Instance rules: create, update (scale peers, add or delete organisations) and delete an instance, and list them.

An instance is a model of a Fabric network: organisations with their nodes, kept consistent in the database and
moved through the states the cloud service shows. Each mutating call starts one operation, which locks the instance
until it finishes or fails; every other mutating call meanwhile gets the busy code for what is running.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbcs.engine import engine
from openbcs.engine.locks import Lock
from openbcs.engine.records import OperationRecord, list_records
from openbcs.instances import creation, kinds, topology
from openbcs.instances.schemas import CreateRequestBody, UpdateInstanceRequestBody
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.network import lookups
from openbcs.network.guards import (
    DEPLOYING,
    IS_ADDING,
    IS_CREATING,
    IS_DELETING,
    IS_SCALING,
    NODE_CREATING,
    NODE_DELETING,
    NORMAL,
    require_deletable,
    require_idle,
)
from openbcs.network.models import Instance, Organization


@dataclass(frozen=True)
class Created:
    """What CreateNewBlockchain answers."""

    blockchain_id: str
    blockchain_name: str
    operation_id: str


def _stored_settings(body: CreateRequestBody) -> dict[str, Any]:
    """The creation request as the instance keeps it: secrets removed, the cluster it runs on filled in."""
    stored = body.model_dump(mode="json", exclude_none=True, exclude=set(creation.SECRET_FIELDS))
    stored.pop("couchdb_info", None)
    stored.get("cce_create_info", {}).pop("init_node_pwd", None)
    if body.couchdb_info is not None:
        stored["couchdb_user"] = body.couchdb_info.user_name
    cluster = body.cce_cluster_info
    stored["cluster_id"] = cluster.cluster_id if cluster else str(uuid.uuid4())
    stored["cluster_name"] = cluster.cluster_name if cluster else f"{body.name}-cce"
    stored["cluster_platform_type"] = (cluster or body.cce_create_info).cluster_platform_type  # type: ignore[union-attr]
    return stored


def _planned_channels(body: CreateRequestBody, org_names: list[str]) -> list[kinds.PlannedChannel]:
    """The channels to create: those asked for, else one default channel with every organisation (none for an
    invitee, which joins its inviter's channels)."""
    if body.channels is not None:
        return [
            kinds.PlannedChannel(name=c.name, description=c.description or "", org_names=c.org_names)
            for c in body.channels
        ]
    if body.is_invitee:
        return []
    return [kinds.PlannedChannel(name=creation.DEFAULT_CHANNEL_NAME, org_names=org_names)]


def create(
    session: Session,
    *,
    project_id: str,
    domain_id: str,
    body: CreateRequestBody,
    runtime: str = "modelled",
    invited: creation.InvitationCheck = creation.no_invitation,
) -> Created:
    """Validate and record a new instance (``IsCreating``), its organisations and nodes, run by ``runtime`` (the
    server's ``--fabric-runtime``); start its creation. ``invited`` answers whether an invitation waits for the
    caller (an invitee instance needs one; without it none can be created)."""
    consensus = creation.validate(session, project_id=project_id, domain_id=domain_id, body=body, invited=invited)
    if runtime == "local" and consensus != "etcdraft":
        raise errors.invalid_parameter("consensus", f"{consensus}: the local runtime runs etcdraft orderers only")
    info = body.invitor_infos
    instance = Instance(
        id=str(uuid.uuid4()),
        project_id=project_id,
        domain_id=domain_id,
        name=body.name,
        blockchain_type=body.blockchain_type,
        fabric_version=body.fabric_version,
        consensus=consensus,
        sign_algorithm=body.sign_algorithm,
        version_type=body.version_type,
        database_type=body.database_type,
        is_invitee=body.is_invitee,
        invitor_tenant_id=info.tenant_id if info else None,
        invitor_project_id=info.project_id if info else None,
        invitor_blockchain_id=info.blockchain_id if info else None,
        status=NORMAL,
        deploy_status=DEPLOYING,
        created_time=now_ns(),
        settings=_stored_settings(body),
        runtime=runtime,
    )
    session.add(instance)
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent creation of the same name committed after our check (on PostgreSQL the insert waited for it).
        raise errors.BCSError(errors.DUPLICATE_NAME) from exc
    peer_orgs = [(o.name, o.node_count) for o in body.peer_orgs or []] or [
        (creation.DEFAULT_ORG_NAME, creation.DEFAULT_PEER_COUNT)
    ]
    for name, count in peer_orgs:
        topology.add_org(session, instance, name=name, role="peer", count=count, status=NODE_CREATING)
    if not body.is_invitee:
        topology.add_org(
            session,
            instance,
            name=topology.ORDERER_ORG_NAME,
            role="orderer",
            count=body.orderer_node_number or 0,
            status=NODE_CREATING,
        )
    operation_id = engine.start(
        session,
        kinds.CREATE,
        kinds.CreatePayload(channels=_planned_channels(body, [name for name, _ in peer_orgs])),
        domain_id=domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        locks_taken=[Lock(instance.id, IS_CREATING)],
    )
    return Created(instance.id, instance.name, operation_id)


def _change_of(session: Session, instance: Instance, body: UpdateInstanceRequestBody) -> str:
    """Which of the four kinds of update the body asks for: exactly one per call."""
    names = [org.name for org in body.node_orgs]
    if len(names) != len(set(names)):
        raise errors.invalid_parameter("node_orgs", "each organisation at most once")
    if body.publicips is not None:
        raise errors.invalid_parameter("publicips", "only for IEF instances, which OpenBCS does not model")
    if body.is_delete_org:
        return "delete_org"
    found: set[str] = set()
    for index, wanted in enumerate(body.node_orgs):
        existing = session.scalar(
            select(Organization).where(Organization.blockchain_id == instance.id, Organization.name == wanted.name)
        )
        if existing is None:
            found.add("add_org")
            continue
        if existing.role != "peer":
            raise errors.invalid_parameter(f"node_orgs[{index}].name", "the orderer organisation cannot be scaled")
        current = len(lookups.nodes_of(session, existing.id))
        if wanted.node_count == current:
            raise errors.invalid_parameter(
                f"node_orgs[{index}].node_count", f"organisation {wanted.name} already has {current} peer(s)"
            )
        found.add("add_peers" if wanted.node_count > current else "delete_peers")
    if len(found) != 1:
        raise errors.invalid_parameter(
            "node_orgs", "add peers, delete peers, add or delete organisations: one per call"
        )
    return found.pop()


def update(session: Session, *, project_id: str, blockchain_id: str, body: UpdateInstanceRequestBody) -> str:
    """Start adding/deleting peers of organisations, or adding/deleting organisations; returns the operation id."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    require_idle(session, instance)
    change = _change_of(session, instance, body)
    if change == "add_org":
        topology.prepare_org_addition(
            session, instance, [(org.name, org.node_count, org.pvc_name) for org in body.node_orgs]
        )
        kind, label = kinds.ORGS, IS_ADDING
    elif change == "delete_org":
        topology.prepare_org_deletion(session, instance, [org.name for org in body.node_orgs])
        kind, label = kinds.ORGS, IS_SCALING
    else:
        topology.prepare_scaling(session, instance, [(org.name, org.node_count) for org in body.node_orgs])
        kind, label = kinds.SCALE, IS_SCALING
    return engine.start(
        session,
        kind,
        kinds.ChangePayload(change=change, orgs=[org.name for org in body.node_orgs]),
        domain_id=instance.domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        locks_taken=[Lock(instance.id, label)],
    )


def delete(session: Session, *, project_id: str, blockchain_id: str, flags: dict[str, Any]) -> str:
    """Start deleting an instance (``IsDeleting``); it leaves every list when the operation completes."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    require_deletable(session, instance)
    for flag in ("is_delete_ief", "ief_nodes_id"):
        if flags.get(flag):
            raise errors.invalid_parameter(flag, "only for IEF instances, which OpenBCS does not model")
    operation_id = engine.start(
        session,
        kinds.DELETE,
        kinds.DeletePayload(flags=flags),
        domain_id=instance.domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        locks_taken=[Lock(instance.id, IS_DELETING)],
    )
    topology.set_nodes_status(session, instance.id, NODE_DELETING)
    return operation_id


def list_instances(session: Session, *, project_id: str) -> list[Instance]:
    """The project's instances, oldest first."""
    return list(
        session.scalars(
            select(Instance).where(Instance.project_id == project_id).order_by(Instance.created_time, Instance.id)
        )
    )


def creation_record(session: Session, *, instance: Instance) -> OperationRecord | None:
    """The record of the operation that created the instance."""
    found = list_records(
        session, project_id=instance.project_id, blockchain_id=instance.id, operation_type=kinds.CREATE.operation_type
    )
    return found[0] if found else None
