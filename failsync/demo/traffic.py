"""The demo's vote-bot: simulated requests that follow the live TrafficSplit (or route) weights, and
the per-backend table ``linkerd viz stat`` would show for them.

Owns: routing one simulated request (a weighted pick among the backends, success when the
chosen backend has a ready endpoint, as a meshed proxy would see it) and summing a window
of requests into NAME / SUCCESS / RPS rows. Never does: change anything in the cluster; it
only reads the TrafficSplit (or route) and the EndpointSlices (over HTTP, like the proxies' watches).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from failsync.core import health
from failsync.core.targets import weights_of
from failsync.kube import ENDPOINT_SLICES, KubeClient, Resource


@dataclass
class BackendStat:
    """What the vote-bot saw for one backend during a window."""

    name: str
    requests: int = 0
    successes: int = 0
    seconds: float = 0.0

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.seconds if self.requests and self.seconds > 0 else None


@dataclass
class Window:
    """One traffic window: stats per backend (in TrafficSplit order) and the requests that failed."""

    stats: dict[str, BackendStat] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(stat.requests for stat in self.stats.values())

    def carrying(self) -> list[str]:
        """Backends that received requests."""
        return [name for name, stat in self.stats.items() if stat.requests]


def pick(weights: Mapping[str, int], rng: random.Random) -> str | None:
    """The backend one request goes to: weighted by ``weights``; None when every weight is 0."""
    total = sum(max(weight, 0) for weight in weights.values())
    if total <= 0:
        return None
    point = rng.uniform(0, total)
    for backend, weight in weights.items():
        point -= max(weight, 0)
        if point <= 0 and weight > 0:
            return backend
    return next(backend for backend, weight in reversed(list(weights.items())) if weight > 0)


class VoteBot:
    """Sends simulated requests to the apex service of a TrafficSplit or route, following its current weights."""

    def __init__(self, client: KubeClient, target: Resource, namespace: str, name: str, *,
                 rate: float = 20.0, seed: int = 7) -> None:
        self.client = client
        self.target = target
        self.namespace = namespace
        self.name = name
        self.rate = rate
        self._rng = random.Random(seed)

    def _route_table(self) -> tuple[dict[str, int], dict[str, int]]:
        """(weights, ready endpoints) per backend, as the proxies know them now."""
        weights = weights_of(self.client.get(self.target, self.namespace, self.name)) or {}
        slices = self.client.list(ENDPOINT_SLICES, namespace=self.namespace).items
        ready = health.ready_by_service(slices=slices)
        return weights, {backend: ready.get((self.namespace, backend), 0) for backend in weights}

    def run(self, seconds: float, *, progress: Callable[[float], None] = lambda _elapsed: None,
            backends: Sequence[str] = ()) -> Window:
        """Send ``rate`` requests per second for ``seconds``, routing each by the route table as
        last read (re-read between batches, as a proxy's watch would update it)."""
        window = Window({name: BackendStat(name) for name in backends})
        started = time.monotonic()
        sent = 0
        while True:
            elapsed = min(time.monotonic() - started, seconds)
            due = int(elapsed * self.rate) - sent
            if due > 0:
                weights, ready = self._route_table()
                for _request in range(due):
                    backend = pick(weights, self._rng)
                    if backend is not None:
                        stat = window.stats.setdefault(backend, BackendStat(backend))
                        stat.requests += 1
                        stat.successes += 1 if ready.get(backend, 0) > 0 else 0
                sent += due
            if elapsed >= seconds:
                break
            progress(elapsed)
            time.sleep(min(1 / self.rate, seconds - elapsed))  # pacing of the simulated requests
        window.seconds = seconds
        for stat in window.stats.values():
            stat.seconds = seconds
        return window


def stat_table(window: Window) -> list[list[str]]:
    """Rows of ``linkerd viz stat`` (NAME, SUCCESS, RPS), header first; ``-`` where no traffic went."""
    rows = [["NAME", "SUCCESS", "RPS"]]
    for stat in window.stats.values():
        rate, rps = stat.success_rate, stat.rps
        rows.append([stat.name, "-" if rate is None else f"{rate * 100:.2f}%", "-" if rps is None else f"{rps:.1f}rps"])
    return rows
