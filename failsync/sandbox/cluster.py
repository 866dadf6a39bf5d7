"""One sandbox cluster: a store, its simulator, its HTTP server on 127.0.0.1, its request
log, fault knobs and direct (no-HTTP) object access for tests.

Owns: the server's lifecycle (start, stop, outage = listening socket closed then re-bound
on the same port with state kept) and the seed objects every cluster starts with
(namespaces default, kube-system, kube-public, kube-node-lease; the CRDs of the custom
kinds). Never does: request handling (``server``) or storage rules (``store``/``writes``).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Iterable, Mapping

from failsync.sandbox import crds, reads, resources, writes
from failsync.sandbox.definitions import default_crds
from failsync.sandbox.auth import Authorizer
from failsync.sandbox.garbage_collector import Collector
from failsync.sandbox.faults import Faults
from failsync.sandbox.server import RequestRecord, SandboxHTTPServer
from failsync.sandbox.mesh import MeshSimulator
from failsync.sandbox.simulator import Simulator
from failsync.sandbox.status import ApiError
from failsync.sandbox.store import Store, detached

log = logging.getLogger(__name__)
SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class RequestLog(list):
    """The requests a cluster served, oldest first (a list of ``RequestRecord``)."""

    def verbs(self) -> list[str]:
        """The verb of every logged request, in order."""
        return [record.verb for record in self]


class Cluster:
    """One Kubernetes-compatible API server on its own port."""

    def __init__(self, name: str, *, port: int = 0, tokens: Mapping[str, object] | None = None,
                 readiness_delay: float = 0.0, history: int = 1000) -> None:
        self.name = name
        self.store = Store(history)
        self.auth = Authorizer(tokens)
        self.faults = Faults(self._drop_watches, self._outage, self._hold_watch_events, self.store.release_events)
        self.requests: RequestLog = RequestLog()
        self.bookmark_interval = 60.0
        # A watch without timeoutSeconds ends after minRequestTimeout x (1 + random()), as
        # kube-apiserver's (default 1800 s, so 30-60 min); tests lower it.
        self.min_request_timeout = 1800.0
        # How long a LIST or WATCH at a resourceVersion ahead of the store waits before 504 (3 s, as the watch cache).
        self.too_large_wait = 3.0
        self.simulator = Simulator(self.store, readiness_delay)
        self.store.hooks.append(self.simulator.on_change)
        self.registry = resources.Registry(resources.RESOURCES + (crds.CRD_RESOURCE,))
        self.crds = crds.CRDController(self.store, self.registry, writes.timestamp)
        self.store.hooks.append(self.crds.on_change)
        self.mesh = MeshSimulator(self.store, self.registry.lookup)
        self.store.hooks.append(self.mesh.on_change)
        self.collector = Collector(self.store, writes.timestamp, self.registry)
        self.store.hooks.append(self.collector.on_change)
        self._port = port
        self._server: SandboxHTTPServer | None = None
        self._serving: threading.Thread | None = None
        self._recovery: threading.Timer | None = None  # a pending re-bind after an outage
        self._lifecycle = threading.Lock()
        self._stopped = True
        self._seed()

    def _seed(self) -> None:
        namespaces = resources.lookup("", "v1", "namespaces")
        for name in SEED_NAMESPACES:
            writes.create(self.store, namespaces, None, {"metadata": {"name": name}})
        crds.install_defaults(self.store, writes.create, default_crds())

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._port}"

    def _bind(self) -> None:
        server = SandboxHTTPServer(("127.0.0.1", self._port), self)
        self._port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"sandbox-{self.name}", daemon=True)
        thread.start()
        self._server, self._serving = server, thread

    def start(self) -> "Cluster":
        """Listen on 127.0.0.1 (port 0 picks a free one) and serve in a daemon thread."""
        with self._lifecycle:
            if self._server is None:
                self._stopped = False
                self._bind()
        return self

    def _close(self) -> None:
        server, self._server = self._server, None
        serving, self._serving = self._serving, None
        if server is not None:
            server.close()
        if serving is not None:
            serving.join(5)

    def stop(self) -> None:
        """Stop serving: close the port, end watches, cut connections, wait for their threads."""
        with self._lifecycle:
            self._stopped = True
            recovery, self._recovery = self._recovery, None
            if recovery is not None:
                recovery.cancel()
            self._close()
        self.collector.stop()

    def _drop_watches(self) -> int:
        return self.store.close_watches()

    def _hold_watch_events(self, resource: str) -> None:
        keys = {r.store_key for r in self.registry.resources if r.group_resource == resource}
        if not keys:
            raise ValueError(f"unknown resource {resource!r}: expected a plural and its group, "
                             f"e.g. trafficsplits.split.smi-spec.io")
        for key in keys:
            self.store.hold_events(key)

    def _outage(self, seconds: float) -> None:
        with self._lifecycle:
            self._close()

        def recover() -> None:
            with self._lifecycle:
                self._recovery = None
                if not self._stopped and self._server is None:
                    for _attempt in range(50):
                        try:
                            self._bind()
                            return
                        except OSError:  # the port may linger a moment
                            time.sleep(0.05)
                    log.error("sandbox %s: could not re-bind port %s after the outage", self.name, self._port)

        timer = threading.Timer(seconds, recover)
        timer.daemon = True
        with self._lifecycle:
            self._recovery = timer
        timer.start()

    # --- direct access (no HTTP) ---------------------------------------------------------------
    # Python callers get and give deep copies: a caller editing a result (or the dict it applied)
    # must not change stored state behind the store's back (no resourceVersion, no watch event).
    def apply(self, obj: dict, *, manager: str | None = None) -> dict:
        """Create or replace an object (its namespace is created when missing); returns a copy of the stored view.

        ``manager`` names the field manager to record (None: a set-up write, no managedFields)."""
        return detached(self._apply(detached(obj), manager))

    def apply_many(self, objects: Iterable[dict]) -> int:
        """``apply`` each object (no field manager) under one hold of the store lock; returns how many.

        For bulk set-up (the bench's 100,000 namespaces): the objects are handed over, not copied
        (the caller must not use them afterwards), and nothing is returned, so it skips ``apply``'s
        two copies; the lock held across the batch spares a switch to the garbage collector's
        thread per owned object. What is stored is what ``apply`` stores.

        Python's cyclic collector is paused for the batch and what it created is frozen after it
        (``gc.freeze``): stored objects are acyclic trees that reference counting frees, and each
        collection walks every object the store holds, which cost 40% of a 10,000-policy set-up
        (12.4 -> 7.6 s of CPU) and, with millions of objects, pauses every later request."""
        count = 0
        with self.store.lock:
            collecting = gc.isenabled()
            gc.disable()
            try:
                for obj in objects:
                    self._apply(obj, None)
                    count += 1
            finally:
                if collecting:
                    gc.enable()
            gc.freeze()
        return count

    def _apply(self, obj: dict, manager: str | None) -> dict:
        resource = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        metadata = dict(obj.get("metadata") or {})
        namespace = (metadata.get("namespace") or "default") if resource.namespaced else None
        with self.store.lock:
            if namespace and self.store.get("core/namespaces", "", namespace) is None:
                writes.create(self.store, resources.lookup("", "v1", "namespaces"), None,
                              {"metadata": {"name": namespace}})
            current = self.store.get(resource.store_key, namespace or "", metadata.get("name", ""))
            if current is None:
                metadata.pop("resourceVersion", None)
                stored = writes.create(self.store, resource, namespace, dict(obj, metadata=metadata), manager=manager)
            else:
                metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
                stored = writes.update(self.store, resource, namespace, metadata["name"],
                                       dict(obj, metadata=metadata), manager=manager)[1]
        return stored

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        """A copy of the object as served at ``api_version``, or None."""
        resource = self.registry.by_kind(api_version, kind)
        try:
            return detached(reads.get(self.store, resource, namespace or "", name))
        except ApiError:
            return None

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        """Delete an object if it exists."""
        resource = self.registry.by_kind(api_version, kind)
        try:
            writes.delete(self.store, resource, namespace if resource.namespaced else None, name)
        except ApiError as error:
            if error.code != 404:
                raise

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict]:
        """Copies of every object of a kind (in one namespace or all), as served at ``api_version``."""
        resource = self.registry.by_kind(api_version, kind)
        objects, _revision = self.store.snapshot(resource.store_key, namespace)
        return detached([resources.to_view(resource, o) for o in objects])


__all__ = ["Cluster", "RequestLog", "RequestRecord"]
