"""Observability: a small metrics registry rendered in the Prometheus text exposition format,
and the HTTP server for ``/metrics``, ``/healthz`` and ``/readyz`` (log lines: ``log_format``).

Owns: metric types (counter, gauge, histogram with labels), their exposition, the
metrics failsync publishes, and the probe endpoints. Never does: talk to the
Kubernetes API or decide anything; the loop tells it what happened.
No dependency beyond the standard library.
"""

from __future__ import annotations

import bisect
import errno
import logging
import math
import sys
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, urlsplit

from failsync.errors import FailsyncError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; reaction of a watch-driven loop is milliseconds, a slow API server seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Mounted into every pod that has a service account: failsync runs inside a cluster.
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
#: Seconds a probe client may take to send its request and read the answer.
CONNECTION_TIMEOUT = 5.0
#: Connections served at once; more are closed at once (500 idle clients never make 500 threads).
MAX_CONNECTIONS = 32
#: Port of /metrics, /healthz and /readyz unless ``--metrics-port`` says otherwise.
DEFAULT_METRICS_PORT = 9095


def default_metrics_host() -> str:
    """Where the probes listen by default: every address in a pod (the kubelet and Prometheus reach
    the pod IP), only the loopback elsewhere (nothing exposed on a laptop or a shared host)."""
    return "0.0.0.0" if SERVICE_ACCOUNT_TOKEN.exists() else "127.0.0.1"


# --------------------------------------------------------------------------- metric types

def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _number(value: object) -> float:
    """A series' value as kept: an int stays an int (a count, the common case: small ones are
    CPython's shared objects, so 10,000 policies' per-backend gauges cost no float each)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else float(value)  # type: ignore[arg-type]


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labelnames = tuple(labels)
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], object] = {}
        self._sources: list[Callable[[], Iterable[tuple[tuple[str, ...], float]]]] = []

    def collect(self, source: Callable[[], Iterable[tuple[tuple[str, ...], float]]]) -> None:
        """Also expose the (label values, value) series ``source()`` yields when scraped: state its owner
        keeps anyway, published without a stored series each (10,000 policies' gauges cost 0.4 KB each)."""
        self._sources.append(source)

    def _collected(self) -> Iterator[tuple[tuple[str, ...], float]]:
        """The series of the ``collect`` sources, their label values as strings."""
        return ((tuple(map(str, key)), value) for source in self._sources for key, value in source())

    def _key(self, labels: dict[str, object]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labelnames)

    def _labels(self, key: tuple[str, ...], extra: Iterable[tuple[str, str]] = ()) -> str:
        pairs = [*zip(self.labelnames, key), *extra]
        if not pairs:
            return ""
        return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"

    def remove(self, **labels: object) -> None:
        """Forget one labelled series (e.g. of a deleted policy) so memory stays bounded."""
        with self._lock:
            self._values.pop(self._key(labels), None)

    def remove_matching(self, **labels: object) -> None:
        """Forget every series whose labels include these values."""
        wanted = {self.labelnames.index(name): str(value) for name, value in labels.items()}
        with self._lock:
            for key in [k for k in self._values if all(k[i] == v for i, v in wanted.items())]:
                del self._values[key]

    def _samples(self) -> list[str]:
        raise NotImplementedError

    def expose(self) -> str:
        """This metric's HELP, TYPE and sample lines."""
        lines = [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]
        lines.extend(self._samples())
        return "\n".join(lines)


class Counter(_Metric):
    """A value that only goes up (reset only by a restart)."""

    kind = "counter"

    def inc(self, amount: float = 1, **labels: object) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``."""
        if amount < 0:
            raise ValueError("a counter never goes down")
        key = self._key(labels)
        with self._lock:
            self._values[key] = _number(self._values.get(key, 0)) + amount

    def value(self, **labels: object) -> float:
        """The current value of one series, stored or collected (0 when never incremented)."""
        key = self._key(labels)
        if key in self._values:
            return float(self._values[key])  # type: ignore[arg-type]
        return float(next((value for k, value in self._collected() if k == key), 0.0))

    def _samples(self) -> list[str]:
        with self._lock:
            items = list(self._values.items())
        items.extend(self._collected())
        items.sort()
        return [f"{self.name}{self._labels(key)} {_format_value(value)}" for key, value in items]  # type: ignore[arg-type]


class Gauge(Counter):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        """Set the series named by ``labels`` to ``value``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = _number(value)

    def inc(self, amount: float = 1, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = _number(self._values.get(key, 0)) + amount


class Histogram(_Metric):
    """Observations counted into cumulative ``le`` buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))

    def observe(self, value: float, **labels: object) -> None:
        """Record one observation."""
        key = self._key(labels)
        with self._lock:
            counts, total = self._values.get(key, ([0] * (len(self.buckets) + 1), 0.0))  # type: ignore[misc]
            counts[bisect.bisect_left(self.buckets, value)] += 1
            self._values[key] = (counts, total + value)

    def count(self, **labels: object) -> int:
        """How many observations the series holds."""
        counts, _ = self._values.get(self._key(labels), ([0], 0.0))  # type: ignore[misc]
        return sum(counts)

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted((key, (list(c), s)) for key, (c, s) in self._values.items())  # type: ignore[misc]
        lines = []
        for key, (counts, total) in items:
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts):
                running += count
                lines.append(f"{self.name}_bucket{self._labels(key, [('le', _format_value(bound))])} {running}")
            lines.append(f"{self.name}_sum{self._labels(key)} {_format_value(total)}")
            lines.append(f"{self.name}_count{self._labels(key)} {running}")
        return lines


class Registry:
    """A named collection of metrics, exposed together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        return self._add(Counter(name, help, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge."""
        return self._add(Gauge(name, help, labels))  # type: ignore[return-value]

    def histogram(self, name: str, help: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
        """Register and return a histogram."""
        return self._add(Histogram(name, help, labels, buckets))  # type: ignore[return-value]

    def expose(self, names: Collection[str] | None = None) -> str:
        """Every metric (or only the families ``names``) in the Prometheus text exposition format
        (version 0.0.4)."""
        chosen = self._metrics.values() if names is None else [m for m in self._metrics.values() if m.name in names]
        return "".join(metric.expose() + "\n" for metric in chosen)


class Metrics:
    """The metrics failsync publishes, on their own registry (one per controller)."""

    def __init__(self) -> None:
        self.registry = registry = Registry()
        self.reconciles = registry.counter(
            "failsync_reconciles_total", "Reconciles of one policy, by result.", ["result"])
        self.failovers = registry.counter(
            "failsync_failovers_total", "Failovers written (primary lost its weight).", ["namespace", "name"])
        self.failbacks = registry.counter(
            "failsync_failbacks_total", "Failbacks written (weight returned to the primary).", ["namespace", "name"])
        self.drift_reverted = registry.counter(
            "failsync_drift_reverted_total", "Writes that put back weights changed behind failsync's back.",
            ["namespace", "name"])
        self.ready_endpoints = registry.gauge(
            "failsync_backend_ready_endpoints", "Ready endpoints of each backend of a policy.",
            ["namespace", "name", "backend"])
        self.active_backends = registry.gauge(
            "failsync_active_backends", "Backends carrying weight in a policy's live object.", ["namespace", "name"])
        self.decision_to_write = registry.histogram(
            "failsync_decision_to_write_seconds", "Time from a decision to its write landing.")
        self.reaction = registry.histogram(
            "failsync_event_to_write_seconds", "Time from the watch event that changed health to the write landing.")
        self.api_requests = registry.counter(
            "failsync_api_requests_total", "Kubernetes API requests, by verb and HTTP status code.", ["verb", "code"])
        self.watch_restarts = registry.counter(
            "failsync_watch_restarts_total", "Watch streams restarted, by resource and reason.", ["resource", "reason"])
        self.events = registry.counter(
            "failsync_events_total", "Kubernetes Events emitted, by reason.", ["reason"])
        self.leader = registry.gauge("failsync_leader", "1 while this replica holds the lease (or runs alone).")
        self.policies = registry.gauge("failsync_policies", "Policies loaded and managed.")
        self.policy_errors = registry.gauge("failsync_policy_errors", "Invalid policies currently reported.")
        self.queue_depth = registry.gauge("failsync_queue_depth", "Policies waiting for a reconcile.")
        self.watches_unsynced = registry.gauge(
            "failsync_watches_unsynced", "Watches not listed yet or re-listing (0: every cache in step).")
        self.thread_errors = registry.counter(
            "failsync_thread_errors_total", "Unexpected errors that restarted a thread of the loop.", ["thread"])
        self.events_dropped = registry.counter(
            "failsync_events_dropped_total", "Events dropped (backlog full, or not sent within shutdown's budget).")
        self.failing_policies = registry.gauge(
            "failsync_failing_policies", "Policies whose last reconcile failed for good (e.g. an unowned object).")
        self.unserved_policies = registry.gauge(
            "failsync_unserved_policies", "Policies whose TrafficSplit apiVersion the server does not serve.")

    def forget_policy(self, namespace: str, name: str) -> None:
        """Drop every series of a policy that is gone, so memory stays bounded."""
        for metric in (self.failovers, self.failbacks, self.drift_reverted, self.ready_endpoints, self.active_backends):
            metric.remove_matching(namespace=namespace, name=name)

    def expose(self, names: Collection[str] | None = None) -> str:
        """All metrics (or the families ``names``) in the Prometheus text format."""
        return self.registry.expose(names)


# --------------------------------------------------------------------------- HTTP server

class _ProbeHTTPServer(ThreadingHTTPServer):
    """A threading server with a bounded number of connections, quiet about clients that go away."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.debug("probe connection from %s refused: %s", client_address, "too many connections")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that disconnects or times out is not failsync's error: one DEBUG line, no traceback."""
        log.debug("probe connection from %s ended: %s", client_address, sys.exc_info()[1])


class ProbeServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread.

    ``ready()`` returns (is ready, body): the loop's caches are synced, and the body
    says whether this replica is the leader or a standby.
    """

    def __init__(self, metrics: Metrics, *, ready: Callable[[], tuple[bool, str]],
                 healthy: Callable[[], bool] = lambda: True,
                 host: str = "127.0.0.1", port: int = DEFAULT_METRICS_PORT, max_connections: int = MAX_CONNECTIONS,
                 connection_timeout: float = CONNECTION_TIMEOUT) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                url = urlsplit(self.path)
                if url.path == "/metrics":
                    # ``name[]``, as Prometheus clients take it: a cheap look at a few families, where the
                    # whole page walks every policy's series (seconds at 100,000 policies).
                    names = parse_qs(url.query).get("name[]")
                    outer._send(self, 200, metrics.expose(names) if names else outer._full_page(), CONTENT_TYPE)
                elif url.path == "/healthz":
                    ok = healthy()
                    outer._send(self, 200 if ok else 503, "ok\n" if ok else "unhealthy\n")
                elif url.path == "/readyz":
                    ok, body = ready()
                    outer._send(self, 200 if ok else 503, body + "\n")
                else:
                    outer._send(self, 404, "not found: try /metrics, /healthz, /readyz\n")

            def log_message(self, format: str, *args: object) -> None:
                log.debug("probe %s", format % args)

        Handler.timeout = connection_timeout  # a client that sends nothing holds its thread this long at most
        try:
            self._server = _ProbeHTTPServer((host, port), Handler, max_connections)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise FailsyncError(f"cannot serve the probes: port {port} on {host} is already in use; "
                                    f"choose another with --metrics-port, or --metrics-port 0 for any free "
                                    f"port") from None
            raise FailsyncError(f"cannot serve the probes on {host}:{port}: {error.strerror}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="failsync-probes", daemon=True)
        self._metrics = metrics
        self._page_lock = threading.Lock()
        self._page_building: Future[str] | None = None

    def _full_page(self) -> str:
        """The whole /metrics page. Scrapes that arrive while one is being built get that one: a
        client retrying a slow scrape (or several scrapers at once) never multiplies the work."""
        with self._page_lock:
            building = self._page_building
            leading = building is None
            if building is None:
                building = self._page_building = Future()
        if leading:
            try:
                building.set_result(self._metrics.expose())
            except BaseException as error:  # the waiters get it too; the server logs it once each
                building.set_exception(error)
            finally:
                with self._page_lock:
                    self._page_building = None
        return building.result()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: str,
              content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return self._server.server_address[1]

    def start(self) -> "ProbeServer":
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
