"""Request models of the certificate operations; field names exactly as the BCS API spells them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from openbcs.network import limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Name = Annotated[str, Field(max_length=64)]
_Peers = Annotated[list[Annotated[str, Field(max_length=8)]], Field(max_length=limits.ORG_PEER_MAX)]
_Orgs = Annotated[list[_Name], Field(max_length=limits.PEER_ORGS_MAX)]
_Chaincodes = Annotated[list[_Name], Field(max_length=limits.CHAINCODES_PER_CHANNEL_MAX)]


class DownloadCertQuery(_Strict):
    """``GET .../cert?org_name=&cert_type=`` (cert_type is checked by the service, for the documented message)."""

    org_name: str = Field(min_length=1, max_length=64)
    cert_type: str = Field(min_length=1, max_length=32)


class UserCertBody(_Strict):
    """``POST .../orgs/{org_name}/usercert/{user_name}``."""

    security_mode: bool = False


class SdkConfigBody(_Strict):
    """``POST .../sdk-cfg``."""

    chaincode_name: str = Field(default="", max_length=25)
    cert_path: str = Field(min_length=1, max_length=256)
    channel_name: str = Field(default="", max_length=64)
    # organisation -> indexes ("0", "1", ...) of its peers to include: the caller's organisations
    peer_orgs: dict[_Name, _Peers] = Field(min_length=1, max_length=limits.PEER_ORGS_MAX)
    # consortium member -> hashes of its organisations
    union_info: dict[_Name, _Orgs] | None = Field(default=None, max_length=limits.MEMBER_MAX)
    is_multi_chan: bool = False
    # channel -> chaincode names
    channel_chaincode: dict[_Name, _Chaincodes] | None = Field(default=None, max_length=limits.CHANNELS_MAX)


class ResultResponse(BaseModel):
    """What FreezeCert and UnfreezeCert answer."""

    result: str = "success"
