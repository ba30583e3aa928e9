"""What a password login passes before its scrypt check, in this server process's memory (docs/auth.md):

- a **token bucket per source address** and one **per account name**: a login that finds either empty is answered
  ``429`` with ``Retry-After`` at once, without a check, so one flood (of any names) cannot take the checks from
  every other tenant, nor many sources those of one account;
- **fair password checks**: in worker threads, at most :data:`CONCURRENT_CHECKS` at once and
  :data:`CHECKS_PER_SOURCE` of one source; the sources waiting are served round-robin, so a source under its limit
  never waits behind a flood's queue, nor for a slot that one source holds.

The client address is the ASGI ``client`` of the request: uvicorn puts the address from ``X-Forwarded-For`` there
only when the connection comes from an address of ``--forwarded-allow-ips``, so a client cannot choose its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings

T = TypeVar("T")
# scrypt takes a core for ~60 ms. One source's checks run one at a time, so a flood from one address takes one core
# at most; a second check of another source may run beside it, so that its login never waits for the flood's.
CONCURRENT_CHECKS = 2
CHECKS_PER_SOURCE = 1
MAX_KEYS = 100_000  # buckets kept per kind; the least recently used go first (a full bucket is as good as none)


def client_source(scope: Mapping[str, Any]) -> str:
    """The source address a login is counted under: the client's IPv4 address, or its IPv6 address's /64 (a host
    usually holds a whole /64, so counting single addresses would let it rotate); ``unknown`` without one."""
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``per_minute``; each attempt takes one."""

    def __init__(self, burst: int, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.clock = float(burst), per_minute / 60.0, clock
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 if there was one, else the seconds until there is."""
        now = self.clock()
        tokens, stamp = self._levels.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._levels[key] = (tokens, now)
        while len(self._levels) > MAX_KEYS:
            self._levels.popitem(last=False)
        return wait


class FairChecks:
    """At most ``slots`` checks at once and ``per_source`` of one source; the sources waiting are served in turn
    (round-robin), each source's own checks in their order of arrival."""

    def __init__(self, slots: int = CONCURRENT_CHECKS, per_source: int = CHECKS_PER_SOURCE) -> None:
        self.slots, self.per_source = slots, per_source
        self.running = 0
        self._busy: dict[str, int] = {}  # per source: its checks running now
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    def _start(self, source: str) -> None:
        self.running += 1
        self._busy[source] = self._busy.get(source, 0) + 1

    async def _acquire(self, source: str) -> None:
        # A free slot never has an eligible waiter (a release hands it over at once), so it is this source's to take.
        if self.running < self.slots and self._busy.get(source, 0) < self.per_source:
            self._start(source)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(source, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(source)  # the slot was handed over just as the client went away: pass it on
            else:
                queue = self._waiting.get(source)
                if queue is not None and granted in queue:
                    queue.remove(granted)
                    if not queue:
                        del self._waiting[source]
            raise

    def _release(self, source: str) -> None:
        """Free ``source``'s slot and hand free slots to the first eligible sources in turn (each then goes to the
        back of the round)."""
        self.running -= 1
        self._busy[source] -= 1
        if not self._busy[source]:
            del self._busy[source]
        while self.running < self.slots:
            turn = next((s for s in self._waiting if self._busy.get(s, 0) < self.per_source), None)
            if turn is None:
                return
            queue = self._waiting.pop(turn)
            granted = queue.popleft()
            if queue:
                self._waiting[turn] = queue  # to the back of the round
            if not granted.done():
                self._start(turn)
                granted.set_result(None)

    async def run(self, source: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread once it is ``source``'s turn."""
        await self._acquire(source)
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        finally:
            self._release(source)

    def waiting(self) -> int:
        """How many checks wait for a slot now."""
        return sum(len(queue) for queue in self._waiting.values())


SOURCE_LIMITED = "Too many login attempts from this address; retry later."


class LoginGate:
    """The buckets and the checks of one server (one per database object: one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.sources = TokenBuckets(settings.login_source_burst, settings.login_source_per_minute)
        self.accounts = TokenBuckets(settings.login_account_burst, settings.login_account_per_minute)
        self.checks = FairChecks()
        self.held: dict[str, int] = {}  # per source: 429 answers held back now (see LoginRateMiddleware)

    def admit(self, *, source: str, account_name: str, source_admitted: bool = False) -> None:
        """Take a token from the source's bucket (unless :class:`LoginRateMiddleware` took it already) and from the
        account name's, else ``429`` with ``Retry-After``."""
        wait = 0.0 if source_admitted else self.sources.take(source)
        if wait:
            raise errors.iam_too_many_requests(SOURCE_LIMITED, retry_after=math.ceil(wait))
        wait = self.accounts.take(account_name)
        if wait:
            raise errors.iam_too_many_requests(
                "Too many login attempts for this account; retry later.", retry_after=math.ceil(wait)
            )


_gates: weakref.WeakKeyDictionary[Database, LoginGate] = weakref.WeakKeyDictionary()


def login_gate_of(db: Database, settings: Settings) -> LoginGate:
    """The login gate of the server that uses ``db`` (made with its settings on first use)."""
    gate = _gates.get(db)
    if gate is None:
        gate = _gates[db] = LoginGate(settings)
    return gate


TOKENS_PATH = "/v3/auth/tokens"
ADMITTED = "login_source_admitted"  # the scope state's mark of a request whose source token was taken
HOLD_SECONDS = 1.0  # the longest a 429 of a source over its rate is held back
HOLD_MAX = 256  # 429s held back at once per source; more are answered at once


class LoginRateMiddleware:
    """The source address's bucket for ``POST /v3/auth/tokens``, before anything else of the request runs (no body
    read, no routing): a flood's refusals must cost the event loop next to nothing, or they slow every other request
    even though none of them reaches a password check. A source over its rate gets its ``429`` after up to
    :data:`HOLD_SECONDS` (its ``Retry-After`` if sooner): a client that ignores ``Retry-After`` then sends a request a
    second per connection instead of as fast as the loop answers."""

    def __init__(self, app: ASGIApp, gate: LoginGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TOKENS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        source = client_source(scope)
        wait = self.gate.sources.take(source)
        state = scope.setdefault("state", {})
        if not wait:
            state[ADMITTED] = source
            await self.app(scope, receive, send)
            return
        held, hold = self.gate.held.get(source, 0), min(wait, HOLD_SECONDS)
        if held < HOLD_MAX:
            self.gate.held[source] = held + 1
            try:
                await asyncio.sleep(hold)
            finally:
                self.gate.held[source] -= 1
                if not self.gate.held[source]:
                    del self.gate.held[source]
        else:
            hold = 0.0
        error = errors.iam_too_many_requests(SOURCE_LIMITED, retry_after=math.ceil(wait - hold))
        state["error_code"] = f"IAM.{error.status}"  # for the request metrics
        payload = json.dumps(error.body()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
