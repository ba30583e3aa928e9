"""A hypothesis state machine over instances, organisations, peers and channels, checked against a model.

All examples run on one account of one in-process app (operations run with 0 s steps; every accepted call is waited
for); an example starts with no instance and its teardown deletes the ones it left. Random choices are often invalid
on purpose (unknown names, bad counts, non-empty channels): the model predicts the exact refusal, and a refused call
must change nothing. After every step the invariants compare every view the API has (ShowBlockchainDetail,
ShowBlockchainNodes, ListBlockchainChannels, config history, ListQuotas, ListOpRecord) with the model and with each
other: for the instance the step touched, and for all of them at teardown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from openbcs.kernel.db import Database
from openbcs.network.limits import UPDATE_NODE_COUNT_MAX
from openbcs.network.naming import CHANNEL_NAME
from tests.channels.helpers import check_links, header_hashes
from tests.support.bodies import create_body
from tests.support.expected import msp_id, orderer_names, org_hash, peer_names
from tests.support.operations import operation_locks
from tests.support.tenants import Tenant

ORGS = ("orga", "orgb", "orgc")
NEW_ORGS = (*ORGS, "orgd")
UNKNOWN_ORG = "orgz"
CHANNELS = ("channel", "chana", "chanb")
BAD_CHANNEL = "Bad_chan"
# Instances an example holds at once (creation is the slowest call; ListQuotas must count them all the same).
MAX_INSTANCES = 2
ORG_LISTS = st.lists(
    st.tuples(st.sampled_from(ORGS), st.integers(1, 3)), min_size=1, max_size=2, unique_by=lambda o: o[0]
)


@dataclass
class Instance:
    """What an instance should look like: peer counts by org (creation order), channels (creation order) with the
    number of each member org's peers in them (members in joining order), and each channel's block count."""

    orgs: dict[str, int]
    channels: dict[str, dict[str, int]] = field(default_factory=dict)
    blocks: dict[str, int] = field(default_factory=dict)
    operations: int = 1  # its creation

    def channels_with(self, org: str) -> list[str]:
        return [name for name, members in self.channels.items() if org in members]


class ChannelMachine(RuleBasedStateMachine):
    """One account's instances; every example starts with none and its teardown deletes what is left."""

    api: Tenant
    db: Database
    created = 0  # instance names stay unique across examples

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Instance] = {}
        # The instance the last step touched (fully checked after the step; all of them at teardown).
        self.touched: str | None = None
        assert self.api.instance_ids() == [], "the previous example left instances behind"

    def teardown(self) -> None:
        try:
            for bid, instance in self.model.items():
                self.check_instance(bid, instance)
        finally:
            for bid in list(self.model):
                self.api.wait(self.api.delete_instance(bid).json()["operation_id"])

    # --- calling and predicting --------------------------------------------------------------------------------

    def expect(self, response: httpx.Response, refusal: str | None) -> bool:
        """Check the answer against the model's prediction: accepted (waited for) or refused with this code."""
        if refusal is None:
            assert response.status_code == 200, response.text
            self.api.wait(response.json()["operation_id"])
            if self.touched in self.model:
                self.model[self.touched].operations += 1
            return True
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == refusal, response.text
        return False

    def pick(self, data: st.DataObject) -> tuple[str, Instance]:
        bid = data.draw(st.sampled_from(list(self.model)), label="instance")
        self.touched = bid
        return bid, self.model[bid]

    @staticmethod
    def choose(data: st.DataObject, label: str, fitting: list[str], pool: tuple[str, ...]) -> str:
        """A name that fits the instance (half of the time, when there is one) or any name of the pool."""
        if fitting and data.draw(st.booleans(), label=f"fitting {label}"):
            return data.draw(st.sampled_from(fitting), label=label)
        return data.draw(st.sampled_from(pool), label=label)

    @staticmethod
    def count(data: st.DataObject, label: str, fitting: tuple[int, int]) -> int:
        """A count in the fitting range (half of the time, when it is not empty) or any of 0-4."""
        low, high = fitting
        if low <= high and data.draw(st.booleans(), label=f"fitting {label}"):
            return data.draw(st.integers(low, high), label=label)
        return data.draw(st.integers(0, 4), label=label)

    # --- instances and organisations -----------------------------------------------------------------------------

    def create(self, orgs: list[tuple[str, int]], default_channel: bool) -> None:
        type(self).created += 1
        extra: dict[str, Any] = {} if default_channel else {"channels": []}
        body = create_body(f"sm-{self.created:04d}", peer_orgs=orgs, **extra)
        response = self.api.call("POST", "/blockchains", body)
        self.expect(response, None)
        instance = Instance(orgs=dict(orgs))
        if default_channel:
            instance.channels["channel"] = dict(orgs)
            instance.blocks["channel"] = 1
        self.touched = response.json()["blockchain_id"]
        self.model[self.touched] = instance

    @initialize(orgs=ORG_LISTS, default_channel=st.booleans())
    def first_instance(self, orgs: list[tuple[str, int]], default_channel: bool) -> None:
        self.create(orgs, default_channel)

    @precondition(lambda self: len(self.model) < MAX_INSTANCES)
    @rule(orgs=ORG_LISTS, default_channel=st.booleans())
    def create_instance(self, orgs: list[tuple[str, int]], default_channel: bool) -> None:
        self.create(orgs, default_channel)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_instance(self, data: st.DataObject) -> None:
        bid, _ = self.pick(data)
        self.expect(self.api.delete_instance(bid), None)
        del self.model[bid]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), node_count=st.integers(1, 5))
    def scale_org(self, data: st.DataObject, node_count: int) -> None:
        bid, instance = self.pick(data)
        org = data.draw(st.sampled_from(list(instance.orgs)), label="org")
        response = self.api.update(bid, {"node_orgs": [{"name": org, "node_count": node_count}]})
        # UpdateInstance's target is 1 or 2 peers (spec 3.6): more is refused where the body is parsed.
        refused = node_count > UPDATE_NODE_COUNT_MAX or node_count == instance.orgs[org]
        if self.expect(response, "BCS.4006014" if refused else None):
            instance.orgs[org] = node_count
            for members in instance.channels.values():
                if org in members:  # the highest-numbered peers went, leaving their channels
                    members[org] = min(members[org], node_count)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), count=st.integers(1, 2))
    def add_org(self, data: st.DataObject, count: int) -> None:
        bid, instance = self.pick(data)
        candidates = [o for o in NEW_ORGS if o not in instance.orgs]
        if not candidates:
            return
        org = data.draw(st.sampled_from(candidates), label="new org")
        body = {"node_orgs": [{"name": org, "node_count": count, "pvc_name": f"pvc-{org}"}]}
        self.expect(self.api.update(bid, body), None)
        instance.orgs[org] = count

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_org(self, data: st.DataObject) -> None:
        bid, instance = self.pick(data)
        org = data.draw(st.sampled_from(list(instance.orgs)), label="org")
        node_count = min(instance.orgs[org], UPDATE_NODE_COUNT_MAX)
        body = {"node_orgs": [{"name": org, "node_count": node_count}], "is_delete_org": True}
        if len(instance.orgs) == 1:
            refusal: str | None = "BCS.4006014"
        elif instance.channels_with(org):
            refusal = "BCS.4006003"
        else:
            refusal = None
        if self.expect(self.api.update(bid, body), refusal):
            del instance.orgs[org]

    # --- channels ------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.model)
    @rule(data=st.data(), names=st.lists(st.sampled_from((*CHANNELS, BAD_CHANNEL)), min_size=1, max_size=2))
    def create_channels(self, data: st.DataObject, names: list[str]) -> None:
        bid, instance = self.pick(data)
        refusal = None
        for index, name in enumerate(names):
            if not CHANNEL_NAME.fullmatch(name):
                refusal = "BCS.4006012"
            elif name in instance.channels or name in names[:index]:
                refusal = "BCS.4006014"
            if refusal:
                break
        if self.expect(self.api.create_channels(bid, *names), refusal):
            for name in names:
                instance.channels[name] = {}
                instance.blocks[name] = 1

    @precondition(lambda self: self.model)
    @rule(data=st.data(), orgs=st.integers(1, 2))
    def add_peers(self, data: st.DataObject, orgs: int) -> None:
        bid, instance = self.pick(data)
        channel = self.choose(data, "channel", list(instance.channels), CHANNELS)
        members = instance.channels.get(channel, {})
        peers: dict[str, int] = {}
        for _ in range(orgs):
            org = self.choose(data, "org", list(instance.orgs), (*ORGS, UNKNOWN_ORG))
            free = instance.orgs.get(org, 0) - members.get(org, 0)
            peers[org] = self.count(data, "peers", (1, free))
        refusal = None
        if any(count < 1 for count in peers.values()):
            refusal = "BCS.4006014"  # refused where the body is parsed, before anything is looked up
        elif channel not in instance.channels:
            refusal = "BCS.4001052"
        else:
            for org, count in peers.items():
                free = instance.orgs.get(org, 0) - members.get(org, 0)
                if org not in instance.orgs:
                    refusal = "BCS.4001051"
                elif free == 0:
                    refusal = "BCS.4006003"
                elif not 1 <= count <= free:
                    refusal = "BCS.4006014"
                if refusal:
                    break
        if self.expect(self.api.add_peers(bid, channel, peers), refusal):
            if any(org not in members for org in peers):  # organisations new to the channel: one block per call
                instance.blocks[channel] += 1
            for org, count in peers.items():
                members.setdefault(org, 0)
                members[org] += count

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove_peers(self, data: st.DataObject) -> None:
        bid, instance = self.pick(data)
        channel = self.choose(data, "channel", list(instance.channels), CHANNELS)
        members = instance.channels.get(channel, {})
        org = self.choose(data, "org", list(members), (*ORGS, UNKNOWN_ORG))
        count = self.count(data, "peers", (1, members.get(org, 0) - 1))
        if count < 1:
            refusal: str | None = "BCS.4006014"  # refused where the body is parsed
        elif channel not in instance.channels:
            refusal = "BCS.4001052"
        elif org not in instance.orgs:
            refusal = "BCS.4001051"
        elif org not in members:
            refusal = "BCS.4006003"
        elif not 0 < count < members[org]:
            refusal = "BCS.4006014"
        else:
            refusal = None
        if self.expect(self.api.remove_peers(bid, channel, org, count), refusal):
            members[org] -= count

    @precondition(lambda self: self.model)
    @rule(data=st.data(), size=st.integers(1, 2))
    def remove_orgs(self, data: st.DataObject, size: int) -> None:
        bid, instance = self.pick(data)
        channel = self.choose(data, "channel", list(instance.channels), CHANNELS)
        members = instance.channels.get(channel, {})
        orgs = [self.choose(data, "org", list(members), (*ORGS, UNKNOWN_ORG)) for _ in range(size)]
        refusal = None
        if channel not in instance.channels:
            refusal = "BCS.4001052"
        elif len(set(orgs)) != len(orgs):
            refusal = "BCS.4006014"
        else:
            for org in orgs:
                if org not in instance.orgs:
                    refusal = "BCS.4001051"
                elif org not in members:
                    refusal = "BCS.4006003"
                if refusal:
                    break
        if self.expect(self.api.remove_orgs(bid, channel, orgs), refusal):
            for org in orgs:
                del members[org]
            instance.blocks[channel] += 1

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_channel(self, data: st.DataObject) -> None:
        bid, instance = self.pick(data)
        channel = self.choose(data, "channel", list(instance.channels), CHANNELS)
        if channel not in instance.channels:
            refusal: str | None = "BCS.4001052"
        elif instance.channels[channel]:
            refusal = "BCS.4006003"
        else:
            refusal = None
        if self.expect(self.api.delete_channel(bid, channel), refusal):
            del instance.channels[channel]
            del instance.blocks[channel]

    # --- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def account_views_agree(self) -> None:
        assert sorted(self.api.instance_ids()) == sorted(self.model)
        assert self.api.quota()["used"] == len(self.model)
        # Every accepted call was waited for: no operation holds an instance any more.
        assert operation_locks(self.db) == []

    @invariant()
    def instance_views_agree(self) -> None:
        if self.touched is None:
            return
        bid, self.touched = self.touched, None
        if bid in self.model:
            self.check_instance(bid, self.model[bid])
        else:  # deleted: gone from every view
            for path in ("", "/channels", "/nodes"):
                response = self.api.call("GET", f"/blockchains/{bid}{path}")
                assert (response.status_code, response.json()["error_code"]) == (400, "BCS.4001011")

    def check_instance(self, bid: str, instance: Instance) -> None:
        expected_peers = {
            name: {org: peer_names(bid, org, count) for org, count in members.items()}
            for name, members in instance.channels.items()
        }

        # Exactly the accepted calls made operations (its creation included), and every one of them finished.
        records = self.api.records(blockchain_id=bid)
        assert len(records) == instance.operations
        assert {r["operation_status"] for r in records} == {"finished"}

        detail = self.api.detail(bid)
        assert (detail["basic_info"]["status"], detail["basic_info"]["process_status"]) == ("Normal", "")
        assert [(p["name"], p["node_cnt"], p["status_detail"], p["status"]) for p in detail["peer_info"]] == [
            (org, count, f"{count}/{count}", "Normal") for org, count in instance.orgs.items()
        ]
        assert [(c["name"], c["org_names"], c["org_name_hash"], c["peers"]) for c in detail["channels"]] == [
            (name, list(members), [org_hash(bid, o) for o in members], expected_peers[name])
            for name, members in instance.channels.items()
        ]

        nodes = self.api.nodes(bid)
        assert list(nodes) == list(instance.orgs)
        for org, count in instance.orgs.items():
            assert nodes[org]["org_msp_id"] == msp_id(bid, org)
            assert list(nodes[org]["peers"]) == peer_names(bid, org, count)
            for ordinal, peer in enumerate(nodes[org]["peers"].values()):
                assert peer["channels"] == [
                    name for name, members in instance.channels.items() if ordinal < members.get(org, 0)
                ]

        listed = self.api.channels(bid)
        assert [c["name"] for c in listed] == list(instance.channels)
        for channel in listed:
            assert channel["peers"] == expected_peers[channel["name"]]
            assert channel["consensusNodes"] == {"orderer": orderer_names(bid, 3)}
            # Independently of the model: every peer in the channel is a peer of a member org of the channel,
            # and the nodes view says the peer is in the channel.
            members = next(c for c in detail["channels"] if c["name"] == channel["name"])["org_names"]
            for org, peers in channel["peers"].items():
                assert org in members
                for peer in peers:
                    assert peer in nodes[org]["peers"]
                    assert channel["name"] in nodes[org]["peers"][peer]["channels"]
        for p in detail["peer_info"]:
            assert p["node_cnt"] == len(nodes[p["name"]]["peers"])

        for name, members in instance.channels.items():
            history = self.api.history(bid, name)
            assert history["verified"] is True
            check_links(history)
            assert len(history["blocks"]) == instance.blocks[name]
            last = history["blocks"][-1]
            assert sorted(o["name"] for o in last["orgs"]) == sorted(members)
            assert sorted(o["msp_id"] for o in last["orgs"]) == sorted(msp_id(bid, o) for o in members)
            assert all(stored == again for stored, again in header_hashes(self.db, bid, name))


def test_random_sequences_keep_every_view_consistent(tenant: Tenant, db: Database) -> None:
    ChannelMachine.api = tenant
    ChannelMachine.db = db
    run_state_machine_as_test(
        ChannelMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
