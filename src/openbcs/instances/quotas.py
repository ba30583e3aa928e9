"""Per-account instance quotas: how many instances an account may hold and how many its project uses."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.instances.models import Quota
from openbcs.network import limits
from openbcs.network.models import Instance


def count_instances(session: Session, *, project_id: str) -> int:
    """How many instances the project holds (being created or deleted included)."""
    return int(session.scalar(select(func.count()).select_from(Instance).where(Instance.project_id == project_id)) or 0)


def instance_quota(session: Session, *, domain_id: str) -> int:
    """The account's instance quota."""
    quota = session.get(Quota, domain_id)
    return quota.instances if quota else limits.DEFAULT_INSTANCE_QUOTA


def set_instance_quota(session: Session, *, domain_id: str, instances: int) -> None:
    """Set an account's instance quota (operators' CLI)."""
    if not 0 <= instances <= limits.QUOTA_MAX:
        raise ValueError(f"an instance quota is 0 to {limits.QUOTA_MAX}")
    quota = session.get(Quota, domain_id)
    if quota is None:
        session.add(Quota(domain_id=domain_id, instances=instances))
    else:
        quota.instances = instances
