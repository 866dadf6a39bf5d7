"""The direct builder of text-and-variables templates renders exactly what Jinja renders.

Every built-in template is built directly (no text, no JSON parse per policy); these tests pin
that the object is the one ``json.loads`` reads from Jinja's own rendering of the same template,
for any policy (hostile and non-ASCII strings included, every target kind, version and idle-backend
choice, any weights), and that templates the builder cannot take still render through the text path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core import targets
from failsync.core.model import Backend, InactiveBackends, Policy, Target
from failsync.core.rendering import Renderer, check_rendered, context
from failsync.errors import TemplateError
from tests.core.test_rendering_properties import hostile

RENDERER = Renderer()
TARGETS = [(kind, version) for kind in targets.KINDS for version in targets.API_VERSIONS[kind]]
text = st.one_of(hostile, st.text(max_size=12), st.sampled_from(["web", "é", "\ud800\udc00", "\x7f", "\u2028"]))


def jinja_outcome(renderer: Renderer, policy: Policy, weights: dict[str, int] | None) -> Any:
    """What the template renders to through Jinja itself and the same check, or the error's text."""
    template = renderer._template(policy.target)[0]
    try:
        return check_rendered(template.render(context(policy, weights)), policy, template.name or "",
                              trusted=True)
    except TemplateError as error:
        return str(error)


def outcome(renderer: Renderer, policy: Policy, weights: dict[str, int] | None) -> Any:
    try:
        return renderer.render(policy, weights)
    except TemplateError as error:
        return str(error)


@st.composite
def policies(draw: st.DrawFn) -> tuple[Policy, dict[str, int] | None]:
    names = draw(st.lists(text, min_size=2, max_size=4, unique=True))
    kind, version = draw(st.sampled_from(TARGETS))
    route = targets.is_route(kind)
    target = Target(kind, version, port=draw(st.integers(1, 65535)) if route else None,
                    inactive_backends=draw(st.sampled_from(list(InactiveBackends))))
    policy = Policy(name=draw(text), namespace=draw(text), service=draw(text), primary=names[0],
                    fallbacks=tuple(Backend(name) for name in names[1:]),
                    labels=draw(st.dictionaries(text, text, max_size=3)), target=target)
    weights = draw(st.one_of(st.none(), st.lists(st.integers(0, 100), min_size=len(names), max_size=len(names))))
    return policy, None if weights is None else dict(zip(policy.services, weights))


@settings(max_examples=400, deadline=None)
@given(case=policies())
def test_built_in_templates_render_directly_to_what_jinja_renders(case: tuple[Policy, dict[str, int] | None]) -> None:
    policy, weights = case
    assert RENDERER._template(policy.target)[3] is not None  # every built-in template is built directly
    assert outcome(RENDERER, policy, weights) == jinja_outcome(RENDERER, policy, weights)


def test_a_template_written_in_yaml_renders_through_the_text_path(tmp_path: Path) -> None:
    # Not one JSON document: no direct builder; Jinja's text is read as YAML, to the same object.
    (tmp_path / "trafficsplit-v1alpha2.yaml.j2").write_text(
        "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: {{ name }}\n"
        "  namespace: {{ namespace }}\n  labels: {{ labels }}\n  annotations: {{ annotations }}\n"
        "spec:\n  service: {{ service }}\n  backends: {{ backends }}\n")
    renderer = Renderer(tmp_path)
    policy = Policy(name="web", namespace="shop", service="web", primary="web", fallbacks=(Backend("east"),))
    assert renderer._template(policy.target)[3] is None
    assert renderer.render(policy) == RENDERER.render(policy)


def test_a_filtered_value_the_builder_does_not_copy_renders_through_the_text_path(tmp_path: Path) -> None:
    # | yaml hands over emitted text: the direct builder steps aside for the text path each time.
    source = (Path(__file__).parents[2] / "templates" / "trafficsplit-v1alpha2.yaml.j2").read_text()
    (tmp_path / "trafficsplit-v1alpha2.yaml.j2").write_text(source.replace("{{ service }}", "{{ service | yaml }}"))
    renderer = Renderer(tmp_path)
    policy = Policy(name="web", namespace="shop", service="web", primary="web", fallbacks=(Backend("east"),))
    assert renderer._template(policy.target)[3] is not None
    assert renderer.render(policy)["spec"] == RENDERER.render(policy)["spec"]
