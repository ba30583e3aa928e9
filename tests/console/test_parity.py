"""One set of rules: a console action and the same API call leave identical state and events. Two tenants do the
same thing, one in the console and one through the API; what each leaves in the database is compared with ids,
hashes and names (which differ by construction) replaced by placeholders."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from openbcs.engine.models import Operation, OperationSubStep
from openbcs.events.models import Alarm, Event
from openbcs.network.models import Channel, ChannelOrg, ChannelPeer, ConfigBlock, Instance, Node, Organization
from tests.console.forms import form_of
from tests.console.helpers import flashes
from tests.support.bodies import CHANNEL, create_body

STARTED = re.compile(r"(BCSSVC\d{2}-\d{2}-\d{19})")
BODY = create_body("bcs-parity", peer_orgs=[("org1", 2), ("org2", 1)])


def _state(session: Any, project_id: str) -> dict[str, Any]:
    instances = list(session.scalars(select(Instance).where(Instance.project_id == project_id)))
    ids = [i.id for i in instances]
    orgs = list(
        session.scalars(select(Organization).where(Organization.blockchain_id.in_(ids)).order_by(Organization.id))
    )
    org_ids = [o.id for o in orgs]
    channels = list(session.scalars(select(Channel).where(Channel.blockchain_id.in_(ids)).order_by(Channel.id)))
    channel_ids = [c.id for c in channels]
    names = {f"{o.name_hash}MSP": o.name for o in orgs}
    # Row ids are shared by every tenant's rows: compared by name.
    org_names = {o.id: o.name for o in orgs}
    channel_names = {c.id: c.name for c in channels}
    operations = list(
        session.scalars(select(Operation).where(Operation.project_id == project_id).order_by(Operation.record_time))
    )
    return {
        "instances": [
            (i.name, i.blockchain_type, i.consensus, i.status, i.deploy_status, i.is_invitee, i.settings)
            for i in instances
        ],
        "orgs": [(o.blockchain_id, o.name, o.role, o.name_hash, o.pvc_name, o.status) for o in orgs],
        "nodes": [
            (org_names[n.org_id], n.ordinal, n.name, n.status)
            for n in session.scalars(select(Node).where(Node.org_id.in_(org_ids)).order_by(Node.org_id, Node.ordinal))
        ],
        "channels": [(c.name, c.description) for c in channels],
        "channel_orgs": sorted(
            (channel_names[c.channel_id], org_names[c.org_id])
            for c in session.scalars(select(ChannelOrg).where(ChannelOrg.channel_id.in_(channel_ids)))
        ),
        "channel_peers": len(list(session.scalars(select(ChannelPeer).where(ChannelPeer.channel_id.in_(channel_ids))))),
        "blocks": [
            # Blocks list organisations and signers by MSP id, i.e. by hash: compared by name instead.
            (
                channel_names[b.channel_id],
                b.number,
                b.event,
                b.cause,
                sorted(names.get(m, m) for m in b.signers),
                sorted(b.orgs, key=lambda o: o["name"]),
                b.config_sequence,
            )
            for b in session.scalars(
                select(ConfigBlock)
                .where(ConfigBlock.channel_id.in_(channel_ids))
                .order_by(ConfigBlock.channel_id, ConfigBlock.number)
            )
        ],
        "operations": [
            (
                o.id,
                o.kind,
                o.resource_type,
                o.operation_type,
                o.status,
                o.description,
                o.messages,
                o.payload,
                o.blockchain_name,
            )
            for o in operations
        ],
        "sub_steps": [
            (s.step_serial, s.step_name, s.serial_num, s.name, s.status, s.detail, s.messages)
            for o in operations
            for s in session.scalars(
                select(OperationSubStep)
                .where(OperationSubStep.operation_id == o.id)
                .order_by(OperationSubStep.serial_num)
            )
        ],
        "events": [
            (e.name, e.severity, e.message, e.metadata_)
            for e in session.scalars(select(Event).where(Event.project_id == project_id).order_by(Event.time, Event.id))
        ],
        "alarms": [
            (a.key, a.name, a.message) for a in session.scalars(select(Alarm).where(Alarm.project_id == project_id))
        ],
    }


def _normalized(db, tenant, replacements: dict[str, str]) -> str:
    """The tenant's state as JSON, with every id, hash and name that differs between tenants replaced
    (``replacements`` remembers those of rows since deleted)."""
    state = db.run_read(_state, tenant.project_id)
    text = json.dumps(state, sort_keys=True, default=str)
    replacements.update({tenant.project_id: "<project>", tenant.domain_id: "<domain>", tenant.name: "<tenant>"})
    for index, op in enumerate(state["operations"]):
        replacements[op[0]] = f"<operation {index}>"
    for org in state["orgs"]:
        replacements[org[0]] = "<instance>"
        replacements[org[3]] = f"<hash {org[1]}>"
        replacements[f"pvc-{org[3][:12]}"] = f"pvc-<hash {org[1]}>"  # the default volume name
    for old in sorted(replacements, key=len, reverse=True):
        text = text.replace(old, replacements[old])
    # Fabric transaction ids and block hashes carry a fresh nonce and timestamp in every run of anything.
    return re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)


def _console_started(console, response) -> str:
    assert response.status_code == 303, response.text
    ((kind, _form, text),) = flashes(console.follow(response).text)
    assert kind == "info", text
    return STARTED.search(text).group(1)


def test_console_and_api_leave_identical_state_and_events(make_tenant, console_of, db):
    by_console, by_api = make_tenant(), make_tenant()
    console = console_of(by_console)
    mine_seen: dict[str, str] = {}
    theirs_seen: dict[str, str] = {}

    def same() -> bool:
        return _normalized(db, by_console, mine_seen) == _normalized(db, by_api, theirs_seen)

    # Create.
    created = console.post("/console/instances", form_of(BODY))
    by_console.wait(_console_started(console, created))
    by_api.create_instance(BODY)
    assert same()
    (mine,), (theirs,) = by_console.instance_ids(), by_api.instance_ids()
    # Scale an organisation, add one, create a channel and fill it, then take an organisation out of it.
    steps = [
        (
            f"/console/instances/{mine}/peers",
            {"org": "org2", "node_count": "3"},
            lambda: by_api.update(theirs, {"node_orgs": [{"name": "org2", "node_count": 3}]}),
        ),
        (
            f"/console/instances/{mine}/orgs",
            {"name": "org3", "node_count": "1", "pvc_name": "pvc-3"},
            lambda: by_api.update(theirs, {"node_orgs": [{"name": "org3", "node_count": 1, "pvc_name": "pvc-3"}]}),
        ),
        (
            f"/console/instances/{mine}/channels",
            {"channel_name": "trade", "channel_description": "goods"},
            lambda: by_api.call(
                "POST",
                f"/blockchains/{theirs}/channels",
                {"channels": [{"channel_name": "trade", "channel_description": "goods"}]},
            ),
        ),
        (
            f"/console/instances/{mine}/channels/trade/peers",
            {"org": "org3", "count": "1"},
            lambda: by_api.add_peers(theirs, "trade", {"org3": 1}),
        ),
        (
            f"/console/instances/{mine}/channels/{CHANNEL}/orgs/remove",
            {"org": "org2"},
            lambda: by_api.remove_orgs(theirs, CHANNEL, ["org2"]),
        ),
    ]
    for path, form, api_call in steps:
        by_console.wait(_console_started(console, console.post(path, form)))
        by_api.run(api_call())
        assert same(), path
    # Delete.
    deleted = console.post(f"/console/instances/{mine}/delete")
    by_console.wait(STARTED.search(flashes(console.follow(deleted).text)[0][2]).group(1))
    by_api.run(by_api.delete_instance(theirs))
    assert same()
