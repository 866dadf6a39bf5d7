"""Helpers for the sync integration tests: emojivoto objects, the CLI, and a filtering
HTTP proxy in front of a sandbox cluster that hides API groups or resources, so a test
can face a cluster that serves only Endpoints, only EndpointSlices, or no TrafficSplit CRD.
"""
from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

import yaml
from click.testing import CliRunner, Result

from failsync.cli import main

REPO = Path(__file__).resolve().parents[3]
GUIDE_POLICIES = REPO / "policies" / "emojivoto"



def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(ns: str, name: str, app: str, replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": app, "image": f"buoyantio/emojivoto-{app}"}]}}}}


def service(ns: str, name: str, app: str | None, port: int = 80) -> dict:
    spec: dict = {"ports": [{"name": "http", "port": port}]}
    if app:
        spec["selector"] = {"app": app}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def install_emojivoto(cluster, ns: str = "emojivoto") -> None:
    """The guide's emojivoto app in one cluster: web, emoji and voting behind their services."""
    cluster.apply(namespace(ns))
    for app, svc, port in (("web", "web-svc", 80), ("emoji", "emoji-svc", 8080), ("voting", "voting-svc", 8080)):
        cluster.apply(deployment(ns, app, app))
        cluster.apply(service(ns, svc, app, port))


def policy_document(ns: str, name: str, *, primary: str = "web-svc", fallbacks: Iterable[str] = ("web-svc-east",),
                    source: str = "auto", hold: int = 0, api_version: str = "split.smi-spec.io/v1alpha2") -> str:
    return yaml.safe_dump({
        "apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"service": primary, "primary": primary,
                 "fallbacks": [{"service": fallback} for fallback in fallbacks],
                 "health": {"minReady": 1, "source": source}, "failback": {"holdSeconds": hold},
                 "target": {"kind": "TrafficSplit", "apiVersion": api_version}},
    })


def failsync(kubeconfig: Path, *args: str, context: str = "west", env: dict | None = None) -> Result:
    """Run the CLI in-process (click's CliRunner) against one sandbox context."""
    return CliRunner().invoke(main, ["--kubeconfig", str(kubeconfig), "--context", context, *args],
                              env=env, catch_exceptions=False)


def weights(cluster, ns: str = "emojivoto", name: str = "web-svc-failover",
            api_version: str = "split.smi-spec.io/v1alpha2") -> dict[str, int] | None:
    obj = cluster.get(api_version, "TrafficSplit", ns, name)
    if obj is None:
        return None
    return {b["service"]: b["weight"] for b in obj["spec"]["backends"]}


def writes(cluster) -> list:
    return [r for r in cluster.requests if r.verb in ("create", "update", "patch", "delete")]


class FilteringProxy:
    """A real HTTP proxy in front of one cluster that hides API groups and resource paths.

    ``hide_groups``: groups (``split.smi-spec.io``) or group versions (``split.smi-spec.io/v1alpha4``)
    removed from ``/apis`` (and their URLs answer 404);
    ``hide_resources``: resource names (such as ``endpoints``) whose URLs answer a plain 404.
    """

    def __init__(self, upstream: str, *, hide_groups: Iterable[str] = (), hide_resources: Iterable[str] = ()) -> None:
        self.upstream = upstream.rstrip("/")
        self.hide_groups = set(hide_groups)
        self.hide_resources = set(hide_resources)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self) -> None:
                path = self.path.split("?")[0]
                hidden = any(f"/apis/{group}/" in path or path == f"/apis/{group}" for group in proxy.hide_groups)
                if hidden or proxy.hide_resources & set(path.split("/")):
                    body = b"404 page not found\n"
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(proxy.upstream + self.path, data=data, method=self.command,
                                                 headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, answer_headers, body = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, answer_headers, body = error.code, error.headers, error.read()
                if path == "/apis" and status == 200:
                    listing = json.loads(body)
                    listing["groups"] = [g for g in listing.get("groups", []) if g["name"] not in proxy.hide_groups]
                    for group in listing["groups"]:
                        group["versions"] = [v for v in group["versions"]
                                             if v["groupVersion"] not in proxy.hide_groups]
                    body = json.dumps(listing).encode()
                self.send_response(status)
                self.send_header("Content-Type", answer_headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FilteringProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, directory: Path, context: str = "west") -> Path:
        """A kubeconfig whose one context (named ``context``) points at the proxy."""
        path = directory / f"proxy-{self.server.server_address[1]}.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }))
        return path
