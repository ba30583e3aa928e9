"""The ``SDK-HMAC-SHA256`` request signature, rebuilt from a request as the server received it.

The rules are those of the official SDK's signer (``docs/auth.md`` in the spec, section 3): canonical URI with a
trailing ``/``, sorted percent-encoded query, the signed headers' trimmed values, the body's SHA-256 (or the signed
``X-Sdk-Content-Sha256`` value, which must match the body or be ``UNSIGNED-PAYLOAD`` where the SDKs send it), then
HMAC-SHA256 with the SK over the string to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
CONTENT_SHA256_HEADER = "x-sdk-content-sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")

_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]{64})$"
)


class SignatureFormatError(ValueError):
    """The Authorization or X-Sdk-Date header is not in the SDK's format."""


@dataclass(frozen=True)
class SignatureHeader:
    """The parts of an ``Authorization: SDK-HMAC-SHA256 ...`` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> SignatureHeader:
    """Split an ``SDK-HMAC-SHA256`` Authorization header into its parts."""
    match = _AUTHORIZATION.match(value.strip())
    if not match:
        raise SignatureFormatError("Authorization is not an SDK-HMAC-SHA256 signature")
    headers = tuple(match["headers"].split(";"))
    if any(not h or h != h.lower() for h in headers):
        raise SignatureFormatError("SignedHeaders must be lower-case header names")
    return SignatureHeader(match["ak"], headers, match["sig"].lower())


_SDK_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)


def parse_sdk_date(value: str) -> datetime:
    """Parse ``X-Sdk-Date`` (``YYYYMMDDTHHMMSSZ``, UTC) strictly."""
    # strptime alone is lenient: one-digit fields ("2024111T..."), lower-case "t"/"z" and non-ASCII digits pass it.
    if not _SDK_DATE.fullmatch(value):
        raise SignatureFormatError("X-Sdk-Date is not YYYYMMDDTHHMMSSZ")
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureFormatError("X-Sdk-Date is not YYYYMMDDTHHMMSSZ") from exc


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(raw_path: str) -> str:
    """Decode the whole path, re-encode each segment, and end with ``/``."""
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(query_string: str) -> str:
    """Sort the query's ``name=value`` pairs and encode them like path segments (``+`` is a literal plus)."""
    pairs: list[tuple[str, str]] = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def unsigned_payload_allowed(content_type: str | None) -> bool:
    """Whether an official SDK sends ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` with this ``Content-Type``: the
    Python core for any type starting with neither ``application/json`` nor ``application/bson``, the Node.js core
    for any type but exactly ``application/json`` (e.g. ``multipart/form-data``, ``application/octet-stream``).
    Never without a Content-Type."""
    if not content_type:
        return False
    python_core = not content_type.startswith(("application/json", "application/bson"))
    node_core = content_type.lower() != "application/json"
    return python_core or node_core


def payload_hashes(body: bytes, headers: Mapping[str, str], signed_headers: tuple[str, ...]) -> tuple[str, ...]:
    """The payload hash the client may have signed: the body's SHA-256, or the signed ``X-Sdk-Content-Sha256``
    value once it is checked. With an empty body the Python core signs the empty body's hash and the Node.js core
    the header's value, so both are candidates then.

    A signed ``X-Sdk-Content-Sha256`` must be the hex SHA-256 of the body received, or ``UNSIGNED-PAYLOAD`` where
    an official SDK sends it (:func:`unsigned_payload_allowed`); anything else raises
    :class:`SignatureFormatError` — otherwise a captured request could be replayed with any body.
    """
    digest = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    if CONTENT_SHA256_HEADER not in signed_headers or CONTENT_SHA256_HEADER not in headers:
        return (digest,)
    claimed = headers[CONTENT_SHA256_HEADER]
    if claimed == UNSIGNED_PAYLOAD:
        if not unsigned_payload_allowed(headers.get("content-type")):
            raise SignatureFormatError("UNSIGNED-PAYLOAD is accepted only for the non-JSON content types SDKs send it")
    elif not (_HEX_DIGEST.fullmatch(claimed) and claimed.lower() == digest):
        raise SignatureFormatError("X-Sdk-Content-Sha256 is not the SHA-256 of the body received")
    return (claimed,) if body or claimed == digest else (digest, claimed)


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
    payload: str | None = None,
) -> str:
    """The canonical request; ``headers`` maps lower-case names to values as received; ``payload`` is the payload
    hash (default: the first of :func:`payload_hashes`)."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query_string),
            canonical_headers,
            ";".join(signed_headers),
            payload if payload is not None else payload_hashes(body, headers, signed_headers)[0],
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    """``SDK-HMAC-SHA256\\n<date>\\n<hex sha256 of the canonical request>``."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def sign(secret_key: str, to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 of the string to sign, keyed with the SK."""
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Compare two hex signatures in constant time."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
