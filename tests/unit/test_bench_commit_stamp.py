"""The bench's endpoint-change time is taken before any watch can see the change.

Covers: the sandbox process's commit log holds an EndpointSlice commit (its namespace, name,
type and the revision it took) by the time a watch of EndpointSlices is offered that change,
so a reaction is never measured from a stamp taken after a tool could have read the change;
other kinds are not logged.
"""

from __future__ import annotations

from pathlib import Path

from bench.launcher import SLICE_KEY, CommitLog
from failsync.sandbox import Sandbox
from failsync.sandbox.store import Watcher


class _Seeing(Watcher):
    """A watch of every EndpointSlice that notes how many commits were logged when offered each change."""

    def __init__(self, log: CommitLog) -> None:
        super().__init__(SLICE_KEY, None, (), ())
        self.log, self.seen = log, []

    def offer(self, change) -> None:
        self.seen.append((change.revision, change.obj["metadata"]["name"], list(self.log.records)))
        super().offer(change)


def test_a_slice_commit_is_logged_before_any_watch_is_offered_it(tmp_path: Path) -> None:
    with Sandbox(clusters=["bench"], kubeconfig=tmp_path / "kubeconfig") as sandbox:
        cluster = sandbox["bench"]
        log = CommitLog()
        log.install(cluster.store)
        watch = _Seeing(log)
        cluster.store.watch(watch, cluster.store.revision)
        cluster.apply_many([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "stamp"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "stamp", "name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ])
        assert watch.seen, "the Service's EndpointSlice was committed"
        for revision, name, logged in watch.seen:
            assert (name, revision) in {(record[2], record[4]) for record in logged}
        assert {record[1] for record in log.records} == {"stamp"}  # only slices: no Namespace, no Service
