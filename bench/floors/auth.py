"""Who sent a request, as OpenBCS decides it, with nothing else: a token is the server key's Fernet encryption of
its claims (key derived by HKDF-SHA256 with ``info=b"token"``, as ``openbcs.kernel.keys`` derives it), checked against
its user (enabled, same credential version); a signature is ``SDK-HMAC-SHA256`` over the canonical request, keyed
with the SK stored encrypted under the ``access-key`` key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bench.floors.db import Query

UNAUTHORIZED = (401, "BCS.4010401", "Incorrect token or token resolution failed")
FORBIDDEN = (403, "BCS.4030403", "No permissions to request this method")
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]{64})$"
)
_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_TOKEN_OWNER = (
    "SELECT u.id, u.name, u.enabled, u.credential_version, a.id, a.name, p.id, p.name FROM iam_users u "
    "JOIN iam_accounts a ON a.id = u.domain_id JOIN iam_projects p ON p.domain_id = a.id WHERE u.id = ? AND p.id = ?"
)
_KEY_OWNER = (
    "SELECT k.secret_key_encrypted, u.id, u.name, u.enabled, a.id, a.name, p.name FROM iam_access_keys k "
    "JOIN iam_users u ON u.id = k.user_id JOIN iam_accounts a ON a.id = u.domain_id "
    "LEFT JOIN iam_projects p ON p.id = ? AND p.domain_id = a.id WHERE k.access_key = ?"
)


class Denied(Exception):
    """The answer is an error: ``(status, code, message)``."""

    def __init__(self, error: tuple[int, str, str]) -> None:
        super().__init__(error[2])
        self.status, self.code, self.message = error

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "error_msg": self.message}


@dataclass(frozen=True)
class Caller:
    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project_id: str
    project_name: str


class Keys:
    """The Fernet keys derived from the server key file, as ``openbcs.kernel.keys.ServerKey`` derives them."""

    def __init__(self, path: Path) -> None:
        master = base64.urlsafe_b64decode(path.read_bytes().strip())
        self.token, self.access_key = (self._fernet(master, purpose) for purpose in (b"token", b"access-key"))

    @staticmethod
    def _fernet(master: bytes, purpose: bytes) -> Fernet:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)
        return Fernet(base64.urlsafe_b64encode(derived))


def token_claims(keys: Keys, token: str) -> tuple[str, str, int]:
    """Decrypt a token (CPU only, before any transaction): ``(user id, project id, credential version)``."""
    try:
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(token.encode("ascii"))).decode("ascii") != token:
            raise Denied(UNAUTHORIZED)
        claims = json.loads(keys.token.decrypt(token.encode("ascii")))
        if time.time() >= float(claims["exp"]):
            raise Denied(UNAUTHORIZED)
        return claims["u"], claims["p"], claims["v"]
    except (InvalidToken, ValueError, KeyError, TypeError) as exc:
        raise Denied(UNAUTHORIZED) from exc


def by_token(q: Query, claims: tuple[str, str, int], project_id: str) -> Caller:
    """The token's user, which must be enabled, unchanged since issue and acting in ``project_id``."""
    user_id, claimed_project, version = claims
    row = q.one(_TOKEN_OWNER, (user_id, claimed_project))
    if row is None or not row[2] or row[3] != version:
        raise Denied(UNAUTHORIZED)
    if claimed_project != project_id:
        raise Denied(FORBIDDEN)
    return Caller(row[0], row[1], row[4], row[5], row[6], row[7])


@dataclass(frozen=True)
class Signed:
    """What a signature covers, taken from the request before the transaction."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


def _canonical(signed: Signed, names: list[str]) -> str:
    path = "/".join(quote(s, safe="~") for s in unquote(signed.raw_path).split("/"))
    pairs = sorted((unquote(n), unquote(v)) for n, _, v in (i.partition("=") for i in signed.query.split("&") if i))
    query = "&".join(f"{quote(n, safe='~')}={quote(v, safe='~')}" for n, v in pairs)
    header_lines = "".join(f"{n}:{signed.headers.get(n, '').strip()}\n" for n in names)
    payload = signed.headers["x-sdk-content-sha256"] if "x-sdk-content-sha256" in names else ""
    payload = payload or hashlib.sha256(signed.body).hexdigest()
    uri = path if path.endswith("/") else path + "/"
    return "\n".join([signed.method, uri, query, header_lines, ";".join(names), payload])


def by_signature(q: Query, keys: Keys, signed: Signed, project_id: str, skew_seconds: float) -> Caller:
    """The identity an ``SDK-HMAC-SHA256`` signature proves, bound to ``project_id``."""
    match = _AUTHORIZATION.match(signed.headers.get("authorization", "").strip())
    if not match:
        raise Denied(UNAUTHORIZED)
    access_key, names, signature = match[1], match[2].split(";"), match[3].lower()
    date = signed.headers.get("x-sdk-date", "")
    if "x-sdk-date" not in names or "host" not in names or not _DATE.fullmatch(date) or "+" in signed.query:
        raise Denied(UNAUTHORIZED)
    signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > skew_seconds:
        raise Denied(UNAUTHORIZED)
    row = q.one(_KEY_OWNER, (project_id, access_key))
    if row is None:
        raise Denied(UNAUTHORIZED)
    secret = keys.access_key.decrypt(row[0].encode("ascii"))
    digest = hashlib.sha256(_canonical(signed, names).encode()).hexdigest()
    expected = hmac.new(secret, f"SDK-HMAC-SHA256\n{date}\n{digest}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature) or not row[3]:
        raise Denied(UNAUTHORIZED)
    claimed = signed.headers.get("x-project-id")
    if row[6] is None or (claimed is not None and claimed != project_id):
        raise Denied(FORBIDDEN)
    return Caller(row[1], row[2], row[4], row[5], project_id, row[6])
