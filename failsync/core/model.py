"""The values every other module speaks in: Policy, Backend, Target, Decision.

Frozen dataclasses with no behaviour beyond derived properties; parsing lives in
``policies``, the decision in ``weights``. The ones held per policy have ``__slots__``: the
loop keeps one Policy (with its Backends and Target) per managed policy, and an instance
``__dict__`` cost more than the values it held.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from failsync.core import targets
from failsync.errors import Location

API_GROUP = "failsync.io"
POLICY_API_VERSION = "failsync.io/v1alpha1"
POLICY_KIND = "FailoverPolicy"

#: Marks on every object failsync owns (SPEC §3).
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "failsync"
POLICY_ANNOTATION = "failsync.io/policy"
#: The Linkerd failover extension's conventions, honoured on rendered objects and read in drop-in mode.
LINKERD_PRIMARY_ANNOTATION = "failover.linkerd.io/primary-service"
DEFAULT_ADOPT_SELECTOR = "failover.linkerd.io/controlled-by=linkerd-failover"


class HealthSource(str, enum.Enum):
    """Where ready endpoint counts come from."""

    AUTO = "auto"
    ENDPOINTSLICES = "endpointslices"
    ENDPOINTS = "endpoints"


class WhenAllDown(str, enum.Enum):
    """What to do when no backend is healthy (SPEC §4.4)."""

    KEEP = "keep"
    PRIMARY = "primary"
    ZERO = "zero"


class SpecMode(str, enum.Enum):
    """How a policy shares traffic (SPEC §12): fail over by tiers, or distribute (active-active)."""

    FAILOVER = "failover"
    DISTRIBUTE = "distribute"


class FailoverMode(str, enum.Enum):
    """How traffic leaves a failing tier: all at once, or gradually spilling over (Envoy's priority levels)."""

    ALL_AT_ONCE = "all-at-once"
    GRADUAL = "gradual"


#: Envoy's default overprovisioning factor: a tier at 1/1.4 (about 71 %) healthy still keeps all its traffic.
DEFAULT_OVERPROVISIONING_FACTOR = 1.4
#: Weights of ``failover.mode: gradual`` add up to this.
GRADUAL_SCALE = 100


class Origin(str, enum.Enum):
    """Where a policy came from: a policy file, or an adopted hand-written TrafficSplit."""

    FILE = "file"
    ADOPTED = "adopted"


#: How long a remote cluster that cannot be reached keeps its backends' last known health (SPEC §11).
DEFAULT_REMOTE_GRACE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class RemoteHealth:
    """``fallbacks[].health``: read this backend's readiness in another cluster (SPEC §11).

    ``service``/``namespace`` None: from the local mirror's annotation, else the backend's
    own name and the policy's namespace."""

    cluster: str
    service: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Backend:
    """One service that can carry traffic, with its priority tier (lower is preferred)."""

    service: str
    priority: int = 1
    #: The share this backend carries while healthy under ``spec.mode: distribute``.
    weight: int = 1
    #: Where its health lives when not in the local cluster (None: local, or its mirror labels say).
    remote: RemoteHealth | None = None


class InactiveBackends(str, enum.Enum):
    """What a rendered route does with a backend of weight 0 (SPEC §10)."""

    ZERO_WEIGHT = "zero-weight"
    OMIT = "omit"


@dataclass(frozen=True, slots=True)
class Target:
    """The object a policy renders to: kind and apiVersion; for routes, the port and idle backends."""

    kind: str = targets.TRAFFIC_SPLIT
    api_version: str = targets.API_VERSIONS[targets.TRAFFIC_SPLIT][0]  # the catalogue's default version
    port: int | None = None
    inactive_backends: InactiveBackends = InactiveBackends.ZERO_WEIGHT

    @property
    def group(self) -> str:
        """The API group of the target (``split.smi-spec.io``, ``gateway.networking.k8s.io``, ...)."""
        return self.api_version.rpartition("/")[0]


_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated FailoverPolicy (or an adopted TrafficSplit seen as one)."""

    name: str
    namespace: str
    service: str
    primary: str
    fallbacks: tuple[Backend, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=True)
    min_ready: int = 1
    health_source: HealthSource = HealthSource.AUTO
    hold_seconds: float = 0
    when_all_down: WhenAllDown = WhenAllDown.KEEP
    target: Target = Target()
    #: SPEC §12 (defaults keep the behaviour of §4).
    min_ready_percent: int | None = None
    delay_seconds: float = 0
    failover_mode: FailoverMode = FailoverMode.ALL_AT_ONCE
    overprovisioning_factor: float = DEFAULT_OVERPROVISIONING_FACTOR
    mode: SpecMode = SpecMode.FAILOVER
    primary_weight: int = 1
    #: SPEC §11: how long unreachable remote clusters keep their backends' last known health.
    remote_grace_seconds: float = DEFAULT_REMOTE_GRACE_SECONDS
    origin: Origin = Origin.FILE
    location: Location | None = field(default=None, compare=False)
    # Derived once in __post_init__ (the loop asks often; the maps keyed by ``key`` share its one string).
    #: ``namespace/name``: the value of the failsync.io/policy annotation.
    key: str = field(init=False, repr=False, compare=False)
    #: The primary (tier 0) then the fallbacks in declared order.
    backends: tuple[Backend, ...] = field(init=False, repr=False, compare=False)
    #: Backend service names, primary first: the order of backends in the rendered object.
    services: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.labels:  # most policies have none: one shared empty mapping, not an empty dict each
            object.__setattr__(self, "labels", _NO_LABELS)
        backends = (Backend(self.primary, priority=0, weight=self.primary_weight), *self.fallbacks)
        object.__setattr__(self, "key", f"{self.namespace}/{self.name}")
        object.__setattr__(self, "backends", backends)
        object.__setattr__(self, "services", tuple(b.service for b in backends))

    @property
    def full_weight(self) -> int:
        """What one backend carrying all traffic weighs: 1, 100 (gradual) or the sum of distribute weights."""
        if self.mode is SpecMode.DISTRIBUTE:
            return sum(b.weight for b in self.backends)
        return GRADUAL_SCALE if self.failover_mode is FailoverMode.GRADUAL else 1

    @property
    def needs_totals(self) -> bool:
        """Whether deciding needs every endpoint (ready or not), not just the ready ones."""
        return self.min_ready_percent is not None or (
            self.mode is SpecMode.FAILOVER and self.failover_mode is FailoverMode.GRADUAL)


#: One copy of each Backend (and tuple of Backends, tuple of service names) that policies repeat:
#: 10,000 policies name the same few services. Bounded, so unique values cannot grow it without end.
_SHARED: dict[object, object] = {}
_SHARED_LIMIT = 65536


def _one_copy(value: object) -> object:
    found = _SHARED.get(value)
    if found is None and len(_SHARED) < _SHARED_LIMIT:
        _SHARED[value] = found = value
    return value if found is None else found


def _exact(backend: Backend) -> bool:
    # Exact types only: equality takes True for 1, and a shared copy must be the same JSON when rendered.
    return type(backend.service) is str and type(backend.priority) is int and type(backend.weight) is int \
        and backend.remote is None


def _shared_backend(backend: Backend) -> Backend:
    found = _SHARED.get(backend)
    if found is None:
        object.__setattr__(backend, "service", sys.intern(backend.service))
        found = _one_copy(backend)
    return found  # type: ignore[return-value]


def share_values(policy: Policy) -> Policy:
    """``policy`` itself, its strings and backends replaced by equal shared copies (names and services
    interned, one Backend object per distinct backend): a long-lived holder (the loop's index) keeps
    10,000 policies that mostly name the same services. Values stay equal, so nothing else changes."""
    for name in ("name", "namespace", "service", "primary", "key"):
        value = getattr(policy, name)
        if type(value) is str:
            object.__setattr__(policy, name, sys.intern(value))
    if all(_exact(backend) for backend in policy.backends):
        backends = tuple(_shared_backend(backend) for backend in policy.backends)
        object.__setattr__(policy, "backends", _one_copy(backends))
        object.__setattr__(policy, "fallbacks", _one_copy(backends[1:]))
        object.__setattr__(policy, "services", _one_copy(tuple(backend.service for backend in backends)))
    if type(policy.target.port) in (int, type(None)):
        object.__setattr__(policy, "target", _one_copy(policy.target))
    return policy


class Rule(str, enum.Enum):
    """Which rule of SPEC §4 produced a decision."""

    PRIMARY_HEALTHY = "primary-healthy"
    FAILBACK_HELD = "failback-held"
    FAILED_OVER = "failed-over"
    ALL_DOWN_KEEP = "all-down-keep"
    ALL_DOWN_PRIMARY = "all-down-primary"
    ALL_DOWN_ZERO = "all-down-zero"
    #: SPEC §12.
    FAILOVER_DELAYED = "failover-delayed"
    SPILLED_OVER = "spilled-over"
    DISTRIBUTED = "distributed"
    PINNED = "pinned"


@dataclass(frozen=True)
class Pin:
    """``failsync.io/pin``: all traffic to ``backend`` regardless of health, until ``until`` (None: until removed)."""

    backend: str
    until: float | None = None


@dataclass(frozen=True)
class RuleCheck:
    """One rule the decision looked at, in order: whether it fired, and why (for ``failsync explain``)."""

    rule: str
    fired: bool
    note: str


@dataclass(frozen=True)
class Decision:
    """The weights every backend should carry, and why.

    ``weights`` maps each backend service (primary first, declared order) to its
    weight. ``primary_healthy_since`` is the state to carry into the next
    decision (the time the primary was first seen healthy in its current run, or
    None while it is unhealthy); it drives ``holdSeconds``. ``primary_unhealthy_since``
    is its mirror image and drives ``delaySeconds``. ``revisit_at`` is when the clock
    alone may change the decision (a hold or delay ends, a pin expires), or None.
    """

    weights: Mapping[str, int]
    rule: Rule
    healthy: tuple[str, ...]
    ready: Mapping[str, int]
    reason: str
    primary_healthy_since: float | None = None
    primary_unhealthy_since: float | None = None
    total: Mapping[str, int] = field(default_factory=dict)
    revisit_at: float | None = None
    #: The pin in force, and a pin found expired (the shell removes it and says so).
    pin: Pin | None = None
    expired_pin: Pin | None = None
    trace: tuple[RuleCheck, ...] = field(default=(), compare=False)

    @property
    def active(self) -> tuple[str, ...]:
        """Backends with a non-zero weight."""
        return tuple(s for s, w in self.weights.items() if w > 0)
