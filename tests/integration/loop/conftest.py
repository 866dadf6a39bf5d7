"""Fixtures for the loop's integration tests: an emojivoto-like app in a fresh namespace,
policy files on disk, and ``failsync run`` running in-process in a thread.

- `app(cluster, namespace)`: Deployment web + Service web-svc (selector) and a selector-less
  ``web-svc-east`` whose Endpoints the test writes (as Linkerd's mirror does);
- `scale(cluster, namespace, n)`: scale deploy/web in-process (past any injected fault);
- `set_ready(cluster, namespace, service, n)`: write a selector-less service's Endpoints;
- `write_policy(path, namespace, ...)`: a FailoverPolicy file;
- `weights(cluster, namespace, name)`: backend -> weight of the live TrafficSplit, or None;
- `running(kubeconfig, paths, client=None, **options)`: a Controller in a thread, synced, stopped on exit.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from failsync.controller import Controller, LoopOptions
from failsync.kube import KubeClient
from tests.helpers import running_loop

log = logging.getLogger("tests.loop")
TS_VERSION = "split.smi-spec.io/v1alpha2"


def app(cluster: Any, namespace: str, *, replicas: int = 1, east_ready: int = 1) -> None:
    """The guide's west side: web behind web-svc, and the mirrored web-svc-east."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc", "namespace": namespace},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web-svc-east", "namespace": namespace}, "spec": {"ports": [{"port": 80}]}})
    set_ready(cluster, namespace, "web-svc-east", east_ready)


def scale(cluster: Any, namespace: str, replicas: int) -> None:
    """Scale deploy/web in-process (kubectl's PATCH would meet the injected faults)."""
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "web", "image": "web"}]}}}})


def set_ready(cluster: Any, namespace: str, service: str, count: int) -> None:
    """Give a selector-less service ``count`` ready addresses (Endpoints, mirrored into slices)."""
    addresses = [{"ip": f"10.200.{n // 250}.{n % 250 + 1}"} for n in range(count)]
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service, "namespace": namespace},
                   "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}] if addresses else []})


def policy_text(namespace: str, name: str = "web-svc-failover", *, primary: str = "web-svc",
                fallbacks: tuple[str, ...] = ("web-svc-east",), hold: float = 0) -> str:
    lines = ["apiVersion: failsync.io/v1alpha1", "kind: FailoverPolicy", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}", "spec:", f"  service: {primary}", f"  primary: {primary}",
             "  fallbacks:", *[f"    - service: {f}" for f in fallbacks],
             "  failback:", f"    holdSeconds: {hold}"]
    return "\n".join(lines) + "\n"


def write_policy(path: Path, namespace: str, **kwargs: Any) -> Path:
    path.write_text(policy_text(namespace, **kwargs))
    return path


def traffic_split(cluster: Any, namespace: str, name: str = "web-svc-failover") -> dict | None:
    return cluster.get(TS_VERSION, "TrafficSplit", namespace, name)


def weights(cluster: Any, namespace: str, name: str = "web-svc-failover") -> dict[str, int] | None:
    obj = traffic_split(cluster, namespace, name)
    return {b["service"]: b["weight"] for b in obj["spec"]["backends"]} if obj else None


def writes_to_traffic_splits(cluster: Any) -> list[Any]:
    """Write requests (POST/PUT/PATCH/DELETE) on TrafficSplits in the sandbox's request log."""
    return [r for r in list(cluster.requests)
            if r.method in ("POST", "PUT", "PATCH", "DELETE") and "/trafficsplits" in r.path]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def running(kubeconfig: Path, paths: list[Path], *, context: str = "west", client: KubeClient | None = None,
            **options: Any) -> Iterator[Controller]:
    """``failsync run`` in-process: yields the synced Controller; stops it gracefully on exit."""
    client = client or KubeClient.from_kubeconfig(kubeconfig, context)
    options.setdefault("metrics_port", 0)
    options.setdefault("metrics_host", "127.0.0.1")
    controller = Controller(client, LoopOptions(paths=paths, **options))
    with running_loop(controller):
        yield controller

