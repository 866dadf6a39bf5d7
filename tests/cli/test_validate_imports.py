"""`failsync validate` never imports Jinja2, nor does `render` with the built-in templates: they
are compiled without it, and importing Jinja2 costs every run (a pre-commit hook, a CI step) its
start-up time. An override template is Jinja2's to render. Nor does setting up logging import
the probe server's HTTP stack (`http.server`): only `run` serves `/metrics`.

Checked in a fresh interpreter running the command the way the console script does; `render`
with an override template shows the probe sees an import when there is one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent.parent
EXAMPLE_POLICIES = REPOSITORY / "policies"

# Runs the CLI, then reports which of the watched modules were imported, on stderr
# (atexit: click exits through SystemExit once the command is done).
_PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(
    name for name in sys.modules
    if name in ("jinja2", "http.server") or name.startswith("jinja2."))) + "\\n"))
from failsync.cli import main
sys.argv = ["failsync", *sys.argv[1:]]
main()
"""


def _heavy_modules(*arguments: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE, *arguments], capture_output=True, text=True,
                            cwd=REPOSITORY, timeout=120)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES "))
    return list(json.loads(line[len("MODULES "):]))


def test_validate_does_not_import_jinja2() -> None:
    assert _heavy_modules("validate", str(EXAMPLE_POLICIES)) == []


def test_verbose_json_logging_does_not_import_the_probe_server() -> None:
    assert _heavy_modules("-v", "--log-format", "json", "validate", str(EXAMPLE_POLICIES)) == []


def test_render_with_the_built_in_templates_does_not_import_jinja2() -> None:
    assert _heavy_modules("render", str(EXAMPLE_POLICIES)) == []


def test_render_with_an_override_template_imports_jinja2(tmp_path: Path) -> None:
    for template in (REPOSITORY / "templates").glob("*.j2"):
        shutil.copy(template, tmp_path / template.name)
    assert "jinja2" in _heavy_modules("--templates", str(tmp_path), "render", str(EXAMPLE_POLICIES))
