"""The per-policy gauges (ready endpoints of each backend, active backends) are read from the
reconciler's memo of each policy when /metrics is scraped: they say what the last reconcile
counted and decided, keep saying it after a failed write, and are gone once the policy is.
Also: a settled policy is skipped until its counts, its live object or the policy change."""

from __future__ import annotations

from typing import Any, Mapping

from failsync.controller.caches import PolicyCounts
from failsync.controller.queue import WorkQueue
from failsync.controller.reconciler import Reconciler
from failsync.core.model import Backend, Decision, Policy, Rule
from failsync.kube.watch import Store
from failsync.observability import Metrics
from failsync.sync_report import ObjectResult, Outcome

POLICY = Policy("web", "ns", "web", "web-a", (Backend("web-b"),))


class Index:
    def __init__(self, *policies: Policy) -> None:
        self.policies = {p.key: p for p in policies}

    def get(self, key: str) -> Policy | None:
        return self.policies.get(key)


class Caches:
    def __init__(self) -> None:
        self.ready = {"web-a": 2, "web-b": 1}
        self.store = Store()

    def target_resource(self, target: Any) -> object:
        return object()

    def target_store(self, policy: Policy) -> Store:
        return self.store

    def counts(self, policy: Policy) -> PolicyCounts:
        return PolicyCounts({s: self.ready.get(s, 0) for s in policy.services}, None, ())


class Events:
    def forget(self, kind: str, key: str) -> None:
        pass


class Engine:
    """Decides all weight to the first backend with a ready endpoint; fails while ``failing``."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    def clock(self) -> float:
        return 0.0

    def reconcile(self, policy: Policy, live: Any, ready: Mapping[str, int], **_: Any) -> ObjectResult:
        self.calls += 1
        if self.failing:
            return ObjectResult(policy.namespace, policy.name, Outcome.FAILED, message="boom")
        first = next((s for s in policy.services if ready[s] > 0), policy.primary)
        weights = {s: int(s == first) for s in policy.services}
        decision = Decision(weights=weights, rule=Rule.PRIMARY_HEALTHY, healthy=(), ready=dict(ready), reason="")
        return ObjectResult(policy.namespace, policy.name, Outcome.UNCHANGED, policy=policy, decision=decision)


def _loop(*policies: Policy) -> tuple[Reconciler, Metrics, Caches, Engine]:
    metrics, caches, engine = Metrics(), Caches(), Engine()
    reconciler = Reconciler(engine, index=Index(*policies), caches=caches, queue=WorkQueue(),  # type: ignore[arg-type]
                            metrics=metrics, events=Events(), may_write=lambda: True)  # type: ignore[arg-type]
    return reconciler, metrics, caches, engine


def _series(metrics: Metrics, name: str) -> list[str]:
    return [line for line in metrics.expose().splitlines() if line.startswith(name + "{")]


def test_gauges_say_what_the_last_reconcile_counted_and_decided_in_label_order() -> None:
    other = Policy("api", "ns", "api", "api-a", ())
    reconciler, metrics, caches, _ = _loop(POLICY, other)
    metrics.ready_endpoints.set(5, namespace="ns", name="set-by-hand", backend="x")  # set() still works beside
    reconciler.reconcile("ns/web", 0.0)
    reconciler.reconcile("ns/api", 0.0)
    assert _series(metrics, "failsync_backend_ready_endpoints") == [
        'failsync_backend_ready_endpoints{namespace="ns",name="api",backend="api-a"} 0',
        'failsync_backend_ready_endpoints{namespace="ns",name="set-by-hand",backend="x"} 5',
        'failsync_backend_ready_endpoints{namespace="ns",name="web",backend="web-a"} 2',
        'failsync_backend_ready_endpoints{namespace="ns",name="web",backend="web-b"} 1',
    ]
    assert _series(metrics, "failsync_active_backends") == [
        'failsync_active_backends{namespace="ns",name="api"} 1',
        'failsync_active_backends{namespace="ns",name="web"} 1',
    ]
    caches.ready["web-a"] = 0
    reconciler.reconcile("ns/web", 0.0)
    assert 'failsync_backend_ready_endpoints{namespace="ns",name="web",backend="web-a"} 0' in metrics.expose()


def test_a_failed_reconcile_still_publishes_its_counts_and_keeps_the_last_decision() -> None:
    reconciler, metrics, caches, engine = _loop(POLICY)
    reconciler.reconcile("ns/web", 0.0)
    engine.failing, caches.ready["web-b"] = True, 7
    reconciler.reconcile("ns/web", 0.0)
    assert 'failsync_backend_ready_endpoints{namespace="ns",name="web",backend="web-b"} 7' in metrics.expose()
    assert _series(metrics, "failsync_active_backends") == ['failsync_active_backends{namespace="ns",name="web"} 1']


def test_a_forgotten_policy_has_no_series_left() -> None:
    reconciler, metrics, _, _ = _loop(POLICY)
    reconciler.reconcile("ns/web", 0.0)
    reconciler.forget(POLICY)
    assert 'name="web"' not in metrics.expose()


def test_a_settled_policy_is_skipped_until_its_inputs_change() -> None:
    reconciler, metrics, caches, engine = _loop(POLICY)
    reconciler.reconcile("ns/web", 0.0)
    reconciler.reconcile("ns/web", 0.0)
    assert engine.calls == 1 and reconciler.stale(["ns/web"]) == []
    caches.ready["web-b"] = 3
    assert reconciler.stale(["ns/web"]) == ["ns/web"]
    reconciler.reconcile("ns/web", 0.0)
    caches.store.put({"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "9"}})
    assert reconciler.stale(["ns/web"]) == ["ns/web"]  # its live object changed
    reconciler.reconcile("ns/web", 0.0)
    assert engine.calls == 3 and reconciler.stale(["ns/web"]) == []
    reconciler.unsettle_all()
    assert reconciler.stale(["ns/web"]) == ["ns/web"]
