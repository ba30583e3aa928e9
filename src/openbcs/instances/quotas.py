"""Per-account instance quotas: how many instances an account may hold and how many its project uses."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.instances.models import Quota
from openbcs.network import limits
from openbcs.network.models import Instance


def lock_project(session: Session, *, project_id: str) -> None:
    """Serialize the project's instance creations until this transaction ends: the quota and name checks count what
    exists and then insert, which is only a limit if no concurrent creation of the project counts in between.

    PostgreSQL runs writes concurrently (READ COMMITTED): a transaction-scoped advisory lock keyed by the project
    makes a second creation wait here until the first commits, after which its counts (each statement a fresh
    snapshot) see the new instance. It works whether or not the project has a quota row, and the wait is bounded by
    the connection's ``lock_timeout`` (then ``503 BCS.5030001``). SQLite's write transactions never overlap
    (``BEGIN IMMEDIATE``), so there is nothing to do.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(b"openbcs.instances.quota:" + project_id.encode()).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


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
