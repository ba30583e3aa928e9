"""Read models the console's pages need beyond the API's own views: one query per list, however many rows, and
always scoped to the caller's project (reads only; every change goes through the domains' services)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from openbcs.engine import records
from openbcs.engine.models import ACTIVE, Operation, OperationLock
from openbcs.events.models import Alarm
from openbcs.instances import quotas
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import now_ns
from openbcs.monitoring import service as monitoring
from openbcs.monitoring.schemas import ListBcsEventRequestBody
from openbcs.network import lookups
from openbcs.network.models import Channel, Instance, IssuedCert, Organization

OPERATIONS_PAGE = 50
ALARMS_SHOWN = 50  # on the overview
ALARMS_PAGE_SHOWN = 200  # active alarms on the Alarms page
CLEARED_SHOWN = 20  # alarms cleared lately, on the Alarms page
CLEARED_WINDOW = "-1.-1.1440"  # ListBcsEvents' time_range for "lately": the last day


@dataclass(frozen=True)
class InstanceRow:
    """An instance in a list: what it is and what it is doing."""

    id: str
    name: str
    blockchain_type: str
    is_invitee: bool
    consensus: str
    version_type: int
    status: str
    process_status: str
    created_time: int
    invitor_blockchain_id: str | None


@dataclass(frozen=True)
class AlarmRow:
    """An alarm with the name of its instance (None once the instance is gone)."""

    blockchain_id: str
    blockchain_name: str | None
    name: str
    severity: str
    message: str
    raised_time: int
    resource: str = ""  # the node a NodeAbnormal alarm names (its metadata's ``resource``)
    cleared_time: int | None = None


@dataclass(frozen=True)
class OperationRow:
    """An operation in a list (its steps are on its own page)."""

    id: str
    operation_type: str
    resource_type: str
    kind: str
    blockchain_id: str | None
    blockchain_name: str | None
    status: str
    record_time: int
    description: str


@dataclass(frozen=True)
class Overview:
    """The overview page: instances, quota use, active alarms, running operations."""

    instances: list[InstanceRow]
    quota: int
    used: int
    alarms: list[AlarmRow]
    running: list[records.OperationRecord]


def instances(session: Session, *, project_id: str) -> list[InstanceRow]:
    """The project's instances, oldest first, each with what the operation holding it is doing (one query)."""
    rows = session.execute(
        select(Instance, OperationLock.label)
        .outerjoin(OperationLock, OperationLock.resource == Instance.id)
        .where(Instance.project_id == project_id)
        .order_by(Instance.created_time, Instance.id)
    ).all()
    return [
        InstanceRow(
            i.id,
            i.name,
            i.blockchain_type,
            i.is_invitee,
            i.consensus,
            i.version_type,
            i.status,
            label or "",
            i.created_time,
            i.invitor_blockchain_id,
        )
        for i, label in rows
    ]


def running_operations(
    session: Session, *, project_id: str, blockchain_id: str | None = None
) -> list[records.OperationRecord]:
    """The project's waiting and processing operations (of one instance, if given), newest first, with steps."""
    found = []
    for status in ACTIVE:
        found += records.list_records(
            session, project_id=project_id, blockchain_id=blockchain_id, operation_status=status
        )
    return sorted(found, key=lambda r: (r.record_time, r.operation_id), reverse=True)


def _alarms(
    session: Session, *where: ColumnElement[bool], newest: InstrumentedAttribute[Any], limit: int
) -> list[AlarmRow]:
    """Alarms with their instances' names (one query), ``newest`` first."""
    rows = session.execute(
        select(Alarm, Instance.name)
        .outerjoin(Instance, and_(Instance.id == Alarm.blockchain_id, Instance.project_id == Alarm.project_id))
        .where(*where)
        .order_by(newest.desc(), Alarm.id.desc())
        .limit(limit)
    )
    return [
        AlarmRow(
            a.blockchain_id,
            name,
            a.name,
            a.severity,
            a.message,
            a.raised_time,
            str(a.metadata_.get("resource", "")),
            a.cleared_time,
        )
        for a, name in rows
    ]


def active_alarms(session: Session, *, project_id: str, limit: int = ALARMS_SHOWN) -> list[AlarmRow]:
    """The active alarms of every instance of the project (ListBcsEvents' ``active_alert``: not cleared), newest
    first."""
    where = (Alarm.project_id == project_id, *monitoring.alarms_shown(monitoring.ACTIVE_ALERT, start_ns=0))
    return _alarms(session, *where, newest=Alarm.raised_time, limit=limit)


def cleared_alarms(session: Session, *, project_id: str, limit: int = CLEARED_SHOWN) -> list[AlarmRow]:
    """The alarms of the project's instances cleared lately (ListBcsEvents' ``history_alert`` over
    :data:`CLEARED_WINDOW`: cleared after the window's start), the latest cleared first."""
    window = monitoring.parse_time_range(CLEARED_WINDOW, now_ms=now_ns() // 1_000_000)
    start = window.start_ms * 1_000_000
    where = (Alarm.project_id == project_id, *monitoring.alarms_shown(monitoring.HISTORY_ALERT, start_ns=start))
    return _alarms(session, *where, newest=Alarm.cleared_time, limit=limit)


@dataclass(frozen=True)
class Alarms:
    """The Alarms page: what is active, and what was cleared lately."""

    active: list[AlarmRow]
    cleared: list[AlarmRow]


def alarms(session: Session, *, project_id: str) -> Alarms:
    """Active and lately cleared alarms of every instance of the project (one query each)."""
    return Alarms(
        active_alarms(session, project_id=project_id, limit=ALARMS_PAGE_SHOWN),
        cleared_alarms(session, project_id=project_id),
    )


def overview(session: Session, *, caller: Caller) -> Overview:
    """Everything the overview page shows, for the caller's project."""
    return Overview(
        instances=instances(session, project_id=caller.project_id),
        quota=quotas.instance_quota(session, domain_id=caller.domain_id),
        used=quotas.count_instances(session, project_id=caller.project_id),
        alarms=active_alarms(session, project_id=caller.project_id),
        running=running_operations(session, project_id=caller.project_id),
    )


def channel_names(session: Session, *, blockchain_ids: list[str]) -> dict[str, list[str]]:
    """``{instance id: [channel names, sorted]}`` of the given instances, in one query."""
    found: dict[str, list[str]] = {blockchain_id: [] for blockchain_id in blockchain_ids}
    if blockchain_ids:
        query = select(Channel.blockchain_id, Channel.name).where(Channel.blockchain_id.in_(blockchain_ids))
        for blockchain_id, name in session.execute(query.order_by(Channel.name)):
            found[blockchain_id].append(name)
    return found


@dataclass(frozen=True)
class OperationPage:
    """One page of the project's operations, newest first."""

    rows: list[OperationRow]
    total: int
    page: int
    pages: int


def operations(
    session: Session, *, project_id: str, page: int = 1, blockchain_id: str | None = None, size: int = OPERATIONS_PAGE
) -> OperationPage:
    """A page of the project's operations (of one instance, if given), newest first, without their steps."""
    where = [Operation.project_id == project_id]
    if blockchain_id is not None:
        where.append(Operation.blockchain_id == blockchain_id)
    total = int(session.scalar(select(func.count()).select_from(Operation).where(*where)) or 0)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(
            Operation.id,
            Operation.operation_type,
            Operation.resource_type,
            Operation.kind,
            Operation.blockchain_id,
            Operation.blockchain_name,
            Operation.status,
            Operation.record_time,
            Operation.description,
        )
        .where(*where)
        .order_by(Operation.record_time.desc(), Operation.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    return OperationPage([OperationRow(*row) for row in rows], total, page, pages)


@dataclass(frozen=True)
class UserCert:
    """A certificate issued to a user by name (CreateBlockchainCertByUserName)."""

    org: str
    user_name: str
    serial: str
    hosted: bool
    frozen: bool
    created_time: int


def user_certs(session: Session, *, project_id: str, blockchain_id: str) -> list[UserCert]:
    """The user certificates of the caller's instance, by organisation and user."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    rows = session.execute(
        select(Organization.name, IssuedCert)
        .join(IssuedCert, IssuedCert.org_id == Organization.id)
        .where(Organization.blockchain_id == instance.id, IssuedCert.role == "enrolled")
        .order_by(Organization.name, IssuedCert.user_name, IssuedCert.id)
    ).all()
    return [
        UserCert(org, c.user_name or "", c.serial, c.hosted, c.revoked_at is not None, c.created_time)
        for org, c in rows
    ]


@dataclass(frozen=True)
class Monitoring:
    """An instance's events of the window, its active alarms and its alarm history."""

    name: str
    events: list[monitoring.Record] = field(default_factory=list)
    active: list[monitoring.Record] = field(default_factory=list)
    history: list[monitoring.Record] = field(default_factory=list)


def events(session: Session, *, project_id: str, blockchain_id: str, minutes: int) -> Monitoring:
    """The caller's instance's events and alarms of the last ``minutes``, newest first (ListBcsEvents' rules)."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    body = ListBcsEventRequestBody(time_range=f"-1.-1.{minutes}", step=60_000)
    return Monitoring(
        name=instance.name,
        events=monitoring.records(session, blockchain_id=instance.id, kind=None, body=body),
        active=monitoring.records(session, blockchain_id=instance.id, kind=monitoring.ACTIVE_ALERT, body=body),
        history=monitoring.records(session, blockchain_id=instance.id, kind=monitoring.HISTORY_ALERT, body=body),
    )
