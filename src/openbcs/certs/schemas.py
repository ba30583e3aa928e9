"""Request models of the certificate operations; field names exactly as the BCS API spells them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    peer_orgs: dict[str, list[str]] = Field(min_length=1)
    union_info: dict[str, list[str]] | None = None
    is_multi_chan: bool = False
    channel_chaincode: dict[str, list[str]] | None = None


class ResultResponse(BaseModel):
    """What FreezeCert and UnfreezeCert answer."""

    result: str = "success"
