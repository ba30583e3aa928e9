"""Benchmark of authenticated OpenBCS calls against a bare Starlette baseline, with wrk on loopback.

Run by hand from the repository root:

    /work/venv/bin/python bench/bench_auth.py [--duration 10] [--connections 32] [--workers 1]

What it does, in a fresh temporary data directory:

1. ``openbcs account create`` (the CLI) makes an account with a password and an AK/SK pair.
2. Start-up: ``openbcs serve`` is started once (migrating the database) and stopped; then, three times, it
   is started again on the existing data directory and the time from launch until ``GET /healthz`` answers
   200 is taken. The median is reported.
3. ``openbcs serve --workers N`` and the baseline (``bench/baseline_app.py`` under uvicorn, same worker
   count) run on two free loopback ports. A token comes from ``POST /v3/auth/tokens``; AK/SK headers are
   signed once with ``openbcs.iam.signing`` the way the SDK signs them (they stay valid for the 15-minute
   clock skew, so fixed headers do; when ``huaweicloudsdkcore`` is installed its Signer must agree).
4. wrk (``-t1 -cN -dD --latency``) loads (a) the baseline GET, (b) OpenBCS ``GET /healthz`` (no auth, no
   database: the framework floor), (c) ``GET /v2/{project_id}/operation/record`` with ``X-Auth-Token``,
   (d) the same with the AK/SK signature. Each load run is preceded by one checked request (must be 200)
   and a short warm-up; the server processes' RSS (server plus children, ``VmRSS``) is sampled during the
   run and the maximum reported, and so is the CPU other processes used meanwhile (the machines are shared).

Prints a markdown table, writes it to ``bench/results/<timestamp>.md`` and exits non-zero if any load run
saw a non-2xx answer or a socket error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from openbcs.iam import signing

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
OPENBCS = str(VENV_BIN / "openbcs")
ACCOUNT = "bench-account"
REGION = "cn-north-4"
USER_AGENT = "huaweicloud-usdk-python/3.0"
STARTUP_RUNS = 3
HEALTH_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# --- processes ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path) -> dict[str, str]:
    """The environment for child processes: no inherited ``OPENBCS_*`` settings, HOME in the temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBCS_")}
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def http_get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_healthy(port: int, path: str, proc: subprocess.Popen[bytes], started: float) -> float:
    """Poll ``path`` every 5 ms until it answers 200; return the seconds since ``started``."""
    deadline = started + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with code {proc.returncode} before becoming healthy")
        try:
            status, _ = http_get(port, path, timeout=1.0)
        except OSError:
            status = 0
        if status == 200:
            return time.monotonic() - started
        time.sleep(0.005)
    raise BenchError(f"no 200 from {path} on port {port} within {HEALTH_TIMEOUT:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (uvicorn shuts its workers down), then SIGKILL its process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextmanager
def running(
    cmd: list[str], *, env: dict[str, str], log: Path, port: int, health: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` in its own session with output to ``log``, wait for ``health`` to answer 200, stop it after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(port, health, proc, time.monotonic())
        yield proc
    finally:
        stop(proc)


def serve_cmd(data_dir: Path, port: int, workers: int) -> list[str]:
    return [
        OPENBCS,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
    ]


def baseline_cmd(port: int, workers: int) -> list[str]:
    return [
        str(VENV_BIN / "uvicorn"),
        "--app-dir",
        str(BENCH_DIR),
        "baseline_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


# --- RSS sampling -------------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss_kib(root: int) -> int:
    """Sum of ``VmRSS`` over ``root`` and all its descendants, in KiB."""
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


@dataclass
class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread; ``max_kib`` is the peak seen."""

    root: int
    interval: float = 0.2
    max_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.max_kib = tree_rss_kib(self.root)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.max_kib = max(self.max_kib, tree_rss_kib(self.root))

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.max_kib = max(self.max_kib, tree_rss_kib(self.root))


# --- wrk ----------------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise BenchError(f"cannot read wrk latency {value!r}")
    return float(match[1]) * _UNITS[match[2]]


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    raw: str


def parse_wrk(output: str) -> WrkResult:
    def grab(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise BenchError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(grab(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(grab(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_ms(grab(r"^\s+99%\s+(\S+)")[1]),
        requests=int(grab(r"^\s+(\d+) requests in")[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        raw=output,
    )


def run_wrk(url: str, headers: dict[str, str], *, connections: int, duration: float) -> WrkResult:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- credentials --------------------------------------------------------------------------------------------


def create_account(data_dir: Path, env: dict[str, str], password: str) -> dict[str, str]:
    done = subprocess.run(
        [OPENBCS, "account", "create", ACCOUNT, "--password", password, "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"openbcs account create failed: {done.stderr}")
    created: dict[str, str] = json.loads(done.stdout)
    return created


def get_token(port: int, account: dict[str, str], password: str) -> str:
    body = json.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": account["user_name"],
                            "password": password,
                            "domain": {"name": account["domain_name"]},
                        }
                    },
                },
                "scope": {"project": {"name": REGION}},
            }
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/v3/auth/tokens?nocatalog=true",
            body=body,
            headers={"Content-Type": "application/json;charset=utf8"},
        )
        response = conn.getresponse()
        payload = response.read()
        token = response.getheader("X-Subject-Token")
    finally:
        conn.close()
    if response.status != 201 or not token:
        raise BenchError(f"POST /v3/auth/tokens answered {response.status}: {payload[:300]!r}")
    return token


def signed_headers(*, port: int, path: str, ak: str, sk: str, project_id: str) -> dict[str, str]:
    """The headers the SDK sends for a body-less GET on ``path``, signed with ``SDK-HMAC-SHA256``."""
    headers = {
        "Content-Type": "application/json",
        "Host": f"127.0.0.1:{port}",
        "User-Agent": USER_AGENT,
        "X-Project-Id": project_id,
        "X-Sdk-Date": datetime.now(UTC).strftime(signing.DATE_FORMAT),
    }
    lower = {name.lower(): value for name, value in headers.items()}
    names = tuple(sorted(lower))
    canonical = signing.canonical_request(
        method="GET", raw_path=path, query_string="", headers=lower, signed_headers=names, body=b""
    )
    signature = signing.sign(sk, signing.string_to_sign(lower["x-sdk-date"], canonical))
    headers["Authorization"] = (
        f"{signing.ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    _cross_check_with_sdk(headers, port=port, path=path, ak=ak, sk=sk, project_id=project_id)
    return headers


def _cross_check_with_sdk(headers: dict[str, str], *, port: int, path: str, ak: str, sk: str, project_id: str) -> None:
    """When the official SDK core is installed, make sure its Signer produces the very same Authorization."""
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
        from huaweicloudsdkcore.signer.signer import Signer
    except ImportError:
        print("  (huaweicloudsdkcore not installed: signature not cross-checked against the SDK)")
        return
    given = {k: v for k, v in headers.items() if k not in ("Authorization", "Host")}
    request = SdkRequest(
        method="GET",
        schema="http",
        host=f"127.0.0.1:{port}",
        resource_path=path,
        query_params=[],
        header_params=dict(given),
        body=b"",
    )
    Signer(BasicCredentials(ak, sk, project_id)).sign(request)
    if request.header_params.get("Authorization") != headers["Authorization"]:
        raise BenchError(
            f"our signature differs from the SDK's:\n  ours {headers['Authorization']}\n"
            f"  SDK  {request.header_params.get('Authorization')}"
        )
    print("  signature identical to huaweicloudsdkcore's Signer")


def check_200(port: int, path: str, headers: dict[str, str], label: str) -> None:
    status, body = http_get(port, path, headers)
    if status != 200:
        raise BenchError(f"{label}: check request answered {status}, not 200: {body[:500]!r}")


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    result: WrkResult
    rss_kib: int
    cpu_us_per_request: float
    cpu_split: str  # shares of the server CPU per process, largest first
    others_cores: float  # CPU the rest of the machine used during the run, in cores
    server_5xx: int | None  # 5xx lines in the server's request log during the run (None: no log to read)
    target: bool  # an authenticated call the targets are about

    @property
    def busy_before(self) -> float:
        """The share of the machine other processes used during the run (the name older reports used)."""
        return self.others_cores / (os.cpu_count() or 1)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs together, from /proc/stat; busy is user + nice + system time only (the
    interrupt time is mostly this benchmark's own loopback traffic, which is charged to no process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:3]), sum(fields[:8])


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``seconds``: what others do on this shared machine."""
    busy0, total0 = _cpu_ticks()
    time.sleep(seconds)
    busy1, total1 = _cpu_ticks()
    return (busy1 - busy0) / max(1, total1 - total0)


def own_cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_quiet(limit_seconds: int, busy_limit: float = 0.15, quiet_needed: int = 5) -> None:
    """Wait until the machine has been under ``busy_limit`` for ``quiet_needed`` seconds in a row."""
    deadline, quiet, busy = time.monotonic() + limit_seconds, 0, 1.0
    while time.monotonic() < deadline and quiet < quiet_needed:
        busy = machine_busy()
        quiet = quiet + 1 if busy < busy_limit else 0
    if quiet < quiet_needed:
        print(f"  warning: machine still {busy:.0%} busy after waiting {limit_seconds} s; going on", flush=True)


def tree_cpu_by_pid(root: int) -> dict[int, float]:
    """User plus system CPU seconds of ``root`` and of each of its live descendants."""
    tree = _children()
    seconds, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def tree_cpu_seconds(root: int) -> float:
    return sum(tree_cpu_by_pid(root).values())


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "revision": _git_revision(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def _git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def load_run(
    label: str,
    *,
    target: bool,
    port: int,
    path: str,
    headers: dict[str, str],
    server: subprocess.Popen[bytes],
    args: argparse.Namespace,
    log: Path | None = None,
) -> Row:
    check_200(port, path, headers, label)
    url = f"http://127.0.0.1:{port}{path}"
    if args.warmup > 0:
        run_wrk(url, headers, connections=args.connections, duration=args.warmup)
    check_200(port, path, headers, label)
    print(f"  {label}: wrk -t1 -c{args.connections} -d{args.duration:g}s ...", flush=True)
    log_offset = log.stat().st_size if log else 0
    per_pid_before = tree_cpu_by_pid(server.pid)
    own_before, (busy_before, _), started = own_cpu_seconds(), _cpu_ticks(), time.monotonic()
    with RssSampler(server.pid) as rss:
        result = run_wrk(url, headers, connections=args.connections, duration=args.duration)
    per_pid = {pid: t - per_pid_before.get(pid, 0.0) for pid, t in tree_cpu_by_pid(server.pid).items()}
    server_cpu = sum(per_pid.values())
    # How the load spread over the server's processes (uvicorn --workers N: does each worker get its share?).
    split = "/".join(f"{t / max(server_cpu, 1e-9):.0%}" for t in sorted(per_pid.values(), reverse=True) if t > 0)
    machine_cpu = (_cpu_ticks()[0] - busy_before) / os.sysconf("SC_CLK_TCK")
    # What the rest of the machine used meanwhile, in cores: the noise on a shared machine.
    others = max(0.0, machine_cpu - server_cpu - (own_cpu_seconds() - own_before)) / (time.monotonic() - started)
    if others > 0.25:
        print(f"  warning: other processes used {others:.2f} cores during this run: numbers are low", flush=True)
    cpu_us = server_cpu * 1e6 / max(1, result.requests)
    server_5xx = None
    if log is not None:
        time.sleep(0.5)  # let the server finish (and log) what wrk left in flight
        with log.open("rb") as handle:
            handle.seek(log_offset)
            server_5xx = len(re.findall(rb" status=5\d\d", handle.read()))
    print(
        f"    {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"non-2xx {result.non_2xx}, RSS {rss.max_kib / 1024:.1f} MiB, server CPU {cpu_us:.0f} us/request "
        f"(others used {others:.2f} cores), CPU split over server processes {split}"
        + (f", 5xx in server log {server_5xx}" if log else ""),
        flush=True,
    )
    return Row(label, result, rss.max_kib, cpu_us, split, others, server_5xx, target)


def measure_startup(data_dir: Path, env: dict[str, str], log: Path, workers: int) -> list[float]:
    port = free_port()
    with running(serve_cmd(data_dir, port, workers), env=env, log=log, port=port, health="/healthz"):
        pass  # the first start migrates (the CLI already did) and creates what a first start creates
    times = []
    for _ in range(STARTUP_RUNS):
        port = free_port()
        with log.open("ab") as out:
            started = time.monotonic()
            proc = subprocess.Popen(
                serve_cmd(data_dir, port, workers),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            times.append(wait_healthy(port, "/healthz", proc, started))
        finally:
            stop(proc)
    return times


def render(rows: list[Row], startup: list[float], args: argparse.Namespace, info: dict[str, str]) -> str:
    base = rows[0].result.rps
    lines = [
        f"# OpenBCS auth benchmark, {info['date']}",
        "",
        f"`{' '.join(['bench/bench_auth.py', *sys.argv[1:]])}` — wrk -t1 -c{args.connections} -d{args.duration:g}s "
        f"--latency, uvicorn --workers {args.workers}, loopback",
        "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, Linux {info['kernel']}; "
        f"load average at start {info['loadavg']}; source {info['revision']}",
        "",
        "| endpoint | req/s | x baseline | p50 (ms) | p99 (ms) | requests | non-2xx | socket errors "
        "| 5xx in server log | max server RSS (MiB) | server CPU (us/req) | CPU split over server processes "
        "| others' CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row.result
        lines.append(
            f"| {row.label} | {r.rps:,.0f} | {r.rps / base:.2f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.requests:,} | {r.non_2xx} | {r.socket_errors} "
            f"| {'-' if row.server_5xx is None else row.server_5xx} | {row.rss_kib / 1024:.1f} "
            f"| {row.cpu_us_per_request:.0f} | {row.cpu_split} | {row.others_cores:.2f} |"
        )
    median = statistics.median(startup)
    lines += [
        "",
        "non-2xx and socket errors are wrk's; 5xx in server log counts the answers the server logged as 5xx "
        "during the run, including those to clients wrk had already dropped when the run ended. "
        "Server CPU is user + system time of the server's processes per request; others' CPU is what the rest "
        "of this shared machine used during the run (wrk and this script excluded), in cores.",
        "",
        f"Time to healthy (`openbcs serve --workers {args.workers}` on an existing data dir, launch → "
        f"`GET /healthz` 200): median {median * 1000:.0f} ms of {len(startup)} "
        f"({', '.join(f'{t * 1000:.0f}' for t in startup)} ms)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    targeted = [row for row in rows if row.target]
    for row in targeted:
        ratio = row.result.rps / base
        lines.append(f"| {row.label}: >= 0.5 x baseline rate | {ratio:.2f} | {'yes' if ratio >= 0.5 else 'NO'} |")
    for row in targeted:
        p99 = row.result.p99_ms
        lines.append(
            f"| {row.label}: p99 < 20 ms at {args.connections} connections | {p99:.1f} ms "
            f"| {'yes' if p99 < 20 else 'NO'} |"
        )
    worst_rss = max(row.rss_kib for row in targeted) / 1024
    lines.append(
        f"| server RSS under load < 150 MB | {worst_rss:.1f} MiB "
        f"| {'yes' if worst_rss * 1024 * 1024 < 150e6 else 'NO'} |"
    )
    lines.append(
        f"| healthy < 1 s after start on an existing data dir | {median * 1000:.0f} ms "
        f"| {'yes' if median < 1 else 'NO'} |"
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for both servers (default 1)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first (default 2)")
    parser.add_argument(
        "--wait-quiet",
        type=int,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the shared machine to be idle (< 15%% busy for 5 s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory and server logs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed")

    tmp = Path(tempfile.mkdtemp(prefix="openbcs-bench-"))
    data_dir, log = tmp / "data", tmp / "server.log"
    env = clean_env(tmp)
    os.environ["HOME"] = str(tmp)  # huaweicloudsdkcore writes $HOME/.huaweicloud when imported
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    info = machine()
    print(f"OpenBCS auth benchmark in {tmp} ({info['nproc']} CPUs, {info['cpu']}, Python {info['python']})")
    try:
        password = "Bench-" + secrets.token_urlsafe(12)
        account = create_account(data_dir, env, password)
        print(f"  account {account['domain_name']}, project {account['project_id']}")

        startup = measure_startup(data_dir, env, log, args.workers)
        print(f"  time to healthy: {', '.join(f'{t * 1000:.0f} ms' for t in startup)}")

        api_port, base_port = free_port(), free_port()
        path = f"/v2/{account['project_id']}/operation/record"
        with (
            running(
                serve_cmd(data_dir, api_port, args.workers), env=env, log=log, port=api_port, health="/healthz"
            ) as api,
            running(
                baseline_cmd(base_port, args.workers),
                env=env,
                log=tmp / "baseline.log",
                port=base_port,
                health="/baseline",
            ) as baseline,
        ):
            token = get_token(api_port, account, password)
            aksk = signed_headers(
                port=api_port,
                path=path,
                ak=account["access_key"],
                sk=account["secret_key"],
                project_id=account["project_id"],
            )
            common = {"server": api, "args": args, "log": log}
            rows = [
                load_run(
                    "baseline GET (Starlette)",
                    target=False,
                    port=base_port,
                    path="/baseline",
                    headers={},
                    server=baseline,
                    args=args,
                ),
                load_run(
                    "OpenBCS GET /healthz (no auth, no DB)",
                    target=False,
                    port=api_port,
                    path="/healthz",
                    headers={},
                    **common,
                ),
                load_run(
                    "ListOpRecord, X-Auth-Token",
                    target=True,
                    port=api_port,
                    path=path,
                    headers={"X-Auth-Token": token, "Content-Type": "application/json"},
                    **common,
                ),
                load_run(
                    "ListOpRecord, AK/SK signature", target=True, port=api_port, path=path, headers=aksk, **common
                ),
            ]
        report = render(rows, startup, args, info)
        print()
        print(report)
        results = BENCH_DIR / "results"
        results.mkdir(exist_ok=True)
        out = results / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-w{args.workers}-c{args.connections}.md"
        out.write_text(report)
        print(f"written to {out}")
        for row in rows[1:]:
            print(f"ratio {row.label} / baseline: {row.result.rps / rows[0].result.rps:.2f}")
        bad = [row.label for row in rows if row.result.non_2xx or row.result.socket_errors]
        if bad:
            print(f"FAILED: non-2xx answers or socket errors in: {', '.join(bad)}", file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
