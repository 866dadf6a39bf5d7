"""Reconciling one policy from the caches: the settled-inputs memo, one ``SyncEngine.reconcile``,
and what follows a write (cache update, metrics, an Event, a log line, a re-decision scheduled
for when a hold, a delay or a pin ends).

Owns: what a reconcile starts from (the policy, its cached TrafficSplit, ready counts),
skipping one whose inputs are those of its last success, the lease check before a write (the
engine asks it again before writing after a re-read), requeueing on failure by the error's
class (a Conflict left after the engine's one re-read, or a temporary error: again with
backoff; a permanent one: at the next resync or change), policies aimed at a
TrafficSplit version the server does not serve (reported once, counted, skipped), and
holding failover Events while a burst's other writes are still queued (writes first).
Never does: decide, render, diff or write by itself (``SyncEngine.reconcile`` does).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from failsync.controller.caches import Caches
from failsync.controller.index import PolicyIndex
from failsync.controller.queue import WorkQueue
from failsync.core.model import Policy
from failsync.errors import Conflict, Forbidden
from failsync.kube.errors import is_temporary
from failsync.kube.events import FAILED_BACK, FAILED_OVER, EventRecorder, transition
from failsync.kube.watch import Store, detached
from failsync.observability import Metrics
from failsync.sync import Outcome, SyncEngine, kind_of

log = logging.getLogger(__name__)

#: Policies a resync checks between two hand-overs of the GIL. A reaction's threads each wait for the
#: GIL at most this long after their I/O: 50 (1.5 ms at 100,000 policies, 30 us a check) put a
#: failover's p99 at 1.80x the floor's with a resync every second, 5 at 1.25x (10,000 policies).
RESYNC_CHUNK = 5
#: Events held back while writes are still queued: at most this many, for at most ``EVENT_HOLD`` seconds.
EVENT_BACKLOG = 256
EVENT_HOLD = 1.0
#: Created objects the start-up pass's summary line names (the rest are counted).
SHOWN_CREATED = 5


def _version_of(obj: Mapping[str, Any] | None) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion") if obj is not None else None


Counts = tuple[int, ...] | tuple[tuple[str, int], ...]


def _compact(counts: Mapping[str, int] | None, services: tuple[str, ...]) -> Counts | None:
    """Counts or weights per backend as kept per policy: their values alone when keyed by
    ``services`` in order (the usual case), else their (service, value) pairs."""
    if counts is None:
        return None
    values = tuple(counts.values())
    return values if len(values) == len(services) and tuple(counts) == services else tuple(counts.items())


def _pairs(counts: Counts, services: tuple[str, ...]) -> Iterable[tuple[str, int]]:
    """``_compact``'s counts as (service, value) pairs again."""
    return counts if counts and isinstance(counts[0], tuple) else zip(services, counts)  # type: ignore


class _Memo:
    """What is remembered of one policy between reconciles (one small object, not a tuple in each of
    four maps and a labelled series per backend: at 10,000 policies that was about 1 KB each)."""

    __slots__ = ("policy", "ready", "total", "version", "settled", "services", "weights")

    def __init__(self, policy: Policy, ready: Counts) -> None:
        self.policy = policy  # the policy ``ready`` was counted for (the ready-endpoints gauge's backends)
        self.ready: Counts = ready  # the ready counts last published (failsync_backend_ready_endpoints)
        self.total: Counts | None = None
        self.version: str | None = None  # the live object's resourceVersion after the last success
        self.settled = -1  # the memo generation the inputs above were settled in (-1: not settled)
        self.services: tuple[str, ...] = ()  # the backends of the last decision's weights
        self.weights: Counts | None = None  # the last decision's weights (None: never decided)


@dataclass(frozen=True)
class Inputs:
    """What one reconcile reads: the policy, its TrafficSplit cache and cached object, ready counts."""

    key: str
    policy: Policy
    store: Store | None
    cached: Mapping[str, Any] | None
    ready: dict[str, int]
    #: All endpoints per backend, for minReadyPercent and gradual spillover (None when not needed).
    total: dict[str, int] | None = None
    #: What remote health says of the backends (for the decision's reason), read with the counts.
    notes: tuple[str, ...] = ()


class Reconciler:
    """Reconciles keys handed out by the work queue; ``may_write()`` guards every write (the lease)."""

    def __init__(self, engine: SyncEngine, *, index: PolicyIndex, caches: Caches, queue: WorkQueue,
                 metrics: Metrics, events: EventRecorder, may_write: Callable[[], bool]) -> None:
        self.engine = engine
        self.index = index
        self.caches = caches
        self.queue = queue
        self.metrics = metrics
        self.events = events
        self.may_write = may_write
        # key -> its memo: the inputs of its last successful reconcile (policy, ready counts, live
        # resourceVersion; a reconcile with the same inputs would decide, render and diff to the same
        # "nothing to write"), the weights last decided, and the values of its per-policy gauges.
        self._memos: dict[str, _Memo] = {}
        self._generation = 0  # a memo is settled while its ``settled`` is this (unsettle_all moves it on)
        self._unserved: dict[str, str] = {}  # key -> why its TrafficSplit version cannot be served
        self._failing: dict[str, str] = {}  # key -> the permanent failure last reported
        #: The last write's 403 message while no write has succeeded since (then /readyz is 503).
        self.forbidden: str | None = None
        # Events of failovers whose write landed while other keys still waited: posted once the queue has
        # no urgent key left (``_flush_events``), so the writes of a burst never share the API server with them.
        self._held: list[tuple[Mapping[str, Any], str, str]] = []
        self._held_since = 0.0
        self._held_lock = threading.Lock()
        queue.when_drained(self._flush_events)
        # The start-up pass's creates (key, kind), told in one INFO line at its end (``end_startup``)
        # rather than one each: at 10,000 policies those lines cost more CPU than deciding. None after.
        self._created: list[tuple[str, str]] | None = []
        self._created_lock = threading.Lock()
        if metrics is not None:  # (None in tests of the event path) the per-policy gauges: read when scraped
            metrics.ready_endpoints.collect(self._ready_series)
            metrics.active_backends.collect(self._active_series)

    def _ready_series(self) -> Iterable[tuple[tuple[str, ...], int]]:
        for key, memo in list(self._memos.items()):
            namespace, _, name = key.partition("/")
            yield from (((namespace, name, service), count)
                        for service, count in _pairs(memo.ready, memo.policy.services))

    def _active_series(self) -> Iterable[tuple[tuple[str, ...], int]]:
        for key, memo in list(self._memos.items()):
            if memo.weights is not None:
                namespace, _, name = key.partition("/")
                yield (namespace, name), sum(1 for _, w in _pairs(memo.weights, memo.services) if w > 0)

    def forget(self, policy: Policy) -> None:
        """Drop what is remembered about a policy that is no longer managed."""
        self._memos.pop(policy.key, None)
        if self._failing.pop(policy.key, None) is not None:
            self.metrics.failing_policies.set(len(self._failing))
        if self._unserved.pop(policy.key, None) is not None:
            self.metrics.unserved_policies.set(len(self._unserved))
        self.metrics.forget_policy(policy.namespace, policy.name)
        self.events.forget(policy.target.kind, policy.key)

    def unsettle_all(self) -> None:
        """Forget every memo (on taking the lead: another replica may have written meanwhile)."""
        self._generation += 1

    def inputs(self, key: str) -> Inputs | None:
        """What a reconcile of ``key`` starts from; None when it is not managed or cannot be served."""
        policy = self.index.get(key)
        if policy is None:
            return None
        if self.caches.target_resource(policy.target) is None:
            self._report_unserved(policy)
            return None
        store = self.caches.target_store(policy)
        ready, total, notes = self.caches.counts(policy)  # one look: the notes match the counts
        return Inputs(key, policy, store, store.get(key) if store else None, ready, total, notes)

    @property
    def unserved(self) -> dict[str, str]:
        """Policies skipped because the server does not serve their target kind, with why."""
        return dict(self._unserved)

    def _report_unserved(self, policy: Policy) -> None:
        if policy.key in self._unserved:
            return
        target = kind_of(policy.target)
        why = self.caches.unserved.get(target, "not served")
        first = why not in self._unserved.values()
        self._unserved[policy.key] = why
        self.metrics.unserved_policies.set(len(self._unserved))
        if first:  # one line per missing kind (a missing CRD), not one per policy
            log.error("policy %s: %s (skipped, like every policy on %s %s, until the server serves it)",
                      policy.key, why, target.kind, target.api_version, extra={"policy": policy.key})
        else:
            log.debug("policy %s: %s (skipped)", policy.key, why)

    def is_settled(self, inputs: Inputs) -> bool:
        """Whether the last successful reconcile had the same inputs (so it would write nothing again)."""
        memo = self._memos.get(inputs.key)
        if memo is None or memo.settled != self._generation or memo.policy != inputs.policy:
            return False
        services = inputs.policy.services
        return memo.version == _version_of(inputs.cached) and memo.ready == _compact(inputs.ready, services) \
            and memo.total == _compact(inputs.total, services)

    def stale(self, keys: Iterable[str]) -> list[str]:
        """The keys whose inputs changed since their last reconcile; counts the others as unchanged.

        Gives the GIL away between chunks, so a reaction in flight never waits behind a resync.
        """
        stale, unchanged, checked = [], 0, 0
        for key in keys:
            memo = self._memos.get(key)
            if memo is None or memo.settled != self._generation:  # never reconciled or unsettled: stale unseen
                stale.append(key)
                continue
            checked += 1
            if checked % RESYNC_CHUNK == 0:
                time.sleep(0)
            inputs = self.inputs(key)
            if inputs is not None and self.is_settled(inputs):
                unchanged += 1
            elif inputs is not None:
                stale.append(key)
        if unchanged:
            self.metrics.reconciles.inc(unchanged, result=Outcome.UNCHANGED.value)
        return stale

    def reconcile(self, key: str, since: float) -> None:
        """Bring one policy's object in line, from the caches; requeue it when that failed."""
        if self._held and time.monotonic() - self._held_since >= EVENT_HOLD:  # watch events never stop
            self._flush_events()
        inputs = self.inputs(key)
        if inputs is None:
            return
        if self.is_settled(inputs):
            self.metrics.reconciles.inc(result=Outcome.UNCHANGED.value)  # same inputs, same "nothing to write"
            return
        if not self.may_write():
            return  # a standby (or a leader whose lease is in doubt) writes nothing; taking the lead requeues all
        policy, store, cached, ready = inputs.policy, inputs.store, inputs.cached, inputs.ready
        live = dict(cached) if cached is not None else None
        memo = self._memos.get(key)
        counted = _compact(ready, policy.services)
        assert counted is not None
        if memo is None:
            memo = self._memos[key] = _Memo(policy, counted)
        else:  # what failsync_backend_ready_endpoints says from now on
            memo.settled, memo.policy, memo.ready = -1, policy, counted  # unsettled first: a resync reads it
        started = time.monotonic()
        result = self.engine.reconcile(policy, live, ready, total=inputs.total, notes=inputs.notes,
                                       may_write=self.may_write)  # asked again before a write after a re-read
        landed = time.monotonic()
        self.metrics.reconciles.inc(result=result.outcome.value)
        if isinstance(result.error, Forbidden):
            self.forbidden = result.message
        elif result.changed:
            self.forbidden = None
        if result.outcome is Outcome.FAILED:
            self._requeue(key, result.message, result.error)
            return
        self.queue.forget(key)
        if self._failing.pop(key, None) is not None:
            self.metrics.failing_policies.set(len(self._failing))
            log.info("%s: reconciled again after failing", key)
        decision = result.decision
        if decision is None:
            return
        decided = _compact(decision.weights, policy.services)
        previous = (memo.services, memo.weights)
        memo.services, memo.weights = policy.services, decided  # failsync_active_backends from now on
        if result.outcome is Outcome.CREATED:
            self._tell_created(key, policy.target.kind, result)
        if result.written is not None and store is not None and store.get(key) is cached:
            store.put(result.written)  # the watch event follows; until then the cache must not be stale
        # A hold, delay or pin ends with the clock alone: such a memo stays unsettled (re-decided each time).
        if decision.revisit_at is None and not (result.changed and result.written is None):
            version = _version_of(result.written if result.written is not None else cached)
            kept = store.token(key) if store is not None else None
            # The store's copy when it is the same (the written object went into the cache), else a copy
            # that keeps no decoded answer alive.
            memo.version = kept if isinstance(kept, str) and kept == version else detached(version)
            memo.total, memo.settled = _compact(inputs.total, policy.services), self._generation
        if result.changed:
            self.metrics.decision_to_write.observe(landed - started)
            if decision.pin is None:  # a pin is no failover: `failsync pin` posts its own Pinned Event
                self._after_write(policy, live, result.live_weights, decision.weights, landed - since,
                                  drift=previous == (policy.services, decided) and live is not None)
        if decision.revisit_at is not None:  # FAILBACK_HELD, FAILOVER_DELAYED, a pin with an expiry
            remaining = decision.revisit_at - self.engine.clock()
            self.queue.add_after(key, remaining + 0.05)  # the queue clamps any delay (holdSeconds 10^10 too)

    def _tell_created(self, key: str, kind: str, result: Any) -> None:
        """An INFO line per created object, but at DEBUG during the start-up pass (its end sums them up)."""
        with self._created_lock:
            created = self._created
            if created is not None:
                created.append((key, kind))
        if created is None:
            log.info("%s: created its %s (%s)", key, kind, result.weight_changes, extra={"policy": key})
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s: created its %s (%s)", key, kind, result.weight_changes, extra={"policy": key})

    def end_startup(self, seconds: float) -> None:
        """Say in one INFO line what the start-up pass created (each object was logged at DEBUG);
        from now on each created object gets its own INFO line."""
        with self._created_lock:
            created, self._created = self._created, None
        if not created:
            return
        kinds: dict[str, int] = {}
        for _, kind in created:
            kinds[kind] = kinds.get(kind, 0) + 1
        counted = " and ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in sorted(kinds.items()))
        names = sorted(key for key, _ in created)
        shown = ", ".join(names[:SHOWN_CREATED]) + (f" and {len(names) - SHOWN_CREATED} more"
                                                     if len(names) > SHOWN_CREATED else "")
        log.info("start-up created %s in %.1fs: %s (-vv logs each)", counted, seconds, shown)

    def _requeue(self, key: str, message: str, error: Exception | None) -> None:
        """A Conflict or a temporary error: again after the key's backoff; else at the next resync or change."""
        if isinstance(error, Conflict):
            delay = self.queue.retry(key)
            log.info("%s: %s; deciding again in %.2fs", key, message, delay)
        elif error is not None and is_temporary(error):
            delay = self.queue.retry(key)
            log.warning("%s: %s (retrying in %.1fs)", key, message, delay)
        elif self._failing.get(key) != message:  # said once per change of the situation, not at every resync
            self._failing[key] = message
            self.metrics.failing_policies.set(len(self._failing))
            log.warning("%s: %s (tried again at the next resync or change)", key, message, extra={"policy": key})

    def _after_write(self, policy: Policy, live: Mapping[str, Any] | None, before: Mapping[str, int] | None,
                     after: Mapping[str, int], reaction: float, *, drift: bool) -> None:
        """Metrics, an Event and a log line when a write moved traffic.

        ``drift``: the decision is the one already made last time, so the write put back a change
        made behind failsync's back: counted and logged as drift, never as a failover or failback.
        """
        self.metrics.reaction.observe(reaction)
        if drift:
            if dict(before or {}) != dict(after):
                self.metrics.drift_reverted.inc(namespace=policy.namespace, name=policy.name)
                log.info("%s: put back weights changed behind failsync's back (%s)", policy.key,
                         ", ".join(f"{s} {(before or {}).get(s, '-')}->{w}" for s, w in after.items()
                                   if (before or {}).get(s) != w), extra={"policy": policy.key})
            return
        change = transition(policy.primary, before, after)
        if change is None:
            return
        reason, message = change
        counter = self.metrics.failovers if reason == FAILED_OVER else self.metrics.failbacks
        counter.inc(namespace=policy.namespace, name=policy.name)
        log.info("%s %s in %.1f ms (from the watch event to the write landing): %s", policy.key,
                 "failed over" if reason == FAILED_OVER else "failed back" if reason == FAILED_BACK else reason,
                 reaction * 1000, message, extra={"policy": policy.key, "reaction_ms": round(reaction * 1000, 1)})
        involved = live or {"apiVersion": policy.target.api_version, "kind": policy.target.kind,
                            "metadata": {"name": policy.name, "namespace": policy.namespace}}
        self._record_event(involved, reason, message)

    def _record_event(self, involved: Mapping[str, Any], reason: str, message: str) -> None:
        """Hand an Event to the recorder (sent in the background; counted once sent), or hold it while
        other urgent writes wait or are in flight: ``WorkQueue.done`` flushes the held ones once none
        is, a reconcile once the oldest was held ``EVENT_HOLD``. In a burst of 100 failovers the
        Events' POSTs doubled the requests the API server answered before the last write landed."""
        with self._held_lock:
            if not self._held:
                self._held_since = time.monotonic()
            self._held.append((involved, reason, message))
            if (self.queue.urgent or self.queue.urgent_in_flight > 1) and len(self._held) < EVENT_BACKLOG \
                    and time.monotonic() - self._held_since < EVENT_HOLD:
                return
        self._flush_events()

    def _flush_events(self) -> None:
        """Record every held Event, oldest first (the queue has drained, or the hold is over)."""
        with self._held_lock:
            held, self._held = self._held, []
        for involved, reason, message in held:
            self.events.record(involved, reason, message)
