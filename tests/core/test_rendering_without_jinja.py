"""Built-in templates are compiled without Jinja2, to the builder Jinja2's reading gives.

Covers: every built-in template (each target kind and version) has a direct builder read
without Jinja2, building for a policy the object the builder from Jinja2's parse builds (the
hypothesis test of ``test_rendering_direct`` pins both to Jinja2's own output); a template with a
tag, an unknown variable or filter, or an open comment is left to Jinja2; an override template is
never compiled this way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from failsync.core import targets
from failsync.core.model import Backend, InactiveBackends, Policy, Target
from failsync.core.rendering import Renderer, _plain_pieces, context, template_name

TARGETS = [Target(kind, version, port=8080 if targets.is_route(kind) else None,
                  inactive_backends=InactiveBackends.OMIT)
           for kind in targets.KINDS for version in targets.API_VERSIONS[kind]]


@pytest.mark.parametrize("target", TARGETS, ids=template_name)
def test_every_built_in_template_builds_without_jinja_what_jinjas_reading_builds(target: Target) -> None:
    renderer = Renderer()
    policy = Policy(name="web", namespace="shop", service="web", primary="web",
                    fallbacks=(Backend("web-east"), Backend("web-west", 2)), labels={"team": "a"}, target=target)
    variables = context(policy, {"web": 0, "web-east": 3, "web-west": 0})
    direct = renderer._direct_builder(template_name(target), target)
    jinja_builder = renderer._template(target)[3]
    assert direct is not None and jinja_builder is not None
    assert direct(variables) == jinja_builder(variables)


@pytest.mark.parametrize("source", [
    '{"name": {% if true %}{{ name }}{% endif %}}',
    '{"name": {{ name.upper() }}}',
    '{"name": {{ secret }}}',
    '{"name": {{ name | upper }}}',
    '{"name": {{ name }}} {# open comment',
    '{"name": {{- name }}}',
])
def test_anything_but_text_comments_and_variables_is_left_to_jinja(source: str) -> None:
    assert _plain_pieces(source) is None


def test_an_override_template_is_not_compiled_without_jinja(tmp_path: Path) -> None:
    target = Target()
    name = template_name(target)
    (tmp_path / name).write_text((Path(__file__).resolve().parents[2] / "templates" / name).read_text())
    renderer = Renderer(tmp_path)
    assert renderer._direct_builder(name, target) is None
    policy = Policy(name="web", namespace="shop", service="web", primary="web", fallbacks=(Backend("east"),))
    assert renderer.render(policy) == Renderer().render(policy)
