"""``SDK-HMAC-SHA256`` request signatures, verified exactly as the cloud's API gateway does (canonical request,
signed headers, ``X-Sdk-Date`` within the allowed skew, a signed payload hash that matches the body), and bound to
the project the request names."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, select

from openbcs.iam import signing
from openbcs.iam.failures import AuthenticationError, forbidden_project
from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.iam.service import ACCESS_KEY_PURPOSE
from openbcs.kernel.caller import Caller
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.rows import Rows, Statement

# Every signed request runs these: indexed selects compiled once, on the raw driver (docs/benchmarks.md). The key's
# owner and the project the path names come in one statement (one round trip: on PostgreSQL each is a wait and
# psycopg's work); the project is outer-joined, so an unknown key and a foreign project stay told apart.
_KEY_OWNER = Statement(
    select(AccessKey.secret_key_encrypted, User.id, User.name, User.enabled, Account.id, Account.name, Project.name)
    .join(User, User.id == AccessKey.user_id)
    .join(Account, Account.id == User.domain_id)
    .outerjoin(Project, and_(Project.id == bindparam("project_id"), Project.domain_id == Account.id))
    .where(AccessKey.access_key == bindparam("access_key"))
)
_FIRST_PROJECT_OF_KEY = Statement(
    select(Project.id)
    .join(User, User.domain_id == Project.domain_id)
    .join(AccessKey, AccessKey.user_id == User.id)
    .where(AccessKey.access_key == bindparam("access_key"))
    .order_by(Project.name)
    .limit(1)
)


@dataclass(frozen=True)
class SignedRequest:
    """The parts of a received request that its signature covers."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@functools.lru_cache(maxsize=4096)
def secret_key(sealed: str, server_key: ServerKey) -> str:
    """An SK from its stored (sealed) form. Cached by the sealed value, which the key's row is read for on every
    request: a deleted key finds no row, so the cache never lets a request through that the database would not."""
    return server_key.decrypt(ACCESS_KEY_PURPOSE, sealed).decode()


def _checked_header(request: SignedRequest, skew: timedelta, now: datetime) -> signing.SignatureHeader:
    """The Authorization header's parts, once the date, the signed headers and the query's form are acceptable."""
    try:
        header = signing.parse_authorization(request.headers.get("authorization", ""))
        if "x-sdk-date" not in header.signed_headers or "host" not in header.signed_headers:
            raise AuthenticationError("x-sdk-date and host must be signed")
        signed_at = signing.parse_sdk_date(request.headers.get("x-sdk-date", ""))
    except signing.SignatureFormatError as exc:
        raise AuthenticationError(str(exc)) from exc
    if "+" in request.query_string:
        # The canonical query reads '+' as a literal plus but the query parser reads it as a space: refuse the
        # ambiguity rather than act on a value the signature did not cover. The SDK always sends %2B.
        raise AuthenticationError("a signed query must encode '+' as %2B")
    if abs(now - signed_at) > skew:
        raise AuthenticationError("X-Sdk-Date is outside the allowed clock skew")
    return header


def _signature_matches(request: SignedRequest, header: signing.SignatureHeader, sk: str) -> bool:
    """Whether the request's signature is the SK's over one of the payload hashes the client may have signed."""
    try:
        payloads = signing.payload_hashes(request.body, request.headers, header.signed_headers)
    except signing.SignatureFormatError as exc:
        raise AuthenticationError(str(exc)) from exc
    sdk_date = request.headers["x-sdk-date"]
    for payload in payloads:
        canonical = signing.canonical_request(
            method=request.method,
            raw_path=request.raw_path,
            query_string=request.query_string,
            headers=request.headers,
            signed_headers=header.signed_headers,
            body=request.body,
            payload=payload,
        )
        if signing.signatures_match(signing.sign(sk, signing.string_to_sign(sdk_date, canonical)), header.signature):
            return True
    return False


def authenticate_signature(
    rows: Rows,
    *,
    request: SignedRequest,
    project_id: str,
    server_key: ServerKey,
    skew: timedelta,
    now: datetime,
) -> Caller:
    """The identity an ``SDK-HMAC-SHA256`` signature proves, bound to the project the request names.

    Raises :class:`AuthenticationError` when the signature proves nothing, and ``BCS.4030403`` when it proves an
    identity that does not own ``project_id`` (or whose ``X-Project-Id`` names another project).
    """
    header = _checked_header(request, skew, now)
    row = rows.first(_KEY_OWNER, access_key=header.access_key, project_id=project_id)
    if row is None:
        raise AuthenticationError("unknown access key")
    sealed, user_id, user_name, enabled, domain_id, domain_name, project_name = row
    if not _signature_matches(request, header, secret_key(sealed, server_key)):
        raise AuthenticationError("signature mismatch")
    if not enabled:
        raise AuthenticationError("user disabled")
    claimed = request.headers.get("x-project-id")
    if project_name is None or (claimed is not None and claimed != project_id):
        raise forbidden_project(project_id)
    return Caller(user_id, user_name, domain_id, domain_name, project_id, project_name, "aksk")


def authenticate_signature_any_project(
    rows: Rows, *, request: SignedRequest, server_key: ServerKey, skew: timedelta, now: datetime
) -> Caller:
    """Like :func:`authenticate_signature` for IAM calls that name no project: binds to the key's own account."""
    try:
        header = signing.parse_authorization(request.headers.get("authorization", ""))
    except signing.SignatureFormatError as exc:
        raise AuthenticationError(str(exc)) from exc
    row = rows.first(_FIRST_PROJECT_OF_KEY, access_key=header.access_key)
    if row is None:
        raise AuthenticationError("unknown access key")
    return authenticate_signature(rows, request=request, project_id=row[0], server_key=server_key, skew=skew, now=now)
