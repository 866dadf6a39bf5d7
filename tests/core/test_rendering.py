"""Rendering policies to TrafficSplits (failsync.core.rendering).

Covers:
- golden files, one per TrafficSplit apiVersion (v1alpha1 spells weights as quantities);
- SPEC §3 labels/annotations on every object, policy labels kept, weights in backend order;
- policies/emojivoto/web-svc-failover.yaml renders the guide's TrafficSplit, before and
  after the failover the guide shows;
- --templates overrides a template by file name (JSON or block-YAML templates);
- a template that renders two documents, another kind, a list, invalid YAML, an
  undefined variable or unsafe attribute access fails with TemplateError;
- a missing template is a TemplateError naming the file it looked for;
- values are always emitted quoted: a hostile string in an override template stays one value;
- a template made only of text and variables (rendered without a Jinja context) gives
  exactly what Jinja renders for the same template.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from failsync.core.model import Policy, Target
from failsync.core.policies import TRAFFICSPLIT_API_VERSIONS, parse_policies
from failsync.core.rendering import Renderer, emit, template_name
from failsync.errors import TemplateError
from tests.helpers import GUIDE_TRAFFIC_SPLIT_FILE

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
REPOSITORY = HERE.parent.parent
GOLDEN_POLICY = HERE / "fixtures" / "golden-policy.yaml"


def _policy(path: Path) -> Policy:
    result = parse_policies(path.read_text(), str(path))
    assert result.errors == ()
    (policy,) = result.policies
    return policy


def _dump(obj: dict) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


@pytest.mark.parametrize("api_version", TRAFFICSPLIT_API_VERSIONS)
def test_render_matches_golden_file(api_version: str) -> None:
    policy = replace(_policy(GOLDEN_POLICY), target=Target("TrafficSplit", api_version))
    obj = Renderer().render(policy, {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0})
    golden = GOLDEN / template_name(policy.target).replace(".j2", "")
    assert _dump(obj) == golden.read_text()


def test_initial_weights_send_everything_to_the_primary() -> None:
    obj = Renderer().render(_policy(GOLDEN_POLICY))
    assert obj["spec"]["backends"] == [{"service": "web-svc", "weight": 1},
                                       {"service": "web-svc-east", "weight": 0},
                                       {"service": "web-svc-central", "weight": 0}]


def test_rendered_object_carries_ownership_label_and_annotations() -> None:
    obj = Renderer().render(_policy(GOLDEN_POLICY))
    assert obj["metadata"]["labels"] == {"team": "web", "example.com/tier": "1",
                                         "app.kubernetes.io/managed-by": "failsync"}
    assert obj["metadata"]["annotations"] == {"failsync.io/policy": "emojivoto/web-svc-failover",
                                              "failover.linkerd.io/primary-service": "web-svc"}


def test_missing_weights_render_as_zero() -> None:
    obj = Renderer().render(_policy(GOLDEN_POLICY), {"web-svc-central": 1})
    assert [b["weight"] for b in obj["spec"]["backends"]] == [0, 0, 1]


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError):
        Renderer().render(_policy(GOLDEN_POLICY), {"web-svc": -1})


def test_example_policy_renders_the_guides_trafficsplit() -> None:
    guide_before, guide_after = yaml.safe_load_all(GUIDE_TRAFFIC_SPLIT_FILE.read_text())
    policy = _policy(REPOSITORY / "policies" / "emojivoto" / "web-svc-failover.yaml")
    renderer = Renderer()
    for guide, weights in ((guide_before, None), (guide_after, {"web-svc": 0, "web-svc-east": 1})):
        obj = renderer.render(policy, weights)
        assert obj["apiVersion"] == guide["apiVersion"]
        assert obj["kind"] == guide["kind"]
        assert obj["metadata"]["name"] == guide["metadata"]["name"]
        assert obj["metadata"]["namespace"] == guide["metadata"]["namespace"]
        assert obj["metadata"]["annotations"]["failover.linkerd.io/primary-service"] == \
            guide["metadata"]["annotations"]["failover.linkerd.io/primary-service"]
        assert obj["spec"] == guide["spec"]
        # The guide's controlled-by label hands the object to the Linkerd controller; a
        # policy-rendered object is failsync's instead (SPEC §3), marked by managed-by.
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "failsync"
        assert "failover.linkerd.io/controlled-by" not in obj["metadata"]["labels"]


def _override(tmp_path: Path, text: str, name: str = "trafficsplit-v1alpha2.yaml.j2") -> Renderer:
    (tmp_path / name).write_text(text)
    return Renderer(tmp_path)


BLOCK_YAML_TEMPLATE = """\
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata:
  name: {{ name }}
  namespace: {{ namespace }}
  labels:
    {% for key, value in labels.items() %}
    {{ key }}: {{ value }}
    {% endfor %}
    extra: {{ "from-override" }}
spec:
  service: {{ service }}
  backends:
    {% for backend in backends %}
    - service: {{ backend.service }}
      weight: {{ backend.weight }}
    {% endfor %}
"""


def test_override_template_replaces_the_builtin_one_by_file_name(tmp_path: Path) -> None:
    obj = _override(tmp_path, BLOCK_YAML_TEMPLATE).render(_policy(GOLDEN_POLICY))
    assert obj["metadata"]["labels"]["extra"] == "from-override"
    assert obj["spec"]["backends"][0] == {"service": "web-svc", "weight": 1}


def test_override_directory_falls_back_to_builtin_templates_for_other_versions(tmp_path: Path) -> None:
    renderer = _override(tmp_path, BLOCK_YAML_TEMPLATE)
    policy = replace(_policy(GOLDEN_POLICY), target=Target("TrafficSplit", "split.smi-spec.io/v1alpha3"))
    assert "extra" not in renderer.render(policy)["metadata"]["labels"]


def test_hostile_value_in_a_block_yaml_template_stays_one_value(tmp_path: Path) -> None:
    hostile = 'x\nkind: Secret\n---\n{{ "a": b }}: c'
    policy = replace(_policy(GOLDEN_POLICY), labels={"note": hostile})
    obj = _override(tmp_path, BLOCK_YAML_TEMPLATE).render(policy)
    assert obj["kind"] == "TrafficSplit"
    assert obj["metadata"]["labels"]["note"] == hostile


@pytest.mark.parametrize("text, message", [
    pytest.param('{"kind": "TrafficSplit"}\n---\n{"kind": "TrafficSplit"}\n', "invalid YAML",
                 id="two-documents"),
    pytest.param('- {{ name }}\n', "expected one TrafficSplit mapping", id="a-list"),
    pytest.param('{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": {{ name }}, '
                 '"namespace": {{ namespace }}}}', "produced Secret v1", id="another-kind"),
    pytest.param('{"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit", '
                 '"metadata": {"name": "other", "namespace": {{ namespace }}}}', "emojivoto/other",
                 id="another-name"),
    pytest.param('key: [unclosed\n', "invalid YAML", id="invalid-yaml"),
    pytest.param('{{ no_such_variable }}\n', "'no_such_variable' is undefined", id="undefined-variable"),
    pytest.param("{{ name.__class__.__mro__ }}\n", "unsafe", id="sandbox-blocks-dunder-access"),
    pytest.param("{% for %}\n", "template trafficsplit-v1alpha2.yaml.j2, line 1", id="syntax-error"),
])
def test_bad_template_output_is_a_template_error(tmp_path: Path, text: str, message: str) -> None:
    renderer = _override(tmp_path, text)
    with pytest.raises(TemplateError) as caught:
        renderer.render(_policy(GOLDEN_POLICY))
    assert message in str(caught.value)


TEXT_AND_VARIABLES_TEMPLATE = """\
apiVersion: {{ api_version }}
kind: {{ kind }}
metadata:
  name: {{ name }}
  namespace: {{ namespace | yaml }}
  labels: {{ labels }}
  annotations: {{ annotations }}
spec:
  service: {{ service }}
  backends: {{ backends | quantity_weights }}
"""


@pytest.mark.parametrize("version, template", [
    pytest.param(version, (REPOSITORY / "templates" / f"trafficsplit-{version}.yaml.j2").read_text(), id=version)
    for version in ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
] + [pytest.param("v1alpha1", TEXT_AND_VARIABLES_TEMPLATE, id="block-yaml-with-filters")])
def test_text_and_variables_template_renders_what_jinja_renders(tmp_path: Path, version: str,
                                                                 template: str) -> None:
    hostile = 'x\nkind: Secret\n---\n{{ "a": b }}: c \u2028 \x85'
    policy = replace(_policy(GOLDEN_POLICY), labels={"note": hostile, "team": "a"},
                     target=Target("TrafficSplit", f"split.smi-spec.io/{version}"))
    name = template_name(policy.target)
    (tmp_path / "direct").mkdir()
    (tmp_path / "jinja").mkdir()
    direct = _override(tmp_path / "direct", template, name)
    # A tag that does nothing makes the same template go through Jinja.
    jinja = _override(tmp_path / "jinja", template + "{% if true %}{% endif %}", name)
    for weights in (None, {"web-svc": 0, "web-svc-east": 7, "web-svc-central": 3}):
        assert direct.render(policy, weights) == jinja.render(policy, weights)


def test_missing_template_names_the_file_it_looked_for() -> None:
    policy = replace(_policy(GOLDEN_POLICY), target=Target("TrafficSplit", "split.smi-spec.io/v1alpha9"))
    with pytest.raises(TemplateError, match="no template trafficsplit-v1alpha9.yaml.j2"):
        Renderer().render(policy)


@pytest.mark.parametrize("value", [
    "plain", "", "a: b", "- x", "x\ny", "'\"", "{{ x }}", "---", "...", "#c", "\x85\u2028\u2029",
    "\x7f\x9f", "\ufeff", "\ud800", "é😀", "\t\r\x00", "null", "true", "1e3", 0, 7, True, None,
    {"k": "v\n---"}, ["a", 1],
])
def test_emit_writes_values_that_parse_back_exactly_as_yaml_and_json(value: object) -> None:
    text = str(emit(value))
    assert yaml.load(f"key: {text}\n", Loader=yaml.SafeLoader) == {"key": value}
    assert json.loads(text) == value
