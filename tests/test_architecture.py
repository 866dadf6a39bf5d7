"""The layering of failsync holds by itself.

Covers:
- ``failsync.core`` imports only the standard library, jinja2, yaml,
  ``failsync.errors`` and other core modules (it never reaches the shell);
- only ``failsync.kube`` imports pykube or requests;
- the sandbox imports nothing of failsync above the core;
- nothing below the CLI imports the CLI.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "failsync"
THIRD_PARTY_ALLOWED_IN_CORE = {"jinja2", "yaml"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module imported anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # `from failsync import sync` imports the submodule failsync.sync
            names.update(f"{module}.{alias.name}" for alias in node.names if module == "failsync")
    return names


def _files(subpackage: str) -> list[Path]:
    root = PACKAGE / subpackage
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _files("core"), ids=lambda p: p.name)
def test_core_imports_only_stdlib_its_libraries_and_itself(path: Path) -> None:
    for name in _imports(path):
        if _top(name) == "failsync":
            assert name == "failsync.errors" or name.startswith("failsync.core"), (
                f"{path.name} imports {name}: the core must not depend on the shell"
            )
        else:
            assert _top(name) in sys.stdlib_module_names | THIRD_PARTY_ALLOWED_IN_CORE, (
                f"{path.name} imports {name}: the core may use only stdlib, jinja2, yaml"
            )


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if "kube" not in p.relative_to(PACKAGE).parts],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_kube_adapter_imports_the_kubernetes_client(path: Path) -> None:
    clients = {name for name in _imports(path) if _top(name) in {"pykube", "requests"}}
    assert not clients, f"{path.relative_to(PACKAGE)} imports {clients}: only failsync.kube may"


@pytest.mark.parametrize("path", _files("sandbox"), ids=lambda p: p.name)
def test_sandbox_imports_nothing_above_the_core(path: Path) -> None:
    for name in _imports(path):
        if _top(name) == "failsync":
            assert name.startswith(("failsync.sandbox", "failsync.core", "failsync.errors")), (
                f"sandbox/{path.name} imports {name}"
            )


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_nothing_below_the_cli_imports_it(path: Path) -> None:
    assert not any(name.startswith("failsync.cli") for name in _imports(path)), (
        f"{path.relative_to(PACKAGE)} imports the CLI"
    )
