"""wrk: one thread, N connections, D seconds, latency percentiles; Lua scripts set methods, bodies and headers,
replay precomputed requests, and count answers by status when a run expects something else than 2xx.

:func:`measure` is one measured load run against a server: a checked request first, an unmeasured warm-up, then wrk
with the server's RSS and CPU sampled (:class:`bench.procfs.Sampler`).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BenchError, Server
from bench.procfs import Sampler

WRK_TIMEOUT = "30s"  # wrk leaves requests slower than its timeout out of the histogram: make it long
RECORD_SEP = "\x1e"  # separates the raw requests of a replay file

# Counts answers by status (and, with a marker, answers whose body contains it) and prints them when wrk is done.
_COUNTING = r"""
statuses, marked = {}, 0
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if marker and body and string.find(body, marker, 1, true) then marked = marked + 1 end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local parts = {}
    for k, v in pairs(t:get("statuses")) do parts[#parts + 1] = k .. "=" .. v end
    io.write("LUA statuses=" .. table.concat(parts, ",") .. " marked=" .. t:get("marked")
      .. " exhausted=" .. (t:get("exhausted") or 0) .. "\n")
  end
end
"""

# Replays raw requests from a file, each once; when they run out, sends a harmless GET and stops the thread.
_REPLAY = r"""
local file = "@FILE@"
reqs, req_n, req_i, exhausted = {}, 0, 0, 0
function init(args)
  local f = assert(io.open(file, "rb"))
  local data = f:read("*a")
  f:close()
  local start = 1
  while true do
    local s, e = string.find(data, "\30", start, true)
    if not s then break end
    req_n = req_n + 1
    reqs[req_n] = string.sub(data, start, s - 1)
    start = e + 1
  end
end
function request()
  req_i = req_i + 1
  if req_i > req_n then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "@SPARE@")
  end
  return reqs[req_i]
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def static_script(
    path: Path, *, method: str = "GET", headers: dict[str, str] | None = None, body: str = "", marker: str = ""
) -> Path:
    """A Lua script sending the same request every time and counting the answers by status."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body:
        lines.append(f"wrk.body = {_lua_string(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    lines.append(f"marker = {_lua_string(marker)}" if marker else "marker = nil")
    path.write_text("\n".join(lines) + "\n" + _COUNTING)
    return path


def replay_script(path: Path, raw_requests: Sequence[str], *, marker: str, spare_path: str = "/healthz") -> Path:
    """A Lua script replaying ``raw_requests`` once each (then wrk stops), counting answers whose body holds
    ``marker`` (the successes) apart from the spare GETs sent when the requests run out."""
    data = path.with_suffix(".requests")
    data.write_text("".join(r + RECORD_SEP for r in raw_requests))
    replay = _REPLAY.replace("@FILE@", str(data)).replace("@SPARE@", spare_path)
    path.write_text(replay + f"marker = {_lua_string(marker)}\n" + _COUNTING)
    return path


def raw_request(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    """An HTTP/1.1 request as wrk sends it from a replay file."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise BenchError(f"cannot read wrk latency {value!r}")
    return float(match[1]) * _UNITS[match[2]]


@dataclass
class WrkResult:
    """What wrk reported; ``statuses`` and ``marked`` only when a Lua script counted them."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    raw: str
    statuses: dict[int, int] = field(default_factory=dict)
    marked: int = 0
    exhausted: bool = False  # a replay ran out of requests (wrk's rate then counts the idle rest of the run)


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's ``--latency`` report (and the counting script's line, if any)."""

    def grab(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise BenchError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    done = grab(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)")
    result = WrkResult(
        rps=float(grab(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(grab(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_ms(grab(r"^\s+99%\s+(\S+)")[1]),
        requests=int(done[1]),
        seconds=_ms(done[2] + done[3]) / 1000,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        raw=output,
    )
    for line in re.findall(r"^LUA statuses=(\S*) marked=(\d+) exhausted=(\d)$", output, re.MULTILINE):
        for part in filter(None, line[0].split(",")):
            code, count = part.split("=")
            result.statuses[int(code)] = result.statuses.get(int(code), 0) + int(count)
        result.marked += int(line[1])
        result.exhausted = result.exhausted or line[2] == "1"
    return result


def start_wrk(
    url: str, *, connections: int, seconds: float, script: Path | None = None, headers: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """wrk running in the background (whole seconds, at least one); :func:`finish_wrk` reads its report."""
    duration = max(1, round(seconds))
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT, "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    return subprocess.Popen([*cmd, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(proc: subprocess.Popen[str], seconds: float, interrupt_after: float | None = None) -> WrkResult:
    """wrk's report; with ``interrupt_after``, wrk is interrupted (SIGINT: it stops and reports) after that many
    seconds: wrk runs whole seconds, smoke runs want less."""
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0 or err.strip():  # wrk runs on without a script that fails to load: refuse that
        raise BenchError(f"wrk failed ({proc.returncode}): {err or out}")
    return parse_wrk(out)


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
    interrupt_after: float | None = None,
) -> WrkResult:
    """One wrk run in the foreground."""
    proc = start_wrk(url, connections=connections, seconds=seconds, script=script, headers=headers)
    return finish_wrk(proc, seconds, interrupt_after)


@dataclass
class Measurement:
    """One measured load run of one call on one server."""

    call: str
    server: str
    result: WrkResult
    rss_kib: int
    cpu_us: float  # server CPU per request
    others_cores: float  # CPU the rest of the machine used meanwhile
    problems: list[str] = field(default_factory=list)
    database_cpu_us: float | None = None  # the PostgreSQL cluster's CPU per request, when it was sampled


def measure(
    call: str,
    server: Server,
    path: str,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    check: Callable[[WrkResult], list[str]] | None = None,
    interrupt_after: float | None = None,
    database: int | None = None,
) -> Measurement:
    """Warm up (unmeasured), then load ``path`` while sampling the server (and the PostgreSQL cluster whose
    postmaster is ``database``); ``check`` lists unexpected answers (default: any non-2xx answer or socket error).
    ``interrupt_after`` cuts the run short (smoke runs)."""
    url = server.url(path)
    if warmup > 0:
        run_wrk(url, connections=connections, seconds=warmup, script=script, headers=headers)
    with Sampler(server.pid, database=database) as sampled:
        result = run_wrk(
            url,
            connections=connections,
            seconds=seconds,
            script=script,
            headers=headers,
            interrupt_after=interrupt_after,
        )
    problems = check(result) if check else default_check(result)
    found = Measurement(
        call,
        server.name,
        result,
        sampled.max_rss_kib,
        sampled.cpu_seconds * 1e6 / max(1, result.requests),
        sampled.others_cores,
        [f"{call} on {server.name}: {p}" for p in problems],
        sampled.database_cpu_seconds * 1e6 / max(1, result.requests) if database is not None else None,
    )
    database_cpu = f", PostgreSQL {found.database_cpu_us:.0f} us/req" if found.database_cpu_us is not None else ""
    print(
        f"  {call} [{server.name}]: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"CPU {found.cpu_us:.0f} us/req{database_cpu}, RSS {found.rss_kib / 1024:.1f} MiB, "
        f"others {found.others_cores:.2f} cores" + (f"  PROBLEMS: {'; '.join(problems)}" if problems else ""),
        flush=True,
    )
    return found


def default_check(result: WrkResult, *, require_answers: bool = True) -> list[str]:
    """A run must see only 2xx answers (at least one, if ``require_answers``) and no socket error."""
    problems = []
    if result.non_2xx:
        problems.append(f"{result.non_2xx} non-2xx answers")
    if result.socket_errors:
        problems.append(f"{result.socket_errors} socket errors")
    if result.requests == 0 and require_answers:
        problems.append("no request completed")
    return problems


def expect_statuses(*allowed: int) -> Callable[[WrkResult], list[str]]:
    """A check for runs whose Lua script counted statuses: only ``allowed`` ones, and no socket error."""

    def check(result: WrkResult) -> list[str]:
        problems = [f"{n} answers with status {s}" for s, n in sorted(result.statuses.items()) if s not in allowed]
        if not result.statuses:
            problems.append("no answer counted")
        if result.socket_errors:
            problems.append(f"{result.socket_errors} socket errors")
        return problems

    return check
