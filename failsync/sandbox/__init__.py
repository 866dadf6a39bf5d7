"""The sandbox: a local Kubernetes-compatible API server over real HTTP.

Used by the test suite, the benchmarks and ``failsync demo``; pykube-ng and
kubectl talk to it unchanged. It is its own world: it imports nothing of
failsync above ``failsync.core`` (and needs none of it).

Owns: ``Sandbox`` (several clusters in one process, one kubeconfig with a context per
cluster, the cross-cluster service mirror). Modules: ``cluster`` (one server), ``server``
(HTTP), ``reads``/``writes`` (API verbs), ``store`` (objects, revisions, watchers),
``resources``/``kinds`` (what is served), ``selectors``, ``patches``, ``simulator``,
``deletion`` (finalizers, garbage collector, namespaces), ``managed_fields``/``apply``
(server-side apply), ``access`` (SelfSubjectAccessReview), ``service_mirror`` (Linkerd's
mirror and gateways), ``faults``, ``auth``, ``discovery``, ``status``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from failsync.sandbox import service_mirror, tls
from failsync.sandbox.cluster import Cluster, RequestLog, RequestRecord
from failsync.sandbox.service_mirror import ServiceMirror

__all__ = ["Cluster", "RequestLog", "RequestRecord", "Sandbox"]


class Sandbox:
    """Several sandbox clusters; a context manager that starts and stops them all."""

    def __init__(self, clusters: Iterable[str] = ("sandbox",), kubeconfig: str | os.PathLike | None = None,
                 tokens: Mapping[str, object] | None = None, readiness_delay: float = 0.0, history: int = 1000,
                 *, port: int = 0, mirror_mode: str | None = None) -> None:
        """``mirror_mode`` ("gateway" or "remote-discovery") runs Linkerd's service mirror between
        the clusters (``service_mirror``): exported Services appear as ``<name>-<cluster>`` elsewhere."""
        names = list(clusters) if not isinstance(clusters, str) else [clusters]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"cluster names must be given and distinct, got {names}")
        if mirror_mode is not None and mirror_mode not in service_mirror.MODES:
            raise ValueError(f"mirror mode must be one of {', '.join(service_mirror.MODES)}, got {mirror_mode!r}")
        self.tokens = dict(tokens or {})
        self.clusters: dict[str, Cluster] = {
            name: Cluster(name, port=(port + index) if port else 0, tokens=self.tokens or None,
                          readiness_delay=readiness_delay, history=history)
            for index, name in enumerate(names)}
        self._kubeconfig_path = Path(kubeconfig) if kubeconfig else None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._mirror_mode = mirror_mode
        self.service_mirror: ServiceMirror | None = None
        self.kubeconfig: Path | None = None

    def __getitem__(self, name: str) -> Cluster:
        return self.clusters[name]

    def __iter__(self):
        return iter(self.clusters.values())

    def start(self) -> "Sandbox":
        """Start every cluster and write the kubeconfig; ``tls.TLSUnavailable`` (nothing started)
        when tokens are set and no certificate can be made."""
        if self.tokens:
            tls.server_context()  # fail early (and once) when TLS cannot be served, before any port opens
        try:
            for cluster in self.clusters.values():
                cluster.start()
        except OSError:
            self.stop()
            raise
        if self._kubeconfig_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="failsync-sandbox-")
            self._kubeconfig_path = Path(self._tempdir.name) / "kubeconfig"
        first_token = next(iter(self.tokens), None)
        self.kubeconfig = self._write_kubeconfig(self._kubeconfig_path, first_token)
        if self._mirror_mode is not None and self.service_mirror is None:
            self.service_mirror = ServiceMirror(self.clusters.values(), self._mirror_mode).start()
        return self

    def stop(self) -> None:
        """Stop mirrors and clusters; remove the temporary kubeconfig."""
        if self.service_mirror is not None:
            self.service_mirror.stop()
            self.service_mirror = None
        for cluster in self.clusters.values():
            cluster.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def kubeconfig_text(self, token: str | None = None) -> str:
        """The kubeconfig YAML: one context per cluster (named after it), current = the first."""
        user = {"token": token} if token else {}
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": c.name, "cluster": self._cluster_entry(c)} for c in self.clusters.values()],
            "users": [{"name": f"{c.name}-user", "user": dict(user)} for c in self.clusters.values()],
            "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": f"{c.name}-user",
                                                      "namespace": "default"}} for c in self.clusters.values()],
            "current-context": next(iter(self.clusters)),
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _cluster_entry(self, cluster: Cluster) -> dict:
        # kubectl sends credentials only to https servers: with tokens, point it at the TLS side of the port.
        if self.tokens:
            return {"server": cluster.url.replace("http://", "https://"), "insecure-skip-tls-verify": True}
        return {"server": cluster.url}

    def _write_kubeconfig(self, path: Path, token: str | None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.kubeconfig_text(token))
        os.chmod(path, 0o600)
        return path

    def kubeconfig_for(self, token: str) -> Path:
        """Write (next to the main one) a kubeconfig whose users carry ``token``."""
        if self._kubeconfig_path is None:
            raise RuntimeError("start the sandbox first")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in token)
        return self._write_kubeconfig(self._kubeconfig_path.with_name(f"{self._kubeconfig_path.name}.{safe}"), token)

    def export(self, cluster: str, namespace: str, name: str, mode: str = "true") -> ServiceMirror:
        """Label Service ``name`` of ``cluster`` ``mirror.linkerd.io/exported=<mode>`` (what
        ``kubectl label`` does), so the service mirror makes ``<name>-<cluster>`` in every other
        cluster; starts the mirror in gateway mode when the sandbox was made without ``mirror_mode``."""
        service = self.clusters[cluster].get("v1", "Service", namespace, name)
        if service is None:
            raise LookupError(f"cluster {cluster} has no Service {namespace}/{name} to export")
        if self.service_mirror is None:
            self.service_mirror = ServiceMirror(self.clusters.values(), self._mirror_mode or "gateway").start()
        service["metadata"].setdefault("labels", {})[service_mirror.EXPORT_LABEL] = mode
        self.clusters[cluster].apply(service, manager="kubectl-label")
        return self.service_mirror
