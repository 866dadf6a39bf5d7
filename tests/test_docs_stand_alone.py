"""The user docs stand alone.

Covers: no doc refers to files outside the repository (a working tree's shared notes, an
absolute path of a developer machine); no doc says `pip install failsync` while failsync is not
published; no working notes ("before this round"); the GitHub Actions example installs from
the checkout and its offline step (validate) passes on this repository's policies as written.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from failsync.cli import main

REPOSITORY = Path(__file__).resolve().parent.parent
DOCS = sorted([REPOSITORY / "README.md", *(REPOSITORY / "docs").glob("*.md"),
               *(REPOSITORY / "examples").rglob("*.yaml")])
WORKFLOW = REPOSITORY / "examples" / "github-actions" / "failsync.yaml"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_doc_refers_to_nothing_outside_the_repository(path: Path) -> None:
    text = path.read_text()
    for pattern in (r"\.\./shared", r"\bshared/reference", r"/work/", r"SPEC\.md", r"SPEC §"):
        assert not re.search(pattern, text), f"{path.name} refers to {pattern!r} outside the repository"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_doc_never_installs_an_unpublished_package(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not any(re.search(r"pip install (-U )?failsync\b(?! @)", line) for line in lines), path.name


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_doc_has_no_working_notes(path: Path) -> None:
    assert not re.search(r"this round|before this round|TODO|FIXME", path.read_text()), path.name


def test_github_actions_example_works_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["failsync"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert "pip install ." in runs  # from the checkout: failsync is not on PyPI
    assert (REPOSITORY / "pyproject.toml").is_file() and (REPOSITORY / "policies").is_dir()
    validate = next(run for run in runs if run.startswith("failsync validate"))
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, shlex.split(validate)[1:])
    assert result.exit_code == 0, result.output
