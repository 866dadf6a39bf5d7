"""Fault injection, from Python and from the admin endpoint.

Covers: added latency delays every request (checked as a lower bound on the request's
duration, never an upper one); error_rate per verb answers with 503 or 429 (Status body,
Retry-After header and details.retryAfterSeconds) for that verb only, other verbs still
succeed; kubectl prints `Error from server (InternalError)` under a 500 rate; reset()
clears faults; drop_watches() ends every open watch stream; outage(seconds) refuses
connections and then the server answers again with its state kept; POST /_sandbox/faults
sets and resets the same faults over HTTP.
"""
from __future__ import annotations

import time

import pytest
import requests

from tests.helpers import wait_for
from tests.integration.conformance.support import (Watch, assert_status, call, create, split_path,
                                                   traffic_split)


@pytest.fixture
def west(sandbox):
    cluster = sandbox["west"]
    cluster.faults.reset()
    yield cluster
    cluster.faults.reset()


def test_latency_delays_every_request(west, api, namespace):
    west.faults.latency = 0.3
    started = time.monotonic()
    assert call(api, "GET", split_path(namespace)).status_code == 200
    assert time.monotonic() - started >= 0.3
    west.faults.latency = 0
    assert call(api, "GET", split_path(namespace)).status_code == 200


@pytest.mark.parametrize("status, reason", [(503, "ServiceUnavailable"), (500, "InternalError")])
def test_error_rate_fails_only_the_chosen_verb(west, api, namespace, status, reason):
    create(api, traffic_split(namespace, "web"))
    west.faults.error_rate("list", 1.0, status=status)
    response = call(api, "GET", split_path(namespace))
    assert_status(response, status, reason)
    assert call(api, "GET", split_path(namespace, "web")).status_code == 200
    west.faults.reset()
    assert call(api, "GET", split_path(namespace)).status_code == 200


def test_error_rate_429_carries_retry_after(west, api, namespace):
    west.faults.error_rate("patch", 1.0, status=429, retry_after=2)
    create(api, traffic_split(namespace, "web"))
    response = call(api, "PATCH", split_path(namespace, "web"), body={"metadata": {"labels": {"a": "b"}}},
                    content_type="application/merge-patch+json")
    status = assert_status(response, 429, "TooManyRequests")
    assert response.headers["Retry-After"] == "2"
    assert status["details"]["retryAfterSeconds"] == 2


def test_kubectl_prints_the_server_error_under_an_error_rate(west, kubectl, namespace):
    code, _, err = kubectl("-n", namespace, "get", "ts")  # fills kubectl's discovery cache first
    assert code == 0, err
    west.faults.error_rate("get", 1.0, status=500)
    code, _, err = kubectl("-n", namespace, "get", "ts", "web", "--request-timeout=10s")
    assert code == 1
    assert "Error from server (InternalError)" in err, err


def test_drop_watches_ends_every_open_stream(west, api, namespace):
    with Watch(api, split_path(namespace), {"timeoutSeconds": "60"}) as first, \
            Watch(api, "/api/v1/services", {"timeoutSeconds": "60"}) as second:
        create(api, traffic_split(namespace, "web"))
        first.next_of({"ADDED"})
        west.faults.drop_watches()
        first.lines.wait_end(timeout=5)
        second.lines.wait_end(timeout=5)
    assert call(api, "GET", split_path(namespace)).status_code == 200


def test_outage_refuses_connections_then_recovers_with_state_kept(west, api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    west.faults.outage(1.0)

    def refused() -> bool:
        try:
            requests.get(west.url + "/version", timeout=2)
        except requests.ConnectionError:
            return True
        return False

    assert refused()
    wait_for(lambda: not refused(), timeout=10, message="the server to answer again")
    after = call(api, "GET", split_path(namespace, "web")).json()
    assert after["metadata"]["uid"] == stored["metadata"]["uid"]


def test_admin_endpoint_sets_and_resets_faults(west, api, namespace):
    admin = west.url + "/_sandbox/faults"
    answer = requests.post(admin, json={"error_rate": {"verb": "list", "rate": 1.0, "status": 503}}, timeout=10)
    assert answer.status_code in (200, 204), answer.text
    assert call(api, "GET", split_path(namespace)).status_code == 503
    assert requests.post(admin, json={"reset": True}, timeout=10).status_code in (200, 204)
    assert call(api, "GET", split_path(namespace)).status_code == 200
    assert requests.post(admin, json={"drop_watches": True}, timeout=10).status_code in (200, 204)
