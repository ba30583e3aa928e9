"""Request and response models of the instance operations; field names exactly as the BCS API spells them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from openbcs.kernel.validation import QueryBool, QueryInt, pattern_rule
from openbcs.network import limits

INSTANCE_NAME = pattern_rule(
    r"^[A-Za-z0-9\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5-]{3,23}$",
    "4-24 characters of letters, digits, Chinese characters and '-', not starting with '-'",
)
ORG_NAME = INSTANCE_NAME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CCEClusterInfo(_Strict):
    cluster_id: str = Field(min_length=1, max_length=64)
    cluster_name: str = Field(min_length=1, max_length=64)
    cluster_platform_type: Literal["VirtualMachine", "ARM64"]


class CCECreateInfo(_Strict):
    node_num: int = Field(ge=1, le=50)
    node_flavor: str = Field(min_length=1, max_length=64)
    cce_flavor: str = Field(min_length=1, max_length=64)
    init_node_pwd: str = Field(min_length=8, max_length=32)
    az: str = Field(min_length=1, max_length=64)
    cluster_platform_type: Literal["VirtualMachine", "ARM64"]


class IEFNode(_Strict):
    id: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=16)
    public_ip_address: str = Field(min_length=1, max_length=64)


class OrgPeer(_Strict):
    name: str = Field(min_length=1, max_length=24, pattern=ORG_NAME)
    node_count: int = Field(ge=1, le=limits.ORG_PEER_MAX)


class ChannelInfoV2(_Strict):
    name: str = Field(min_length=1, max_length=64)
    org_names: list[Annotated[str, Field(max_length=24)]] = Field(min_length=1, max_length=limits.PEER_ORGS_MAX)
    description: str | None = Field(default=None, max_length=256)


class CouchDb(_Strict):
    user_name: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=8, max_length=32)


class TurboInfo(_Strict):
    share_type: Literal["STANDARD"]
    type: Literal["efs-ha"]
    available_zone: str = Field(max_length=64)
    resource_spec_code: Literal["sfs.turbo.standard"]


class BlockInfo(_Strict):
    batch_timeout: int | None = Field(default=None, ge=1, le=60)
    max_message_count: int | None = Field(default=None, ge=1, le=10000)
    preferred_maxbytes: int | None = Field(default=None, ge=1, le=100)


class KafkaCreateInfo(_Strict):
    spec: Literal["mini", "small", "middle", "high"]
    storage: int = Field(ge=1, le=9000)
    az: str = Field(min_length=1, max_length=64)


class InvitorInfos(_Strict):
    tenant_id: str = Field(min_length=1, max_length=64)
    project_id: str = Field(min_length=1, max_length=64)
    blockchain_id: str = Field(min_length=1, max_length=64)


class CreateRequestBody(_Strict):
    """``POST /v2/{project_id}/blockchains``."""

    name: str = Field(min_length=1, max_length=24, pattern=INSTANCE_NAME)
    version_type: Literal[2, 3, 4]
    fabric_version: Literal["1.4", "2.2"] = "2.2"
    blockchain_type: Literal["private", "union"] = "private"
    consensus: Literal["solo", "SFLIC", "etcdraft"] | None = None
    sign_algorithm: Literal["ECDSA", "sm2"] = "ECDSA"
    enterprise_project_id: str = Field(min_length=1, max_length=64)
    volume_type: Literal["evs", "nfs", "efs"] = "evs"
    evs_disk_type: Literal["SATA", "SAS", "SSD"] | None = None
    org_disk_size: int | None = Field(default=None, ge=1, le=10000)
    database_type: Literal["goleveldb", "couchdb"] = "goleveldb"
    resource_password: str = Field(min_length=1, max_length=32)
    orderer_node_number: int | None = Field(default=None, ge=1, le=limits.ORDERER_MAX)
    use_eip: bool = False
    bandwidth_size: int | None = Field(default=None, ge=1, le=300)
    cluster_type: Literal["cce", "ief"]
    create_new_cluster: bool
    cce_cluster_info: CCEClusterInfo | None = None
    cce_create_info: CCECreateInfo | None = None
    ief_deploy_mode: Literal[0, 1] | None = None
    ief_nodes_info: list[IEFNode] | None = Field(default=None, max_length=limits.PEER_ORGS_MAX)
    peer_orgs: list[OrgPeer] | None = Field(default=None, max_length=limits.PEER_ORGS_MAX)
    channels: list[ChannelInfoV2] | None = Field(default=None, max_length=limits.CHANNELS_MAX)
    couchdb_info: CouchDb | None = None
    turbo_info: TurboInfo | None = None
    block_info: BlockInfo | None = None
    kafka_create_info: KafkaCreateInfo | None = None
    tc3_need: bool = False
    restful_api_support: bool = False
    is_invitee: bool = False
    invitor_infos: InvitorInfos | None = None


class CreateNewBlockchainResponse(BaseModel):
    blockchain_id: str
    blockchain_name: str
    operation_id: str


class BlockchainInfo(BaseModel):
    id: str
    name: str


class ListBlockchainsResponse(BaseModel):
    blockchains: list[BlockchainInfo]
    count: int


class NodeOrgs(_Strict):
    name: str = Field(min_length=1, max_length=24, pattern=ORG_NAME)
    # The target peer count of the organisation: 1 to 2 (spec section 3.6), whatever it was created with.
    node_count: int = Field(ge=1, le=limits.UPDATE_NODE_COUNT_MAX)
    pvc_name: str | None = Field(default=None, min_length=1, max_length=64)


class IefNodeinfo(_Strict):
    status: Literal["ACTIVE"]
    public_ip_address: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=64)


class UpdateInstanceRequestBody(_Strict):
    """``PUT /v2/{project_id}/blockchains/{blockchain_id}``: add/delete peers, add/delete organisations."""

    node_orgs: list[NodeOrgs] = Field(min_length=1, max_length=limits.PEER_ORGS_MAX)
    publicips: list[IefNodeinfo] | None = Field(default=None, max_length=limits.PEER_ORGS_MAX)
    is_delete_org: bool = False


class DeleteBlockchainQuery(_Strict):
    """Query flags of ``DELETE /v2/{project_id}/blockchains/{blockchain_id}``."""

    is_delete_storage: QueryBool | None = None
    is_delete_obs: QueryBool | None = None
    is_delete_resource: QueryBool | None = None
    is_delete_ief: QueryBool | None = None
    is_delete_lightpeer: str | None = Field(default=None, max_length=1024)
    ief_nodes_id: str | None = Field(default=None, max_length=1024)


class OperationIdResponse(BaseModel):
    operation_id: str


class FlavorsQuery(_Strict):
    limit: QueryInt = Field(default=1000, gt=0, le=1000)
    offset: QueryInt = Field(default=0, ge=0, le=2**31 - 1)  # an Integer (32-bit) in the spec


class InstanceSpc(BaseModel):
    org_peer_max_num: int
    orderer_max_num: int
    member_max_num: int


class ShowBlockchainFlavorsResponse(BaseModel):
    enterprise_spec: InstanceSpc


class Resource(BaseModel):
    type: str
    unit: str
    min: int
    max: int
    quota: int
    used: int
    free: int


class ListQuotasResponse(BaseModel):
    resources: list[Resource]


# --- detail, status, nodes ---------------------------------------------------------------------------------------


class PeerAddress(BaseModel):
    domain_port: str
    ip_port: str


class PeerInfo(BaseModel):
    name: str
    node_cnt: int
    status: str
    status_detail: str
    pvc_name: str
    address: list[PeerAddress]


class BasicInfo(BaseModel):
    id: str
    name: str
    version: str
    service_type: str
    purchase_type: str
    sign_algorithm: str
    consensus: str
    charging_mode: int
    version_type: int
    database_type: str
    cluster_id: str
    cluster_name: str
    cluster_type: str
    cluster_az: str
    created_time: str
    deploy_type: str
    order_fade_enabled: bool
    is_cross_region: bool
    is_support_rollback: bool
    is_support_restful: bool
    is_support_tc3: bool
    is_old_service: bool
    old_service_version: str
    agent_portal_addrs: list[str]
    status: str
    process_status: str
    order_fade_cache: int
    deploy_status: int
    block_info: BlockInfo
    cluster_platform_type: str


class ChannelInfo(BaseModel):
    name: str
    org_names: list[str]
    org_name_hash: list[str]
    peers: dict[str, list[str]]


class CouchDBInfo(BaseModel):
    user: str


class SfsInfo(BaseModel):
    pvc_name: str
    name: str
    addr: str
    type: str


class ShowBlockchainDetailResponse(BaseModel):
    basic_info: BasicInfo
    channels: list[ChannelInfo]
    peer_info: list[PeerInfo]
    light_peer_info: list[PeerInfo]
    orderer_info: PeerInfo | None = None
    couch_db_info: CouchDBInfo | None = None
    sfs_info: SfsInfo | None = None
    agent_info: PeerInfo
    restapi_info: PeerInfo | None = None
    tc3_taskserver_info: PeerInfo | None = None
    evs_pvc_info: dict[str, dict[str, str]] | None = None


class Detail(BaseModel):
    start_time: str
    end_time: str
    status: str
    detail: str


class ComCCE(BaseModel):
    cluster: Detail
    network: Detail
    security_group: Detail


class ShowBlockchainStatusResponse(BaseModel):
    bcs: Detail
    eip: Detail | None = None
    sfs: Detail | None = None
    cce: ComCCE


class NodeView(BaseModel):
    ip_port: str
    channels: list[str]


class OrgView(BaseModel):
    org_msp_id: str
    org_domain: str
    peers: dict[str, NodeView]


class ShowBlockchainNodesResponse(BaseModel):
    node_orgs: dict[str, OrgView]
