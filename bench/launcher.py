"""The bench's sandbox process: one sandbox cluster in its own Python process, plus a small
admin port the bench drives it through.

Owns: starting ``failsync.sandbox.Sandbox`` (one or more clusters, a kubeconfig at a given
path with a context per cluster), a wrapper of each cluster's store commit that records the
server-clock time of every EndpointSlice commit, taken before the store offers it to any watch
(the "endpoint change" the reaction latency starts from), and the admin endpoints, each for the
cluster named by ``?cluster=`` (default the first):
``POST /apply`` (bulk create-or-replace in-process, no API request logged),
``POST /scale`` (JSON ``[[namespace, deployment, replicas], ...]``, applied in-process one
after the other: a burst of endpoint changes; answers the server time before the first),
``GET /commits?after=K`` and ``GET /requests?after=K[&method=M]`` (cursors into the slice commit
log and the cluster's request log: records from index K on, and the next cursor),
``GET /splits`` (live weights of every TrafficSplit and HTTPRoute), ``POST /expect`` (JSON
``{"name": N, "weights": {"ns/name": {...}}}``: remember an expectation) and
``GET /mismatched?name=N`` (how many expected objects are not at their weights yet: a
convergence check that costs O(expected) in-process, not a transfer of every object),
``GET /converged?name=N`` (once every expected object is at its weights, the server-clock time
of the commit that put the last of them there: start-to-converged figures end at that write, not
at whichever poll noticed it),
``POST /delete-splits`` (JSON body: a namespace prefix; deletes both kinds).
Never does: measure anything itself, or change how the sandbox behaves.

Run: ``python -m bench.launcher --kubeconfig FILE [--clusters west,east]``; prints one JSON
line ``{"urls": {...}, "admin": ..., "kubeconfig": ...}`` when ready, serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from failsync.sandbox import Sandbox

SLICE_KEY = "discovery/endpointslices"


class CommitLog:
    """Server-clock times of EndpointSlice commits, kept as tuples, since at 100,000 policies the
    set-up alone commits 300,000 slices.

    The time is taken inside the store lock just before the commit, so before the store offers the
    change to any watch: a store hook runs only after the watches were offered it and after the
    hooks before it (the simulated controllers, which may commit more in the meantime), so a stamp
    taken there could come after a tool had already read the change."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str, str, int]] = []

    def install(self, store) -> None:
        """Stamp every EndpointSlice commit of ``store`` from now on (the store's ``commit`` wrapped)."""
        commit = store.commit

        def stamped(store_key: str, event_type: str, obj: dict, old: dict | None = None) -> dict:
            if store_key != SLICE_KEY:
                return commit(store_key, event_type, obj, old)
            with store.lock:  # (reentrant) no other commit between the stamp and this one
                metadata = obj["metadata"]
                self.records.append((time.time(), metadata.get("namespace"), metadata["name"], event_type,
                                     store.revision + 1))  # the revision this commit takes
                return commit(store_key, event_type, obj, old)

        store.commit = stamped

    def as_dicts(self, after: int, total: int) -> list[dict]:
        return [{"time": t, "kind": "endpointslices", "namespace": namespace, "name": name, "type": kind,
                 "revision": revision} for t, namespace, name, kind, revision in self.records[after:total]]


#: Store keys of the CRD-served objects the bench reads (stored at the CRDs' storage versions).
TARGET_KEYS = ("split.smi-spec.io/trafficsplits", "gateway.networking.k8s.io/httproutes")


def _weights(obj: dict) -> dict:
    """Backend -> weight of a TrafficSplit, or of an HTTPRoute's first rule."""
    if obj.get("kind") == "HTTPRoute":
        rules = (obj.get("spec") or {}).get("rules") or [{}]
        return {ref["name"]: ref.get("weight", 1) for ref in rules[0].get("backendRefs") or []}
    return {b["service"]: b.get("weight") for b in (obj.get("spec") or {}).get("backends") or []}


def _live_weights(store, key: str) -> dict | None:
    """The weights of the TrafficSplit or HTTPRoute ``namespace/name`` (None: neither exists), by
    direct lookup: a convergence poll at 100,000 policies costs the expected objects, not the store."""
    namespace, name = key.split("/", 1)
    found = None
    for store_key in TARGET_KEYS:  # (the bench keeps the two kinds in different namespaces)
        obj = store.get(store_key, namespace, name)
        if obj is not None:
            found = _weights(obj)
    return found


class WeightChanges:
    """Per TrafficSplit/HTTPRoute ``namespace/name``, the server-clock time of the commit that gave
    it its current weights, recorded by a store hook (inside the store lock, just after the commit):
    a commit that leaves the weights as they were (labels, status) keeps the earlier time."""

    def __init__(self) -> None:
        self.since: dict[str, tuple[float, dict]] = {}

    def hook(self, change) -> None:
        if change.store_key not in TARGET_KEYS:
            return
        metadata = change.obj["metadata"]
        key = f"{metadata.get('namespace')}/{metadata['name']}"
        if change.type == "DELETED":
            self.since.pop(key, None)
            return
        weights = _weights(change.obj)
        known = self.since.get(key)
        if known is None or known[1] != weights:
            self.since[key] = (time.time(), weights)

    def converged_at(self, store, expected: dict) -> float | None:
        """When the last expected object got its expected weights; None while one is not at them."""
        latest = 0.0
        for key, weights in expected.items():
            known = self.since.get(key)
            if known is None or known[1] != weights or _live_weights(store, key) != weights:
                return None
            latest = max(latest, known[0])
        return latest


# Whatever the sandbox holds when an event is fired (the tools' own objects too) is moved out of
# the cyclic collector's reach (``gc.freeze``, O(1)), as ``Cluster.apply_many`` does for what the
# set-up created: at 10,000 policies a full collection
# walked 0.8-1.9 million objects in 3-7 s on a loaded machine (collecting none), stalling every
# request, whichever tool's burst or reaction it fell in. Refcounting still frees them; the
# sandbox makes almost no cycles (a full collection found 0-19).


class AdminHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the sandbox's own handler: no delayed-ACK stall per answer

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _answer(self, obj) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _cluster(self, query: dict) -> tuple:
        name = query.get("cluster") or self.server.first
        return self.server.clusters[name], self.server.commits[name]

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        after = int(query.get("after", 0))
        cluster, commits = self._cluster(query)
        if url.path == "/commits":  # cursor: records[after:], and the next cursor
            total = len(commits.records)
            self._answer({"next": total, "records": commits.as_dicts(after, total)})
        elif url.path == "/requests":
            method = query.get("method")
            total = len(cluster.requests)
            records = cluster.requests[after:total]
            self._answer({"next": total,
                          "records": [r.as_dict() for r in records if method is None or r.method == method]})
        elif url.path == "/splits":  # TrafficSplits and HTTPRoutes (the bench keeps them in other namespaces)
            self._answer({f"{obj['metadata']['namespace']}/{obj['metadata']['name']}": _weights(obj)
                          for key in TARGET_KEYS for obj in cluster.store.all_of(key)})
        elif url.path == "/mismatched":
            wrong = [key for key, weights in self.server.expectations[query["name"]].items()
                     if _live_weights(cluster.store, key) != weights]
            self._answer({"mismatched": len(wrong), "examples": wrong[:5]})
        elif url.path == "/converged":
            at = self.server.weight_changes[query.get("cluster") or self.server.first].converged_at(
                cluster.store, self.server.expectations[query["name"]])
            self._answer({"converged": at is not None, "time": at})
        elif url.path == "/time":
            self._answer({"time": time.time()})
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        cluster, _ = self._cluster(query)
        if url.path == "/apply":
            applied = cluster.apply_many(body)
            self._answer({"applied": applied})
        elif url.path == "/scale":
            gc.freeze()
            deployments = [cluster.get("apps/v1", "Deployment", namespace, name) for namespace, name, _ in body]
            started = time.time()
            for obj, (_, _, replicas) in zip(deployments, body):
                obj["spec"]["replicas"] = replicas
                cluster.apply(obj)
            self._answer({"time": started, "scaled": len(body)})
        elif url.path == "/expect":
            self.server.expectations[body["name"]] = body["weights"]
            self._answer({"expected": len(body["weights"])})
        elif url.path == "/delete-splits":
            prefix = body or ""
            objects = [o for key in TARGET_KEYS for o in cluster.store.all_of(key)
                       if o["metadata"]["namespace"].startswith(prefix)]
            for obj in objects:
                cluster.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
            self._answer({"deleted": len(objects)})
        else:
            self.send_error(404)


def main() -> None:
    parser = argparse.ArgumentParser(description="bench sandbox process")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--clusters", default="bench", help="comma-separated cluster names (default: bench)")
    parser.add_argument("--history", type=int, default=50_000)
    options = parser.parse_args()
    names = options.clusters.split(",")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Sandbox(clusters=names, kubeconfig=options.kubeconfig, history=options.history) as sandbox:
        admin = ThreadingHTTPServer(("127.0.0.1", 0), AdminHandler)
        admin.daemon_threads = True
        admin.first, admin.clusters, admin.commits, admin.expectations = names[0], {}, {}, {}
        admin.weight_changes = {name: WeightChanges() for name in names}
        for name in names:
            admin.clusters[name], admin.commits[name] = sandbox[name], CommitLog()
            admin.commits[name].install(sandbox[name].store)
            sandbox[name].store.hooks.append(admin.weight_changes[name].hook)
        threading.Thread(target=admin.serve_forever, daemon=True).start()
        print(json.dumps({"urls": {name: sandbox[name].url for name in names},
                          "admin": f"http://127.0.0.1:{admin.server_address[1]}",
                          "kubeconfig": str(sandbox.kubeconfig), "pid": os.getpid()}), flush=True)
        stop.wait()
        admin.shutdown()


if __name__ == "__main__":
    main()
