"""A stopped watcher ends its thread at once, even on an idle stream with minutes left to run.

Covers: ``Watcher.stop`` on an open watch over real HTTP that sees no event ends the stream and
the thread within about a second, instead of at the watch's timeout (minutes).
"""

from __future__ import annotations

import threading

from failsync.kube import KubeClient
from failsync.kube.resources import ENDPOINTS
from failsync.kube.watch import Watcher
from tests.helpers import wait_for


def test_a_stopped_watcher_on_an_idle_stream_ends_its_thread_within_a_second(sandbox, namespace) -> None:
    threads: list[threading.Thread] = []

    def spawn(name, task):
        thread = threading.Thread(target=task, name=name, daemon=True)
        threads.append(thread)
        thread.start()
        return thread

    cluster = sandbox["west"]
    open_before = cluster.store.watcher_count()
    client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
    watcher = Watcher(client, ENDPOINTS, namespace=namespace, watch_timeout=240, spawn=spawn).start()
    wait_for(lambda: cluster.store.watcher_count() == open_before + 1, timeout=10, message="the watch open")

    watcher.stop()
    (thread,) = threads
    wait_for(lambda: not thread.is_alive(), timeout=1.5, message="the watcher's thread to end")
