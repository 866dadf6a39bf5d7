"""Fault injection for one cluster: added latency, error rates per verb, dropped watches, outages,
watch events held back.

Owns: the fault settings and deciding, per request, whether to delay it or fail it. The
cluster carries out ``drop_watches``, ``outage`` and holding watch events (it owns the sockets and
the store); this module only holds the knobs and calls back. Never does: HTTP.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Callable

from failsync.sandbox.status import ApiError, injected

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*")


@dataclass(frozen=True)
class ErrorRate:
    """Fail ``rate`` (0..1) of the requests of one verb with ``status`` (and Retry-After)."""

    rate: float
    status: int = 500
    retry_after: float | None = None


class Faults:
    """The fault knobs of one cluster (``cluster.faults``)."""

    def __init__(self, drop_watches: Callable[[], int], outage: Callable[[float], None],
                 hold_watch_events: Callable[[str], None], release_watch_events: Callable[[], int]) -> None:
        self.latency = 0.0
        self._error_rates: dict[str, ErrorRate] = {}
        self._drop_watches = drop_watches
        self._outage = outage
        self._hold_watch_events = hold_watch_events
        self._release_watch_events = release_watch_events
        self._random = random.Random()
        self._lock = threading.Lock()

    def error_rate(self, verb: str, rate: float, status: int = 500, retry_after: float | None = None) -> None:
        """Fail ``rate`` of the ``verb`` requests (verb ``*`` = all) with ``status``; rate 0 removes the rule."""
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r}: expected one of {', '.join(VERBS)}")
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        with self._lock:
            if rate == 0:
                self._error_rates.pop(verb, None)
            else:
                self._error_rates[verb] = ErrorRate(rate, int(status), retry_after)

    def drop_watches(self) -> int:
        """Close every open watch stream now; returns how many were closed."""
        return self._drop_watches()

    def outage(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (listening socket closed), then serve again with state kept."""
        self._outage(float(seconds))

    def hold_watch_events(self, resource: str) -> None:
        """Hold back the watch events of ``resource`` (its plural and group as kubectl spells them:
        ``trafficsplits.split.smi-spec.io``, ``services``), as a lagging watch cache does: watches see
        none of its changes from now on (nor bookmarks past them) until ``release_watch_events``,
        while GET and LIST see them at once. ValueError for a resource the cluster does not serve."""
        self._hold_watch_events(resource)

    def release_watch_events(self) -> int:
        """Deliver every held watch event, in order, and hold no more; returns how many were held."""
        return self._release_watch_events()

    def reset(self) -> None:
        """No latency, no error rates, no watch events held (the held ones are delivered)."""
        with self._lock:
            self.latency = 0.0
            self._error_rates.clear()
        self._release_watch_events()

    def failure_for(self, verb: str) -> ApiError | None:
        """The injected error for one request of ``verb``, if the dice say so."""
        with self._lock:
            rule = self._error_rates.get(verb) or self._error_rates.get("*")
            if rule is None or self._random.random() >= rule.rate:
                return None
        return injected(rule.status, rule.retry_after)

    def configure(self, settings: dict) -> None:
        """Apply an admin-endpoint body: latency, error_rate, drop_watches, outage, reset."""
        if settings.get("reset"):
            self.reset()
        if "latency" in settings:
            self.latency = float(settings["latency"] or 0)
        rule = settings.get("error_rate")
        if rule:
            self.error_rate(rule.get("verb", "*"), float(rule.get("rate", 1)), int(rule.get("status", 500)),
                            rule.get("retry_after"))
        if settings.get("drop_watches"):
            self.drop_watches()
        if settings.get("outage"):
            self.outage(float(settings["outage"]))
