"""The layering of failsync holds by itself.

The rules are import-linter contracts in pyproject.toml (``lint-imports``, also a CI step):
- ``failsync.core`` never imports the shell (cli, controller, demo, kube, sandbox, sync,
  loading, observability, backoff), directly or through another module;
- only ``failsync.kube`` imports pykube or requests;
- the sandbox imports nothing of failsync above the core;
- nothing below the CLI imports the CLI.
A contract cannot say "only these third-party libraries", so the core's short list of
libraries (stdlib, jinja2, yaml) stays a test here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
CORE = REPOSITORY / "failsync" / "core"
THIRD_PARTY_ALLOWED_IN_CORE = {"jinja2", "yaml"}


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout, done.stdout


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_uses_only_the_standard_library_jinja2_and_yaml(path: Path) -> None:
    allowed = sys.stdlib_module_names | THIRD_PARTY_ALLOWED_IN_CORE | {"failsync"}
    assert _top_level_imports(path) <= allowed, f"core/{path.name} imports {_top_level_imports(path) - allowed}"
