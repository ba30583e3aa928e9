"""Request and answer models of the governance extensions (docs/governance.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminCustodyRequestBody(_Strict):
    """The tenant's certificate signing request (PEM): its P-256 public key and proof of possession. The subject is
    set by the server (``CN=Admin@<org>``, OU client)."""

    csr: str = Field(min_length=1, max_length=8192)


class AdminCustodyResponse(BaseModel):
    """The admin certificate issued for the tenant's key, and the operation changing the channels."""

    admin_cert: str
    operation_id: str


class SignatureRequestsQuery(_Strict):
    status: Literal["pending", "approved", "rejected", "expired", "submitted"] | None = None


class SignatureBody(_Strict):
    """One Fabric ``ConfigSignature``: the serialized ``SignatureHeader`` (creator and nonce) and the DER ECDSA
    signature over ``signature_header || config_update``, both base64."""

    signature_header: str = Field(min_length=1, max_length=16384)
    signature: str = Field(min_length=1, max_length=256)


class RejectBody(_Strict):
    reason: str = Field(min_length=1, max_length=512)


class SignatureRequestView(BaseModel):
    """A signature request as the API shows it."""

    id: str
    blockchain_id: str
    channel_name: str
    operation_id: str
    summary: str
    policy: str
    signed_by: list[str]
    missing: list[str]
    update_sha256: str
    created_at: str
    expires_at: str
    status: str
    reason: str


class ListSignatureRequestsResponse(BaseModel):
    count: int
    signature_requests: list[SignatureRequestView]
