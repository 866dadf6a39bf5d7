"""Fixtures for the SPEC §12 integration tests: three selector-less backends whose Endpoints the
test writes (ready and not-ready addresses; the sandbox mirrors them into EndpointSlices), policy
files with the new fields, the CLI in-process, and a clock the test moves by hand.

- `backends(cluster, namespace)`: Services web-svc, web-svc-east, web-svc-central (no selector);
- `set_endpoints(cluster, namespace, service, ready, total)`: ``ready`` addresses and
  ``total - ready`` notReadyAddresses;
- `write_policy(path, namespace, spec_extra, ...)`: a FailoverPolicy file with extra spec YAML;
- `FakeClock`: ``clock()`` returns ``clock.now``; ``advance(seconds)`` moves it;
- `running(kubeconfig, paths, clock=...)`: a Controller (``failsync run``) in a thread.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from click.testing import CliRunner, Result

from failsync.cli import main
from failsync.controller import Controller, LoopOptions
from failsync.kube import KubeClient
from tests.helpers import running_loop

SERVICES = ("web-svc", "web-svc-east", "web-svc-central")


def backends(cluster: Any, namespace: str) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for service in SERVICES:
        cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": namespace},
                       "spec": {"ports": [{"port": 80}]}})


def set_endpoints(cluster: Any, namespace: str, service: str, ready: int, total: int | None = None) -> None:
    total = ready if total is None else total
    block = SERVICES.index(service) + 1
    addresses = [{"ip": f"10.{block}.0.{n + 1}"} for n in range(total)]
    subsets = [{"addresses": addresses[:ready], "notReadyAddresses": addresses[ready:], "ports": [{"port": 80}]}]
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service, "namespace": namespace},
                   "subsets": subsets if total else []})


def policy_text(namespace: str, spec_extra: str = "", *, fallbacks: str = "", source: str = "auto",
                api_version: str = "split.smi-spec.io/v1alpha2", name: str = "web-svc-failover") -> str:
    fallbacks = fallbacks or "    - service: web-svc-east\n    - service: web-svc-central\n      priority: 2\n"
    return (f"apiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\nmetadata:\n  name: {name}\n"
            f"  namespace: {namespace}\nspec:\n  service: web-svc\n  fallbacks:\n{fallbacks}"
            f"  target:\n    apiVersion: {api_version}\n{spec_extra}"
            + ("" if "health:" in spec_extra else f"  health:\n    source: {source}\n"))


def write_policy(path: Path, namespace: str, spec_extra: str = "", **kwargs: Any) -> Path:
    path.write_text(policy_text(namespace, spec_extra, **kwargs))
    return path


def failsync(kubeconfig: Path, *args: str, context: str = "west") -> Result:
    """The CLI in-process against one sandbox context."""
    return CliRunner().invoke(main, ["--kubeconfig", str(kubeconfig), "--context", context, *args],
                              catch_exceptions=False)


def weights(cluster: Any, namespace: str, name: str = "web-svc-failover",
            api_version: str = "split.smi-spec.io/v1alpha2") -> dict[str, Any] | None:
    obj = cluster.get(api_version, "TrafficSplit", namespace, name)
    return {b["service"]: b["weight"] for b in obj["spec"]["backends"]} if obj else None


def annotations(cluster: Any, namespace: str, name: str = "web-svc-failover") -> dict[str, str]:
    obj = cluster.get("split.smi-spec.io/v1alpha2", "TrafficSplit", namespace, name) or {}
    return (obj.get("metadata") or {}).get("annotations") or {}


def events(cluster: Any, namespace: str, reason: str) -> list[dict]:
    """Events with ``reason`` in ``namespace``."""
    return [e for e in cluster.list("v1", "Event", namespace) if e.get("reason") == reason]


class FakeClock:
    """A wall clock the test moves by hand (starts at the real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def running(kubeconfig: Path, paths: list[Path], *, clock: Any = None, context: str = "west") -> Iterator[Controller]:
    """``failsync run`` in-process with an injectable wall clock; stopped gracefully on exit."""
    client = KubeClient.from_kubeconfig(kubeconfig, context)
    controller = Controller(client, LoopOptions(paths=paths, policy_poll=0.05),
                            **({"clock": clock} if clock is not None else {}))
    with running_loop(controller):
        yield controller
