"""One sync pass: read -> health -> decide -> render -> diff -> write, and a report.

Owns: wiring the pure core (``weights.decide``, ``rendering``, ``diffing``,
``adoption``) to the cluster through ``failsync.kube``: the reading (one LIST per
kind, never a GET per policy) is ``failsync.snapshot``'s, the report's types are
``failsync.sync_report``'s; this module decides and writes: one write per
changed object (a POST when it is missing, else a guarded JSON Patch); on a
Conflict (409, or 422 from the resourceVersion guard) a re-read of that object
and a new decision, with bounded, jittered retries; ``prune`` of owned orphans.
Never does: parse policy files, print, or loop (the CLI and the controller do).

State carried between one-shot runs lives on the owned objects themselves:
``failsync.io/primary-healthy-since`` (RFC 3339; written only for policies with
``holdSeconds`` > 0) and ``failsync.io/primary-unhealthy-since`` (only with
``failover.delaySeconds`` > 0) feed ``decide`` so a hold or a delay survives across
runs, restarts and replicas; ``failsync.io/last-change`` records when failsync last
changed the weights. A ``failsync.io/pin`` set by ``failsync pin`` is honoured and kept
until it expires, when the write removes it (and an Event says so).
Adopted (hand-written) objects get none of these: there failsync writes weights only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence

from failsync.backoff import RetryPolicy
from failsync.core.adoption import adopt, adopt_route, live_weights, parse_selector
from failsync.core.diffing import Action, Change, Ownership, diff
from failsync.core.model import (DEFAULT_ADOPT_SELECTOR, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POLICY_ANNOTATION,
                                 Decision, HealthSource, Origin, Policy, Target)
from failsync.core.pins import (HEALTHY_SINCE_ANNOTATION, PIN_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION, decision_state,
                                describe_pin, state_annotations)
from failsync.core.rendering import Renderer
from failsync.core.targets import DEFAULT_ROUTE_SELECTOR, TRAFFIC_SPLIT, is_route, route_acceptance, with_article, with_weights
from failsync.core.timestamps import format_time, parse_time
from failsync.core.weights import decide
from failsync.errors import ApiError, Conflict, FailsyncError, NotFound, PolicyError, safe_text
from failsync.kube import KubeClient
from failsync.snapshot import ClusterReader, Snapshot, counts_of, kind_of, resolve_source
from failsync.sync_report import ObjectResult, Outcome, State, SyncReport, state_of

if TYPE_CHECKING:
    from failsync.clusters import RemoteCluster
    from failsync.kube.events import EventRecorder

log = logging.getLogger(__name__)

#: Also the names callers import from here, whose homes are ``sync_report`` and ``snapshot``.
__all__ = ["HEALTHY_SINCE_ANNOTATION", "UNHEALTHY_SINCE_ANNOTATION", "PIN_ANNOTATION", "format_time", "parse_time",
           "SyncEngine", "SyncReport", "ObjectResult", "Outcome", "State", "sync_once", "Snapshot", "counts_of",
           "kind_of", "resolve_source"]
#: The Event reason when a sync or the loop removes a pin past its ``until``.
PIN_EXPIRED = "PinExpired"
LAST_CHANGE_ANNOTATION = "failsync.io/last-change"
MAX_ATTEMPTS = 5
#: Reconciles a one-shot pass runs at once once it has written an object, each writing over its own
#: keep-alive connection (docs/bench.md): enough to keep client and API server busy at once, few
#: enough to stay far below an API server's per-client limits.
WRITE_CONCURRENCY = 4
#: Waits between the attempts of a one-shot pass (the loop makes one attempt and requeues instead).
CONFLICT_RETRY = RetryPolicy(0.1, 0.8)


def is_owned(obj: Mapping[str, Any]) -> bool:
    """Whether failsync owns ``obj``: label managed-by=failsync and a failsync.io/policy annotation."""
    meta = obj.get("metadata") or {}
    return ((meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            and bool((meta.get("annotations") or {}).get(POLICY_ANNOTATION)))


def ownership_problem(obj: Mapping[str, Any]) -> str | None:
    """Which of failsync's ownership marks ``obj`` lacks, in words; None when failsync owns it."""
    meta = obj.get("metadata") or {}
    label = (meta.get("labels") or {}).get(MANAGED_BY_LABEL)
    problems = []
    if label is None:
        problems.append(f"no {MANAGED_BY_LABEL} label")
    elif label != MANAGED_BY_VALUE:
        problems.append(f"{MANAGED_BY_LABEL}={safe_text(str(label), 80)}, not {MANAGED_BY_VALUE}")
    if not (meta.get("annotations") or {}).get(POLICY_ANNOTATION):
        problems.append(f"no {POLICY_ANNOTATION} annotation")
    return " and ".join(problems) or None



class SyncEngine(ClusterReader):
    """One cluster, one renderer; ``sync`` runs a pass. The loop reuses ``plan``/``reconcile``."""

    def __init__(self, client: KubeClient, *, renderer: Renderer | None = None,
                 clock: Callable[[], float] = time.time, max_attempts: int = MAX_ATTEMPTS,
                 write_log_level: int = logging.INFO, retry: RetryPolicy = CONFLICT_RETRY,
                 write_concurrency: int = WRITE_CONCURRENCY, requeues_conflicts: bool = False) -> None:
        self.client = client
        self.write_log_level = write_log_level
        self.renderer = renderer or Renderer()
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry = retry
        #: Whether the caller tries a Conflict left over again later (the loop requeues the key with
        #: backoff): then the re-read follows the Conflict at once (no sleep on the caller's thread), and
        #: a 409 on an object that had not changed comes back as that Conflict rather than as a failure.
        self.requeues_conflicts = requeues_conflicts
        #: Where PinExpired Events go (None: not sent); the loop sets its background recorder.
        self.events: "EventRecorder | _PinEvents | None" = None
        #: The other clusters health is read in (SPEC §11), by name; the CLI sets them from --cluster.
        self.clusters: Mapping[str, "RemoteCluster"] = {}
        #: Reconciles ``sync`` runs at once after its first write (1: one after the other).
        self.write_concurrency = write_concurrency
        #: Whether results carry the object as stored after a write (``ObjectResult.written``, which the loop
        #: caches); a one-shot pass reads none of them, so ``sync_once`` leaves the answers undecoded.
        self.keep_written = True

    def adopted_policies(self, snapshot: Snapshot, target: Target, selector: str,
                         taken: set[tuple[str, str]]) -> tuple[list[Policy], list[ObjectResult]]:
        """Hand-written objects of ``target`` (TrafficSplits or routes) matching ``selector`` as policies;
        malformed ones as failed results. Adds each adopted (namespace, name) to ``taken``."""
        match = parse_selector(selector)
        read = adopt_route if is_route(target.kind) else adopt
        policies: list[Policy] = []
        failures: list[ObjectResult] = []
        for (namespace, name), obj in sorted(snapshot.objects.get(target, {}).items()):
            labels = (obj.get("metadata") or {}).get("labels")
            if (namespace, name) in taken or is_owned(obj) or not match.matches(labels):
                continue
            try:
                policies.append(read(obj))
                taken.add((namespace, name))
            except PolicyError as error:
                failures.append(ObjectResult(namespace, name, Outcome.FAILED,
                                             f"cannot adopt: {error}; skipped", target=target))
        return policies, failures

    # -- deciding ----------------------------------------------------------------

    def plan(self, policy: Policy, live: Mapping[str, Any] | None, ready: Mapping[str, int], *,
             total: Mapping[str, int] | None = None, notes: Sequence[str] = ()
             ) -> tuple[Decision, dict[str, Any], Change]:
        """Decide the weights for ``policy`` given ``live`` and endpoint counts; render; diff. Pure but for the clock."""
        decision, desired, change, _ = self._plan(policy, live, ready, total, notes,
                                                  live_weights(live, policy.services))
        return decision, desired, change

    def _plan(self, policy: Policy, live: Mapping[str, Any] | None, ready: Mapping[str, int],
              total: Mapping[str, int] | None, notes: Sequence[str], previous: dict[str, int] | None
              ) -> tuple[Decision, dict[str, Any], Change, dict[str, int] | None]:
        """``plan`` given the live weights (``reconcile`` reports them too: read once), and those weights."""
        now = self.clock()
        adopted = policy.origin is Origin.ADOPTED
        annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
        state = decision_state(annotations) if not adopted else {}
        decision = decide(policy, ready, total=total, previous=previous, now=now, **state)
        if notes:  # what remote health said (SPEC §11), in the reason status, events and logs show
            from failsync.core.remote_health import explained  # only with --cluster (~3 ms to import)

            decision = replace(decision, reason=explained(decision.reason, notes))
        rendered = self.renderer.render(policy, decision.weights)
        if adopted and live is not None:
            desired = _with_weights(live, decision.weights, rendered, policy.services)
            return (decision, desired, diff(live, desired, ownership=Ownership.WEIGHTS, services=policy.services),
                    previous)
        extra = rendered.setdefault("metadata", {}).setdefault("annotations", {})
        extra.update(state_annotations(policy, decision, annotations))
        if live is None or previous != dict(decision.weights):
            extra[LAST_CHANGE_ANNOTATION] = format_time(now)
        elif annotations.get(LAST_CHANGE_ANNOTATION):
            extra[LAST_CHANGE_ANNOTATION] = annotations[LAST_CHANGE_ANNOTATION]
        return decision, rendered, diff(live, rendered), previous

    # -- writing -----------------------------------------------------------------

    def reconcile(self, policy: Policy, live: dict[str, Any] | None, ready: Mapping[str, int], *,
                  dry_run: bool = False, total: Mapping[str, int] | None = None,
                  notes: Sequence[str] = (), may_write: Callable[[], bool] | None = None) -> ObjectResult:
        """Bring one object in line with ``policy``; on Conflict re-read it and decide again (bounded).

        ``may_write``: asked again before each write after a re-read (the loop's lease check)."""
        base = ObjectResult(policy.namespace, policy.name, Outcome.UNCHANGED, policy=policy)
        conflict: Conflict | None = None  # the Conflict that led to the re-read, once there was one
        try:
            resource = self.client.target_resource(policy.target)
        except NotFound as error:
            return replace(base, outcome=Outcome.FAILED, message=str(error))
        for attempt in range(1, self.max_attempts + 1):
            if live is not None and policy.origin is Origin.FILE and not is_owned(live):
                return replace(base, outcome=Outcome.FAILED, attempts=attempt, message=(
                    f"{live.get('kind', 'TrafficSplit')} {policy.key} exists and is not managed by failsync "
                    f"({ownership_problem(live)}); left alone: rename the policy, "
                    f"delete the object, or adopt it with --adopt"))
            try:
                decision, desired, change, previous = self._plan(policy, live, ready, total, notes,
                                                                 live_weights(live, policy.services))
            except FailsyncError as error:
                return replace(base, outcome=Outcome.FAILED, message=str(error), attempts=attempt)
            live_last_change = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(
                LAST_CHANGE_ANNOTATION)
            if change.action is Action.NONE:  # the converged case: one result built, no copies of it
                return ObjectResult(policy.namespace, policy.name, Outcome.UNCHANGED, decision.reason, policy,
                                    decision, change, previous, state_of(decision, False), live_last_change,
                                    attempt, route_acceptance=route_acceptance(live))
            result = ObjectResult(policy.namespace, policy.name, Outcome.UNCHANGED, decision.reason, policy, decision,
                                  change, previous, attempts=attempt, route_acceptance=route_acceptance(live))
            written_last_change = ((desired.get("metadata") or {}).get("annotations") or {}).get(
                LAST_CHANGE_ANNOTATION)
            outcome = Outcome.CREATED if change.action is Action.CREATE else Outcome.PATCHED
            if dry_run:
                return replace(result, outcome=outcome, state=state_of(decision, True),
                               last_change=live_last_change)
            if conflict is not None and may_write is not None and not may_write():
                return replace(result, outcome=Outcome.FAILED, error=conflict, message=(
                    f"{conflict}; re-read, but not written again: this replica may not write now"))
            # The stored object is decoded only when something reads it: the loop's cache, or a PinExpired Event.
            unread = {} if self.keep_written or (decision.expired_pin is not None and self.events is not None) \
                else {"read_answer": False}
            try:
                if change.action is Action.CREATE:
                    written = self.client.create(resource, desired, **unread)
                else:
                    written = self.client.patch(resource, policy.namespace, policy.name, change.patch, **unread)
            except Conflict as error:
                if attempt == self.max_attempts:
                    return replace(result, outcome=Outcome.FAILED, error=error, message=(
                        str(error) if attempt == 1 else
                        f"{error} (again after re-reading the object)" if self.requeues_conflicts else
                        f"gave up after {attempt} attempts, the object kept changing: {error}"))
                log.log(self.write_log_level if self.requeues_conflicts else logging.INFO,
                        "%s: %s; re-reading and deciding again (attempt %d)", policy.key, error, attempt)
                if not self.requeues_conflicts:  # one-shot: give a concurrent writer a moment to finish
                    time.sleep(self.retry.delay(attempt))
                try:
                    fresh = self.client.get(resource, policy.namespace, policy.name)
                except ApiError as read_error:
                    return replace(result, outcome=Outcome.FAILED, message=str(read_error), error=read_error)
                if _same_version(fresh, live) and change.action is Action.PATCH:
                    # The object had not changed, so the resourceVersion test passed: the server
                    # rejected the patch itself (say so, rather than blame a concurrent writer).
                    if self.requeues_conflicts and error.status == 409:
                        # A 409 says "try again later" (an injected fault, a server-side conflict): the
                        # same patch may pass then. A 422 whose test passed means the patch itself does
                        # not apply, which no retry changes: that one fails for good, as in one-shot.
                        return replace(result, outcome=Outcome.FAILED, error=error, message=(
                            f"{error} (the object had not changed since it was read, so not a concurrent "
                            f"write)"))
                    return replace(result, outcome=Outcome.FAILED, message=(
                        f"the server rejected the patch although the object had not changed since it "
                        f"was read (so not a concurrent write; not retried): {error}"))
                if fresh is None and policy.origin is Origin.ADOPTED:
                    return replace(result, outcome=Outcome.FAILED, message="deleted while being synced; skipped")
                live, conflict = fresh, error
                continue
            except ApiError as error:
                return replace(result, outcome=Outcome.FAILED, message=str(error), error=error)
            log.log(self.write_log_level, "%s %s: %s", policy.key, outcome.value, decision.reason)
            if decision.expired_pin is not None and self.events is not None:
                self.events.record(written, PIN_EXPIRED, f"the pin to {describe_pin(decision.expired_pin)} "
                                                         f"expired and was removed: {decision.reason}")
            return replace(result, outcome=outcome, state=state_of(decision, False),
                           written=written if self.keep_written else None,
                           last_change=written_last_change if policy.origin is Origin.FILE else None)
        raise AssertionError("unreachable: the loop returns on its last attempt")  # pragma: no cover

    def preview(self, policy: Policy, annotations: Mapping[str, str | None]) -> ObjectResult:
        """What a sync of ``policy`` would decide if its live object carried ``annotations`` (None: removed)."""
        snapshot = self.read_snapshot([policy])
        live = snapshot.live(policy)
        if live is not None:
            metadata = dict(live.get("metadata") or {})
            changed = {**(metadata.get("annotations") or {}), **annotations}
            metadata["annotations"] = {key: value for key, value in changed.items() if value is not None}
            live = {**live, "metadata": metadata}
        ready, total = counts_of(policy, snapshot, resolve_source(policy, self.client.serves_endpoint_slices()))
        return self.reconcile(policy, live, ready, total=total, dry_run=True)

    def prune(self, snapshot: Snapshot, policies: Sequence[Policy], *, dry_run: bool) -> list[ObjectResult]:
        """Delete owned objects whose policy is gone or now targets another kind; never anything failsync
        does not own."""
        results = []
        for target, obj, message, _ in _orphans(snapshot, policies):
            meta = obj["metadata"]
            namespace, name = meta.get("namespace") or "default", meta.get("name", "")
            if not dry_run:
                try:
                    self.client.delete(self.client.target_resource(target), namespace, name)
                except ApiError as error:
                    results.append(ObjectResult(namespace, name, Outcome.FAILED, str(error), target=target))
                    continue
            results.append(ObjectResult(namespace, name, Outcome.PRUNED, message, target=target))
        return results

    def sync(self, policies: Sequence[Policy], *, policy_errors: Sequence[FailsyncError] = (),
             adopt: bool = False, selector: str = DEFAULT_ADOPT_SELECTOR, adopt_routes: bool = False,
             route_selector: str = DEFAULT_ROUTE_SELECTOR, prune: bool = False,
             dry_run: bool = False) -> SyncReport:
        """One pass over ``policies`` (plus adopted TrafficSplits with ``adopt``, hand-written routes
        with ``adopt_routes``)."""
        errors: list[FailsyncError] = list(policy_errors)
        adopting: list[tuple[Target, str]] = []
        if adopt:
            parse_selector(selector)  # a bad selector fails before any request
            version = self.client.traffic_split_resource().api_version
            adopting.append((Target(TRAFFIC_SPLIT, version), selector))
        if adopt_routes:
            parse_selector(route_selector)
            adopting += [(t, route_selector) for t in sorted(self.served_targets(), key=lambda t: t.api_version)
                         if is_route(t.kind)]
        file_policies = list(policies)
        snapshot = self.read_snapshot(file_policies, adopt=[target for target, _ in adopting],
                                      cluster_wide=bool(adopting) or prune, every_kind=prune)
        slots: list[ObjectResult | None] = []
        every = list(file_policies)
        if adopting:
            taken = {(p.namespace, p.name) for p in file_policies}
            served = self.client.serves_endpoint_slices()
            for target, target_selector in adopting:
                adopted, failures = self.adopted_policies(snapshot, target, target_selector, taken)
                slots.extend(failures)
                missing = [p for p in adopted if resolve_source(p, served) not in snapshot.ready]
                self.read_health(missing, snapshot, [None])
                every.extend(adopted)
        served = self.client.serves_endpoint_slices() if every else False
        remote = None
        if self.clusters or any(backend.remote for policy in every for backend in policy.backends):
            from failsync.clusters import remote_judge  # remote health only (SPEC §11): a pass without pays nothing

            remote = remote_judge(self.clusters, every, snapshot.mirrors, snapshot.total, clock=self.clock)
        # What to reconcile is settled first, in order, so that the report's order never depends on
        # which write finished first; ``slots`` holds a None where a task's result goes.
        tasks: list[tuple[int, _Task]] = []
        for policy in every:
            if kind_of(policy.target) in snapshot.unserved:
                slots.append(ObjectResult(policy.namespace, policy.name, Outcome.FAILED,
                                            snapshot.unserved[kind_of(policy.target)], policy=policy))
                continue
            source = resolve_source(policy, served)
            if source is HealthSource.ENDPOINTSLICES and not served:
                slots.append(ObjectResult(policy.namespace, policy.name, Outcome.FAILED, (
                    f"health.source is endpointslices but {self.client.server} does not serve "
                    f"discovery.k8s.io/v1 EndpointSlices; use source: endpoints or auto"), policy=policy))
                continue
            ready, total = counts_of(policy, snapshot, source)
            notes: tuple[str, ...] = ()
            if remote is not None:
                judged = remote(policy, source, ready)
                if judged.error is not None:
                    slots.append(ObjectResult(policy.namespace, policy.name, Outcome.FAILED, judged.error,
                                                policy=policy))
                    continue
                from failsync.core.remote_health import combined_counts  # only with --cluster

                ready, total = combined_counts(policy.services, ready, total, judged.verdicts)
                notes = judged.notes
            tasks.append((len(slots), _Task(policy, snapshot.live(policy), ready, total, notes)))
            slots.append(None)
        for (position, _), result in zip(tasks, self._reconcile_all([task for _, task in tasks], dry_run)):
            slots[position] = result
        results = [result for result in slots if result is not None]
        if prune:
            if policy_errors:
                errors.append(FailsyncError(f"prune skipped: {len(policy_errors)} policy error(s); fix them "
                                            f"first so that no object is deleted for a policy that only "
                                            f"failed to load"))
            else:
                results.extend(self.prune(snapshot, every, dry_run=dry_run))
        elif any(r.outcome is Outcome.CREATED and r.policy and is_route(r.policy.target.kind) for r in results):
            # A created route may replace a policy's TrafficSplit (the migration of docs/routes.md): look once
            # at the other kinds and name what was left behind. Passes that create only TrafficSplits keep
            # Part 1's request budget (one LIST per kind in use).
            self.read_other_kinds(snapshot, self._scopes({p.namespace for p in every}, bool(adopting)))
            results.extend(ObjectResult(obj["metadata"].get("namespace") or "default", obj["metadata"].get("name", ""),
                                        Outcome.UNCHANGED, f"{message}; left in place (sync --prune deletes it)",
                                        target=target)
                           for target, obj, message, moved in _orphans(snapshot, every) if moved)
        results.sort(key=lambda r: (r.namespace, r.name))
        return SyncReport(tuple(results), tuple(errors), dry_run)

    def _reconcile_all(self, tasks: Sequence[_Task], dry_run: bool) -> list[ObjectResult]:
        """``reconcile`` each task, the results in the tasks' order. Once one has written, the rest go
        through ``write_concurrency`` threads: a write is mostly a wait on the API server, and a pass
        that creates thousands of objects would otherwise leave client and server idle in turn. A
        converged pass (nothing to write) stays on this thread. Each reconcile stays whole (its
        guarded write, re-reads and retries), so concurrency changes no write, only when it is sent."""
        results: list[ObjectResult] = []
        for position, task in enumerate(tasks):
            result = self._run(task, dry_run)
            results.append(result)
            wrote = not dry_run and result.outcome in (Outcome.CREATED, Outcome.PATCHED)
            if wrote and self.write_concurrency > 1 and position + 1 < len(tasks):
                return results + self._reconcile_concurrently(tasks[position + 1:])
        return results

    def _run(self, task: _Task, dry_run: bool) -> ObjectResult:
        return self.reconcile(task.policy, task.live, task.ready, dry_run=dry_run, total=task.total, notes=task.notes)

    def _reconcile_concurrently(self, tasks: Sequence[_Task]) -> list[ObjectResult]:
        """``reconcile`` each task (writing) on up to ``write_concurrency`` threads, each taking the next
        task in order; the first exception stops every thread from taking another and is raised here."""
        from concurrent.futures import ThreadPoolExecutor  # only a pass that writes pays for the import

        results: list[ObjectResult | None] = [None] * len(tasks)
        pending = iter(range(len(tasks)))
        lock = threading.Lock()
        failed = threading.Event()

        def work() -> None:
            while not failed.is_set():
                with lock:
                    position = next(pending, None)
                if position is None:
                    return
                try:
                    results[position] = self._run(tasks[position], False)
                except BaseException:
                    failed.set()
                    raise

        workers = min(self.write_concurrency, len(tasks))
        with ThreadPoolExecutor(workers, thread_name_prefix="sync-write") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
        return [result for result in results if result is not None]


class _Task(NamedTuple):
    """One reconcile of a pass: ``SyncEngine.reconcile``'s arguments but ``dry_run``."""

    policy: Policy
    live: dict[str, Any] | None
    ready: Mapping[str, int]
    total: Mapping[str, int] | None
    notes: Sequence[str]


def _orphans(snapshot: Snapshot, policies: Sequence[Policy]) -> list[tuple[Target, dict[str, Any], str, bool]]:
    """Owned objects no policy renders any more, each once, with why and whether their policy moved:
    its policy is gone, or it now renders another kind (from a TrafficSplit to an HTTPRoute, say)."""
    by_key = {p.key: p for p in policies}
    found = []
    seen: set[tuple[str, str, str, str]] = set()
    for target, objects in sorted(snapshot.objects.items(), key=lambda item: (item[0].kind, item[0].api_version)):
        for (namespace, name), obj in sorted(objects.items()):
            identity = (target.kind, target.group, namespace, name)
            if identity in seen or not is_owned(obj):
                continue
            seen.add(identity)
            owner = obj["metadata"]["annotations"][POLICY_ANNOTATION]
            policy = by_key.get(owner)
            if policy is None:
                found.append((target, obj, f"policy {owner} is gone", False))
            elif (policy.target.kind, policy.target.group) != (target.kind, target.group) and (
                    (policy.namespace, policy.name) == (namespace, name)):
                found.append((target, obj, f"{target.kind} of policy {owner}, which now renders "
                                           f"{with_article(policy.target.kind)} ({policy.target.api_version})", True))
    return found


def _same_version(fresh: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> bool:
    if fresh is None or live is None:
        return False
    return (fresh.get("metadata") or {}).get("resourceVersion") == (live.get("metadata") or {}).get(
        "resourceVersion")


def _with_weights(live: Mapping[str, Any], weights: Mapping[str, Any], rendered: Mapping[str, Any],
                  services: tuple[str, ...]) -> dict[str, Any]:
    """``live`` with each managed weight replaced, spelled as the rendered object spells it (v1alpha1 Quantities)."""
    spelled = {**weights, **{b.get("service"): b.get("weight") for b in (rendered.get("spec") or {}).get("backends") or ()}}
    return with_weights(live, spelled, services)


class _PinEvents:
    """The one-shot pass's PinExpired Events: an ``EventRecorder`` posting at once, made (and
    ``kube.events`` imported) when the first pin expires, as most passes expire none."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._recorder: "EventRecorder | None" = None

    def record(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        """``EventRecorder.record``."""
        if self._recorder is None:
            from failsync.kube.events import EventRecorder

            self._recorder = EventRecorder(self.client)
        return self._recorder.record(obj, reason, message)


def sync_once(client: KubeClient, policies: Sequence[Policy], *, renderer: Renderer | None = None,
              policy_errors: Sequence[FailsyncError] = (), adopt: bool = False,
              selector: str = DEFAULT_ADOPT_SELECTOR, adopt_routes: bool = False,
              route_selector: str = DEFAULT_ROUTE_SELECTOR, prune: bool = False, dry_run: bool = False,
              clusters: Mapping[str, "RemoteCluster"] | None = None) -> SyncReport:
    """Run one sync pass against ``client`` and return the report (``dry_run``: decide and diff, write nothing;
    ``clusters``: the other clusters backend health is read in, SPEC §11)."""
    engine = SyncEngine(client, renderer=renderer)
    engine.clusters = clusters or {}
    engine.events = _PinEvents(client)
    engine.keep_written = False
    return engine.sync(policies, policy_errors=policy_errors, adopt=adopt, selector=selector,
                       adopt_routes=adopt_routes, route_selector=route_selector, prune=prune, dry_run=dry_run)
