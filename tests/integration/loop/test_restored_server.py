"""An API server that comes back with older state (restarted empty, or restored from a backup).

Covers: the sandbox is stopped and a fresh, empty one takes its port (resourceVersions start
again from the beginning); the app comes back but the policy's TrafficSplit does not: the loop
notices that the server's state went back (``failsync_watch_restarts_total{reason="rewound"}``),
recreates the TrafficSplit within one resync and keeps failing over; /readyz is ok again.
"""

from __future__ import annotations

from pathlib import Path

from failsync.kube import KubeClient
from failsync.sandbox.cluster import Cluster
from tests.helpers import wait_for
from tests.integration.loop.conftest import app, fetch, running, set_ready, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}
NAMESPACE = "restored"
RESYNC = 2.0


def _kubeconfig(path: Path, port: int) -> Path:
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: west\n"
                    f"clusters: [{{name: west, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
                    "users: [{name: west, user: {}}]\n"
                    "contexts: [{name: west, context: {cluster: west, user: west}}]\n")
    return path


def _rewound(loop) -> float:
    counter = loop.metrics.watch_restarts
    return sum(counter.value(resource=w.resource.qualified, reason="rewound") for w in loop.caches.watchers.values())


def test_a_server_restored_with_older_state_gets_the_traffic_split_back_within_one_resync(tmp_path: Path) -> None:
    first = Cluster("west").start()
    port = first.port
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", port)
    app(first, NAMESPACE)
    for n in range(30):  # history the restored server will not have: its resourceVersions go back
        set_ready(first, NAMESPACE, f"noise-{n}", 1)
    policy = write_policy(tmp_path / "p.yaml", NAMESPACE)
    restored: Cluster | None = None
    try:
        with running(kubeconfig, [policy], client=KubeClient.from_kubeconfig(kubeconfig, "west"),
                     resync=RESYNC) as loop:
            wait_for(lambda: weights(first, NAMESPACE) == PRIMARY, timeout=10)
            first.stop()
            restored = Cluster("west", port=port).start()
            app(restored, NAMESPACE)
            wait_for(lambda: weights(restored, NAMESPACE) == PRIMARY, timeout=RESYNC + 10,
                     message="the TrafficSplit to be recreated on the restored server")
            assert _rewound(loop) >= 1
            set_ready(restored, NAMESPACE, "web-svc-east", 1)
            restored.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": NAMESPACE},
                            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                                     "template": {"metadata": {"labels": {"app": "web"}},
                                                  "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
            wait_for(lambda: weights(restored, NAMESPACE) == FAILED_OVER, timeout=10,
                     message="a failover on the restored server")
            wait_for(lambda: fetch(f"http://127.0.0.1:{loop.probes.port}/readyz") == (200, "ok: leader\n"),
                     timeout=10)
    finally:
        first.stop()
        if restored is not None:
            restored.stop()
