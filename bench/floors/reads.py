"""The floor's reads: ListOpRecord (the project's operations with their sub-steps, newest first) and ListMembers
(the caller's invitations as inviter and its consortia as invitee, with each member organisation's live node
health), with OpenBCS's queries and OpenBCS's JSON."""

from __future__ import annotations

from typing import Any

from bench.floors.auth import Caller
from bench.floors.db import Query, loads

_OPERATIONS = (
    "SELECT id, resource_type, operation_type, domain_id, project_id, blockchain_id, blockchain_name, status, "
    "description, messages, record_time FROM operations WHERE project_id = ? ORDER BY record_time DESC, id DESC"
)
_SUB_STEPS = (
    "SELECT operation_id, step_serial, step_name, serial_num, name, status, detail, messages, start_time, end_time "
    "FROM operation_sub_steps WHERE operation_id IN ({}) ORDER BY serial_num"
)
_MEMBERS = (
    "SELECT id, inviter_blockchain_id, inviter_blockchain_name, inviter_project_id, inviter_domain_id, inviter_name, "
    "inviter_settings, channel_name, invitee_domain_id, invitee_name, invitee_blockchain_id, orgs, status "
    "FROM consortium_invitations WHERE (inviter_project_id = ? AND deleted_by_inviter = ? AND status != 'cancelled') "
    "OR (invitee_domain_id = ? AND status IN ('joining', 'joined', 'quitting')) ORDER BY id"
)
_ORG_HEALTH = (
    "SELECT o.blockchain_id, o.name, o.name_hash, count(n.id), count(CASE WHEN n.status = 'Normal' THEN 1 END) "
    "FROM blockchain_orgs o LEFT OUTER JOIN blockchain_nodes n ON n.org_id = o.id WHERE o.blockchain_id IN ({}) "
    "GROUP BY o.id, o.blockchain_id, o.name, o.name_hash"
)


def _step_status(statuses: list[str]) -> str:
    if "failed" in statuses:
        return "failed"
    if all(s == "finished" for s in statuses):
        return "finished"
    if any(s in ("processing", "finished") for s in statuses):
        return "processing"
    return "stop" if "stop" in statuses else "waiting"


def _sub_step(row: Any) -> dict[str, Any]:
    found = {"substep_name": row[4], "detail": row[6], "status": row[5], "message": loads(row[7])}
    if row[8] is not None:
        found["start_time"] = row[8]
    if row[9] is not None:
        found["end_time"] = row[9]
    found["serial_num"] = row[3]
    return found


def _process(sub_steps: list[Any]) -> dict[str, Any]:
    steps: dict[int, list[Any]] = {}
    for row in sub_steps:
        steps.setdefault(row[1], []).append(row)
    process = {}
    for serial, members in sorted(steps.items()):
        active = next((m for m in members if m[5] in ("processing", "failed")), None)
        process[members[0][2]] = {
            "step_name": members[0][2],
            "status": _step_status([m[5] for m in members]),
            "detail": active[4] if active else "",
            "sub_steps": {m[4]: _sub_step(m) for m in members},
            "serial_num": serial,
        }
    return process


def list_records(q: Query, caller: Caller) -> dict[str, Any]:
    """ListOpRecord without filters."""
    rows = q.all(_OPERATIONS, (caller.project_id,))
    by_operation: dict[str, list[Any]] = {row[0]: [] for row in rows}
    if rows:
        for sub in q.all(_SUB_STEPS.format(",".join("?" * len(rows))), list(by_operation)):
            by_operation[sub[0]].append(sub)
    records = []
    for row in rows:
        record: dict[str, Any] = {
            "operation_id": row[0],
            "resource_type": row[1],
            "operation_type": row[2],
            "domain_id": row[3],
            "project_id": row[4],
        }
        if row[5] is not None:
            record["blockchain_id"] = row[5]
        if row[6] is not None:
            record["blockchain_name"] = row[6]
        record["operation_process"] = _process(by_operation[row[0]])
        record.update(record_time=row[10], operation_status=row[7], message=loads(row[9]), desc=row[8])
        records.append(record)
    return {"count": len(records), "operation_records": records}


def _orgs(q: Query, invitations: list[Any]) -> dict[int, list[dict[str, Any]]]:
    ids = sorted({i[10] for i in invitations if i[10]})
    health = {}
    if ids:
        for bid, name, name_hash, nodes, healthy in q.all(_ORG_HEALTH.format(",".join("?" * len(ids))), ids):
            health[(bid, name)] = (name_hash, nodes, healthy)
    found = {}
    for i in invitations:
        orgs = []
        for stored in loads(i[11]):
            live = health.get((i[10] or "", stored["name"]))
            name_hash, nodes, healthy = live if live else (stored["name_hash"], stored["node_count"], 0)
            orgs.append(
                {
                    "name": stored["name"],
                    "name_hash": name_hash,
                    "node_count": nodes,
                    "status": i[12],
                    "status_detail": f"{healthy}/{nodes}",
                }
            )
        found[i[0]] = orgs
    return found


def list_members(q: Query, caller: Caller) -> dict[str, Any]:
    """ListMembers."""
    invitations = q.all(_MEMBERS, (caller.project_id, False, caller.domain_id))
    orgs = _orgs(q, invitations)
    members = [
        {
            "tcs_need": bool(loads(i[6]).get("tc3_need")),
            "channel_name": i[7],
            "invited_orgs": orgs[i[0]],
            "invitor_info": {
                "invitor_bcs_id": i[1],
                "invitor_bcs_name": i[2],
                "invitor_project_id": i[3],
                "invitor_user_id": i[4],
                "invitor_username": i[5],
            },
            "invitee_info": {"invitee_bcs_id": i[10] or "", "invitee_user_id": i[8], "invitee_username": i[9]},
            "status": i[12],
        }
        for i in invitations
    ]
    return {"members": members}
