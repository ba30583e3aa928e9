"""The instance operations: creation, UpdateInstance's two kinds and deletion, with their typed payloads, steps and
actions. The engine takes and releases the instance's lock; the actions only change the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from openbcs.engine.kinds import OperationContext, OperationKind, Payload, Pending, Step, SubStep
from openbcs.instances import topology
from openbcs.network import endpoints, identities, lookups, membership
from openbcs.network.guards import (
    DEPLOY_FAILED,
    DEPLOYED,
    NODE_ABNORMAL,
    NODE_NORMAL,
    NORMAL,
    mark_abnormal,
    record_event,
)
from openbcs.network.models import Instance
from openbcs.network.signals import InstanceRemoving
from openbcs.runtime import ordering, tasks

# --- payloads -------------------------------------------------------------------------------------------------------


class PlannedChannel(Payload):
    """A channel CreateNewBlockchain asked for (or the default one), created once the peers run."""

    name: str
    description: str = ""
    org_names: list[str]


class CreatePayload(Payload):
    """The channels to create at the end of the creation (``channels_made`` once their rows and blocks exist: the
    local runtime's nodes then join them, which may take more than one turn)."""

    channels: list[PlannedChannel] = []
    channels_made: bool = False


class ChangePayload(Payload):
    """Which UpdateInstance change runs (``add_peers``, ``delete_peers``, ``add_org``, ``delete_org``) on which
    organisations."""

    change: str
    orgs: list[str]


class DeletePayload(Payload):
    """DeleteBlockchain's query flags, as given."""

    flags: dict[str, Any] = {}


# --- actions --------------------------------------------------------------------------------------------------------


def _instance_of(session: Session, ctx: OperationContext[Any]) -> Instance:
    assert ctx.blockchain_id is not None
    return session.get_one(Instance, ctx.blockchain_id)


def _note(detail: str) -> Callable[[Session, OperationContext[Any]], str]:
    """A modelled sub-step: nothing in the model changes, the record says what the cloud would have done."""

    def action(_session: Session, _ctx: OperationContext[Any]) -> str:
        return detail

    return action


def _generate_certificates(session: Session, ctx: OperationContext[Any]) -> str:
    """Issue whatever the instance's PKI lacks: CAs and identities of new organisations, certificates of new nodes
    (local runtime: after giving new nodes their ports, so that their TLS certificates name the host)."""
    instance = _instance_of(session, ctx)
    runtime = ordering.runtime_of(ctx)
    if runtime.local:
        low, high = runtime.port_range
        nodes = [
            (org, node) for org in lookups.orgs_of(session, instance.id) for node in lookups.nodes_of(session, org.id)
        ]
        endpoints.allocate(session, nodes, host=runtime.node_host, low=low, high=high)
    issued = identities.provision_instance(session, blockchain_id=instance.id, server_key=ctx.keys())
    return f"{issued} certificate(s) issued"


def _create_eip(session: Session, ctx: OperationContext[CreatePayload]) -> str:
    settings = _instance_of(session, ctx).settings
    return "EIP bound to the cluster nodes (modelled)" if settings.get("use_eip") else "not requested"


def _create_storage(session: Session, ctx: OperationContext[CreatePayload]) -> str:
    settings = _instance_of(session, ctx).settings
    return f"{settings.get('volume_type', 'evs')} volumes provisioned (modelled)"


def _deploy_role(role: str) -> Callable[[Session, OperationContext[CreatePayload]], str | Pending]:
    def action(session: Session, ctx: OperationContext[CreatePayload]) -> str | Pending:
        instance = _instance_of(session, ctx)
        local = ordering.runtime_of(ctx).local
        if local:  # the nodes run as Fabric processes: wait until each answers its health check
            tasks.want_running(session, instance.id, role=role)
            waiting = tasks.nodes_ready(session, instance.id, role=role)
            if waiting is not None:
                return waiting
        count = 0
        for org in lookups.orgs_of(session, _instance_of(session, ctx).id, role=role):
            org.status = NODE_NORMAL
            for node in lookups.nodes_of(session, org.id):
                node.status = NODE_NORMAL
                count += 1
        return f"{count} {role} node(s) running" + ("" if local else " (modelled)")

    return action


def _create_planned_channels(session: Session, ctx: OperationContext[CreatePayload]) -> str | Pending:
    instance = _instance_of(session, ctx)
    if not ctx.payload.channels_made:
        _make_planned_channels(session, ctx, instance)
        ctx.payload.channels_made = True
    channels = [lookups.channel_named(session, blockchain_id=instance.id, name=c.name) for c in ctx.payload.channels]
    return ordering.join_channels(session, ctx, channels) or f"{len(ctx.payload.channels)} channel(s) created"


def _make_planned_channels(session: Session, ctx: OperationContext[CreatePayload], instance: Instance) -> None:
    org_ids = {org.name: org.id for org in lookups.orgs_of(session, instance.id, role="peer")}
    for channel in ctx.payload.channels:
        membership.create_channel(
            session,
            blockchain_id=instance.id,
            name=channel.name,
            description=channel.description,
            # (names checked at creation; org_named says which one is missing if one went meanwhile)
            org_ids=[
                org_ids.get(name) or lookups.org_named(session, instance.id, name).id for name in channel.org_names
            ],
            all_peers=True,
            cause=ctx.operation_id,
            keys=ctx.keys(),
        )


def _finish_creation(session: Session, ctx: OperationContext[CreatePayload]) -> str:
    instance = _instance_of(session, ctx)
    instance.status = NORMAL
    instance.deploy_status = DEPLOYED
    record_event(session, instance, "InstanceStateChanged", f"instance {instance.name} is Normal", status=NORMAL)
    return "instance is Normal"


def _creation_failed(session: Session, ctx: OperationContext[CreatePayload], message: str) -> None:
    instance = _instance_of(session, ctx)
    mark_abnormal(session, instance, message)
    instance.deploy_status = DEPLOY_FAILED
    topology.set_nodes_status(session, instance.id, NODE_ABNORMAL)


def _apply_node_changes(session: Session, ctx: OperationContext[ChangePayload]) -> str | Pending:
    instance = _instance_of(session, ctx)
    if ordering.runtime_of(ctx).local:  # peers being deleted stop, and their folders go, first
        doomed = topology.doomed_node_ids(session, instance)
        tasks.want_removed(session, doomed)
        waiting = tasks.nodes_removed(session, doomed)
        if waiting is not None:
            return waiting

    def apply() -> str:
        return topology.apply_node_changes(session, instance, cause=ctx.operation_id, keys=ctx.keys())

    # Local runtime: the channels they were in change through the orderers (an anchor peer changing is a config
    # update).
    return ordering.through_runtime(session, ctx, apply, instance_ids=[instance.id])


def _change_finished(session: Session, ctx: OperationContext[ChangePayload]) -> str | Pending:
    if ordering.runtime_of(ctx).local:  # new peers run (and answer their health check) before the instance is Normal
        instance = _instance_of(session, ctx)
        tasks.want_running(session, instance.id)
        waiting = tasks.nodes_ready(session, instance.id)
        if waiting is not None:
            return waiting
    return "instance is Normal"


def _change_failed(session: Session, ctx: OperationContext[ChangePayload], message: str) -> None:
    mark_abnormal(session, _instance_of(session, ctx), message)


def _stop_nodes(session: Session, ctx: OperationContext[DeletePayload]) -> str | Pending:
    """Local runtime: every node of the instance stops and its folder goes; modelled: nothing runs."""
    if not ordering.runtime_of(ctx).local:
        return "nodes stopped (modelled)"
    instance = _instance_of(session, ctx)
    node_ids = [node.id for org in lookups.orgs_of(session, instance.id) for node in lookups.nodes_of(session, org.id)]
    tasks.want_removed(session, node_ids)
    return tasks.nodes_removed(session, node_ids) or f"{len(node_ids)} node(s) stopped and removed"


def _remove_instance(session: Session, ctx: OperationContext[DeletePayload]) -> str:
    instance = _instance_of(session, ctx)
    # The consortium reacts (invitations cancelled, members released, memberships elsewhere quit) before rows go.
    ctx.emit(session, InstanceRemoving(instance, ctx.operation_id, ctx.keys()))
    membership.delete_channels_of(session, blockchain_id=instance.id)
    session.delete(instance)
    return "instance removed"


def _deletion_failed(session: Session, ctx: OperationContext[DeletePayload], message: str) -> None:
    instance = _instance_of(session, ctx)
    mark_abnormal(session, instance, message)
    topology.set_nodes_status(session, instance.id, NODE_ABNORMAL)


# --- kinds ----------------------------------------------------------------------------------------------------------

CREATE: OperationKind[CreatePayload] = OperationKind(
    name="blockchain.create",
    resource_type="BCSSVC01",
    operation_type="99",
    payload=CreatePayload,
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


def _change_kind(
    name: str, operation_type: str, description: str, preparation: str, step: str, sub_step: str
) -> OperationKind[ChangePayload]:
    """An UpdateInstance kind: prepare, apply the node changes and issue their certificates, check health."""
    return OperationKind(
        name=name,
        resource_type="BCSSVC01",
        operation_type=operation_type,
        payload=ChangePayload,
        description=description,
        on_failure=_change_failed,
        steps=(
            Step("Preparation", (SubStep(preparation, _note("done")),)),
            Step(
                step,
                (SubStep(sub_step, _apply_node_changes), SubStep("Generate certificates", _generate_certificates)),
            ),
            Step("Finish", (SubStep("Check instance health", _change_finished),)),
        ),
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

DELETE: OperationKind[DeletePayload] = OperationKind(
    name="blockchain.delete",
    resource_type="BCSSVC01",
    operation_type="00",
    payload=DeletePayload,
    description="delete a BCS instance",
    on_failure=_deletion_failed,
    steps=(
        Step("Delete blockchain", (SubStep("Stop nodes", _stop_nodes),)),
        Step(
            "Delete Other Dependent Resource",
            (
                SubStep("Release storage", _note("storage released (modelled)")),
                SubStep("Remove instance", _remove_instance),
            ),
        ),
    ),
)

KINDS = (CREATE, SCALE, ORGS, DELETE)
