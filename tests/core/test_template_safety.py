"""Templates are code from the repository, and they cannot read the machine or write what failsync does not own.

Covers: `{% include %}`/`{% import %}` of absolute paths, `../` paths and symlinks leading out of
the template directory are refused (the built-in loader used to read `/etc/passwd` this way);
another template of the same directory is included by name; a template cannot change the
ownership marks, emit `status`, or emit fields outside the TrafficSplit or route schema (each an error
naming the template, raised before anything is written); a template that leaves the marks out
gets them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from failsync.core.model import Policy, Target
from failsync.core.rendering import Renderer
from failsync.errors import TemplateError

NAME = "trafficsplit-v1alpha2.yaml.j2"
POLICY = Policy(name="web", namespace="emojivoto", service="web-svc", primary="web-svc")
BODY = """{
  "apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
  "metadata": {"name": {{ name }}, "namespace": {{ namespace }}, "labels": LABELS, "annotations": {{ annotations }}},
  "spec": SPEC EXTRA
}"""
SPEC = '{"service": {{ service }}, "backends": {{ backends }}}'


def _template(directory: Path, *, labels: str = "{{ labels }}", spec: str = SPEC, extra: str = "",
              prefix: str = "") -> Renderer:
    directory.mkdir(exist_ok=True)
    text = prefix + BODY.replace("LABELS", labels).replace("SPEC", spec).replace("EXTRA", extra)
    (directory / NAME).write_text(text)
    return Renderer(directory)


@pytest.mark.parametrize("statement", [
    '{% include "/etc/passwd" %}',
    '{% include "/proc/self/environ" %}',
    '{% include "../outside.j2" %}',
    '{% import "/etc/hostname" as h %}',
    '{% include "sub/inner.j2" %}',
])
def test_templates_cannot_read_files_outside_the_template_directories(tmp_path: Path, statement: str) -> None:
    (tmp_path / "outside.j2").write_text("SECRET")
    renderer = _template(tmp_path / "templates", prefix=statement)
    with pytest.raises(TemplateError, match="refused: templates are loaded by file name") as caught:
        renderer.render(POLICY)
    assert NAME in str(caught.value) and "root:" not in str(caught.value)


def test_a_symlink_out_of_the_template_directory_is_not_a_template(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text('"SECRET"')
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "leak.j2").symlink_to(tmp_path / "secret")
    renderer = _template(templates, spec='{"service": {% include "leak.j2" %}, "backends": {{ backends }}}')
    with pytest.raises(TemplateError, match="leak.j2"):
        renderer.render(POLICY)


def test_another_template_of_the_directory_is_included_by_name(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "service.j2").write_text("{{ service }}")
    renderer = _template(templates, spec='{"service": {% include "service.j2" %}, "backends": {{ backends }}}')
    assert renderer.render(POLICY)["spec"]["service"] == "web-svc"


@pytest.mark.parametrize("changes, message", [
    ({"labels": '{"app.kubernetes.io/managed-by": "someone-else"}'},
     "rendered the label app.kubernetes.io/managed-by='someone-else'"),
    ({"labels": '{{ labels }}', "extra": ', "status": {}'}, "rendered a status"),
    ({"spec": '{"service": {{ service }}, "backends": {{ backends }}, "evil": 1}'},
     "rendered the field spec.evil, which is not in the schema"),
    ({"extra": ', "rbac": {}'}, "rendered the field rbac, which is not part of the schema"),
    ({"spec": '{"service": {{ service }}, "backends": [{"service": "x", "weight": "1"}]}'},
     "rendered spec.backends[0].weight = '1'; expected an integer"),
])
def test_rendered_object_is_checked_before_anything_is_written(tmp_path: Path, changes: dict, message: str) -> None:
    renderer = _template(tmp_path, **changes)
    with pytest.raises(TemplateError, match=f"template {NAME} ") as caught:
        renderer.render(POLICY)
    assert message in str(caught.value)


def test_policy_annotation_cannot_be_changed(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / NAME).write_text(BODY.replace("LABELS", "{{ labels }}").replace("SPEC", SPEC).replace("EXTRA", "")
                                 .replace("{{ annotations }}", '{"failsync.io/policy": "kube-system/other"}'))
    with pytest.raises(TemplateError, match="annotation failsync.io/policy='kube-system/other'"):
        Renderer(tmp_path).render(POLICY)


def test_marks_left_out_by_a_template_are_added(tmp_path: Path) -> None:
    obj = _template(tmp_path, labels='{"team": "a"}').render(POLICY)
    assert obj["metadata"]["labels"] == {"team": "a", "app.kubernetes.io/managed-by": "failsync"}
    assert obj["metadata"]["annotations"]["failsync.io/policy"] == "emojivoto/web"


def test_every_builtin_template_keeps_to_the_schema_it_is_trusted_with() -> None:
    """Built-in templates skip the per-object check (it is 20% of rendering); this shows they need none."""
    from dataclasses import replace

    from failsync.core.model import Target
    from failsync.core.target_schema import rendered_object_problem
    from failsync.core.targets import API_VERSIONS

    for kind, versions in API_VERSIONS.items():
        for version in versions:
            policy = replace(POLICY, labels={"team": "a"}, fallbacks=(),
                             target=Target(kind, version, port=None if kind == "TrafficSplit" else 80))
            for weights in (None, {"web-svc": 7}):
                obj = Renderer().render(policy, weights)
                assert rendered_object_problem(obj, policy) is None, (kind, version)
                assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "failsync"
                assert obj["metadata"]["annotations"]["failsync.io/policy"] == "emojivoto/web"


@pytest.mark.parametrize("expression", [
    "self.__init__.__globals__",
    "namespace.__init__.__globals__",
    "range.__self__",
    "lipsum",
    "cycler",
    "joiner",
    "config",
    "environ",
])
def test_templates_have_no_way_to_the_environment(tmp_path: Path, expression: str) -> None:
    renderer = _template(tmp_path, spec='{"service": {{ EXPR }}, "backends": {{ backends }}}'.replace(
        "EXPR", expression))
    with pytest.raises(TemplateError, match=f"template {NAME} failed"):
        renderer.render(POLICY)


ROUTE_NAME = "httproute-v1.yaml.j2"
ROUTE_POLICY = Policy(name="web", namespace="emojivoto", service="web-svc", primary="web-svc",
                      target=Target("HTTPRoute", "gateway.networking.k8s.io/v1", port=80))
ROUTE_BODY = """{
  "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": {{ name }}, "namespace": {{ namespace }}, "labels": {{ labels }}, "annotations": {{ annotations }}},
  "spec": {"parentRefs": [PARENT], "rules": [{RULE"backendRefs": REFS}]}
}"""
GOOD_PARENT = '{"group": "", "kind": "Service", "name": {{ service }}, "port": {{ port }}}'


@pytest.mark.parametrize("parent, rule, refs, message", [
    (GOOD_PARENT, '"mirror": true, ', "{{ backend_refs }}",
     "rendered the field spec.rules[0].mirror, which is not in the schema"),
    ('{"kind": "Service", "name": {{ service }}, "hostNetwork": true}', "", "{{ backend_refs }}",
     "rendered the field spec.parentRefs[0].hostNetwork, which is not in the schema"),
    (GOOD_PARENT, "", '[{"name": "web-svc", "port": 80, "weight": 2000000}]',
     "rendered spec.rules[0].backendRefs[0].weight = 2000000; expected an integer from 0 to 1000000"),
    (GOOD_PARENT, "", '[{"port": 80}]', "rendered spec.rules[0].backendRefs[0].name missing"),
], ids=["unknown-rule-field", "unknown-parent-field", "weight-out-of-range", "ref-without-name"])
def test_rendered_route_is_checked_against_the_route_schema(tmp_path: Path, parent: str, rule: str, refs: str,
                                                             message: str) -> None:
    (tmp_path / ROUTE_NAME).write_text(ROUTE_BODY.replace("PARENT", parent).replace("RULE", rule).replace("REFS", refs))
    with pytest.raises(TemplateError, match=f"template {ROUTE_NAME} ") as caught:
        Renderer(tmp_path).render(ROUTE_POLICY)
    assert message in str(caught.value)


def test_a_well_formed_route_template_renders(tmp_path: Path) -> None:
    (tmp_path / ROUTE_NAME).write_text(ROUTE_BODY.replace("PARENT", GOOD_PARENT).replace("RULE", "")
                                       .replace("REFS", "{{ backend_refs }}"))
    obj = Renderer(tmp_path).render(ROUTE_POLICY)
    assert obj["spec"]["rules"][0]["backendRefs"][0]["name"] == "web-svc"


def test_only_override_templates_pay_for_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import failsync.core.rendering as rendering

    checked: list[str] = []
    real = rendering.rendered_object_problem
    monkeypatch.setattr(rendering, "rendered_object_problem",
                        lambda obj, policy: checked.append(policy.key) or real(obj, policy))
    Renderer().render(POLICY)
    assert checked == []  # built-in: trusted
    _template(tmp_path).render(POLICY)
    assert checked == ["emojivoto/web"]
