"""Metrics in the Prometheus text exposition format, and the probe server.

Covers:
- counters, gauges and histograms render HELP/TYPE lines and labelled samples;
- label values are escaped (backslash, quote, newline);
- histogram buckets are cumulative and end with +Inf, with _sum and _count;
- forgetting a policy removes its series (bounded memory);
- wrong label names are refused; counters never go down;
- /metrics, /healthz and /readyz answer over HTTP (readyz 503 until ready, body says the role).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from failsync.observability import Metrics, ProbeServer, Registry


def test_counter_and_gauge_render_help_type_and_labelled_samples() -> None:
    registry = Registry()
    requests = registry.counter("x_requests_total", "Requests.", ["verb", "code"])
    requests.inc(verb="get", code=200)
    requests.inc(2, verb="get", code=200)
    requests.inc(verb="patch", code=422)
    leader = registry.gauge("x_leader", "Leader.")
    leader.set(1)
    text = registry.expose()
    assert text.endswith("\n")
    assert text.splitlines() == [
        "# HELP x_requests_total Requests.",
        "# TYPE x_requests_total counter",
        'x_requests_total{verb="get",code="200"} 3',
        'x_requests_total{verb="patch",code="422"} 1',
        "# HELP x_leader Leader.",
        "# TYPE x_leader gauge",
        "x_leader 1",
    ]


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.gauge("g", "G.", ["v"]).set(0.5, v='a"b\\c\nd')
    assert 'g{v="a\\"b\\\\c\\nd"} 0.5' in registry.expose()


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    registry = Registry()
    histogram = registry.histogram("h_seconds", "H.", buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 0.7, 3.0):
        histogram.observe(value)
    lines = registry.expose().splitlines()
    assert lines[1] == "# TYPE h_seconds histogram"
    assert lines[2:] == [
        'h_seconds_bucket{le="0.1"} 1',
        'h_seconds_bucket{le="1"} 3',
        'h_seconds_bucket{le="+Inf"} 4',
        "h_seconds_sum 4.25",
        "h_seconds_count 4",
    ]
    assert histogram.count() == 4


def test_forgetting_a_policy_removes_its_series() -> None:
    metrics = Metrics()
    metrics.ready_endpoints.set(2, namespace="ns", name="p", backend="a")
    metrics.ready_endpoints.set(1, namespace="ns", name="q", backend="a")
    metrics.failovers.inc(namespace="ns", name="p")
    metrics.forget_policy("ns", "p")
    text = metrics.expose()
    assert 'name="p"' not in text
    assert 'failsync_backend_ready_endpoints{namespace="ns",name="q",backend="a"} 1' in text


def test_wrong_labels_and_negative_counts_are_refused() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError):
        metrics.reconciles.inc(outcome="patched")
    with pytest.raises(ValueError):
        metrics.reconciles.inc(-1, result="patched")


def test_every_metric_the_loop_promises_is_exposed() -> None:
    text = Metrics().expose()
    for name in ("failsync_reconciles_total", "failsync_failovers_total", "failsync_failbacks_total",
                 "failsync_backend_ready_endpoints", "failsync_active_backends",
                 "failsync_decision_to_write_seconds", "failsync_api_requests_total",
                 "failsync_watch_restarts_total"):
        assert f"# TYPE {name} " in text


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers["Content-Type"]


def test_probe_server_serves_metrics_healthz_and_readyz() -> None:
    metrics = Metrics()
    metrics.reconciles.inc(result="patched")
    state = {"ready": False}
    server = ProbeServer(metrics, ready=lambda: (state["ready"], "ok: leader" if state["ready"] else "not ready"),
                         host="127.0.0.1", port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, body, content_type = _get(base + "/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        assert 'failsync_reconciles_total{result="patched"} 1' in body
        assert _get(base + "/healthz")[:2] == (200, "ok\n")
        assert _get(base + "/readyz")[0] == 503
        state["ready"] = True
        assert _get(base + "/readyz")[:2] == (200, "ok: leader\n")
        assert _get(base + "/nope")[0] == 404
    finally:
        server.stop()
