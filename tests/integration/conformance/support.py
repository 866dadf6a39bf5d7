"""Shared pieces of the conformance suite: object manifests, raw HTTP calls through a
pykube client (so its auth applies), URL builders and a watch-stream reader."""
from __future__ import annotations

import json
import socket
from typing import Any

import pykube
import requests

from tests.helpers import LineStream

SPLIT_GROUP = "split.smi-spec.io"
SPLIT_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


def traffic_split(namespace: str, name: str, *, labels: dict | None = None,
                  weights: dict[str, int] | None = None, version: str = "v1alpha4") -> dict:
    """A TrafficSplit for `web-svc` with integer weights (v1alpha2+ shape)."""
    weights = {"web-svc": 1, "web-svc-east": 0} if weights is None else weights
    return {
        "apiVersion": f"{SPLIT_GROUP}/{version}",
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"service": "web-svc",
                 "backends": [{"service": s, "weight": w} for s, w in weights.items()]},
    }


def deployment(namespace: str, name: str, *, app: str, replicas: int = 1) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": f"example/{app}:1"}]},
            },
        },
    }


def service(namespace: str, name: str, *, app: str | None) -> dict:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    if app is not None:
        spec["selector"] = {"app": app}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def split_path(namespace: str | None, name: str = "", version: str = "v1alpha4") -> str:
    path = f"/apis/{SPLIT_GROUP}/{version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += "/trafficsplits"
    return f"{path}/{name}" if name else path


def call(api: pykube.HTTPClient, method: str, path: str, *, body: Any = None,
         content_type: str = "application/json", **kwargs: Any) -> requests.Response:
    """One HTTP request to the sandbox through the pykube session (auth headers included)."""
    headers = dict(kwargs.pop("headers", {}))
    data = None
    if body is not None:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers["Content-Type"] = content_type
    return api.session.request(method, api.url + path, data=data, headers=headers,
                               timeout=kwargs.pop("timeout", 10), **kwargs)


def create(api: pykube.HTTPClient, obj: dict) -> dict:
    """POST `obj` to its collection and return the stored object (asserting 201)."""
    response = call(api, "POST", collection_path(obj), body=obj)
    assert response.status_code == 201, response.text
    return response.json()


def collection_path(obj: dict) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    plural = {"Deployment": "deployments", "Service": "services", "Endpoints": "endpoints",
              "TrafficSplit": "trafficsplits", "Namespace": "namespaces",
              "EndpointSlice": "endpointslices", "Lease": "leases", "Event": "events"}[kind]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    namespace = obj["metadata"].get("namespace")
    if namespace and kind != "Namespace":
        return f"{base}/namespaces/{namespace}/{plural}"
    return f"{base}/{plural}"


def object_path(obj: dict) -> str:
    return f"{collection_path(obj)}/{obj['metadata']['name']}"


def assert_status(response: requests.Response, code: int, reason: str, message: str | None = None) -> dict:
    """Assert a Failure `Status` body with `code` and `reason` (and exact `message`); return it."""
    assert response.status_code == code, (response.status_code, response.text)
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    status = response.json()
    assert status["kind"] == "Status" and status["apiVersion"] == "v1", status
    assert status["status"] == "Failure", status
    assert status["code"] == code and status["reason"] == reason, status
    assert status["message"], status
    if message is not None:
        assert status["message"] == message, status
    return status


class Watch:
    """An open watch stream: events decoded one line at a time, with deadlines."""

    def __init__(self, api: pykube.HTTPClient, path: str, params: dict | None = None) -> None:
        query = {"watch": "true", **(params or {})}
        self.response = call(api, "GET", path, params=query, stream=True, timeout=(5, 60))
        self.lines = LineStream(self.response.iter_lines())

    def next(self, timeout: float = 5) -> dict | None:
        line = self.lines.next(timeout)
        return None if line is None else json.loads(line)

    def next_of(self, kinds: set[str], timeout: float = 5) -> dict:
        """The next event whose type is in `kinds` (skipping bookmarks and others)."""
        line = self.lines.until(lambda raw: json.loads(raw)["type"] in kinds, timeout)
        return json.loads(line)

    def close(self) -> None:
        close_stream(self.response)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_stream(response: requests.Response) -> None:
    """Close a streamed response now, even while another thread is blocked reading it.

    A plain close() waits for that read (the buffered reader's lock) until the read
    timeout; shutting the socket down first makes the read return at once.
    """
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the server
    response.close()


def resource_version(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])
