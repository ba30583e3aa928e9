"""The official SDK (huaweicloudsdkbcs) driving every channel operation against a live server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from openbcs.kernel.db import Database
from tests.channels.helpers import OPERATION_ID, block_orgs
from tests.support.accounts import TestAccount
from tests.support.expected import orderer_names, peer_names
from tests.support.operations import operation_locks
from tests.support.servers import LiveServer
from tests.support.snapshots import snapshot
from tests.support.tenants import new_tenant


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def test_the_sdk_drives_a_channel_through_its_life(
    http: httpx.Client, make_account: Callable[..., TestAccount], sdk_client: Callable[..., Any], db: Database
) -> None:
    from huaweicloudsdkbcs.v2 import (
        BatchAddPeersToChannelRequest,
        BatchAddPeersToChannelRequestBody,
        BatchAddPeersToChannelResponse,
        BatchCreateChannelsRequest,
        BatchCreateChannelsRequestBody,
        BatchCreateChannelsResponse,
        BatchRemoveOrgsFromChannelRequest,
        BatchRemoveOrgsFromChannelRequestBody,
        BatchRemoveOrgsFromChannelResponse,
        BatchRemovePeersFromChannelRequest,
        BatchRemovePeersFromChannelRequestBody,
        BatchRemovePeersFromChannelResponse,
        ChannelCreateInfo,
        DeleteChannelRequest,
        DeleteChannelResponse,
        ListBlockchainChannelsRequest,
        ListBlockchainChannelsResponse,
        PeerChannelInfo,
    )
    from huaweicloudsdkbcs.v2.model.channel import Channel

    api = new_tenant(http, make_account)
    bid = api.create_instance("chan-sdk", peer_orgs=[("orga", 3), ("orgb", 1)], channels=[])
    sdk = sdk_client(api.account)

    def finished(operation_id: str) -> None:
        assert re.match(OPERATION_ID, operation_id)
        api.wait(operation_id)

    created = sdk.batch_create_channels(
        BatchCreateChannelsRequest(
            blockchain_id=bid,
            body=BatchCreateChannelsRequestBody(
                channels=[ChannelCreateInfo(channel_name="sdkchan", channel_description="made by the SDK")]
            ),
        )
    )
    assert isinstance(created, BatchCreateChannelsResponse)
    finished(created.operation_id)
    assert api.record(created.operation_id)["operation_type"] == "04"

    listed = sdk.list_blockchain_channels(ListBlockchainChannelsRequest(blockchain_id=bid))
    assert isinstance(listed, ListBlockchainChannelsResponse)
    (channel,) = listed.channels
    assert isinstance(channel, Channel)
    assert (channel.name, channel.description, channel.consensus) == ("sdkchan", "made by the SDK", "etcdraft")
    assert channel.peers == {}
    assert channel.consensus_nodes == {"orderer": orderer_names(bid, 3)}  # parsed from "consensusNodes"
    assert channel.create_time == api.channel(bid, "sdkchan")["create_time"]

    added = sdk.batch_add_peers_to_channel(
        BatchAddPeersToChannelRequest(
            blockchain_id=bid,
            body=BatchAddPeersToChannelRequestBody(
                channel_peers=[PeerChannelInfo(channel_name="sdkchan", peers={"orga": 3, "orgb": 1})]
            ),
        )
    )
    assert isinstance(added, BatchAddPeersToChannelResponse)
    finished(added.operation_id)
    (channel,) = sdk.list_blockchain_channels(ListBlockchainChannelsRequest(blockchain_id=bid)).channels
    assert channel.peers == {"orga": peer_names(bid, "orga", 3), "orgb": peer_names(bid, "orgb", 1)}

    removed_peers = sdk.batch_remove_peers_from_channel(
        BatchRemovePeersFromChannelRequest(
            blockchain_id=bid,
            channel_id="sdkchan",
            body=BatchRemovePeersFromChannelRequestBody(org_name="orga", peers=2),
        )
    )
    assert isinstance(removed_peers, BatchRemovePeersFromChannelResponse)
    finished(removed_peers.operation_id)
    assert api.record(removed_peers.operation_id)["operation_type"] == "06"
    (channel,) = sdk.list_blockchain_channels(ListBlockchainChannelsRequest(blockchain_id=bid)).channels
    assert channel.peers == {"orga": peer_names(bid, "orga", 1), "orgb": peer_names(bid, "orgb", 1)}

    removed_orgs = sdk.batch_remove_orgs_from_channel(
        BatchRemoveOrgsFromChannelRequest(
            blockchain_id=bid,
            channel_id="sdkchan",
            body=BatchRemoveOrgsFromChannelRequestBody(org_names=["orga", "orgb"]),
        )
    )
    assert isinstance(removed_orgs, BatchRemoveOrgsFromChannelResponse)
    finished(removed_orgs.operation_id)
    (channel,) = sdk.list_blockchain_channels(ListBlockchainChannelsRequest(blockchain_id=bid)).channels
    assert channel.peers == {}
    history = api.history(bid, "sdkchan")
    assert [(b["event"], b["orgs"]) for b in history["blocks"]] == [
        ("create", []),
        ("org_added", block_orgs(bid, "orga", "orgb")),
        ("org_removed", []),
    ]
    assert history["verified"] is True

    deleted = sdk.delete_channel(DeleteChannelRequest(blockchain_id=bid, channel_id="sdkchan"))
    assert isinstance(deleted, DeleteChannelResponse)
    finished(deleted.operation_id)
    assert sdk.list_blockchain_channels(ListBlockchainChannelsRequest(blockchain_id=bid)).channels == []
    assert api.channels(bid) == []
    assert operation_locks(db) == []


def test_the_sdk_reports_channel_errors(
    http: httpx.Client, make_account: Callable[..., TestAccount], sdk_client: Callable[..., Any], db: Database
) -> None:
    from huaweicloudsdkbcs.v2 import (
        BatchCreateChannelsRequest,
        BatchCreateChannelsRequestBody,
        ChannelCreateInfo,
        DeleteChannelRequest,
    )
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    api, other = new_tenant(http, make_account), make_account()
    bid = api.create_instance("chan-sdk-err")
    sdk = sdk_client(api.account)
    before = snapshot(db)

    with pytest.raises(ClientRequestException) as bad_name:
        sdk.batch_create_channels(
            BatchCreateChannelsRequest(
                blockchain_id=bid,
                body=BatchCreateChannelsRequestBody(channels=[ChannelCreateInfo(channel_name="Bad_Name")]),
            )
        )
    assert (bad_name.value.status_code, bad_name.value.error_code) == (400, "BCS.4006012")

    with pytest.raises(ClientRequestException) as not_empty:
        sdk.delete_channel(DeleteChannelRequest(blockchain_id=bid, channel_id="channel"))
    assert (not_empty.value.status_code, not_empty.value.error_code) == (400, "BCS.4006003")

    with pytest.raises(ClientRequestException) as unknown:
        sdk.delete_channel(DeleteChannelRequest(blockchain_id=bid, channel_id="nochan"))
    assert (unknown.value.status_code, unknown.value.error_code) == (400, "BCS.4001052")

    with pytest.raises(ClientRequestException) as foreign:
        sdk_client(other).delete_channel(DeleteChannelRequest(blockchain_id=bid, channel_id="channel"))
    assert (foreign.value.status_code, foreign.value.error_code) == (400, "BCS.4001011")

    assert snapshot(db) == before
