"""The official SDK drives a whole consortium life on a live server: invite, create the invitee instance from the
notification, agree, both see the member, quit with the seed's call, the inviter deletes the record; the channel's
configuration history shows the join and the quit as Fabric config blocks that verify."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import httpx
from fabric_protos.common import common_pb2, configtx_pb2

from tests.support import bodies
from tests.support.accounts import issue_token
from tests.support.bodies import DEFAULT_ORG
from tests.support.consortia import JOIN_OPERATION_ID, QUIT_OPERATION_ID
from tests.support.expected import block_header_hash, block_orgs, msp_id
from tests.support.snapshots import invitation_row
from tests.support.tenants import Tenant


def _wait(client: Any, operation_id: str) -> Any:
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest

    deadline = time.monotonic() + 60
    while True:
        (record,) = client.list_op_record(ListOpRecordRequest(operation_id=operation_id)).operation_records
        if record.operation_status not in ("waiting", "processing"):
            assert record.operation_status == "finished", record
            return record
        assert time.monotonic() < deadline, f"{operation_id} still {record.operation_status}"
        time.sleep(0.02)


def test_a_consortium_life_through_the_sdk(live_server, make_account, sdk_client, db):
    from huaweicloudsdkbcs.v2 import (
        BatchAddPeersToChannelRequest,
        BatchAddPeersToChannelRequestBody,
        BatchCreateChannelsRequest,
        BatchCreateChannelsRequestBody,
        BatchInviteMembersToChannelRequest,
        BatchInviteMembersToChannelRequestBody,
        CreateNewBlockchainRequest,
        CreateRequestBody,
        DeleteMemberInviteRequest,
        DeleteMemberInviteRequestBody,
        HandleNotificationInvitee,
        HandleNotificationInvitor,
        HandleNotificationOrg,
        HandleNotificationRequest,
        HandleNotificationRequestBody,
        HandleUnionMemberQuitListRequest,
        InvitationDetail,
        InvitedDomain,
        ListMembersRequest,
        ListNotificationsRequest,
        ListOpRecordRequest,
        QuitUnionFromMemberListRequestBody,
    )
    from huaweicloudsdkbcs.v2.model.cce_cluster_info import CCEClusterInfo
    from huaweicloudsdkbcs.v2.model.channel_create_info import ChannelCreateInfo
    from huaweicloudsdkbcs.v2.model.invitor_infos import InvitorInfos
    from huaweicloudsdkbcs.v2.model.peer_channel_info import PeerChannelInfo

    inviter_account, invitee_account = make_account(), make_account()
    inviter, invitee = sdk_client(inviter_account), sdk_client(invitee_account)

    def create_body(name: str, **fields: Any) -> Any:
        # The suite's valid body (tests/support/bodies.py), as the SDK's models; without the default orderers.
        defaults = {**bodies.create_body(name, orderer_node_number=None, fabric_version="2.2"), **fields}
        defaults["cce_cluster_info"] = CCEClusterInfo(**defaults["cce_cluster_info"])
        return CreateRequestBody(**defaults)

    # The inviter: a union instance, and a channel "consortium" with its organisation's peers.
    created = inviter.create_new_blockchain(
        CreateNewBlockchainRequest(body=create_body("bcs-union", blockchain_type="union", orderer_node_number=3))
    )
    _wait(inviter, created.operation_id)
    union = created.blockchain_id
    channel_op = inviter.batch_create_channels(
        BatchCreateChannelsRequest(
            blockchain_id=union,
            body=BatchCreateChannelsRequestBody(channels=[ChannelCreateInfo(channel_name="consortium")]),
        )
    ).operation_id
    _wait(inviter, channel_op)
    peers_op = inviter.batch_add_peers_to_channel(
        BatchAddPeersToChannelRequest(
            blockchain_id=union,
            body=BatchAddPeersToChannelRequestBody(
                channel_peers=[PeerChannelInfo(channel_name="consortium", peers={DEFAULT_ORG: 2})]
            ),
        )
    ).operation_id
    _wait(inviter, peers_op)

    # Invite.
    invited = inviter.batch_invite_members_to_channel(
        BatchInviteMembersToChannelRequest(
            body=BatchInviteMembersToChannelRequestBody(
                bcs_id=union,
                channel_name="consortium",
                invitor_username=inviter_account.name,
                invited_userinfo=[InvitedDomain(invited_user=invitee_account.name)],
            )
        )
    )
    assert invited.result == "success"

    # The invitee reads its notification and creates a matching invitee instance from it.
    (notification,) = invitee.list_notifications(ListNotificationsRequest()).notifications
    assert (notification.channel_name, notification.status, notification.read_status) == ("consortium", "waiting", 0)
    info = notification.invitor_info
    assert (info.invitor_bcs_id, info.invitor_name, info.invitor_id) == (
        union,
        inviter_account.name,
        inviter_account.domain_id,
    )
    created = invitee.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=create_body(
                "bcs-invitee",
                blockchain_type="union",
                consensus=info.invitor_consensus,
                sign_algorithm=info.invitor_signature_algorithm,
                fabric_version=info.invitor_fabric_version,
                database_type=info.invitor_database_type,
                is_invitee=True,
                invitor_infos=InvitorInfos(
                    tenant_id=info.invitor_id, project_id=info.invitor_project_id, blockchain_id=info.invitor_bcs_id
                ),
            )
        )
    )
    _wait(invitee, created.operation_id)
    invitee_bcs = created.blockchain_id

    # Agree with its organisation.
    agreed = invitee.handle_notification(
        HandleNotificationRequest(
            body=HandleNotificationRequestBody(
                channel_name="consortium",
                status="agreed",
                invitor_info=HandleNotificationInvitor(
                    invitor_bcs_id=info.invitor_bcs_id,
                    invitor_bcs_name=info.invitor_bcs_name,
                    invitor_project_id=info.invitor_project_id,
                    invitor_user_id=info.invitor_id,
                ),
                invitee_info=HandleNotificationInvitee(
                    invitee_bcs_id=invitee_bcs,
                    invitee_bcs_name="bcs-invitee",
                    invitee_project_id=invitee_account.project_id,
                    invitee_user_id=invitee_account.domain_id,
                ),
                invited_orgs=[HandleNotificationOrg(name=DEFAULT_ORG)],
            )
        )
    )
    assert agreed.result == "success"
    (join,) = invitee.list_op_record(ListOpRecordRequest(operation_type="05")).operation_records
    assert re.fullmatch(JOIN_OPERATION_ID, join.operation_id)
    _wait(invitee, join.operation_id)

    # Both see the member.
    for client in (inviter, invitee):
        (member,) = client.list_members(ListMembersRequest()).members
        assert (member.channel_name, member.invitor_info.invitor_bcs_id) == ("consortium", union)
        assert (member.invitee_info.invitee_bcs_id, member.invitee_info.invitee_username) == (
            invitee_bcs,
            invitee_account.name,
        )
        assert [(o.name, o.status, o.status_detail) for o in member.invited_orgs] == [(DEFAULT_ORG, "joined", "2/2")]

    # The invitee quits with the seed's call.
    quit_answer = invitee.handle_union_member_quit_list(
        HandleUnionMemberQuitListRequest(
            body=QuitUnionFromMemberListRequestBody(
                inviter_bcsid=union,
                inviter_projectid=inviter_account.project_id,
                inviter_domainid=inviter_account.domain_id,
                inviter_username=inviter_account.name,
                channel_name="consortium",
                invitee_bcsid=invitee_bcs,
                invitee_projectid=invitee_account.project_id,
                invitee_domainid=invitee_account.domain_id,
            )
        )
    )
    assert quit_answer.result == "success"
    assert re.fullmatch(QUIT_OPERATION_ID, quit_answer.operation_id)
    record = _wait(invitee, quit_answer.operation_id)
    assert (record.operation_type, record.blockchain_id) == ("03", invitee_bcs)
    assert list(record.operation_process) == ["Quit channel", "Finish"]

    # The inviter sees the member quit, the invitee no longer; the inviter deletes the record.
    (member,) = inviter.list_members(ListMembersRequest()).members
    assert [o.status for o in member.invited_orgs] == ["quit"]
    assert invitee.list_members(ListMembersRequest()).members == []
    deleted = inviter.delete_member_invite(
        DeleteMemberInviteRequest(
            body=DeleteMemberInviteRequestBody(
                bcs_id=union,
                channel_name="consortium",
                invited_userinfo=[
                    InvitationDetail(invited_user=invitee_account.name, status="quit", invited_bcs_id=invitee_bcs)
                ],
            )
        )
    )
    assert deleted.result == "success"
    assert inviter.list_members(ListMembersRequest()).members == []
    (notification,) = invitee.list_notifications(ListNotificationsRequest()).notifications
    assert notification.status == "quit"
    row = invitation_row(db)
    assert (row["status"], row["deleted_by_inviter"]) == ("quit", True)

    # The channel's configuration history, as Fabric config blocks: create, the inviter's org, the join, the quit.
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        reader = Tenant(http, inviter_account, issue_token(http, inviter_account))
        history = reader.history(union, "consortium")
        raw_blocks = [reader.call("GET", f"/blockchains/{union}/channels/consortium/blocks/{n}") for n in range(4)]
    assert (history["channel_name"], history["verified"]) == ("consortium", True)
    blocks = history["blocks"]
    assert [(b["number"], b["event"], b["cause"]) for b in blocks] == [
        (0, "create", channel_op),
        (1, "org_added", peers_op),
        (2, "org_added", join.operation_id),
        (3, "org_removed", quit_answer.operation_id),
    ]
    inviter_org = (union, DEFAULT_ORG)
    members = [
        [],
        block_orgs(inviter_org),
        block_orgs(inviter_org, (invitee_bcs, DEFAULT_ORG)),
        block_orgs(inviter_org),
    ]
    assert [b["orgs"] for b in blocks] == members
    # Who signed each update: nobody needed to add the first organisation (an empty Application group's Admins
    # policy is MAJORITY of nothing), the inviter's admin the join, both admins (a majority of two) the quit.
    inviter_msp, invitee_msp = msp_id(union, DEFAULT_ORG), msp_id(invitee_bcs, DEFAULT_ORG)
    assert [sorted(b["signers"]) for b in blocks] == [[], [], [inviter_msp], sorted([inviter_msp, invitee_msp])]
    assert [b["config_sequence"] for b in blocks] == [0, 1, 2, 3]
    assert blocks[0]["previous_hash"] == ""
    for previous, block in itertools.pairwise(blocks):
        assert block["previous_hash"] == previous["hash"]
    # Each block decodes with Fabric's own protobuf classes, carries the hash the history reports (recomputed here
    # from its header) and an Application group holding exactly the organisations ListMembers showed.
    for block, answer, orgs in zip(blocks, raw_blocks, members, strict=True):
        assert (answer.status_code, answer.headers["content-type"]) == (200, "application/octet-stream")
        decoded = common_pb2.Block.FromString(answer.content)
        assert decoded.header.number == block["number"]
        assert block_header_hash(decoded.header) == block["hash"]
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(decoded.data.data[0]).payload)
        config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
        assert sorted(config.channel_group.groups["Application"].groups) == sorted(o["msp_id"] for o in orgs)
        assert config.sequence == block["config_sequence"]
