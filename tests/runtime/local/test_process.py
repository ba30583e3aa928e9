"""NodeProcess with stand-in processes (any machine), then with a real orderer and peer (skipped without Fabric)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openbcs.runtime.local.process import NodeProcess, NodeStartError, check_health, port_is_free, tail_file
from openbcs.runtime.local.render import NodeLaunch, write_node
from openbcs.runtime.specs import Endpoint, PortName
from tests.runtime.local.realnet import HOST, RealNet, fabric_bin_or_skip, free_ports, running_net

SH = shutil.which("sh") or "/bin/sh"


def fake_launch(tmp_path: Path, *argv: str, health_port: int | None = None) -> NodeLaunch:
    """A launch of an arbitrary command, its health URL on a port nobody answers unless given."""
    port = health_port if health_port is not None else free_ports(1)[0]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tmp_path)}
    return NodeLaunch(list(argv), env, tmp_path, tmp_path / "node.log", f"http://{HOST}:{port}/healthz")


def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` every 0.05 s until true or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie waiting for its new parent to reap it)."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


@pytest.fixture
def process() -> Iterator[NodeProcess]:
    started = NodeProcess()
    yield started
    started.stop(timeout=1.0)  # by its own pid / process group only


# -- stand-in processes ------------------------------------------------------------------------------------------


def test_exit_before_healthy_raises_with_code_and_log(tmp_path: Path, process: NodeProcess) -> None:
    process.start(fake_launch(tmp_path, SH, "-c", "echo 'panic: cannot listen' >&2; exit 3"))
    with pytest.raises(NodeStartError, match="sh exited with code 3 before it was healthy") as caught:
        process.wait_healthy(5.0)
    assert caught.value.exit_code == 3
    assert caught.value.log_tail[-1] == "panic: cannot listen"
    assert caught.value.log_tail[0].startswith("--- openbcs: ")  # the run's marker line
    assert not process.running()
    assert process.exit_code() == 3
    assert process.healthy() == (False, "exited with code 3")


def test_timeout_raises_with_health_answer_and_leaves_it_running(tmp_path: Path, process: NodeProcess) -> None:
    process.start(fake_launch(tmp_path, "sleep", "30"))
    started = time.monotonic()
    with pytest.raises(NodeStartError, match=r"not healthy after 0.3 s \(no answer at http://") as caught:
        process.wait_healthy(0.3)
    assert time.monotonic() - started < 10  # not the node's 30 s: room for a loaded machine
    assert caught.value.exit_code is None
    assert process.running()
    assert process.stop() == -signal.SIGTERM


def test_own_session_and_dies_with_the_thread_that_started_it(tmp_path: Path, process: NodeProcess) -> None:
    starter = threading.Thread(target=process.start, args=(fake_launch(tmp_path, "sleep", "30"),))
    starter.start()
    starter.join()
    pid = process.pid
    assert pid is not None
    # The thread that forked it has exited: PR_SET_PDEATHSIG has the kernel SIGKILL the child.
    assert eventually(lambda: not process.running())
    assert process.exit_code() == -signal.SIGKILL


def test_node_runs_in_its_own_session(tmp_path: Path, process: NodeProcess) -> None:
    process.start(fake_launch(tmp_path, "sleep", "30"))
    assert process.pid is not None
    assert os.getsid(process.pid) == process.pid != os.getsid(0)
    with pytest.raises(RuntimeError, match="already running"):
        process.start(fake_launch(tmp_path, "sleep", "30"))


def test_stop_escalates_to_sigkill_and_sweeps_the_group(tmp_path: Path, process: NodeProcess) -> None:
    # The node ignores SIGTERM (ignored signals stay ignored across exec), and so does a child it started.
    body = "trap '' TERM; (exec sleep 30) & echo $! > child.pid; exec sleep 30"
    process.start(fake_launch(tmp_path, SH, "-c", body))
    assert eventually(lambda: (tmp_path / "child.pid").is_file() and bool((tmp_path / "child.pid").read_text()))
    child = int((tmp_path / "child.pid").read_text())
    started = time.monotonic()
    assert process.stop(timeout=0.3) == -signal.SIGKILL
    assert time.monotonic() - started < 10  # not the node's 30 s: room for a loaded machine
    assert eventually(lambda: gone(child))
    assert process.stop() == -signal.SIGKILL  # stopping again only reports


def test_log_is_appended_across_runs_and_tailed(tmp_path: Path, process: NodeProcess) -> None:
    for run in (1, 2):
        process.start(fake_launch(tmp_path, SH, "-c", f"for i in 1 2 3; do echo run{run} line$i; done"))
        assert eventually(lambda: not process.running())
    last = process.tail(4)
    assert last[0].startswith("--- openbcs: ")
    assert last[1:] == ["run2 line1", "run2 line2", "run2 line3"]
    assert len([line for line in process.tail(100) if line.startswith("--- openbcs:")]) == 2
    assert NodeProcess().tail(5) == []


def test_tail_file_reads_big_files_backwards(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i} {'x' * 100}\n" for i in range(5000)))
    assert [line.split()[1] for line in tail_file(log, 3)] == ["4997", "4998", "4999"]
    assert len(tail_file(log, 2000)) == 2000
    assert tail_file(log, 0) == []
    assert tail_file(tmp_path / "missing.log", 5) == []


class _Health(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, bytes]] = {
        "/ok": (200, b'{"status":"OK","time":"2024-01-01T00:00:00Z"}'),
        "/sick": (503, b'{"status":"Service Unavailable","failed_checks":[{"component":"docker","reason":"no ping"}]}'),
        "/odd": (500, b"internal error"),
    }

    def do_GET(self) -> None:
        status, body = self.answers[self.path.removesuffix("/healthz")]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_check_health_reads_fabric_answers() -> None:
    server = ThreadingHTTPServer((HOST, 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://{HOST}:{server.server_address[1]}"
    try:
        assert check_health(f"{base}/ok/healthz", 1.0) == (True, "OK")
        assert check_health(f"{base}/sick/healthz", 1.0) == (False, "503 docker: no ping")
        assert check_health(f"{base}/odd/healthz", 1.0) == (False, "500 internal error")
    finally:
        server.shutdown()
        server.server_close()
    ok, why = check_health(f"{base}/healthz", 0.5)
    assert not ok
    assert why.startswith(f"no answer at {base}/healthz")


def test_port_is_free() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(HOST, port)
    assert port_is_free(HOST, port)


# -- real Fabric nodes --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNet]:
    """A healthy orderer and peer for this module; stopped (by pid) at its end."""
    with running_net(tmp_path_factory.mktemp("realnet"), fabric_bin_or_skip()) as started:
        yield started


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """GET over HTTP(S); (status, body)."""
    host_port, _, path = url.partition("://")[2].partition("/")
    host, _, port = host_port.rpartition(":")
    connection = (
        http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
        if context
        else http.client.HTTPConnection(host, int(port), timeout=5)
    )
    try:
        connection.request("GET", "/" + path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_nodes_answer_healthz_and_metrics(net: RealNet) -> None:
    for name, process in net.processes.items():
        assert process.launch is not None
        status, body = get(process.launch.health_url)
        assert (status, json.loads(body)["status"]) == (200, "OK"), name
        status, body = get(process.launch.health_url.replace("/healthz", "/metrics"))
        assert status == 200
        assert b"go_goroutines" in body, name  # the prometheus provider is on
        assert process.healthy() == (True, "OK")
        # No colour codes once the node has read FABRIC_LOGGING_FORMAT (the orderer logs one line before).
        assert " INFO [" in process.launch.log_path.read_text(), name
        assert not [line for line in process.tail(5) if "\x1b[" in line], name


def test_orderer_admin_endpoint_requires_an_admin_tls_client(net: RealNet, tmp_path: Path) -> None:
    org = net.orderer_org
    (tmp_path / "client.crt").write_bytes(org.admin_tls.cert_pem)
    (tmp_path / "client.key").write_bytes(org.admin_tls.key_pem)
    context = ssl.create_default_context(cadata=org.tls_ca.cert_pem.decode())
    url = f"https://{net.orderer.endpoint.address(PortName.ADMIN)}/participation/v1/channels"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(url, context)  # no client certificate: refused in the handshake
    context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    status, body = get(url, context)
    assert status == 200
    assert json.loads(body)["channels"] in ([], None)


def test_sigkilled_node_reports_exit_and_restarts(net: RealNet) -> None:
    process = net.processes[net.orderer.name]
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    assert eventually(lambda: not process.running())
    assert process.exit_code() == -signal.SIGKILL
    assert process.healthy() == (False, "exited with code -9")
    net.start(net.orderer.name)
    assert process.healthy() == (True, "OK")


def test_peer_killed_and_started_again_keeps_its_ledger(net: RealNet) -> None:
    process = net.processes[net.peer.name]
    ledger = net.peer.home / "ledger"
    # Folders only: LevelDB starts new files (logs, manifests) each time it opens a store.
    before = {str(path.relative_to(ledger)) for path in ledger.rglob("*") if path.is_dir()}
    assert "ledgersData" in before  # written by the peer at its first start
    marker = ledger / "openbcs-marker"
    marker.write_text("kept")
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    assert eventually(lambda: not process.running())
    net.start(net.peer.name)  # renders the home again, then starts from it
    assert process.healthy() == (True, "OK")
    assert marker.read_text() == "kept"
    assert before <= {str(path.relative_to(ledger)) for path in ledger.rglob("*") if path.is_dir()}
    marker.unlink()


def test_stop_leaves_no_process_and_frees_the_ports(net: RealNet) -> None:
    specs = {spec.name: spec for spec in (net.orderer, net.peer)}
    for name in (net.peer.name, net.orderer.name):
        process = net.processes[name]
        pid = process.pid
        assert pid is not None
        # Fabric exits 0 on SIGTERM, once it has installed its handler: the peer does so last, after /healthz
        # already answers, so a stop right after a start may find Go's default (death by the signal).
        assert process.stop() in (0, -signal.SIGTERM)
        assert not process.running()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: the pid names nothing any more
        for port in specs[name].endpoint.ports.values():
            assert port_is_free(HOST, port), (name, port)
    net.start(net.orderer.name)
    net.start(net.peer.name)


def test_node_that_cannot_listen_fails_with_its_log(net: RealNet, tmp_path: Path) -> None:
    admin, operations = free_ports(2)
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = {PortName.LISTEN: taken, PortName.ADMIN: admin, PortName.OPERATIONS: operations}
        spec = dataclasses.replace(net.orderer, home=tmp_path / "o", endpoint=Endpoint(HOST, ports))
        process = NodeProcess()
        process.start(write_node(spec, net.binaries))
        try:
            with pytest.raises(NodeStartError, match="orderer exited with code") as caught:
                process.wait_healthy(30.0)
        finally:
            process.stop()
    assert caught.value.exit_code not in (None, 0)
    assert any(f"{HOST}:{taken}" in line for line in caught.value.log_tail), caught.value.log_tail
