"""The bench's sandbox process: one sandbox cluster in its own Python process, plus a small
admin port the bench drives it through.

Owns: starting ``failsync.sandbox.Sandbox`` (one cluster, a kubeconfig at a given path), a
store hook that records the server-clock time of every Endpoints/EndpointSlice commit
(the "endpoint change" the reaction latency starts from), and the admin endpoints:
``POST /apply`` (bulk create-or-replace in-process, no API request logged),
``GET /commits?after=K`` and ``GET /requests?after=K[&method=M]`` (cursors into the commit
log and the cluster's request log: records from index K on, and the next cursor),
``GET /splits`` (live weights of every TrafficSplit and HTTPRoute), ``POST /delete-splits``
(JSON body: a namespace prefix; deletes both kinds).
Never does: measure anything itself, or change how the sandbox behaves.

Run: ``python -m bench.launcher --kubeconfig FILE``; prints one JSON line
``{"url": ..., "admin": ..., "kubeconfig": ...}`` when ready, serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from failsync.sandbox import Sandbox

ENDPOINT_KEYS = ("core/endpoints", "discovery/endpointslices")


class CommitLog:
    """Server-clock times of endpoint commits, recorded by a store hook (runs inside the store lock)."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def hook(self, change) -> None:
        if change.store_key in ENDPOINT_KEYS:
            metadata = change.obj["metadata"]
            self.records.append({"time": time.time(), "kind": change.store_key.split("/")[1],
                                 "namespace": metadata.get("namespace"), "name": metadata["name"],
                                 "type": change.type, "revision": change.revision})


#: Store keys of the CRD-served objects the bench reads (stored at the CRDs' storage versions).
TARGET_KEYS = ("split.smi-spec.io/trafficsplits", "gateway.networking.k8s.io/httproutes")


def _weights(obj: dict) -> dict:
    """Backend -> weight of a TrafficSplit, or of an HTTPRoute's first rule."""
    if obj.get("kind") == "HTTPRoute":
        rules = (obj.get("spec") or {}).get("rules") or [{}]
        return {ref["name"]: ref.get("weight", 1) for ref in rules[0].get("backendRefs") or []}
    return {b["service"]: b.get("weight") for b in (obj.get("spec") or {}).get("backends") or []}


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

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        after = int(query.get("after", 0))
        cluster, commits = self.server.cluster, self.server.commits
        if url.path == "/commits":  # cursor: records[after:], and the next cursor
            total = len(commits.records)
            self._answer({"next": total, "records": commits.records[after:total]})
        elif url.path == "/requests":
            method = query.get("method")
            total = len(cluster.requests)
            records = cluster.requests[after:total]
            self._answer({"next": total,
                          "records": [r.as_dict() for r in records if method is None or r.method == method]})
        elif url.path == "/splits":  # TrafficSplits and HTTPRoutes (the bench keeps them in other namespaces)
            self._answer({f"{obj['metadata']['namespace']}/{obj['metadata']['name']}": _weights(obj)
                          for key in TARGET_KEYS for obj in cluster.store.all_of(key)})
        elif url.path == "/time":
            self._answer({"time": time.time()})
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        cluster = self.server.cluster
        if url.path == "/apply":
            for obj in body:
                cluster.apply(obj)
            self._answer({"applied": len(body)})
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
    parser.add_argument("--history", type=int, default=50_000)
    options = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Sandbox(clusters=("bench",), kubeconfig=options.kubeconfig, history=options.history) as sandbox:
        cluster = sandbox["bench"]
        commits = CommitLog()
        cluster.store.hooks.append(commits.hook)
        admin = ThreadingHTTPServer(("127.0.0.1", 0), AdminHandler)
        admin.daemon_threads = True
        admin.cluster, admin.commits = cluster, commits
        threading.Thread(target=admin.serve_forever, daemon=True).start()
        print(json.dumps({"url": cluster.url, "admin": f"http://127.0.0.1:{admin.server_address[1]}",
                          "kubeconfig": str(sandbox.kubeconfig), "pid": __import__("os").getpid()}), flush=True)
        stop.wait()
        admin.shutdown()


if __name__ == "__main__":
    main()
