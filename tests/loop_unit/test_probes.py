"""The probe and metrics server of ``failsync run``.

Covers:
- it listens on 127.0.0.1 unless a service account is mounted (then on every address);
- a busy port is one error naming the port and suggesting ``--metrics-port 0``, not a traceback;
- a bounded number of connections: idle clients never make a thread each (more are turned away),
  and once they leave the probes answer again; a client that sends nothing is disconnected after
  the per-connection timeout;
- a client that disconnects in the middle of an answer costs no traceback;
- ``/metrics?name[]=...`` answers only the families named (a cheap look at 100,000 policies);
  scrapes arriving while the whole page is being built share that build.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import urllib.request

import pytest

from failsync import observability
from failsync.errors import FailsyncError
from failsync.observability import Metrics, ProbeServer, default_metrics_host
from tests.helpers import wait_for


def _server(**options) -> ProbeServer:
    return ProbeServer(Metrics(), ready=lambda: (True, "ok: leader"), port=0, **options).start()


def test_the_probes_listen_on_the_loopback_unless_running_in_a_pod(tmp_path, monkeypatch) -> None:
    token = tmp_path / "token"
    monkeypatch.setattr(observability, "SERVICE_ACCOUNT_TOKEN", token)
    assert default_metrics_host() == "127.0.0.1"
    token.write_text("t")
    assert default_metrics_host() == "0.0.0.0"


def test_a_busy_port_is_one_clear_error_naming_it() -> None:
    first = _server()
    try:
        with pytest.raises(FailsyncError) as raised:
            ProbeServer(Metrics(), ready=lambda: (True, "ok"), port=first.port)
        message = str(raised.value)
        assert f"port {first.port}" in message and "--metrics-port 0" in message
    finally:
        first.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_connections_are_bounded_and_the_probes_answer_again_once_clients_leave() -> None:
    server = _server(max_connections=4, connection_timeout=30)

    def handlers() -> int:
        return sum(1 for thread in threading.enumerate() if "process_request_thread" in thread.name)

    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]
    url = f"http://127.0.0.1:{server.port}/healthz"
    try:
        wait_for(lambda: handlers() == 4, timeout=10, message="four handler threads")
        assert not _answers(url)  # a fifth client is turned away at once, no thread made for it
        assert handlers() == 4
    finally:
        for connection in idle:
            connection.close()
    try:
        wait_for(lambda: _answers(url), timeout=10, message="the probes to answer once the idle clients left")
    finally:
        server.stop()


def test_a_client_that_sends_nothing_is_disconnected_after_the_connection_timeout() -> None:
    server = _server(connection_timeout=0.3)
    try:
        client = socket.create_connection(("127.0.0.1", server.port))
        client.settimeout(10)
        assert client.recv(1) == b""  # the server hung up on it
        client.close()
    finally:
        server.stop()


def test_a_client_that_disconnects_mid_answer_costs_no_traceback(capfd) -> None:
    metrics = Metrics()
    for n in range(3000):  # a long /metrics answer, so the client is gone before it is written
        metrics.ready_endpoints.set(1, namespace="ns", name=f"policy-{n}", backend="web")
    server = ProbeServer(metrics, ready=lambda: (True, "ok"), port=0).start()
    try:
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
            client.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def _server_for(metrics: Metrics) -> ProbeServer:
    return ProbeServer(metrics, ready=lambda: (True, "ok: leader"), port=0).start()


def _inside_full_page() -> int:
    """Threads whose stack is inside the probe server's whole-page build (building or waiting for it)."""
    inside = 0
    for frame in sys._current_frames().values():
        while frame is not None and frame.f_code.co_name != "_full_page":
            frame = frame.f_back
        inside += frame is not None
    return inside


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_name_filters_answer_only_the_families_asked_for() -> None:
    metrics = Metrics()
    metrics.policies.set(3)
    metrics.reconciles.inc(result="created")
    server = _server_for(metrics)
    try:
        base = f"http://127.0.0.1:{server.port}/metrics"
        page = _scrape(f"{base}?name[]=failsync_policies&name[]=failsync_queue_depth")
        families = {line.split()[2] for line in page.splitlines() if line.startswith("# TYPE")}
        assert families == {"failsync_policies", "failsync_queue_depth"}
        assert "failsync_policies 3" in page.splitlines()
        assert "failsync_reconciles_total" not in page and "failsync_reconciles_total" in _scrape(base)
    finally:
        server.stop()


def test_scrapes_that_arrive_while_the_page_is_built_share_that_build() -> None:
    metrics = Metrics()
    builds, release = [], threading.Event()

    def slow_series():  # a collected source as costly as 100,000 policies' series, held until released
        builds.append(1)
        release.wait(10)
        return [((), 7.0)]

    metrics.queue_depth.collect(slow_series)
    server = _server_for(metrics)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        pages: list[str] = []
        scrapers = [threading.Thread(target=lambda: pages.append(_scrape(url))) for _ in range(3)]
        scrapers[0].start()
        wait_for(lambda: builds, timeout=10)
        for scraper in scrapers[1:]:
            scraper.start()
        wait_for(lambda: _inside_full_page() == 3, timeout=10)  # the first builds, the others have joined it
        release.set()
        for scraper in scrapers:
            scraper.join(10)
        assert len(pages) == 3 and all("failsync_queue_depth 7" in page.splitlines() for page in pages)
        assert len(builds) == 1
    finally:
        release.set()
        server.stop()
