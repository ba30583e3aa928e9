"""Who a request comes from: the identity its token or signature proves. Services receive it from the HTTP layer
(or from the console) and never trust ids in a path or body over it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """An authenticated user acting in one project of its account (IAM domain)."""

    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project_id: str
    project_name: str  # the region id: each account has one project per region, named after it
    method: str  # "token" or "aksk"
