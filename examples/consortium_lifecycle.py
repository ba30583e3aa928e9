"""A whole consortium lifecycle through the official SDK, as two tenants: the inviter creates a consortium instance
with a channel and invites the invitee; the invitee creates its instance for that consortium, agrees, and later
quits; the inviter cleans up. Every asynchronous call is waited for through ListOpRecord.

Run it against ``openbcs serve --demo`` after pasting the ``export`` lines that command prints:

    pip install 'openbcs[sdk]'          # or: pip install huaweicloudsdkbcs
    python examples/consortium_lifecycle.py

``--keep`` stops after the quit and leaves both instances, to look at them (with the local runtime, with Fabric's own
``peer`` CLI: docs/runtime.md).
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from huaweicloudsdkbcs.v2 import (
    BatchInviteMembersToChannelRequest,
    BatchInviteMembersToChannelRequestBody,
    BcsClient,
    CCEClusterInfo,
    ChannelInfoV2,
    CreateNewBlockchainRequest,
    CreateRequestBody,
    DeleteBlockchainRequest,
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
    InvitorInfos,
    ListMembersRequest,
    ListNotificationsRequest,
    ListOpRecordRequest,
    OrgPeer,
    QuitUnionFromMemberListRequestBody,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials

ENDPOINT = os.environ["OPENBCS_ENDPOINT"]
CHANNEL = "channel"


def tenant(prefix: str) -> dict[str, str]:
    """The ids and keys ``openbcs serve --demo`` exported for one demo account."""
    return {
        key: os.environ[f"{prefix}_{key.upper()}"] for key in ("domain_id", "domain_name", "project_id", "ak", "sk")
    }


def client_of(who: dict[str, str]) -> BcsClient:
    """The official SDK's client, signing with the account's AK/SK."""
    credentials = BasicCredentials(who["ak"], who["sk"], who["project_id"])
    return BcsClient.new_builder().with_credentials(credentials).with_endpoints([ENDPOINT]).build()


def wait(client: BcsClient, operation_id: str, timeout: float = 120.0) -> None:
    """Poll ListOpRecord until the operation finished (raise if it failed or took too long)."""
    deadline = time.monotonic() + timeout
    while True:
        (record,) = client.list_op_record(ListOpRecordRequest(operation_id=operation_id)).operation_records
        if record.operation_status == "finished":
            return
        if record.operation_status in ("failed", "stop"):
            raise RuntimeError(f"{operation_id} {record.operation_status}: {record.message}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{operation_id} still {record.operation_status}")
        time.sleep(0.2)


def instance_body(name: str, **fields: object) -> CreateRequestBody:
    """CreateNewBlockchain's body: a consortium (union) instance on an existing CCE cluster."""
    return CreateRequestBody(
        name=name,
        version_type=4,
        blockchain_type="union",
        consensus="etcdraft",
        enterprise_project_id="0",
        resource_password="Resource-" + secrets.token_hex(4),
        cluster_type="cce",
        create_new_cluster=False,
        cce_cluster_info=CCEClusterInfo(
            cluster_id=f"cce-{name}", cluster_name=f"cce-{name}", cluster_platform_type="VirtualMachine"
        ),
        evs_disk_type="SSD",
        org_disk_size=100,
        **fields,
    )


def main() -> None:
    inviter, invitee = tenant("DEMO_INVITER"), tenant("DEMO_INVITEE")
    a, b = client_of(inviter), client_of(invitee)
    run = secrets.token_hex(3)

    # 1. The inviter creates a consortium instance with one organisation and a channel.
    created = a.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=instance_body(
                f"bcs-a-{run}",
                orderer_node_number=3,
                peer_orgs=[OrgPeer(name="organization", node_count=2)],
                channels=[ChannelInfoV2(name=CHANNEL, org_names=["organization"])],
            )
        )
    )
    wait(a, created.operation_id)
    print(f"inviter instance {created.blockchain_name} ({created.blockchain_id}) is ready")

    # 2. It invites the other tenant, by account name, into the channel.
    a.batch_invite_members_to_channel(
        BatchInviteMembersToChannelRequest(
            body=BatchInviteMembersToChannelRequestBody(
                bcs_id=created.blockchain_id,
                channel_name=CHANNEL,
                invited_userinfo=[InvitedDomain(invited_user=invitee["domain_name"])],
            )
        )
    )
    (notification,) = [
        n
        for n in b.list_notifications(ListNotificationsRequest()).notifications
        if n.invitor_info.invitor_bcs_id == created.blockchain_id
    ]
    print(f"invitee sees the invitation to {notification.channel_name}: {notification.status}")

    # 3. The invitee creates an instance for this consortium, then agrees with its organisation.
    own = b.create_new_blockchain(
        CreateNewBlockchainRequest(
            body=instance_body(
                f"bcs-b-{run}",
                is_invitee=True,
                invitor_infos=InvitorInfos(
                    tenant_id=inviter["domain_id"],
                    project_id=inviter["project_id"],
                    blockchain_id=created.blockchain_id,
                ),
            )
        )
    )
    wait(b, own.operation_id)
    b.handle_notification(
        HandleNotificationRequest(
            body=HandleNotificationRequestBody(
                channel_name=CHANNEL,
                status="agreed",
                invitor_info=HandleNotificationInvitor(
                    invitor_bcs_id=created.blockchain_id,
                    invitor_bcs_name=created.blockchain_name,
                    invitor_project_id=inviter["project_id"],
                    invitor_user_id=inviter["domain_id"],
                ),
                invitee_info=HandleNotificationInvitee(
                    invitee_bcs_id=own.blockchain_id,
                    invitee_bcs_name=own.blockchain_name,
                    invitee_project_id=invitee["project_id"],
                    invitee_user_id=invitee["domain_id"],
                ),
                invited_orgs=[HandleNotificationOrg(name="organization")],
            )
        )
    )
    joining = [r for r in b.list_op_record(ListOpRecordRequest(blockchain_id=own.blockchain_id)).operation_records]
    wait(b, joining[0].operation_id)  # newest first: the join
    members = a.list_members(ListMembersRequest()).members
    print(f"members of {CHANNEL}: {[m.invitee_info.invitee_username for m in members]}")

    # 4. The invitee quits the consortium (asynchronous too).
    quit_ = b.handle_union_member_quit_list(
        HandleUnionMemberQuitListRequest(
            body=QuitUnionFromMemberListRequestBody(
                inviter_bcsid=created.blockchain_id,
                inviter_projectid=inviter["project_id"],
                inviter_domainid=inviter["domain_id"],
                inviter_username=inviter["domain_name"],
                channel_name=CHANNEL,
                invitee_bcsid=own.blockchain_id,
                invitee_projectid=invitee["project_id"],
                invitee_domainid=invitee["domain_id"],
            )
        )
    )
    wait(b, quit_.operation_id)
    print(f"invitee quit: {quit_.result}")
    if "--keep" in sys.argv[1:]:
        print(f"kept: INVITER_BCS_ID={created.blockchain_id} INVITEE_BCS_ID={own.blockchain_id} CHANNEL={CHANNEL}")
        return

    # 5. Clean up: the inviter deletes the quit invitation's record, both delete their instances.
    a.delete_member_invite(
        DeleteMemberInviteRequest(
            body=DeleteMemberInviteRequestBody(
                bcs_id=created.blockchain_id,
                channel_name=CHANNEL,
                invited_userinfo=[
                    InvitationDetail(
                        invited_user=invitee["domain_name"], status="quit", invited_bcs_id=own.blockchain_id
                    )
                ],
            )
        )
    )
    for client, blockchain_id in ((b, own.blockchain_id), (a, created.blockchain_id)):
        wait(client, client.delete_blockchain(DeleteBlockchainRequest(blockchain_id=blockchain_id)).operation_id)
    print("consortium lifecycle done")


if __name__ == "__main__":
    main()
