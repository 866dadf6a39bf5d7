"""The FailoverPolicy CRD's schema and `failsync validate` agree on every fixture.

Covers: `failsync crd` is what deploy/crd.yaml holds; the CRD installs through the API with
kubectl and is served (short name fop); every valid and invalid policy fixture, created
through the sandbox API, is accepted exactly when `failsync validate` accepts its file,
except the cases listed in EXCEPTIONS (each with the reason: file-level problems no API
object can have, label rules the sandbox does not check in ObjectMeta, the one label rule
a CRD cannot express, and the weight sum whose CEL function the sandbox lacks); the CRD's
CEL rules (primary as a fallback, duplicates, a route's port, apiVersion per kind, the
distribute/gradual/weight combinations) are evaluated by the sandbox and agree; every list
a CEL rule iterates is bounded (maxItems) and every string under it has maxLength or an
enum, as the API server's CEL cost estimate requires; the API's defaults read back by the validator give
the same policy.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from failsync.cli import main
from failsync.core.crd import failover_policy_crd
from failsync.core.policies import parse_policies
from failsync.core.rendering import to_yaml
from tests.integration.conformance.support import call
from tests.integration.policy_crd.conftest import NAMESPACE

REPOSITORY = Path(__file__).resolve().parents[3]
FIXTURES = REPOSITORY / "tests" / "core" / "fixtures"
VALID = [FIXTURES / "golden-policy.yaml", *sorted((REPOSITORY / "policies").rglob("*.yaml")),
         *sorted((REPOSITORY / "examples" / "policies").rglob("*.yaml"))]
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))

#: Fixtures on which the API server and the validator may differ, and why.
EXCEPTIONS = {
    # Problems of a file, not of an object: the API never receives such a document.
    "yaml-syntax-error": "not YAML: nothing to send",
    "alias-bomb": "YAML aliases are expanded before sending; the validator refuses the file",
    "recursive-alias": "not a document a client can serialise",
    "duplicate-yaml-key": "JSON sent to the API has each key once",
    "deep-nesting": "refused by the file reader's depth limit, before any schema",
    "document-not-a-mapping": "not an object: no client sends it",
    "same-object-twice-in-one-file": "each object alone is valid; the same name twice is a file-level conflict",
    # ObjectMeta, which the API server checks with its own rules, not the CRD schema.
    "label-key-invalid": "kube-apiserver refuses it (422); the sandbox does not validate label keys",
    "label-value-boolean": "kube-apiserver refuses it (400); the sandbox does not validate label values",
    # Rules only the validator has (policy_fields.VALIDATOR_ONLY): a CRD schema cannot constrain labels.
    "label-managed-by-reserved": "app.kubernetes.io/managed-by is failsync's own; any valid label is accepted by the server",
    # A CEL rule with Kubernetes' list sum(), which the sandbox's CEL library lacks (a real server evaluates it).
    "distribute-weights-over-route-range": "the sum of the weights: Kubernetes' CEL sum(), not evaluated by the sandbox",
}


#: The exceptions that are problems of a file rather than of an object.
FILE_LEVEL = {"yaml-syntax-error", "alias-bomb", "recursive-alias", "duplicate-yaml-key", "deep-nesting",
              "document-not-a-mapping", "same-object-twice-in-one-file"}


def test_failsync_crd_is_what_deploy_holds() -> None:
    result = CliRunner().invoke(main, ["crd"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (REPOSITORY / "deploy" / "crd.yaml").read_text(), \
        "deploy/crd.yaml is stale: run `failsync crd > deploy/crd.yaml`"


def test_kubectl_serves_the_short_name(installed, kubectl) -> None:
    done = kubectl("get", "fop", "-n", NAMESPACE)
    assert done.returncode == 0, done.stderr


def _api_accepts(api, document: object) -> bool:
    """Created as a FailoverPolicy. A document of another kind or apiVersion is not one: kubectl
    sends it to that kind's resource (or finds no such kind), so it is never a FailoverPolicy."""
    if not isinstance(document, dict) or (document.get("apiVersion"), document.get("kind")) != (
            "failsync.io/v1alpha1", "FailoverPolicy"):
        return False
    path = f"/apis/failsync.io/v1alpha1/namespaces/{NAMESPACE}/failoverpolicies"
    response = call(api, "POST", path, body=document, params={"fieldValidation": "Strict"})
    if response.status_code == 201:
        call(api, "DELETE", f"{path}/{response.json()['metadata']['name']}")
        return True
    assert response.status_code in (400, 404, 409, 422), (response.status_code, response.text)
    return False


def _documents(path: Path) -> list[object] | None:
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except (yaml.YAMLError, RecursionError):
        return None
    try:
        json.dumps(documents)
    except ValueError:  # a recursive alias: no JSON body can hold it
        return None
    return documents


def _agreement(api, path: Path) -> tuple[bool, bool]:
    """(the API accepts every document of the file, failsync validate accepts the file)."""
    validator = CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0
    documents = _documents(path)
    if documents is None:
        return False, validator
    return all(_api_accepts(api, document) for document in documents), validator


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_every_valid_fixture_is_accepted_by_both(installed, path: Path) -> None:
    assert _agreement(installed, path) == (True, True)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_every_invalid_fixture_is_refused_by_both_or_is_a_listed_exception(installed, path: Path) -> None:
    api_accepts, validator_accepts = _agreement(installed, path)
    assert not validator_accepts
    if path.stem in EXCEPTIONS:
        return
    assert not api_accepts, f"the API accepted {path.name}; the CRD schema misses a rule the validator has"


def test_exceptions_name_real_fixtures_that_the_api_does_accept(installed) -> None:
    stems = {path.stem for path in INVALID}
    assert set(EXCEPTIONS) <= stems
    accepted_by_api = {path.stem for path in INVALID if path.stem in EXCEPTIONS
                       and _documents(path) is not None and _agreement(installed, path)[0]}
    # Every exception that is an object is one the API does accept: the list is not padding.
    objects = {stem for stem in EXCEPTIONS if stem not in FILE_LEVEL}
    assert objects <= accepted_by_api, objects - accepted_by_api


def test_the_api_defaults_give_the_policy_the_validator_reads(installed) -> None:
    path = f"/apis/failsync.io/v1alpha1/namespaces/{NAMESPACE}/failoverpolicies"
    document = yaml.safe_load((FIXTURES / "golden-policy.yaml").read_text())
    document["spec"]["health"] = {}
    document["spec"]["failback"] = {}
    document["spec"]["failover"] = {}
    document["spec"]["target"] = {"apiVersion": "split.smi-spec.io/v1alpha2"}
    created = call(installed, "POST", path, body={**document, "metadata": {**document["metadata"], "name": "defaults"}})
    assert created.status_code == 201, created.text
    stored = created.json()
    call(installed, "DELETE", f"{path}/defaults")
    assert stored["spec"]["health"] == {"minReady": 1, "source": "auto"}
    assert stored["spec"]["failback"] == {"holdSeconds": 0}
    assert stored["spec"]["target"]["kind"] == "TrafficSplit"
    stored_text = to_yaml({key: stored[key] for key in ("apiVersion", "kind", "spec")}
                          | {"metadata": {"name": "defaults", "namespace": NAMESPACE}})
    from_file = parse_policies(to_yaml({**document, "metadata": {**document["metadata"], "name": "defaults",
                                                                 "labels": {}}}), "f.yaml").policies
    from_api = parse_policies(stored_text, "a.yaml").policies
    assert [p.name for p in from_api] == ["defaults"]
    def decided(policy) -> tuple:
        return (policy.min_ready, policy.health_source, policy.hold_seconds, policy.target, policy.fallbacks,
                policy.when_all_down, policy.mode, policy.failover_mode, policy.delay_seconds)

    assert [decided(p) for p in from_api] == [decided(p) for p in from_file]


def _unbounded(schema: dict, path: str) -> list[str]:
    """Paths under ``schema`` whose size the API server's CEL cost estimate cannot bound."""
    found = []
    if schema.get("type") == "array" and "maxItems" not in schema:
        found.append(path)
    if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema:
        found.append(path)
    for key, child in (schema.get("properties") or {}).items():
        found += _unbounded(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += _unbounded(schema["items"], f"{path}[]")
    return found


def test_every_cel_rule_iterates_only_bounded_values() -> None:
    # kube-apiserver refuses a CRD whose CEL rules' estimated cost exceeds its budget; a list
    # without maxItems (or a string without maxLength) is estimated at the request size limit.
    schema = failover_policy_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    def with_rules(node: dict, path: str) -> list[tuple[dict, str]]:
        found = [(node, path)] if node.get("x-kubernetes-validations") else []
        for key, child in (node.get("properties") or {}).items():
            found += with_rules(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            found += with_rules(node["items"], f"{path}[]")
        return found

    ruled = with_rules(schema, "spec")
    assert ruled
    assert [problem for node, path in ruled for problem in _unbounded(node, path)] == []
