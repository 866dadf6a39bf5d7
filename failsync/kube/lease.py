"""Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Owns: acquiring a free or expired Lease, renewing it every retry period, stepping
down when renewals fail for longer than the renew deadline (or another holder is
seen), and releasing it on shutdown by clearing ``holderIdentity``. A leader may write only
while its last renewal is younger than the renew deadline on its own monotonic clock
(``may_write``): a leader that was paused (SIGSTOP, a long GC, a frozen VM) re-checks the Lease
before its next write and steps down if another replica took it meanwhile. Every write
carries the resourceVersion that was read (optimistic concurrency: a 409 means
someone else won). Expiry is judged by the local time at which this replica last
saw the record change, never by comparing clocks with other replicas.
Never does: decide who writes TrafficSplits; the controller asks ``is_leader``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Mapping

from failsync.backoff import DEFAULT_RETRY, RetryPolicy, jittered
from failsync.core.timestamps import format_time
from failsync.errors import ApiError, Conflict
from failsync.kube.client import KubeClient
from failsync.kube.resources import Resource
from failsync.supervisor import Spawn, plain_thread

log = logging.getLogger(__name__)

LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases")


def default_identity() -> str:
    """``$POD_NAME`` when set (in a cluster), else ``hostname_random``: unique across restarts."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(epoch: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 UTC with microseconds."""
    return format_time(epoch, digits=6)


# ------------------------------------------------------------------ pure lease logic

def is_free(spec: Mapping[str, Any] | None, *, identity: str, observed_at: float, now: float,
            lease_duration: float) -> bool:
    """Whether ``identity`` may take (or keep) the lease: none yet, no holder, its own,
    or unchanged for longer than its duration since this replica first saw it so."""
    if not spec or not spec.get("holderIdentity") or spec.get("holderIdentity") == identity:
        return True
    duration = spec.get("leaseDurationSeconds") or lease_duration
    return now >= observed_at + duration


def claimed(spec: Mapping[str, Any] | None, *, identity: str, lease_duration: float,
            now: float) -> dict[str, Any]:
    """The Lease spec after ``identity`` acquires or renews it at wall-clock ``now``."""
    spec = dict(spec or {})
    renewing = spec.get("holderIdentity") == identity
    transitions = int(spec.get("leaseTransitions") or 0)
    if not renewing and spec.get("holderIdentity"):
        transitions += 1
    return {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, int(round(lease_duration))),
        "acquireTime": spec.get("acquireTime") if renewing and spec.get("acquireTime") else micro_time(now),
        "renewTime": micro_time(now),
        "leaseTransitions": transitions,
    }


def released(spec: Mapping[str, Any], *, now: float) -> dict[str, Any]:
    """The Lease spec after its holder lets go: no holder, so a standby takes over at once."""
    return {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time(now)}


# ------------------------------------------------------------------ the elector

class LeaderElector:
    """Runs leader election in a daemon thread; ``is_leader`` says whether to write.

    ``on_started_leading`` / ``on_stopped_leading`` run on the elector's thread.
    """

    def __init__(self, client: KubeClient, *, name: str, namespace: str, identity: str | None = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_started_leading: Callable[[], None] = lambda: None,
                 on_stopped_leading: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 retry: RetryPolicy = DEFAULT_RETRY, spawn: Spawn = plain_thread) -> None:
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError("leader election needs 0 < retry period < renew deadline < lease duration")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self._clock = clock
        self._monotonic = monotonic
        self._leader = threading.Event()
        self._stopping = threading.Event()
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._last_renewal = 0.0
        self.holder: str | None = None
        self._spawn = spawn
        self._errors = retry.backoff()
        self._round = threading.Lock()  # one acquire/renew round at a time (the thread's, or a writer's check)
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the lease."""
        return self._leader.is_set()

    def may_write(self) -> bool:
        """Whether a write may go out now: leading, with a renewal younger than the renew deadline.

        A renewal too old (the process was paused, or renewals kept failing) stops writing until
        the Lease is read again: still ours, renewed now, then go on; else step down.
        """
        if not self.is_leader:
            return False
        if self._monotonic() - self._last_renewal < self.renew_deadline:
            return True
        log.warning("leader election: last renewal is %.1fs old (renew deadline %.1fs): re-checking the "
                    "lease before writing", self._monotonic() - self._last_renewal, self.renew_deadline)
        self._elect_once()
        return self.is_leader and self._monotonic() - self._last_renewal < self.renew_deadline

    def start(self) -> "LeaderElector":
        """Start electing in the background (``spawn``: the loop's supervisor)."""
        self._thread = self._spawn("leader-election", self.run)  # type: ignore[assignment]
        return self

    def stop(self, *, release: bool = True, timeout: float | None = None) -> None:
        """Stop electing and, when leading, release the lease so a standby takes over at once.

        ``timeout``: at most this long waiting for a round in flight (default: a retry period + 10 s).
        """
        self._stopping.set()
        thread = self._thread
        if isinstance(thread, threading.Thread) and thread.is_alive() and thread is not threading.current_thread():
            thread.join(self.retry_period + 10 if timeout is None else timeout)
        if self.is_leader:
            if release:
                self.release()
            self._step_down("shutting down")

    def run(self) -> None:
        """Acquire, then renew, until stopped."""
        log.info("leader election: %s competing for lease %s/%s", self.identity, self.namespace, self.name)
        while not self._stopping.is_set():
            outcome = self._elect_once()
            if self.is_leader:
                delay = self.retry_period
            else:  # a standby that cannot reach the server backs off (up to the retry policy's maximum)
                delay = jittered(self.retry_period)
                if outcome == "error":
                    delay = max(delay, self._errors.next_delay())
            if outcome != "error":
                self._errors.reset()
            self._stopping.wait(delay)

    def _elect_once(self) -> str:
        """One acquire/renew round and what follows from it: lead, keep leading, or step down."""
        with self._round:
            started = self._monotonic()  # a renewal counts from when it was sent, never from its answer
            outcome = self.try_acquire_or_renew()
            now = self._monotonic()
            if outcome == "held":
                self._last_renewal = started
                if not self.is_leader:
                    log.info("leader election: %s became the leader", self.identity)
                    self._leader.set()
                    self._call(self.on_started_leading)
            elif self.is_leader and (outcome == "taken" or now - self._last_renewal > self.renew_deadline):
                self._step_down("lease taken by " + str(self.holder) if outcome == "taken"
                                else "could not renew within the renew deadline")
            return outcome

    def _step_down(self, why: str) -> None:
        if self.is_leader:
            log.warning("leader election: %s stopped leading (%s)", self.identity, why)
            self._leader.clear()
            self._call(self.on_stopped_leading)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("leader election callback failed")

    def try_acquire_or_renew(self) -> str:
        """One round: "held" (we hold it now), "taken" (another live holder) or "error"."""
        try:
            lease = self._get()
            spec = (lease or {}).get("spec") or {}
            self._observe(spec)
            self.holder = spec.get("holderIdentity") or None
            if not is_free(spec, identity=self.identity, observed_at=self._observed_at,
                           now=self._monotonic(), lease_duration=self.lease_duration):
                return "taken"
            self._write(lease, claimed(spec, identity=self.identity, lease_duration=self.lease_duration,
                                       now=self._clock()))
            self.holder = self.identity
            return "held"
        except Conflict:
            return "taken"  # another replica wrote first; re-read next round
        except ApiError as error:
            log.warning("leader election: %s", error)
            return "error"
        except Exception:  # a malformed lease must not end the election
            log.exception("leader election round failed")
            return "error"

    def release(self) -> None:
        """Clear holderIdentity if we still hold the lease (best effort)."""
        try:
            lease = self._get()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            self._write(lease, released(lease.get("spec") or {}, now=self._clock()))
            log.info("leader election: %s released lease %s/%s", self.identity, self.namespace, self.name)
        except ApiError as error:
            log.warning("leader election: could not release the lease: %s", error)

    def _observe(self, spec: Mapping[str, Any]) -> None:
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()

    # -------------------------------------------------------------- HTTP

    def _get(self) -> dict[str, Any] | None:
        return self.client.get(LEASES, self.namespace, self.name)

    def _write(self, lease: dict[str, Any] | None, spec: dict[str, Any]) -> None:
        """Create the lease, or replace its spec guarded by the resourceVersion that was read."""
        if lease is None:
            self.client.create(LEASES, {"apiVersion": LEASES.api_version, "kind": LEASES.kind,
                                        "metadata": {"name": self.name, "namespace": self.namespace},
                                        "spec": spec})
            return
        version = (lease.get("metadata") or {}).get("resourceVersion")
        self.client.patch(LEASES, self.namespace, self.name, [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "replace" if "spec" in lease else "add", "path": "/spec", "value": spec},
        ])
