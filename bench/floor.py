"""The lean floor: the least work any controller must do for the bench's policies, nothing else.

Standard-library HTTP only (``http.client``): one persistent connection for reads and writes,
one for the watch. LISTs come in pages of 10,000 objects. Watch mode (default): LIST EndpointSlices (of the local cluster and of every
``--remote`` cluster) and the policies' objects once, then WATCH EndpointSlices of one cluster
(``--watch``, default the local one); on a change of a policy's backend, decide the weights
(primary while it has ready endpoints, else the lowest priority tier with ready backends) and,
when they differ from the live ones, send the JSON Patch failsync sends for a weight change (a
``test`` of the resourceVersion, then one ``replace`` per changed weight). ``--once``: the same
LISTs, then one write per object that differs (POST when missing), and exit: what a one-shot
``sync`` cannot avoid. No retries beyond one re-read on a conflict, no events, no metrics, no
logging: a yardstick, not a product.

Run: ``python -m bench.floor --url URL --table FILE [--once] [--remote NAME=URL] [--watch NAME]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
from urllib.parse import urlsplit

SPLIT_API = "split.smi-spec.io/v1alpha2"
ROUTE_API = "gateway.networking.k8s.io/v1"
SPLITS = f"/apis/{SPLIT_API}/trafficsplits"
ROUTES = f"/apis/{ROUTE_API}/httproutes"
SLICES = "/apis/discovery.k8s.io/v1/endpointslices"
SERVICE_LABEL = "kubernetes.io/service-name"
PATCH_HEADERS = {"Content-Type": "application/json-patch+json"}
JSON_HEADERS = {"Content-Type": "application/json"}
LOCAL = ""  # the cluster name of the local (written) cluster in the floor's keys
PAGE = 10_000  # objects per LIST page: one page up to 3,333 policies' slices, memory bounded beyond


class Connection:
    """One persistent HTTP/1.1 connection; reconnects once when the server closed it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                self.connection.request(method, path, body, headers or {})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def stream(self, path: str) -> http.client.HTTPResponse:
        self.connection.request("GET", path)
        return self.connection.getresponse()


def ready_count(endpoint_slice: dict) -> int:
    return sum(1 for e in endpoint_slice.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") is not False)


def desired(backends: list, ready: dict) -> list[int] | None:
    """Weights in backend order, or None to keep the live ones (nothing healthy)."""
    healthy = [(index, backend[1]) for index, backend in enumerate(backends) if ready.get(backend[2], 0) >= 1]
    if not healthy:
        return None
    if healthy[0][0] == 0:
        return [int(index == 0) for index in range(len(backends))]
    best = min(tier for _, tier in healthy)
    chosen = {index for index, tier in healthy if tier == best}
    return [int(index in chosen) for index in range(len(backends))]


def _revision(body: bytes) -> str | None:
    """The resourceVersion of an object's JSON without decoding all of it."""
    start = body.find(b'"resourceVersion":')
    if start < 0:
        return None
    start = body.index(b'"', start + 18) + 1
    return body[start:body.index(b'"', start)].decode()


class Floor:
    def __init__(self, url: str, table: list[dict], remotes: dict[str, str] | None = None) -> None:
        self.local = Connection(url)
        self.remotes = {name: Connection(remote) for name, remote in (remotes or {}).items()}
        # key -> (kind, backends): each backend (service, tier, health key (cluster, namespace, service))
        self.policies: dict[tuple[str, str], tuple[str, list[tuple[str, int, tuple[str, str, str]]]]] = {}
        self.by_health: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for entry in table:
            key = (entry["namespace"], entry["name"])
            backends = []
            for backend in entry["backends"]:
                service, tier = backend[0], backend[1]
                where = backend[2] if len(backend) > 2 else None  # [cluster, namespace, service] or None
                health = (where[0], where[1], where[2]) if where else (LOCAL, entry["namespace"], service)
                backends.append((service, tier, health))
                self.by_health.setdefault(health, []).append(key)
            self.policies[key] = (entry.get("kind", "TrafficSplit"), backends)
        self.ready: dict[tuple[str, str, str], int] = {}
        self.live: dict[tuple[str, str], tuple[list[int], str | None]] = {}
        self.writes = 0

    def _get(self, connection: Connection, path: str) -> dict:
        status, body = connection.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def _pages(self, connection: Connection, path: str) -> tuple[list[list[dict]], str]:
        """A LIST in pages of ``PAGE`` objects (bounded memory at 100,000 policies: one page decoded
        at a time is all a controller must hold); the items of each page and the list's revision."""
        token, pages = "", []
        while True:
            answer = self._get(connection, f"{path}?limit={PAGE}" + (f"&continue={token}" if token else ""))
            pages.append(answer["items"])
            token = answer["metadata"].get("continue") or ""
            if not token:
                return pages, answer["metadata"]["resourceVersion"]

    def _list_slices(self, cluster: str, connection: Connection) -> str:
        pages, revision = self._pages(connection, SLICES)
        for items in pages:
            for item in items:
                metadata = item["metadata"]
                self.ready[(cluster, metadata["namespace"], (metadata.get("labels") or {}).get(SERVICE_LABEL))] = \
                    ready_count(item)
        return revision

    def _remember(self, item: dict) -> None:
        metadata = item["metadata"]
        key = (metadata["namespace"], metadata["name"])
        if item["kind"] == "HTTPRoute":
            weights = [r.get("weight", 1) for r in item["spec"]["rules"][0]["backendRefs"]]
        else:
            weights = [b["weight"] for b in item["spec"]["backends"]]
        self.live[key] = (weights, metadata["resourceVersion"])

    def list_all(self) -> dict[str, str]:
        """LIST every cluster's EndpointSlices and the local targets; the slices' revision per cluster."""
        revisions = {LOCAL: self._list_slices(LOCAL, self.local)}
        for name, connection in self.remotes.items():
            revisions[name] = self._list_slices(name, connection)
        kinds = {kind for kind, _ in self.policies.values()}
        for kind, path in (("TrafficSplit", SPLITS), ("HTTPRoute", ROUTES)):
            if kind in kinds:
                for items in self._pages(self.local, path)[0]:
                    for item in items:
                        item.setdefault("kind", kind)
                        self._remember(item)
        return revisions

    def write(self, key: tuple[str, str]) -> None:
        kind, backends = self.policies[key]
        weights = desired(backends, self.ready)
        live = self.live.get(key)
        if weights is None or (live is not None and weights == live[0]):
            return
        namespace, name = key
        plural, api = ("httproutes", ROUTE_API) if kind == "HTTPRoute" else ("trafficsplits", SPLIT_API)
        collection = f"/apis/{api}/namespaces/{namespace}/{plural}"
        if live is None:
            status, body = self.local.request("POST", collection, json.dumps(self._object(key, weights)).encode(),
                                              JSON_HEADERS)
        else:
            status, body = self._patch(f"{collection}/{name}", kind, live, weights)
            if status in (409, 422):  # someone else wrote it: re-read once and patch again
                fresh = self._get(self.local, f"{collection}/{name}")
                fresh.setdefault("kind", kind)
                self._remember(fresh)
                status, body = self._patch(f"{collection}/{name}", kind, self.live[key], weights)
        if 200 <= status < 300:
            self.live[key] = (weights, _revision(body))
            self.writes += 1

    def _patch(self, path: str, kind: str, live: tuple[list[int], str | None], weights: list[int]
               ) -> tuple[int, bytes]:
        prefix = "/spec/rules/0/backendRefs" if kind == "HTTPRoute" else "/spec/backends"
        operations = [{"op": "test", "path": "/metadata/resourceVersion", "value": live[1]}]
        operations += [{"op": "replace", "path": f"{prefix}/{index}/weight", "value": weight}
                       for index, (before, weight) in enumerate(zip(live[0], weights)) if before != weight]
        return self.local.request("PATCH", path, json.dumps(operations).encode(), PATCH_HEADERS)

    def _object(self, key: tuple[str, str], weights: list[int]) -> dict:
        kind, backends = self.policies[key]
        namespace, name = key
        metadata = {"name": name, "namespace": namespace}
        if kind == "HTTPRoute":
            refs = [{"group": "", "kind": "Service", "name": b[0], "port": 80, "weight": w}
                    for b, w in zip(backends, weights)]
            return {"apiVersion": ROUTE_API, "kind": "HTTPRoute", "metadata": metadata,
                    "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": backends[0][0], "port": 80}],
                             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                        "backendRefs": refs}]}}
        return {"apiVersion": SPLIT_API, "kind": "TrafficSplit", "metadata": metadata,
                "spec": {"service": backends[0][0],
                         "backends": [{"service": b[0], "weight": w} for b, w in zip(backends, weights)]}}

    def once(self) -> None:
        self.list_all()
        for key in self.policies:
            self.write(key)

    def watch(self, cluster: str = LOCAL) -> None:
        url = self.local if cluster == LOCAL else self.remotes[cluster]
        revision = self.list_all()[cluster]
        watcher = Connection(f"http://{url.host}:{url.port}")
        announced = False
        while True:
            response = watcher.stream(f"{SLICES}?watch=true&allowWatchBookmarks=true&timeoutSeconds=300"
                                      f"&resourceVersion={revision}")
            if not announced:
                print("ready", flush=True)
                announced = True
            buffer = b""
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        revision = self._event(cluster, json.loads(line), revision)
                        if revision is None:
                            break
                if revision is None:
                    break
            response.close()
            if revision is None:  # 410 Gone or another error: list again, then watch from there
                revision = self.list_all()[cluster]
                watcher.connection.close()

    def _event(self, cluster: str, event: dict, revision: str) -> str | None:
        obj = event["object"]
        metadata = obj["metadata"]
        if event["type"] == "ERROR":
            return None
        revision = metadata.get("resourceVersion", revision)
        if event["type"] == "BOOKMARK":
            return revision
        health = (cluster, metadata["namespace"], (metadata.get("labels") or {}).get(SERVICE_LABEL))
        self.ready[health] = 0 if event["type"] == "DELETED" else ready_count(obj)
        for key in self.by_health.get(health, ()):
            self.write(key)
        return revision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the cluster written to (and read)")
    parser.add_argument("--table", required=True)
    parser.add_argument("--remote", action="append", default=[], metavar="NAME=URL",
                        help="a cluster whose EndpointSlices count for backends placed there (repeatable)")
    parser.add_argument("--watch", default=LOCAL, metavar="NAME", help="the cluster whose EndpointSlices are watched")
    parser.add_argument("--once", action="store_true")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    remotes = dict(value.split("=", 1) for value in options.remote)
    with open(options.table) as table:
        floor = Floor(options.url, json.load(table), remotes)
    if options.once:
        floor.once()
        print(json.dumps({"writes": floor.writes}))
    else:
        floor.watch(options.watch)


if __name__ == "__main__":
    main()
