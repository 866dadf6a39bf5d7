"""The floor: the least work any controller must do for the bench's policies, nothing else.

Watch mode (default): LIST EndpointSlices and the policies' objects (TrafficSplits, or the
HTTPRoutes of route policies) once, then WATCH EndpointSlices; on a change of a policy's
backend, decide the weights (primary while it has ready endpoints, else the lowest priority
tier with ready backends) and, when they differ from the live ones, send the one JSON Patch
to that object (a route's rule backendRefs, as failsync renders them). ``--once``: the same LISTs, then one write per
object that differs (POST when missing), and exit; what a one-shot ``sync`` cannot avoid.
No retries, no events, no metrics, no logging: a yardstick, not a product.

Run: ``python -m bench.floor --url URL --table FILE [--once]``
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

import requests

SPLITS = "/apis/split.smi-spec.io/v1alpha2/trafficsplits"
ROUTES = "/apis/gateway.networking.k8s.io/v1/httproutes"
SLICES = "/apis/discovery.k8s.io/v1/endpointslices"
SERVICE_LABEL = "kubernetes.io/service-name"
PATCH = {"Content-Type": "application/json-patch+json"}


def ready_count(endpoint_slice: dict) -> int:
    return sum(1 for e in endpoint_slice.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") is not False)


def desired(backends: list, ready: dict, namespace: str, live: dict | None) -> dict | None:
    """Weights per service, or None to keep the live ones (nothing healthy)."""
    healthy = [(service, tier) for service, tier in backends if ready.get((namespace, service), 0) >= 1]
    if healthy and healthy[0][0] == backends[0][0]:
        return {service: int(index == 0) for index, (service, _) in enumerate(backends)}
    if not healthy:
        return None
    best = min(tier for _, tier in healthy)
    chosen = {service for service, tier in healthy if tier == best}
    return {service: int(service in chosen) for service, _ in backends}


class Floor:
    def __init__(self, url: str, table: list[dict]) -> None:
        self.url = url
        self.session = requests.Session()
        self.policies = {(p["namespace"], p["name"]): p["backends"] for p in table}
        self.routes = {(p["namespace"], p["name"]) for p in table if p.get("kind") == "HTTPRoute"}
        self.by_service: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for (namespace, name), backends in self.policies.items():
            for service, _ in backends:
                self.by_service.setdefault((namespace, service), []).append((namespace, name))
        self.ready: dict[tuple[str, str], int] = {}
        self.live: dict[tuple[str, str], dict] = {}
        self.writes = 0

    def list_all(self) -> str:
        slices = self.session.get(self.url + SLICES).json()
        for item in slices["items"]:
            metadata = item["metadata"]
            self.ready[(metadata["namespace"], metadata["labels"].get(SERVICE_LABEL))] = ready_count(item)
        if len(self.routes) < len(self.policies):
            for item in self.session.get(self.url + SPLITS).json()["items"]:
                metadata = item["metadata"]
                self.live[(metadata["namespace"], metadata["name"])] = {
                    b["service"]: b["weight"] for b in item["spec"]["backends"]}
        if self.routes:
            for item in self.session.get(self.url + ROUTES).json()["items"]:
                metadata = item["metadata"]
                self.live[(metadata["namespace"], metadata["name"])] = {
                    r["name"]: r.get("weight", 1) for r in item["spec"]["rules"][0]["backendRefs"]}
        return slices["metadata"]["resourceVersion"]

    def write(self, key: tuple[str, str]) -> None:
        namespace, name = key
        backends = self.policies[key]
        live = self.live.get(key)
        weights = desired(backends, self.ready, namespace, live)
        if weights is None or weights == live:
            return
        if key in self.routes:
            self._write_route(key, weights, live)
            return
        spec_backends = [{"service": service, "weight": weights[service]} for service, _ in backends]
        if live is None:
            body = {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"service": backends[0][0], "backends": spec_backends}}
            self.session.post(f"{self.url}/apis/split.smi-spec.io/v1alpha2/namespaces/{namespace}/trafficsplits",
                              json=body)
        else:
            self.session.patch(f"{self.url}/apis/split.smi-spec.io/v1alpha2/namespaces/{namespace}/trafficsplits/"
                               f"{name}", data=json.dumps([{"op": "replace", "path": "/spec/backends",
                                                            "value": spec_backends}]), headers=PATCH)
        self.live[key] = weights
        self.writes += 1

    def _write_route(self, key: tuple[str, str], weights: dict, live: dict | None) -> None:
        namespace, name = key
        backends = self.policies[key]
        refs = [{"group": "", "kind": "Service", "name": service, "port": 80, "weight": weights[service]}
                for service, _ in backends]
        path = f"{self.url}/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes"
        if live is None:
            body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": backends[0][0], "port": 80}],
                             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                        "backendRefs": refs}]}}
            self.session.post(path, json=body)
        else:
            self.session.patch(f"{path}/{name}", data=json.dumps(
                [{"op": "replace", "path": "/spec/rules/0/backendRefs", "value": refs}]), headers=PATCH)
        self.live[key] = weights
        self.writes += 1

    def once(self) -> None:
        self.list_all()
        for key in self.policies:
            self.write(key)

    def watch(self) -> None:
        revision = self.list_all()
        announced = False
        while True:
            with self.session.get(self.url + SLICES, params={"watch": "true", "resourceVersion": revision,
                                                           "allowWatchBookmarks": "true", "timeoutSeconds": "300"},
                                  stream=True) as response:
                if not announced:
                    print("ready", flush=True)
                    announced = True
                for line in response.iter_lines(chunk_size=None):
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    metadata = obj["metadata"]
                    revision = metadata.get("resourceVersion", revision)
                    if event["type"] == "ERROR":
                        revision = self.list_all()
                        break
                    if event["type"] == "BOOKMARK":
                        continue
                    service = (metadata["namespace"], (metadata.get("labels") or {}).get(SERVICE_LABEL))
                    self.ready[service] = 0 if event["type"] == "DELETED" else ready_count(obj)
                    for key in self.by_service.get(service, ()):
                        self.write(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--once", action="store_true")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(options.table) as table:
        floor = Floor(options.url, json.load(table))
    if options.once:
        floor.once()
        print(json.dumps({"writes": floor.writes}))
    else:
        floor.watch()


if __name__ == "__main__":
    main()
