"""A FailoverPolicy as the API returns it is a policy file too.

Covers: status, server metadata (uid, resourceVersion, generation, creationTimestamp,
managedFields, annotations such as kubectl's last-applied-configuration, ownerReferences,
finalizers) are accepted and ignored: the same policy as the plain document; a `List` (or
`FailoverPolicyList`) of objects, as `kubectl get fop -o yaml` prints it, gives each item's
policy, and an error in an item names `items[i].<key>` and its line; a typo in metadata is
still an unknown key.
"""
from __future__ import annotations

import yaml

from failsync.core.policies import parse_policies

PLAIN = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover
  namespace: emojivoto
  labels: {team: web}
spec:
  service: web-svc
  fallbacks:
    - service: web-svc-east
"""

FROM_THE_API = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"failsync.io/v1alpha1"}'
    argocd.argoproj.io/tracking-id: web:failsync.io/FailoverPolicy:emojivoto/web-svc-failover
  creationTimestamp: "2026-01-01T00:00:00Z"
  generation: 3
  labels: {team: web}
  managedFields:
    - apiVersion: failsync.io/v1alpha1
      fieldsType: FieldsV1
      fieldsV1: {"f:spec": {"f:fallbacks": {}, ".": {}}}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2026-01-01T00:00:00Z"
  name: web-svc-failover
  namespace: emojivoto
  resourceVersion: "4711"
  uid: 0d7e4a3c-0000-4000-8000-000000000001
  finalizers: [example.com/keep]
  ownerReferences: []
spec:
  service: web-svc
  fallbacks:
    - service: web-svc-east
      priority: 1
  health: {minReady: 1, source: auto}
status:
  observedGeneration: 3
  conditions:
    - {type: Ready, status: "True", reason: Converged, message: ok}
  activeBackends: [web-svc]
"""


def _comparable(text: str) -> list:
    result = parse_policies(text, "p.yaml")
    assert [str(e) for e in result.errors] == []
    return [(p.key, p.services, p.labels, p.min_ready, p.target, p.fallbacks) for p in result.policies]


def test_an_object_from_the_api_is_the_same_policy_as_the_plain_document() -> None:
    assert _comparable(FROM_THE_API) == _comparable(PLAIN)


def test_a_list_of_objects_gives_each_items_policy() -> None:
    other = yaml.safe_load(FROM_THE_API)
    other["metadata"]["name"] = "other"
    listed = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(FROM_THE_API), other]}
    result = parse_policies(yaml.safe_dump(listed), "live.yaml")
    assert result.errors == ()
    assert [p.name for p in result.policies] == ["web-svc-failover", "other"]
    typed = parse_policies(yaml.safe_dump({**listed, "kind": "FailoverPolicyList",
                                           "apiVersion": "failsync.io/v1alpha1"}), "live.yaml")
    assert [p.name for p in typed.policies] == ["web-svc-failover", "other"]


def test_an_error_in_a_list_item_names_the_item_key_and_line() -> None:
    text = ("apiVersion: v1\nkind: List\nitems:\n- " + PLAIN.replace("\n", "\n  ").rstrip() + "\n- "
            + PLAIN.replace("web-svc-east", "Bad_Name").replace("\n", "\n  ").rstrip() + "\n")
    result = parse_policies(text, "live.yaml")
    assert [p.name for p in result.policies] == ["web-svc-failover"]
    (error,) = [str(e) for e in result.errors]
    line = text.splitlines().index("      - service: Bad_Name") + 1
    assert error.startswith(f"live.yaml:{line}: items[1].spec.fallbacks[0].service: 'Bad_Name' is not"), error


def test_a_typo_in_metadata_is_still_an_unknown_key() -> None:
    (error,) = parse_policies(PLAIN.replace("  labels:", "  lables:"), "p.yaml").errors
    assert str(error).startswith("p.yaml:6: metadata.lables: unknown key")
