"""Seeding the database before the server starts: accounts through ``openbcs.iam.service.create_account``, and
bulk SQLAlchemy Core inserts of the rows the API would have made (:mod:`bench.seed_network` adds instances, channels
and memberships on top of :class:`Seeder`): here, finished operation records with the sub-steps their kind declares,
and other tenants' rows for the scale bench.

Left out, because no measured call reads them: the events and alarms the operations would have recorded (apart from
the channel events :mod:`bench.seed_network` records through the code that makes channels' configuration blocks).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from unittest import mock

from sqlalchemy import Table, func, select

from openbcs.consortium import states
from openbcs.consortium.models import Invitation
from openbcs.engine.kinds import OperationKind
from openbcs.engine.models import FINISHED, Operation, OperationSubStep
from openbcs.iam import passwords
from openbcs.iam import service as iam
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.network.models import Instance, IssuedCert, Node, Organization, OrgPki

REGION = "cn-north-4"
PASSWORD = "Bench-Passw0rd-1"
T = {
    name: cast(Table, model.__table__)
    for name, model in (
        ("instances", Instance),
        ("orgs", Organization),
        ("nodes", Node),
        ("org_pki", OrgPki),
        ("issued", IssuedCert),
        ("invitations", Invitation),
        ("operations", Operation),
        ("sub_steps", OperationSubStep),
    )
}


@dataclass(frozen=True)
class Tenant:
    """An account with its project and AK/SK pair (password: :data:`PASSWORD`)."""

    name: str
    domain_id: str
    project_id: str
    access_key: str
    secret_key: str


def inviter_settings() -> dict[str, Any]:
    """``consortium.service._inviter_settings`` of the instances seeded here."""
    return {
        "consensus": "etcdraft",
        "sign_algorithm": "ECDSA",
        "fabric_version": "2.2",
        "database_type": "goleveldb",
        "version_type": 4,
        "cluster_type": "CCE",
        "tc3_need": False,
    }


class Seeder:
    """Gathers rows in memory; :meth:`flush` writes them in foreign-key order, in one transaction."""

    def __init__(self, db: Database, server_key: ServerKey) -> None:
        self.db, self.server_key = db, server_key
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with db.reading() as session:
            self.next_id = {
                name: int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
                for name, table in T.items()
                if name not in ("instances", "operations", "org_pki")
            }
        self.instances = 0
        self.clock = now_ns() - 10**12  # operation ids and times: unique, increasing, in the recent past

    def _id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def _tick(self) -> int:
        self.clock += 1000
        return self.clock

    def accounts(self, names: Sequence[str]) -> list[Tenant]:
        """Accounts through ``iam.create_account``; the scrypt hash of :data:`PASSWORD` is computed once and reused
        (patched in this process only), so seeding many accounts costs no scrypt per account."""
        hashed = passwords.hash_password(PASSWORD)
        with mock.patch.object(iam, "hash_password", return_value=hashed), self.db.writing() as session:
            made = [
                iam.create_account(session, name=n, password=PASSWORD, region=REGION, server_key=self.server_key)
                for n in names
            ]
        return [Tenant(a.domain_name, a.domain_id, a.project_id, a.access_key, a.secret_key) for a in made]

    def operation(
        self,
        kind: OperationKind[Any],
        tenant: Tenant,
        blockchain: tuple[str, str] | None,
        payload: dict[str, Any],
        details: Sequence[str],
    ) -> str:
        """A finished operation of ``kind`` on ``blockchain`` (id, name) with every sub-step finished (``details``
        in order)."""
        started = self._tick()
        operation_id = f"{kind.resource_type}-{kind.operation_type}-{started:019d}"
        serial, at = 0, started
        for step_serial, step in enumerate(kind.steps, start=1):
            for sub_step in step.sub_steps:
                serial += 1
                self.rows["sub_steps"].append(
                    {
                        "id": self._id("sub_steps"),
                        "operation_id": operation_id,
                        "step_serial": step_serial,
                        "step_name": step.name,
                        "serial_num": serial,
                        "name": sub_step.name,
                        "status": FINISHED,
                        "detail": details[serial - 1] if serial <= len(details) else "",
                        "messages": [],
                        "start_time": at,
                        "end_time": at + 500_000,
                    }
                )
                at += 1_000_000
        self.rows["operations"].append(
            {
                "id": operation_id,
                "kind": kind.name,
                "resource_type": kind.resource_type,
                "operation_type": kind.operation_type,
                "domain_id": tenant.domain_id,
                "project_id": tenant.project_id,
                "blockchain_id": blockchain[0] if blockchain else None,
                "blockchain_name": blockchain[1] if blockchain else None,
                "status": FINISHED,
                "description": kind.description,
                "messages": [],
                "payload": payload,
                "record_time": started,
                "due_at": at,
                "version": serial * 2,
            }
        )
        return operation_id

    def flush(self, chunk: int = 20_000) -> int:
        """Insert everything gathered, in foreign-key order, in one transaction; the number of rows."""
        total = 0
        with self.db.engine.begin() as conn:
            for name, table in T.items():
                rows = self.rows.pop(name, [])
                for start in range(0, len(rows), chunk):
                    conn.execute(table.insert(), rows[start : start + chunk])
                total += len(rows)
        return total


def _hex(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def foreign_rows(db: Database, *, operations: int, invitations: int, first: int = 0) -> None:
    """Rows of other tenants that a tenant's reads must not have to read: ``operations`` finished operation records
    (two sub-steps each, ten per project) and ``invitations`` invitations in every status (about ten per inviter
    project and per invitee account), without instances behind them."""
    now, ops, subs, invs = now_ns(), [], [], []
    for n in range(first, first + operations):
        operation_id = f"BCSSVC01-03-{now - 10**13 + n:019d}"
        project = _hex(f"project-{n // 10}")
        ops.append(
            {
                "id": operation_id,
                "kind": "consortium.quit",
                "resource_type": "BCSSVC01",
                "operation_type": "03",
                "domain_id": _hex(project),
                "project_id": project,
                "blockchain_id": str(uuid.UUID(_hex(f"bc-{n}"))),
                "blockchain_name": f"member{n}",
                "status": FINISHED,
                "description": "quit a consortium",
                "messages": [],
                "payload": {"invitation_id": n},
                "record_time": now - n,
                "due_at": now - n,
                "version": 4,
            }
        )
        for serial, (step, sub) in enumerate(
            (("Quit channel", "Update channel configuration"), ("Finish", "Update membership")), 1
        ):
            subs.append(
                {
                    "operation_id": operation_id,
                    "step_serial": serial,
                    "step_name": step,
                    "serial_num": serial,
                    "name": sub,
                    "status": FINISHED,
                    "detail": "done",
                    "messages": [],
                    "start_time": now - n,
                    "end_time": now - n,
                }
            )
    for n in range(first, first + invitations):
        group = n // 10
        inviter, invitee = _hex(f"inviter-{group}"), _hex(f"invitee-{group}-{n % 7}")
        status = states.STATUSES[n % len(states.STATUSES)]
        joined = status != states.WAITING
        invs.append(
            {
                "inviter_blockchain_id": str(uuid.UUID(inviter)),
                "inviter_blockchain_name": f"foreign{group}",
                "inviter_project_id": inviter,
                "inviter_domain_id": _hex(inviter),
                "inviter_name": f"foreign-inviter-{group}",
                "inviter_settings": inviter_settings(),
                "channel_name": f"channel{n % 10}",
                "invitee_domain_id": invitee,
                "invitee_name": f"foreign-invitee-{group}-{n % 7}",
                "invitee_project_id": _hex(invitee),
                "invitee_blockchain_id": str(uuid.UUID(_hex(f"member-{n}"))) if joined else None,
                "invitee_blockchain_name": f"member{n}" if joined else None,
                "orgs": [{"name": "organization", "name_hash": inviter[:40].ljust(40, "0"), "node_count": 2}],
                "status": status,
                "notification_status": status,
                "deleted_by_inviter": n % 13 == 0,
                "read_status": 1,
                "operation_id": None,
                "created_time": now + n,
                "updated_time": now + n,
            }
        )
    with db.engine.begin() as conn:
        for name, rows in (("operations", ops), ("sub_steps", subs), ("invitations", invs)):
            for start in range(0, len(rows), 20_000):
                conn.execute(T[name].insert(), rows[start : start + 20_000])


def row_counts(db: Database) -> dict[str, int]:
    """Rows per seeded table (for reports)."""
    with db.engine.connect() as conn:
        return {name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for name, t in T.items()}


def dumps(value: Any) -> str:
    """Compact JSON (request bodies)."""
    return json.dumps(value, separators=(",", ":"))
