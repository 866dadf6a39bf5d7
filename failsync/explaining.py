"""``failsync explain``: why one policy's traffic is where it is, from the live cluster.

Owns: gathering what the decision of one policy starts from (ready and total endpoints per
backend, the live object's weights and the annotations carrying state and the pin) and the
decision itself with its rule trace, as one value the CLI prints. Reads only: the decision
comes from a dry-run ``SyncEngine.reconcile``, the same code ``sync`` and ``run`` use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from failsync.core.model import Policy
from failsync.core.pins import HEALTHY_SINCE_ANNOTATION, PIN_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION, pin_of
from failsync.core.adoption import live_weights
from failsync.kube import KubeClient
from failsync.sync import ObjectResult, SyncEngine, counts_of, resolve_source

STATE_ANNOTATIONS = (HEALTHY_SINCE_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION, PIN_ANNOTATION)


@dataclass(frozen=True)
class Explanation:
    """The inputs of one policy's decision on one cluster, and the decision with its trace."""

    policy: Policy
    cluster: str
    source: str
    ready: Mapping[str, int]
    total: Mapping[str, int] | None
    live: Mapping[str, Any] | None
    state: Mapping[str, str]
    pin_problem: str | None
    result: ObjectResult

    @property
    def live_weights(self) -> dict[str, int] | None:
        return live_weights(self.live)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``explain -o json``)."""
        decision = self.result.decision
        return {
            "policy": self.policy.key, "cluster": self.cluster, "healthSource": self.source,
            "backends": [{"service": b.service, "priority": b.priority, "ready": self.ready.get(b.service, 0),
                          "total": (self.total or {}).get(b.service),
                          "healthy": bool(decision and b.service in decision.healthy),
                          "liveWeight": (self.live_weights or {}).get(b.service),
                          "desiredWeight": decision.weights.get(b.service) if decision else None}
                         for b in self.policy.backends],
            "exists": self.live is not None, "state": dict(self.state), "pinProblem": self.pin_problem,
            "rules": [{"rule": c.rule, "fired": c.fired, "note": c.note} for c in (decision.trace if decision else ())],
            "decision": {"rule": decision.rule.value, "reason": decision.reason} if decision else None,
            "outcome": self.result.outcome.value, "message": self.result.message,
        }


def explain(client: KubeClient, policy: Policy, *, engine: SyncEngine | None = None) -> Explanation:
    """Read what ``policy``'s decision depends on and decide (dry run) with its trace."""
    engine = engine or SyncEngine(client)
    snapshot = engine.read_snapshot([policy])
    source = resolve_source(policy, client.serves_endpoint_slices())
    ready, total = counts_of(policy, snapshot, source)
    live = snapshot.live(policy)
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    state = {key: annotations[key] for key in STATE_ANNOTATIONS if key in annotations}
    _pin, problem = pin_of(annotations)
    result = engine.reconcile(policy, live, ready, total=total, dry_run=True)
    cluster = f"{client.context or 'in-cluster'} ({client.server})"
    return Explanation(policy, cluster, source.value, ready, total, live, state, problem, result)
