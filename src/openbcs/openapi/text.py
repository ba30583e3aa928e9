"""The prose of the API reference: the introduction, tag descriptions, security schemes, and what the few
operations that do not answer JSON (or answer in Keystone's shape) say about their answers."""

from __future__ import annotations

from typing import Any

INTRODUCTION = """\
Huawei Cloud's Blockchain Service (BCS) v2 management API as OpenBCS serves it: all 32 operations of the official
SDK `huaweicloudsdkbcs` (`BcsClient`), the IAM endpoints the SDK and curl use to authenticate, and OpenBCS's own
extensions (channel configuration history and Fabric blocks, node logs, `/healthz`, `/metrics`, the admin API).

**Authentication.** Every `/v2/{project_id}/...` call carries either an `X-Auth-Token` from
`POST /v3/auth/tokens`, or an AK/SK signature (`Authorization: SDK-HMAC-SHA256 ...` with `X-Sdk-Date`), which is
what the SDK sends. The `{project_id}` of the path must be the caller's own project (else `403 BCS.4030403`).

**Errors** answer `{"error_code": "BCS.xxxxxxx", "error_msg": "..."}`; each operation lists every code it can
answer with (`x-error-codes`), traced from the code. An unknown URL, or a method a path does not have, answers
`404 BCS.4040404`. Every answer of the IAM endpoints (`/v3/...`), errors of any layer included (a body too large,
an unknown path, a crash), is in Keystone's shape `{"error": {"code", "title", "message"}}`.

**Asynchronous operations.** Calls that change instances, channels or memberships answer `operation_id` at once
and finish later: poll `ListOpRecord` (`GET /v2/{project_id}/operation/record?operation_id=...`) until
`operation_status` is `finished` (or `failed`).

**Query parameters.** Each operation's query parameters keep their rules (type, range, given at most once). A
parameter an operation does not have is ignored, as the cloud ignores it — on every read and list operation alike
(`?limit=10` on ListBlockchains or ListOpRecord changes nothing). DeleteBlockchain alone refuses one
(`400 BCS.4006014 Invalid Parameter <name> : unknown field`): a misspelt flag of a deletion must not pass unnoticed.

**HEAD.** `HEAD` on any `GET` path answers as the `GET` does (status, `Content-Type`, `Content-Length`, the same
authentication; an AK/SK signature covers `HEAD`) without a body.
"""

TAG_ORDER = (
    "IAM (Keystone v3)",
    "Consortium members",
    "Instances",
    "Channels",
    "Certificates",
    "Monitoring",
    "Operations",
    "OpenBCS extensions",
    "Admin (OpenBCS)",
)
TAGS = {
    "IAM (Keystone v3)": "Tokens for a user's password, and the project list the SDK reads to find its project id.",
    "Consortium members": "Invitations, notifications, members, and leaving a consortium (operations 1-6).",
    "Instances": "Blockchain instances, their organisations and peers, quotas and flavors (operations 7-13, 31, 32).",
    "Channels": "Channels and which organisations' peers are in them (operations 14-19).",
    "Certificates": "MSP archives, user certificates, freezing, SDK connection profiles (operations 20-24).",
    "Monitoring": "Events, alarms and node metrics (operations 25-29).",
    "Operations": "The records of asynchronous operations (operation 30).",
    "OpenBCS extensions": "Not in the cloud's API: the Fabric configuration of channels, node logs, health and "
    "metrics, organisations' admin custody and signature requests (docs/governance.md).",
    "Admin (OpenBCS)": "Only when the server runs with `--admin-token`: reset, state export and import, seed files. "
    "Send `Authorization: Bearer <admin token>`.",
}
SECURITY: dict[str, Any] = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "A token from POST /v3/auth/tokens (the X-Subject-Token answer header).",
    },
    "aksk": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=..., Signature=... with X-Sdk-Date, as the "
        "official SDKs sign (docs/auth.md).",
    },
    "admin": {"type": "http", "scheme": "bearer", "description": "The server's --admin-token."},
}
SUCCESS = {
    "DownloadBlockchainCert": "The organisation's MSP material as a zip (read it with the SDK's "
    "`consume_download_stream`).",
    "DownloadBlockchainSdkConfig": "A Fabric connection profile with its certificates, as a zip.",
    "CreateBlockchainCertByUserName": "The user's certificate, private key and CA chain, as a zip.",
    "ShowChannelConfigBlock": "A serialized Fabric common.Block.",
    "ShowChannelConfigUpdate": "The CONFIG_UPDATE common.Envelope that produced the block.",
    "ShowSignatureRequestEnvelope": "The CONFIG_UPDATE common.Envelope to sign with `peer channel signconfigtx`.",
    "KeystoneCreateUserTokenByPassword": "Created: the token is in the X-Subject-Token header.",
    "Metrics": "Prometheus exposition text.",
    "Health": "Migrated and the operation worker running.",
}
UPLOAD = "The user-certificate zip (at most 30 KB); without it every certificate of the user."


def keystone_errors(name: str) -> dict[str, Any]:
    """The Keystone-shaped error answers of the IAM endpoints."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/KeystoneError"}}}
    answers = {
        "401": {
            "description": "Wrong password, unknown or disabled user (or no valid credentials).",
            "content": content,
        }
    }
    if name == "KeystoneCreateUserTokenByPassword":
        answers["400"] = {"description": "A malformed token request (the field is named).", "content": content}
        answers["429"] = {
            "description": "Too many logins from this address or for this account (docs/auth.md); see Retry-After.",
            "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
            "content": content,
        }
    else:
        answers["400"] = {"description": "A query parameter that breaks its rule (it is named).", "content": content}
    return answers
