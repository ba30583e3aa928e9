"""The states the cloud shows for instances and nodes, and the guards every mutating call passes: one operation
per instance at a time (the engine's lock), reported with the code for what runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import events
from openbcs.engine import locks
from openbcs.kernel import errors
from openbcs.network.models import Instance, Node, Organization

NORMAL, ABNORMAL = "Normal", "Abnormal"
# What an operation running on an instance is doing, in the API's words (its ``process_status``).
IS_CREATING, IS_UPGRADING, IS_SCALING, IS_DELETING, IS_ADDING = (
    "IsCreating",
    "IsUpgrading",
    "IsScaling",
    "IsDeleting",
    "IsAdding",
)
NODE_NORMAL, NODE_CREATING, NODE_ADDING, NODE_DELETING, NODE_ABNORMAL = (
    "Normal",
    "IsCreating",
    "Adding",
    "Isdeleting",
    "AbNormal",
)
DEPLOYING, DEPLOYED, DEPLOY_FAILED = 0, 1, 2
ABNORMAL_ALARM = "instance-abnormal"


def process_status(session: Session, instance: Instance) -> str | None:
    """What the operation running on the instance is doing (``IsCreating``...), or None when none names it."""
    holder = locks.holder(session, instance.id)
    return holder.label if holder else None


def shown_status(session: Session, instance: Instance) -> str:
    """The instance's status as the API shows it: ``Abnormal`` also while one of its nodes is down (the local
    runtime's health checks set a node ``AbNormal``). The stored status stays what the operations made it, so a
    node's fault never refuses the calls that could repair the instance."""
    if instance.status != NORMAL:
        return instance.status
    down = session.scalar(
        select(Node.id)
        .join(Organization, Organization.id == Node.org_id)
        .where(Organization.blockchain_id == instance.id, Node.status == NODE_ABNORMAL)
        .limit(1)
    )
    return NORMAL if down is None else ABNORMAL


def require_idle(session: Session, *instances: Instance) -> None:
    """Refuse a mutating call while another operation runs on any of the instances (the first busy one answers, with
    the code for what runs on it); their locks are read in one statement."""
    held = locks.labels(session, [instance.id for instance in instances])
    for instance in instances:
        label = held.get(instance.id)
        if label == IS_CREATING:
            raise errors.BCSError(errors.INSTANCE_CREATING)
        if label == IS_UPGRADING:
            raise errors.BCSError(errors.INSTANCE_UPGRADING)
        if label == IS_DELETING:
            raise errors.BCSError(errors.INSTANCE_DELETING)
        if instance.id in held or instance.status != NORMAL:
            raise errors.BCSError(errors.INSTANCE_BUSY)


def mark_abnormal(session: Session, instance: Instance, reason: str) -> None:
    """The instance failed: Abnormal, with an alarm that stays active while it is."""
    instance.status = ABNORMAL
    events.raise_alarm(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        key=ABNORMAL_ALARM,
        name="InstanceAbnormal",
        severity="critical",
        message=f"instance {instance.name} is Abnormal: {reason}",
        metadata={"status": ABNORMAL},
    )


def record_event(session: Session, instance: Instance, name: str, message: str, **metadata: object) -> None:
    """Record an event of the instance."""
    events.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name=name,
        message=message,
        metadata=metadata,
    )


def require_deletable(session: Session, instance: Instance) -> None:
    """Refuse deleting an instance that is being created or deleted or runs another operation (an Abnormal
    instance may be deleted: it is the only way out of that state)."""
    holder = locks.holder(session, instance.id)
    if holder is None:
        return
    if holder.label == IS_DELETING:
        raise errors.BCSError(errors.INSTANCE_DELETING)
    if holder.label == IS_CREATING:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    raise errors.BCSError(errors.INSTANCE_BUSY)
