"""AK/SK request headers as the SDK sends them, signed with ``openbcs.iam.signing`` (``SDK-HMAC-SHA256``).

The first signature of each kind (method, body or not) is checked byte-identical to what ``huaweicloudsdkcore``'s
Signer produces for the same request when the SDK is installed. ``X-Sdk-Date`` stays valid for the server's 15-minute
skew, so headers signed once serve a whole load run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.harness import BenchError
from openbcs.iam import signing

USER_AGENT = "huaweicloud-usdk-python/3.0"
_checked: set[tuple[str, bool]] = set()


def sdk_date() -> str:
    """``X-Sdk-Date`` for now."""
    return datetime.now(UTC).strftime(signing.DATE_FORMAT)


def signed_headers(
    *,
    method: str,
    port: int,
    path: str,
    access_key: str,
    secret_key: str,
    project_id: str,
    body: bytes = b"",
    date: str | None = None,
) -> dict[str, str]:
    """The SDK's headers for a request on ``127.0.0.1:port`` with a JSON content type, plus the signature."""
    headers = {
        "Content-Type": "application/json",
        "Host": f"127.0.0.1:{port}",
        "User-Agent": USER_AGENT,
        "X-Project-Id": project_id,
        "X-Sdk-Date": date or sdk_date(),
    }
    lower = {name.lower(): value for name, value in headers.items()}
    names = tuple(sorted(lower))
    canonical = signing.canonical_request(
        method=method, raw_path=path, query_string="", headers=lower, signed_headers=names, body=body
    )
    signature = signing.sign(secret_key, signing.string_to_sign(lower["x-sdk-date"], canonical))
    headers["Authorization"] = (
        f"{signing.ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    kind = (method, bool(body))
    if kind not in _checked:
        _checked.add(kind)
        verdict = cross_check(
            headers, method=method, port=port, path=path, body=body, ak=access_key, sk=secret_key, project_id=project_id
        )
        print(f"  {method} signature: {verdict}", flush=True)
    return headers


def cross_check(
    headers: dict[str, str], *, method: str, port: int, path: str, body: bytes, ak: str, sk: str, project_id: str
) -> str:
    """Raise BenchError when the SDK's Signer disagrees; say what was checked."""
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
        from huaweicloudsdkcore.signer.signer import Signer
    except ImportError:
        return "huaweicloudsdkcore not installed: not cross-checked"
    request = SdkRequest(
        method=method,
        schema="http",
        host=f"127.0.0.1:{port}",
        resource_path=path,
        query_params=[],
        header_params={k: v for k, v in headers.items() if k not in ("Authorization", "Host")},
        body=body,
    )
    Signer(BasicCredentials(ak, sk, project_id)).sign(request)
    theirs = request.header_params.get("Authorization")
    if theirs != headers["Authorization"]:
        raise BenchError(
            f"our {method} signature differs from the SDK's:\n  ours {headers['Authorization']}\n  SDK  {theirs}"
        )
    return "byte-identical to huaweicloudsdkcore's Signer"
