"""Read models of instances as the API shows them, every field computed from the stored model."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.engine import records
from openbcs.engine.models import FAILED, FINISHED, PROCESSING, STOPPED, WAITING
from openbcs.instances import quotas as quota_rules
from openbcs.instances import service
from openbcs.instances.schemas import (
    BasicInfo,
    BlockInfo,
    ChannelInfo,
    ComCCE,
    CouchDBInfo,
    Detail,
    InstanceSpc,
    ListQuotasResponse,
    NodeView,
    OrgView,
    PeerAddress,
    PeerInfo,
    Resource,
    SfsInfo,
    ShowBlockchainDetailResponse,
    ShowBlockchainFlavorsResponse,
    ShowBlockchainNodesResponse,
    ShowBlockchainStatusResponse,
)
from openbcs.kernel.clock import iso_time
from openbcs.network import endpoints, guards, limits, lookups
from openbcs.network.models import Instance, Node, Organization
from openbcs.network.naming import msp_id, node_address, org_domain

_DETAIL_STATUS = {
    WAITING: "waiting",
    PROCESSING: "deploying",
    FINISHED: "finished",
    FAILED: "failed",
    STOPPED: "failed",
}


def _peer_info(org: Organization, nodes: list[Node], allocated: endpoints.Allocated) -> PeerInfo:
    healthy = sum(1 for node in nodes if node.status == guards.NODE_NORMAL)
    return PeerInfo(
        name=org.name,
        node_cnt=len(nodes),
        status=org.status,
        status_detail=f"{healthy}/{len(nodes)}",
        pvc_name=org.pvc_name,
        address=[PeerAddress(domain_port=d, ip_port=i) for d, i in endpoints.addresses(org, nodes, allocated).values()],
    )


def _addon(instance: Instance, process_status: str | None, name: str) -> PeerInfo:
    """A single-pod add-on (the data-plane agent, the RESTful API) as a PeerInfo."""
    healthy = instance.status == guards.NORMAL and process_status != guards.IS_CREATING
    return PeerInfo(
        name=name,
        node_cnt=1,
        status=guards.NODE_NORMAL if healthy else process_status or instance.status,
        status_detail="1/1" if healthy else "0/1",
        pvc_name="",
        address=[],
    )


def detail(session: Session, *, project_id: str, blockchain_id: str) -> ShowBlockchainDetailResponse:
    """ShowBlockchainDetail: basic info, channels, peer/orderer organisations, add-ons."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    settings = instance.settings
    process_status = guards.process_status(session, instance)
    peer_orgs = lookups.orgs_of(session, instance.id, role="peer")
    orderer_orgs = lookups.orgs_of(session, instance.id, role="orderer")
    # The data-plane agent is modelled on the first peer's host.
    by_org = lookups.nodes_by_org(session, instance.id)  # every node in one statement, not one per organisation
    first_nodes = by_org.get(peer_orgs[0].id, []) if peer_orgs else []
    agent_ip = node_address(peer_orgs[0], first_nodes[0])[1].split(":")[0] if first_nodes else "127.0.0.1"
    basic = BasicInfo(
        id=instance.id,
        name=instance.name,
        version=instance.fabric_version,
        service_type=instance.blockchain_type,
        purchase_type="normal",
        sign_algorithm=instance.sign_algorithm,
        consensus=instance.consensus,
        charging_mode=1,
        version_type=instance.version_type,
        database_type=instance.database_type,
        cluster_id=settings.get("cluster_id", ""),
        cluster_name=settings.get("cluster_name", ""),
        cluster_type="CCE",
        cluster_az="no",
        created_time=iso_time(instance.created_time),
        deploy_type=("invite" if instance.is_invitee else "create") if instance.blockchain_type == "union" else "",
        order_fade_enabled=False,
        is_cross_region=False,
        is_support_rollback=False,
        is_support_restful=bool(settings.get("restful_api_support")),
        is_support_tc3=bool(settings.get("tc3_need")),
        is_old_service=False,
        old_service_version="",
        agent_portal_addrs=[f"https://{agent_ip}:32621"],
        status=guards.shown_status(session, instance),
        process_status=process_status or "",
        order_fade_cache=0,
        deploy_status=instance.deploy_status,
        block_info=BlockInfo(
            batch_timeout=settings.get("block_info", {}).get("batch_timeout", 2),
            max_message_count=settings.get("block_info", {}).get("max_message_count", 500),
            preferred_maxbytes=settings.get("block_info", {}).get("preferred_maxbytes", 2),
        ),
        cluster_platform_type=settings.get("cluster_platform_type", "VirtualMachine"),
    )
    volume = settings.get("volume_type", "evs")
    allocated = endpoints.ports_of_instance(session, instance.id)  # every node's ports in one statement
    return ShowBlockchainDetailResponse(
        basic_info=basic,
        channels=[
            ChannelInfo(name=v.name, org_names=v.org_names, org_name_hash=v.org_hashes, peers=v.peers)
            for v in lookups.channel_views(session, blockchain_id=instance.id)
        ],
        peer_info=[_peer_info(org, by_org.get(org.id, []), allocated) for org in peer_orgs],
        light_peer_info=[],
        orderer_info=_peer_info(orderer_orgs[0], by_org.get(orderer_orgs[0].id, []), allocated)
        if orderer_orgs
        else None,
        couch_db_info=CouchDBInfo(user=settings["couchdb_user"]) if "couchdb_user" in settings else None,
        sfs_info=(
            SfsInfo(
                pvc_name=f"pvc-sfs-{instance.id[:8]}",
                name=f"sfs-{instance.name}",
                addr=f"sfs-{instance.id[:8]}.modelled.local:/share",
                type=volume,
            )
            if volume in ("nfs", "efs")
            else None
        ),
        agent_info=_addon(instance, process_status, "baas-agent"),
        restapi_info=_addon(instance, process_status, "baas-restapi") if settings.get("restful_api_support") else None,
        tc3_taskserver_info=_addon(instance, process_status, "tc3-taskserver") if settings.get("tc3_need") else None,
        evs_pvc_info={org.name: {"pvc_name": org.pvc_name} for org in peer_orgs} if volume == "evs" else None,
    )


def _detail_of(record: records.OperationRecord | None, sub_steps: tuple[str, ...]) -> Detail:
    found = [s for step in (record.steps if record else []) for s in step.sub_steps if s.name in sub_steps]
    if not found:
        return Detail(start_time="", end_time="", status="finished", detail="")
    status = records.step_status([s.status for s in found])
    starts = [s.start_time for s in found if s.start_time]
    ends = [s.end_time for s in found if s.end_time]
    return Detail(
        start_time=iso_time(min(starts)) if starts else "",
        end_time=iso_time(max(ends)) if ends and status == FINISHED else "",
        status=_DETAIL_STATUS[status],
        detail="; ".join(s.detail for s in found if s.detail),
    )


def status(session: Session, *, project_id: str, blockchain_id: str) -> ShowBlockchainStatusResponse:
    """ShowBlockchainStatus: each part's progress, read from the sub-steps of the creation operation."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    record = service.creation_record(session, instance=instance)
    settings = instance.settings
    return ShowBlockchainStatusResponse(
        bcs=_detail_of(
            record,
            (
                "Generate basic configurations",
                "Generate certificates",
                "Deploy orderers",
                "Deploy peers",
                "Create channels",
                "Check instance health",
            ),
        ),
        eip=_detail_of(record, ("Create EIP",)) if settings.get("use_eip") else None,
        sfs=_detail_of(record, ("Create network storage",)) if settings.get("volume_type") in ("nfs", "efs") else None,
        cce=ComCCE(
            cluster=_detail_of(record, ("Check CCE cluster",)),
            network=_detail_of(record, ("Configure network",)),
            security_group=_detail_of(record, ("Configure security group",)),
        ),
    )


def nodes(session: Session, *, project_id: str, blockchain_id: str) -> ShowBlockchainNodesResponse:
    """ShowBlockchainNodes: each peer organisation's MSP id, domain and peers with the channels they are in."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    views: dict[str, OrgView] = {}
    allocated = endpoints.ports_of_instance(session, instance.id)
    orgs = lookups.orgs_of(session, instance.id, role="peer")
    by_org = lookups.nodes_by_org(session, instance.id)
    # Every peer's channels in one statement, not one per organisation.
    in_channels = lookups.channels_by_node(session, node_ids=[n.id for org in orgs for n in by_org.get(org.id, [])])
    for org in orgs:
        org_nodes = by_org.get(org.id, [])
        shown = endpoints.addresses(org, org_nodes, allocated)
        views[org.name] = OrgView(
            org_msp_id=msp_id(org),
            org_domain=org_domain(org),
            peers={n.name: NodeView(ip_port=shown[n.id][1], channels=in_channels[n.id]) for n in org_nodes},
        )
    return ShowBlockchainNodesResponse(node_orgs=views)


def quotas(session: Session, *, project_id: str, domain_id: str) -> ListQuotasResponse:
    """ListQuotas: the instance quota of the account and what the project uses of it."""
    quota = quota_rules.instance_quota(session, domain_id=domain_id)
    used = quota_rules.count_instances(session, project_id=project_id)
    return ListQuotasResponse(
        resources=[
            Resource(
                type="instance",
                unit="",
                min=0,
                max=limits.QUOTA_MAX,
                quota=quota,
                used=used,
                free=max(0, quota - used),
            )
        ]
    )


def flavors() -> ShowBlockchainFlavorsResponse:
    """ShowBlockchainFlavors: the limits creation and scaling enforce."""
    return ShowBlockchainFlavorsResponse(
        enterprise_spec=InstanceSpc(
            org_peer_max_num=limits.ORG_PEER_MAX,
            orderer_max_num=limits.ORDERER_MAX,
            member_max_num=limits.MEMBER_MAX,
        )
    )
