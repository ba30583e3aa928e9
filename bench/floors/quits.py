"""The floor's quit (``PUT /v2/{project_id}/members/quit``), in one write transaction: find the caller's membership,
check it is joined and both instances are Normal and idle, take both instances' locks, record the quit operation
(waiting, its two sub-steps, the OperationStarted event), move the invitation to ``quitting``, and do the quit's
Fabric work (:mod:`bench.floors.leave`: the organisations leave the inviter's channel with its next signed config
block), which OpenBCS's operation does in the quit's own transaction when its steps take no time. The operation's
bookkeeping after that (sub-steps and operation finished, locks released, the invitation ``quit``) is left out."""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.floors.auth import FORBIDDEN, Caller, Denied
from bench.floors.db import Query
from bench.floors.leave import Sealed, leave

FIELDS = (
    "inviter_bcsid",
    "inviter_projectid",
    "inviter_domainid",
    "inviter_username",
    "channel_name",
    "invitee_bcsid",
    "invitee_projectid",
    "invitee_domainid",
)
INVALID = (400, "BCS.4006014", "Invalid Parameter")
NOT_FOUND = (400, "BCS.4001061", "Operation failed. The consortium membership does not exist.")
WRONG_STATE = (400, "BCS.4006003", "Invalid Parameter notification status")
NO_INSTANCE = (400, "BCS.4001011", "Operation failed. The service does not exist or has been deleted.")
BUSY = (400, "BCS.4001020", "Operation failed. The service status is abnormal or the service is being processed.")
_MATCHING = (
    "SELECT id, status FROM consortium_invitations WHERE inviter_blockchain_id = ? AND inviter_project_id = ? "
    "AND inviter_domain_id = ? AND inviter_name = ? AND channel_name = ? AND invitee_domain_id = ? "
    "AND (invitee_blockchain_id = ? OR invitee_blockchain_id IS NULL) ORDER BY id DESC"
)
_INSTANCE = "SELECT id, name, status, project_id FROM blockchains WHERE id = ?"
_HOLDER = "SELECT operation_id FROM operation_locks WHERE resource = ?"
_last_ns = 0
_lock = threading.Lock()


@functools.cache
def _sealed() -> Sealed:
    return Sealed(Path(os.environ["FLOOR_SERVER_KEY"]))


def parse(raw: bytes) -> dict[str, str]:
    """The body: exactly the eight fields, each a string of 1 to 64 characters."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Denied(INVALID) from exc
    if not isinstance(body, dict) or set(body) != set(FIELDS):
        raise Denied(INVALID)
    if not all(isinstance(v, str) and 1 <= len(v) <= 64 for v in body.values()):
        raise Denied(INVALID)
    return body


def _operation_id() -> str:
    global _last_ns
    with _lock:
        _last_ns = max(time.time_ns() // 100 * 100, _last_ns + 100)
        return f"BCSSVC01-03-{_last_ns:019d}"


def _idle_instance(q: Query, blockchain_id: str, project_id: str | None) -> Any:
    row = q.one(_INSTANCE, (blockchain_id,))
    if row is None or (project_id is not None and row[3] != project_id):
        raise Denied(NO_INSTANCE)
    if row[2] != "Normal" or q.one(_HOLDER, (blockchain_id,)) is not None:
        raise Denied(BUSY)
    return row


def quit_membership(q: Query, caller: Caller, body: dict[str, str]) -> str:
    """Start the quit of the caller's membership; the operation id."""
    if body["invitee_projectid"] != caller.project_id or body["invitee_domainid"] != caller.domain_id:
        raise Denied(FORBIDDEN)
    matching = q.all(
        _MATCHING,
        (
            body["inviter_bcsid"],
            body["inviter_projectid"],
            body["inviter_domainid"],
            body["inviter_username"],
            body["channel_name"],
            caller.domain_id,
            body["invitee_bcsid"],
        ),
    )
    if not matching:
        raise Denied(NOT_FOUND)
    current = [row[0] for row in matching if row[1] in ("joined", "quitting")]
    invitation_id = current[0] if current else matching[0][0]
    status, inviter_id, channel_name, invitee_id, orgs = q.one(
        "SELECT status, inviter_blockchain_id, channel_name, invitee_blockchain_id, orgs FROM consortium_invitations "
        "WHERE id = ?",
        (invitation_id,),
    )
    if status != "joined":
        raise Denied(WRONG_STATE)
    own = _idle_instance(q, body["invitee_bcsid"], caller.project_id)
    _idle_instance(q, inviter_id, None)
    operation_id, now = _operation_id(), time.time_ns()
    q.many(
        "INSERT INTO operation_locks (resource, operation_id, label) VALUES (?, ?, NULL)",
        [(own[0], operation_id), (inviter_id, operation_id)],
    )
    q.run(
        "INSERT INTO operations (id, kind, resource_type, operation_type, domain_id, project_id, blockchain_id, "
        "blockchain_name, status, description, messages, payload, record_time, due_at, version) "
        "VALUES (?, 'consortium.quit', 'BCSSVC01', '03', ?, ?, ?, ?, 'waiting', 'quit a consortium', '[]', ?, ?, ?, 0)",
        (
            operation_id,
            caller.domain_id,
            caller.project_id,
            own[0],
            own[1],
            json.dumps({"invitation_id": invitation_id}),
            now,
            now,
        ),
    )
    q.many(
        "INSERT INTO operation_sub_steps (operation_id, step_serial, step_name, serial_num, name, status, detail, "
        "messages) VALUES (?, ?, ?, ?, ?, 'waiting', '', '[]')",
        [
            (operation_id, 1, "Quit channel", 1, "Update channel configuration"),
            (operation_id, 2, "Finish", 2, "Update membership"),
        ],
    )
    q.run(
        "INSERT INTO monitoring_events (blockchain_id, project_id, name, severity, message, metadata, time) "
        "VALUES (?, ?, 'OperationStarted', 'info', 'quit a consortium started', ?, ?)",
        (
            own[0],
            caller.project_id,
            json.dumps({"operation_id": operation_id, "operation_kind": "consortium.quit"}),
            now,
        ),
    )
    q.run(
        "UPDATE consortium_invitations SET operation_id = ?, status = 'quitting', notification_status = 'quitting', "
        "updated_time = ? WHERE id = ?",
        (operation_id, now, invitation_id),
    )
    leave(q, _sealed(), (inviter_id, channel_name, invitee_id, orgs), operation_id, now)
    return operation_id
