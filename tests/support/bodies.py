"""Valid request bodies, with overrides: an override of ``None`` removes the field."""

from __future__ import annotations

import copy
from typing import Any

PASSWORD = "Passw0rd!x"
CLUSTER = {"cluster_id": "cce-0001", "cluster_name": "cce-test", "cluster_platform_type": "VirtualMachine"}
CHANNEL = "channel"
DEFAULT_ORG = "organization"
_BASE_BODY: dict[str, Any] = {
    "name": "bcs-test",
    "version_type": 4,
    "blockchain_type": "private",
    "consensus": "etcdraft",
    "sign_algorithm": "ECDSA",
    "enterprise_project_id": "0",
    "volume_type": "evs",
    "evs_disk_type": "SSD",
    "org_disk_size": 100,
    "database_type": "goleveldb",
    "resource_password": PASSWORD,
    "orderer_node_number": 3,
    "cluster_type": "cce",
    "create_new_cluster": False,
    "cce_cluster_info": CLUSTER,
}


def override(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` with each override replacing a top-level field; ``None`` removes the field."""
    body = copy.deepcopy(body)
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def create_body(
    name: str = "bcs-test",
    /,
    *,
    peer_orgs: list[tuple[str, int]] | list[dict[str, Any]] | None = None,
    channels: list[tuple[str, list[str]]] | list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid CreateNewBlockchain body: private, etcdraft with 3 orderers, existing CCE cluster, evs SSD, version 4.

    ``peer_orgs`` as ``[("org", peers)]`` and ``channels`` as ``[("name", ["org", ...])]`` (or as the API's dicts).
    """
    fields = dict(overrides)
    if peer_orgs is not None:
        fields["peer_orgs"] = [o if isinstance(o, dict) else {"name": o[0], "node_count": o[1]} for o in peer_orgs]
    if channels is not None:
        fields["channels"] = [c if isinstance(c, dict) else {"name": c[0], "org_names": c[1]} for c in channels]
    return override({**_BASE_BODY, "name": name}, fields)


def union_instance_body(name: str = "bcs-union", **overrides: Any) -> dict[str, Any]:
    """A consortium (union) instance: default org ``organization`` (2 peers), default channel ``channel``."""
    return create_body(name, **{"blockchain_type": "union", **overrides})


def invitee_instance_body(
    *, domain_id: str, project_id: str, inviter_bcs_id: str, name: str = "bcs-invitee", **overrides: Any
) -> dict[str, Any]:
    """An invitee instance created for the inviter instance ``inviter_bcs_id`` (no orderers, no channel)."""
    fields: dict[str, Any] = {
        "blockchain_type": "union",
        "is_invitee": True,
        "orderer_node_number": None,
        "invitor_infos": {"tenant_id": domain_id, "project_id": project_id, "blockchain_id": inviter_bcs_id},
    }
    fields.update(overrides)
    return create_body(name, **fields)


def invite_body(bcs_id: str, channel: str, *names: str, invitor_username: str | None = None) -> dict[str, Any]:
    """BatchInviteMembersToChannel of ``names`` into ``channel``."""
    body: dict[str, Any] = {
        "bcs_id": bcs_id,
        "channel_name": channel,
        "invited_userinfo": [{"invited_user": name} for name in names],
    }
    if invitor_username is not None:
        body["invitor_username"] = invitor_username
    return body
