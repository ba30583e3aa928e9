"""Instance rules: creation with every documented constraint, scaling, organisations, deletion, quotas, views.

An instance is a model of a Fabric network: organisations with their nodes, kept consistent in the database and
moved through the states the cloud service shows. One mutating operation runs on an instance at a time
(``busy_operation_id``); every other mutating call meanwhile gets the busy code for what is running.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.blockchains.models import Blockchain, Node, Organization, Quota
from openbcs.blockchains.schemas import CreateRequestBody, NodeOrgs, UpdateInstanceRequestBody
from openbcs.certs import service as certs
from openbcs.channels import service as channels
from openbcs.db import now_ns
from openbcs.monitoring import service as monitoring
from openbcs.operations import kinds
from openbcs.operations import service as operations
from openbcs.operations.kinds import OperationContext, OperationFailed, OperationKind, Step, SubStep

# Flavors: what one instance may hold (ShowBlockchainFlavors reports these, creation and scaling enforce them).
ORG_PEER_MAX = 5
ORDERER_MAX = 10
MEMBER_MAX = 20
PEER_ORGS_MAX = 10
DEFAULT_INSTANCE_QUOTA = 5
QUOTA_MAX = 100

DEFAULT_ORG_NAME = "organization"
DEFAULT_PEER_COUNT = 2
DEFAULT_CHANNEL_NAME = "channel"
ORDERER_ORG_NAME = "orderer"
ORDERERS_FOR = {"etcdraft": 3, "SFLIC": 4}

NORMAL, ABNORMAL = "Normal", "Abnormal"
IS_CREATING, IS_UPGRADING, IS_SCALING, IS_DELETING, IS_ADDING = (
    "IsCreating",
    "IsUpgrading",
    "IsScaling",
    "IsDeleting",
    "IsAdding",
)
NODE_NORMAL, NODE_CREATING, NODE_ADDING, NODE_DELETING = "Normal", "IsCreating", "Adding", "Isdeleting"
DEPLOYING, DEPLOYED, DEPLOY_FAILED = 0, 1, 2

_SECRET_FIELDS = ("resource_password",)
_SPECIAL = re.compile(r"[^A-Za-z0-9]")

# Called with (session, instance) when an instance's deletion completes, before its rows go: the consortium domain
# hooks in here to cancel invitations and release members.
DeletionHook = Callable[[Session, Blockchain], None]
_deletion_hooks: list[DeletionHook] = []


def on_instance_deleted(hook: DeletionHook) -> DeletionHook:
    """Register a function to run inside the transaction that removes a deleted instance."""
    _deletion_hooks.append(hook)
    return hook


# --- identities of the model -------------------------------------------------------------------------------------


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


def iso_time(ns: int | None) -> str:
    """RFC 3339 UTC time of a nanosecond timestamp ("" when unset): OpenBCS's format for the API's time strings."""
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- lookups and guards ---------------------------------------------------------------------------------------------


def get_owned(session: Session, *, project_id: str, blockchain_id: str, lock: bool = False) -> Blockchain:
    """The project's instance, or ``BCS.4001011`` (another tenant's instance is indistinguishable from none)."""
    query = select(Blockchain).where(Blockchain.id == blockchain_id, Blockchain.project_id == project_id)
    if lock:
        # populate_existing: a caller may have read the instance (find) before waiting for its lock; the values the
        # lock's previous holder committed must replace the ones read then, or its busy mark goes unseen.
        query = query.with_for_update().execution_options(populate_existing=True)
    instance = session.scalar(query)
    if instance is None:
        raise errors.BCSError(errors.INSTANCE_NOT_FOUND)
    return instance


def find(session: Session, *, blockchain_id: str) -> Blockchain | None:
    """Any tenant's instance by id: only for rules that span tenants (an invitee checking its inviter)."""
    return session.get(Blockchain, blockchain_id)


def require_idle(instance: Blockchain) -> None:
    """Refuse a mutating call while another operation runs on the instance, with the code for what runs."""
    if instance.process_status == IS_CREATING:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    if instance.process_status == IS_UPGRADING:
        raise errors.BCSError(errors.INSTANCE_UPGRADING)
    if instance.process_status == IS_DELETING:
        raise errors.BCSError(errors.INSTANCE_DELETING)
    if instance.busy_operation_id is not None or instance.status != NORMAL:
        raise errors.BCSError(errors.INSTANCE_BUSY)


def _event(session: Session, instance: Blockchain, name: str, message: str, **metadata: object) -> None:
    monitoring.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name=name,
        message=message,
        metadata=metadata,
    )


def _abnormal(session: Session, instance: Blockchain, reason: str) -> None:
    """The instance failed: Abnormal, with an alarm that stays active while it is."""
    instance.status = ABNORMAL
    monitoring.raise_alarm(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        key="instance-abnormal",
        name="InstanceAbnormal",
        severity="critical",
        message=f"instance {instance.name} is Abnormal: {reason}",
        metadata={"status": ABNORMAL},
    )


def mark_busy(instance: Blockchain, operation_id: str, process_status: str | None = None) -> None:
    """Record the operation now running on the instance."""
    instance.busy_operation_id = operation_id
    instance.process_status = process_status


def mark_idle(instance: Blockchain) -> None:
    """The instance's operation is over."""
    instance.busy_operation_id = None
    instance.process_status = None


def orgs_of(session: Session, blockchain_id: str, *, role: str | None = None) -> list[Organization]:
    """The instance's organisations in creation order (peer orgs only with ``role="peer"``)."""
    query = select(Organization).where(Organization.blockchain_id == blockchain_id)
    if role is not None:
        query = query.where(Organization.role == role)
    return list(session.scalars(query.order_by(Organization.id)))


def org_named(session: Session, blockchain_id: str, name: str, *, role: str | None = "peer") -> Organization:
    """A peer organisation of the instance by name, or ``BCS.4001051``."""
    query = select(Organization).where(Organization.blockchain_id == blockchain_id, Organization.name == name)
    if role is not None:
        query = query.where(Organization.role == role)
    org = session.scalar(query)
    if org is None:
        raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {name} is not exist")
    return org


def nodes_of(session: Session, org_id: int) -> list[Node]:
    """An organisation's nodes by ordinal."""
    return list(session.scalars(select(Node).where(Node.org_id == org_id).order_by(Node.ordinal)))


@dataclass(frozen=True)
class OrgHealth:
    """An organisation's hash and how many of its nodes there are and are Normal."""

    name_hash: str
    nodes: int
    healthy: int


def org_health(session: Session, *, blockchain_ids: list[str]) -> dict[tuple[str, str], OrgHealth]:
    """``{(instance id, org name): OrgHealth}`` for every organisation of the instances, in one query."""
    if not blockchain_ids:
        return {}
    rows = session.execute(
        select(
            Organization.blockchain_id,
            Organization.name,
            Organization.name_hash,
            func.count(Node.id),
            func.count(case((Node.status == NODE_NORMAL, 1))),
        )
        .outerjoin(Node, Node.org_id == Organization.id)
        .where(Organization.blockchain_id.in_(blockchain_ids))
        .group_by(Organization.id, Organization.blockchain_id, Organization.name, Organization.name_hash)
    )
    return {
        (bid, name): OrgHealth(name_hash, int(nodes), int(healthy)) for bid, name, name_hash, nodes, healthy in rows
    }


def org_by_id(session: Session, org_id: int) -> Organization:
    """An organisation by its row id (for channel and consortium views)."""
    return session.get_one(Organization, org_id)


def _add_org(
    session: Session,
    instance: Blockchain,
    *,
    name: str,
    role: str,
    count: int,
    status: str,
    pvc_name: str | None = None,
) -> Organization:
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


def _set_nodes_status(session: Session, blockchain_id: str, status: str) -> None:
    for org in orgs_of(session, blockchain_id):
        org.status = status
        for node in nodes_of(session, org.id):
            node.status = status


# --- creation ------------------------------------------------------------------------------------------------------


def _check_password(password: str) -> None:
    kinds_present = sum(
        bool(test)
        for test in (
            re.search(r"[a-z]", password),
            re.search(r"[A-Z]", password),
            re.search(r"\d", password),
            _SPECIAL.search(password),
        )
    )
    if not 8 <= len(password) <= 32 or kinds_present < 3:
        raise errors.invalid_parameter(
            "resource_password", "8 to 32 characters with at least three of: lower case, upper case, digits, specials"
        )


def _validate_creation(session: Session, *, project_id: str, domain_id: str, body: CreateRequestBody) -> str:
    """Every rule of CreateNewBlockchain beyond shape; returns the consensus to use."""
    if body.cluster_type == "ief" or body.ief_deploy_mode is not None or body.ief_nodes_info is not None:
        raise errors.invalid_parameter("cluster_type", "IEF edge clusters are not modelled by OpenBCS, use cce")
    if body.create_new_cluster and body.cce_create_info is None:
        raise errors.missing_parameter("cce_create_info")
    if not body.create_new_cluster and body.cce_cluster_info is None:
        raise errors.missing_parameter("cce_cluster_info")
    if body.volume_type == "evs" and body.evs_disk_type is None:
        raise errors.missing_parameter("evs_disk_type")
    if body.database_type == "couchdb" and body.couchdb_info is None:
        raise errors.missing_parameter("couchdb_info")
    if body.sign_algorithm == "sm2":
        raise errors.invalid_parameter(
            "sign_algorithm", "sm2 is not supported by OpenBCS: no maintained library issues SM2 X.509 certificates"
        )
    if body.fabric_version != "2.2":
        raise errors.invalid_parameter("fabric_version", "inviters and private chains may only use Fabric 2.2")
    consensus = body.consensus or "etcdraft"
    if consensus not in ORDERERS_FOR:
        raise errors.invalid_parameter("consensus", f"{consensus} is not available with Fabric 2.2 (etcdraft, SFLIC)")
    if body.org_disk_size is not None:
        minimum = 100 if body.version_type == 4 else 500
        if body.org_disk_size < minimum:
            raise errors.invalid_parameter(
                "org_disk_size", f"at least {minimum} GB for version_type {body.version_type}"
            )
    _check_password(body.resource_password)
    if body.is_invitee:
        _validate_invitee(session, domain_id=domain_id, body=body, consensus=consensus)
    else:
        if body.invitor_infos is not None:
            raise errors.invalid_parameter("invitor_infos", "only for an invitee instance (is_invitee=true)")
        if body.orderer_node_number is None:
            raise errors.missing_parameter("orderer_node_number")
        if body.orderer_node_number != ORDERERS_FOR[consensus]:
            raise errors.invalid_parameter(
                "orderer_node_number", f"{ORDERERS_FOR[consensus]} for {consensus} consensus on Fabric 2.2"
            )
    if body.peer_orgs is not None and not body.peer_orgs:
        raise errors.invalid_parameter("peer_orgs", "at least one organisation, or leave it out for the default one")
    if body.is_invitee and body.orderer_node_number is not None:
        raise errors.invalid_parameter("orderer_node_number", "an invitee instance has no orderers: leave it out")
    org_names = [org.name for org in body.peer_orgs or []]
    if len(org_names) != len(set(org_names)):
        raise errors.invalid_parameter("peer_orgs", "organisation names must be unique")
    if ORDERER_ORG_NAME in org_names:
        raise errors.invalid_parameter("peer_orgs", f"{ORDERER_ORG_NAME} is the orderer organisation's name")
    if len(org_names) > PEER_ORGS_MAX:
        raise errors.invalid_parameter("peer_orgs", f"at most {PEER_ORGS_MAX} organisations")
    for index, org in enumerate(body.peer_orgs or []):
        if org.node_count > ORG_PEER_MAX:
            raise errors.invalid_parameter(f"peer_orgs[{index}].node_count", f"1 to {ORG_PEER_MAX} peers")
    known = set(org_names) if body.peer_orgs else {DEFAULT_ORG_NAME}
    if body.channels is not None:
        if body.is_invitee:
            raise errors.invalid_parameter("channels", "an invitee instance joins its inviter's channels")
        names = [channel.name for channel in body.channels]
        for index, channel in enumerate(body.channels):
            channels.check_name(channel.name)
            for org_name in channel.org_names:
                if org_name not in known:
                    raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {org_name} is not exist")
            if len(channel.org_names) != len(set(channel.org_names)):
                raise errors.invalid_parameter(f"channels[{index}].org_names", "each organisation at most once")
        if len(names) != len(set(names)):
            raise errors.invalid_parameter("channels", "channel names must be unique")
    if session.scalar(select(Blockchain.id).where(Blockchain.project_id == project_id, Blockchain.name == body.name)):
        raise errors.BCSError(errors.DUPLICATE_NAME)
    used = count_instances(session, project_id=project_id)
    if used >= instance_quota(session, domain_id=domain_id):
        raise errors.BCSError(errors.QUOTA_EXCEEDED)
    return consensus


def _validate_invitee(session: Session, *, domain_id: str, body: CreateRequestBody, consensus: str) -> None:
    if body.invitor_infos is None:
        raise errors.missing_parameter("invitor_infos")
    if body.blockchain_type != "union":
        raise errors.invalid_parameter("blockchain_type", "an invitee instance is a consortium (union) instance")
    info = body.invitor_infos
    inviter = find(session, blockchain_id=info.blockchain_id)
    if (
        inviter is None
        or inviter.project_id != info.project_id
        or inviter.domain_id != info.tenant_id
        or inviter.blockchain_type != "union"
        or inviter.is_invitee
    ):
        raise errors.invalid_parameter("invitor_infos", "no consortium instance with these tenant, project and ids")
    if inviter.domain_id == domain_id:
        raise errors.invalid_parameter("invitor_infos", "an instance cannot be invited by its own tenant")
    for field, mine, theirs in (
        ("consensus", consensus, inviter.consensus),
        ("sign_algorithm", body.sign_algorithm, inviter.sign_algorithm),
        ("fabric_version", body.fabric_version, inviter.fabric_version),
        ("version_type", body.version_type, inviter.version_type),
        ("database_type", body.database_type, inviter.database_type),
    ):
        if mine != theirs:
            raise errors.invalid_parameter(field, f"must match the inviter's instance ({theirs})")


@dataclass(frozen=True)
class Created:
    """What CreateNewBlockchain answers."""

    blockchain_id: str
    blockchain_name: str
    operation_id: str


def create(session: Session, *, project_id: str, domain_id: str, body: CreateRequestBody) -> Created:
    """Validate and record a new instance (``IsCreating``), its organisations and nodes; start its creation."""
    consensus = _validate_creation(session, project_id=project_id, domain_id=domain_id, body=body)
    stored = body.model_dump(mode="json", exclude_none=True, exclude=set(_SECRET_FIELDS))
    stored.pop("couchdb_info", None)
    stored.get("cce_create_info", {}).pop("init_node_pwd", None)
    if body.couchdb_info is not None:
        stored["couchdb_user"] = body.couchdb_info.user_name
    cluster = body.cce_cluster_info
    stored["cluster_id"] = cluster.cluster_id if cluster else str(uuid.uuid4())
    stored["cluster_name"] = cluster.cluster_name if cluster else f"{body.name}-cce"
    stored["cluster_platform_type"] = (cluster or body.cce_create_info).cluster_platform_type  # type: ignore[union-attr]
    instance = Blockchain(
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
        invitor_tenant_id=body.invitor_infos.tenant_id if body.invitor_infos else None,
        invitor_project_id=body.invitor_infos.project_id if body.invitor_infos else None,
        invitor_blockchain_id=body.invitor_infos.blockchain_id if body.invitor_infos else None,
        status=NORMAL,
        process_status=IS_CREATING,
        deploy_status=DEPLOYING,
        created_time=now_ns(),
        settings=stored,
    )
    session.add(instance)
    session.flush()
    peer_orgs = [(o.name, o.node_count) for o in body.peer_orgs or []] or [(DEFAULT_ORG_NAME, DEFAULT_PEER_COUNT)]
    for name, count in peer_orgs:
        _add_org(session, instance, name=name, role="peer", count=count, status=NODE_CREATING)
    if not body.is_invitee:
        _add_org(
            session,
            instance,
            name=ORDERER_ORG_NAME,
            role="orderer",
            count=body.orderer_node_number or 0,
            status=NODE_CREATING,
        )
    planned = (
        [{"name": c.name, "description": c.description or "", "org_names": c.org_names} for c in body.channels]
        if body.channels is not None
        else (
            []
            if body.is_invitee
            else [{"name": DEFAULT_CHANNEL_NAME, "description": "", "org_names": [name for name, _ in peer_orgs]}]
        )
    )
    operation_id = operations.start(
        session,
        kind=CREATE.name,
        domain_id=domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        payload={"channels": planned},
    )
    mark_busy(instance, operation_id, IS_CREATING)
    return Created(instance.id, instance.name, operation_id)


# --- operation actions ----------------------------------------------------------------------------------------------


def _instance_of(session: Session, ctx: OperationContext) -> Blockchain:
    assert ctx.blockchain_id is not None
    return session.get_one(Blockchain, ctx.blockchain_id)


def _note(detail: str) -> Callable[[Session, OperationContext], str]:
    def action(_session: Session, _ctx: OperationContext) -> str:
        return detail

    return action


def _generate_certificates(session: Session, ctx: OperationContext) -> str:
    """Issue whatever the instance's PKI lacks: CAs and identities of new organisations, certificates of new nodes."""
    if ctx.server_key is None:
        raise OperationFailed("no server key to protect the private keys with")
    issued = certs.provision_instance(session, blockchain_id=_instance_of(session, ctx).id, server_key=ctx.server_key)
    return f"{issued} certificate(s) issued"


def _create_eip(session: Session, ctx: OperationContext) -> str:
    settings = _instance_of(session, ctx).settings
    return "EIP bound to the cluster nodes (modelled)" if settings.get("use_eip") else "not requested"


def _create_storage(session: Session, ctx: OperationContext) -> str:
    settings = _instance_of(session, ctx).settings
    return f"{settings.get('volume_type', 'evs')} volumes provisioned (modelled)"


def _deploy_role(role: str) -> Callable[[Session, OperationContext], str]:
    def action(session: Session, ctx: OperationContext) -> str:
        count = 0
        for org in orgs_of(session, _instance_of(session, ctx).id, role=role):
            org.status = NODE_NORMAL
            for node in nodes_of(session, org.id):
                node.status = NODE_NORMAL
                count += 1
        return f"{count} {role} node(s) running (modelled)"

    return action


def _create_planned_channels(session: Session, ctx: OperationContext) -> str:
    instance = _instance_of(session, ctx)
    planned = ctx.payload.get("channels", [])
    for channel in planned:
        org_ids = [org_named(session, instance.id, name).id for name in channel["org_names"]]
        channels.create_channel(
            session,
            blockchain_id=instance.id,
            name=channel["name"],
            description=channel["description"],
            org_ids=org_ids,
            all_peers=True,
            cause=ctx.operation_id,
        )
    return f"{len(planned)} channel(s) created"


def _finish_creation(session: Session, ctx: OperationContext) -> str:
    instance = _instance_of(session, ctx)
    instance.status = NORMAL
    instance.deploy_status = DEPLOYED
    mark_idle(instance)
    _event(session, instance, "InstanceStateChanged", f"instance {instance.name} is Normal", status=NORMAL)
    return "instance is Normal"


def _creation_failed(session: Session, ctx: OperationContext, message: str) -> None:
    instance = _instance_of(session, ctx)
    _abnormal(session, instance, message)
    instance.deploy_status = DEPLOY_FAILED
    mark_idle(instance)
    _set_nodes_status(session, instance.id, "AbNormal")


CREATE = kinds.register(
    OperationKind(
        name="blockchain.create",
        resource_type="BCSSVC01",
        operation_type="99",
        description="create a BCS instance",
        on_failure=_creation_failed,
        steps=(
            Step(
                "Preparation",
                (
                    SubStep("Generate basic configurations", _note("configuration generated")),
                    SubStep("Generate certificates", _generate_certificates),
                ),
            ),
            Step(
                "Prepare the cluster",
                (
                    SubStep("Check CCE cluster", _note("cluster available (modelled)")),
                    SubStep("Configure network", _note("network configured (modelled)")),
                    SubStep("Configure security group", _note("security group configured (modelled)")),
                ),
            ),
            Step(
                "Create Other Dependent Resource",
                (SubStep("Create EIP", _create_eip), SubStep("Create network storage", _create_storage)),
            ),
            Step(
                "Deploy blockchain",
                (
                    SubStep("Deploy orderers", _deploy_role("orderer")),
                    SubStep("Deploy peers", _deploy_role("peer")),
                    SubStep("Create channels", _create_planned_channels),
                ),
            ),
            Step("Finish", (SubStep("Check instance health", _finish_creation),)),
        ),
    )
)


# --- update: scale peers, add or delete organisations ---------------------------------------------------------------


def _change_of(session: Session, instance: Blockchain, body: UpdateInstanceRequestBody) -> str:
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
        if wanted.node_count > ORG_PEER_MAX:
            raise errors.invalid_parameter(f"node_orgs[{index}].node_count", f"1 to {ORG_PEER_MAX} peers")
        existing = session.scalar(
            select(Organization).where(Organization.blockchain_id == instance.id, Organization.name == wanted.name)
        )
        if existing is None:
            found.add("add_org")
            continue
        if existing.role != "peer":
            raise errors.invalid_parameter(f"node_orgs[{index}].name", "the orderer organisation cannot be scaled")
        current = len(nodes_of(session, existing.id))
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
    instance = get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    require_idle(instance)
    change = _change_of(session, instance, body)
    if change == "add_org":
        _prepare_org_addition(session, instance, body.node_orgs)
        kind, process_status = ORGS, IS_ADDING
    elif change == "delete_org":
        _prepare_org_deletion(session, instance, body.node_orgs)
        kind, process_status = ORGS, IS_SCALING
    else:
        _prepare_scaling(session, instance, body.node_orgs)
        kind, process_status = SCALE, IS_SCALING
    operation_id = operations.start(
        session,
        kind=kind.name,
        domain_id=instance.domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        payload={"change": change, "orgs": [org.name for org in body.node_orgs]},
    )
    mark_busy(instance, operation_id, process_status)
    return operation_id


def _prepare_org_addition(session: Session, instance: Blockchain, wanted: list[NodeOrgs]) -> None:
    existing = len(orgs_of(session, instance.id, role="peer"))
    if existing + len(wanted) > PEER_ORGS_MAX:
        raise errors.invalid_parameter("node_orgs", f"an instance has at most {PEER_ORGS_MAX} organisations")
    for index, org in enumerate(wanted):
        if org.name == ORDERER_ORG_NAME:
            raise errors.invalid_parameter(f"node_orgs[{index}].name", "reserved for the orderer organisation")
        if org.pvc_name is None:
            raise errors.missing_parameter(f"node_orgs[{index}].pvc_name")
        _add_org(
            session,
            instance,
            name=org.name,
            role="peer",
            count=org.node_count,
            status=NODE_ADDING,
            pvc_name=org.pvc_name,
        )


def _prepare_org_deletion(session: Session, instance: Blockchain, wanted: list[NodeOrgs]) -> None:
    peer_orgs = orgs_of(session, instance.id, role="peer")
    targets = [org_named(session, instance.id, org.name) for org in wanted]
    if len(targets) >= len(peer_orgs):
        raise errors.invalid_parameter("node_orgs", "an instance keeps at least one peer organisation")
    for org in targets:
        joined = channels.channels_with_org(session, org.id)
        if joined:
            raise errors.wrong_state(
                f"org {org.name}", f"still in channel(s) {', '.join(joined)}; remove it from them first"
            )
        org.status = NODE_DELETING
        for node in nodes_of(session, org.id):
            node.status = NODE_DELETING


def _prepare_scaling(session: Session, instance: Blockchain, wanted: list[NodeOrgs]) -> None:
    for want in wanted:
        org = org_named(session, instance.id, want.name)
        nodes = nodes_of(session, org.id)
        org.status = IS_SCALING
        if want.node_count > len(nodes):
            for ordinal in range(len(nodes), want.node_count):
                session.add(Node(org_id=org.id, ordinal=ordinal, name=node_name(org, ordinal), status=NODE_ADDING))
        else:
            for node in nodes[want.node_count :]:
                node.status = NODE_DELETING


def _apply_node_changes(session: Session, ctx: OperationContext) -> str:
    """Nodes being added become Normal; nodes and organisations being deleted go (leaving their channels first)."""
    instance = _instance_of(session, ctx)
    added = removed = 0
    for org in orgs_of(session, instance.id):
        doomed = [node for node in nodes_of(session, org.id) if node.status == NODE_DELETING]
        new_org = org.status == NODE_ADDING
        if doomed:
            channels.remove_nodes(session, [node.id for node in doomed], cause=ctx.operation_id)
            for node in doomed:
                _event(
                    session,
                    instance,
                    "PeerRemoved",
                    f"{node.name} of {org.name} removed",
                    org=org.name,
                    node=node.name,
                    operation_id=ctx.operation_id,
                )
                session.delete(node)
            removed += len(doomed)
        for node in nodes_of(session, org.id):
            if node.status in (NODE_ADDING, NODE_CREATING):
                node.status = NODE_NORMAL
                added += 1
                _event(
                    session,
                    instance,
                    "PeerAdded",
                    f"{node.name} of {org.name} added",
                    org=org.name,
                    node=node.name,
                    operation_id=ctx.operation_id,
                )
        if org.status == NODE_DELETING:
            _event(
                session,
                instance,
                "OrgRemoved",
                f"organisation {org.name} removed",
                org=org.name,
                operation_id=ctx.operation_id,
            )
            session.flush()
            session.delete(org)
        else:
            if new_org:
                _event(
                    session,
                    instance,
                    "OrgAdded",
                    f"organisation {org.name} added",
                    org=org.name,
                    operation_id=ctx.operation_id,
                )
            org.status = NODE_NORMAL
    return f"{added} node(s) added, {removed} removed"


def _finish_change(session: Session, ctx: OperationContext) -> str:
    mark_idle(_instance_of(session, ctx))
    return "instance is Normal"


def _change_failed(session: Session, ctx: OperationContext, message: str) -> None:
    instance = _instance_of(session, ctx)
    _abnormal(session, instance, message)
    mark_idle(instance)


def _change_kind(
    name: str, operation_type: str, description: str, preparation: str, step: str, sub_step: str
) -> OperationKind:
    """An UpdateInstance kind: prepare, apply the node changes and issue their certificates, check health."""
    return kinds.register(
        OperationKind(
            name=name,
            resource_type="BCSSVC01",
            operation_type=operation_type,
            description=description,
            on_failure=_change_failed,
            steps=(
                Step("Preparation", (SubStep(preparation, _note("done")),)),
                Step(
                    step,
                    (SubStep(sub_step, _apply_node_changes), SubStep("Generate certificates", _generate_certificates)),
                ),
                Step("Finish", (SubStep("Check instance health", _finish_change),)),
            ),
        )
    )


SCALE = _change_kind(
    "blockchain.scale",
    "03",
    "add or delete peers of organisations",
    "Check resources",
    "Scale peers",
    "Update peer nodes",
)
ORGS = _change_kind(
    "blockchain.orgs",
    "02",
    "add or delete organisations",
    "Generate organisation configurations",
    "Update organisations",
    "Update organisation nodes",
)


# --- deletion ------------------------------------------------------------------------------------------------------


def delete(session: Session, *, project_id: str, blockchain_id: str, flags: dict[str, Any]) -> str:
    """Start deleting an instance (``IsDeleting``); it leaves every list when the operation completes."""
    instance = get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    if instance.process_status == IS_DELETING:
        raise errors.BCSError(errors.INSTANCE_DELETING)
    if instance.process_status == IS_CREATING:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    if instance.busy_operation_id is not None:
        raise errors.BCSError(errors.INSTANCE_BUSY)
    for flag in ("is_delete_ief", "ief_nodes_id"):
        if flags.get(flag):
            raise errors.invalid_parameter(flag, "only for IEF instances, which OpenBCS does not model")
    operation_id = operations.start(
        session,
        kind=DELETE.name,
        domain_id=instance.domain_id,
        project_id=project_id,
        blockchain_id=instance.id,
        blockchain_name=instance.name,
        payload={"flags": flags},
    )
    mark_busy(instance, operation_id, IS_DELETING)
    _set_nodes_status(session, instance.id, NODE_DELETING)
    return operation_id


def _remove_instance(session: Session, ctx: OperationContext) -> str:
    instance = _instance_of(session, ctx)
    for hook in _deletion_hooks:
        hook(session, instance)
    channels.delete_all_of(session, blockchain_id=instance.id)
    session.delete(instance)
    return "instance removed"


def _deletion_failed(session: Session, ctx: OperationContext, message: str) -> None:
    instance = _instance_of(session, ctx)
    _abnormal(session, instance, message)
    mark_idle(instance)
    _set_nodes_status(session, instance.id, "AbNormal")


DELETE = kinds.register(
    OperationKind(
        name="blockchain.delete",
        resource_type="BCSSVC01",
        operation_type="00",
        description="delete a BCS instance",
        on_failure=_deletion_failed,
        steps=(
            Step("Delete blockchain", (SubStep("Stop nodes", _note("nodes stopped (modelled)")),)),
            Step(
                "Delete Other Dependent Resource",
                (
                    SubStep("Release storage", _note("storage released (modelled)")),
                    SubStep("Remove instance", _remove_instance),
                ),
            ),
        ),
    )
)


# --- reads ----------------------------------------------------------------------------------------------------------


def list_instances(session: Session, *, project_id: str) -> list[Blockchain]:
    """The project's instances, oldest first."""
    return list(
        session.scalars(
            select(Blockchain)
            .where(Blockchain.project_id == project_id)
            .order_by(Blockchain.created_time, Blockchain.id)
        )
    )


def count_instances(session: Session, *, project_id: str) -> int:
    """How many instances the project holds (being created or deleted included)."""
    return int(
        session.scalar(select(func.count()).select_from(Blockchain).where(Blockchain.project_id == project_id)) or 0
    )


def instance_quota(session: Session, *, domain_id: str) -> int:
    """The account's instance quota."""
    quota = session.get(Quota, domain_id)
    return quota.instances if quota else DEFAULT_INSTANCE_QUOTA


def set_instance_quota(session: Session, *, domain_id: str, instances: int) -> None:
    """Set an account's instance quota (operators' CLI)."""
    if not 0 <= instances <= QUOTA_MAX:
        raise ValueError(f"an instance quota is 0 to {QUOTA_MAX}")
    quota = session.get(Quota, domain_id)
    if quota is None:
        session.add(Quota(domain_id=domain_id, instances=instances))
    else:
        quota.instances = instances


def creation_record(session: Session, *, instance: Blockchain) -> operations.OperationRecord | None:
    """The record of the operation that created the instance."""
    found = operations.list_records(
        session, project_id=instance.project_id, blockchain_id=instance.id, operation_type=CREATE.operation_type
    )
    return found[0] if found else None
