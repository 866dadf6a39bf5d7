"""The policy fields of SPEC §12 (failsync.core.policy_schema): parsed values and defaults.

Covers: every new field parses into the Policy (minReadyPercent, failover.delaySeconds,
failover.mode gradual with overprovisioningFactor, spec.mode distribute with primaryWeight
and per-fallback weight); their defaults keep the behaviour of SPEC §4; the fast reader
and the node reader agree. Invalid values are in the fixtures/invalid table (test_policies).
"""

from __future__ import annotations

from failsync.core.model import Backend, FailoverMode, SpecMode
from failsync.core.policies import parse_policies
from failsync.core.policy_schema import PolicyDocument

BASE = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover
  namespace: emojivoto
spec:
  service: web-svc
"""


def test_defaults_keep_the_part_1_behaviour() -> None:
    (policy,) = parse_policies(BASE + "  fallbacks:\n    - service: web-svc-east\n", "p.yaml").policies
    assert policy.min_ready_percent is None and policy.delay_seconds == 0
    assert policy.failover_mode is FailoverMode.ALL_AT_ONCE and policy.overprovisioning_factor == 1.4
    assert policy.mode is SpecMode.FAILOVER and policy.primary_weight == 1 and policy.full_weight == 1


def test_gradual_failover_with_percent_and_delay() -> None:
    text = BASE + """\
  fallbacks:
    - service: web-svc-east
  health:
    minReadyPercent: 50
  failover:
    delaySeconds: 20
    mode: gradual
    overprovisioningFactor: 1.2
"""
    result = parse_policies(text, "p.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    assert (policy.min_ready_percent, policy.delay_seconds) == (50, 20)
    assert policy.failover_mode is FailoverMode.GRADUAL and policy.overprovisioning_factor == 1.2
    assert policy.full_weight == 100 and policy.needs_totals


def test_distribute_with_weights() -> None:
    text = BASE + """\
  mode: distribute
  primaryWeight: 70
  fallbacks:
    - service: web-svc-east
      weight: 20
    - service: web-svc-central
      priority: 2
"""
    result = parse_policies(text, "p.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    assert policy.mode is SpecMode.DISTRIBUTE
    assert policy.backends == (Backend("web-svc", 0, 70), Backend("web-svc-east", 1, 20),
                               Backend("web-svc-central", 2, 1))
    assert policy.full_weight == 91


def test_the_node_reader_gives_the_same_policy_as_the_fast_reader() -> None:
    import yaml

    text = BASE + "  mode: distribute\n  fallbacks:\n    - service: web-svc-east\n      weight: 3\n"
    (fast,) = parse_policies(text, "p.yaml").policies
    node = yaml.compose(text)
    document = PolicyDocument("p.yaml", root=node)
    assert document.validate(document.convert(node, "")) == fast
