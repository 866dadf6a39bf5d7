"""`failsync validate` and `render` split over forked workers (`failsync.fanout`) say exactly what
the one-process path says: the same YAML bytes, the same summary, and, when any slice has an
error (a bad file, two policies of one name in different slices, a template that fails), the
same error lines and exit code, worded by the one-process path.

Each command runs in a fresh interpreter (forking pytest's own process would copy its threads'
locks) with the split forced on at one file per worker and two CPUs, and once with it off; the
probe counts the forks, so a test cannot pass without the split having run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from failsync import fanout
from tests.helpers import MINIMAL_POLICY

REPOSITORY = Path(__file__).resolve().parent.parent.parent

_PROBE = """
import atexit, os, sys
import failsync.fanout as fanout
forks = []
if sys.argv[1] == "split":
    fanout.MIN_ITEMS_PER_WORKER = 1
    os.sched_getaffinity = lambda pid: {0, 1}
    real_fork = os.fork
    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid
    os.fork = counting_fork
else:
    fanout.MIN_ITEMS_PER_WORKER = 10 ** 9
atexit.register(lambda: sys.stderr.write(f"FORKS {len(forks)}\\n"))
from failsync.cli import main
sys.argv = ["failsync", *sys.argv[2:]]
main()
"""


def _run(mode: str, *arguments: str) -> tuple[int, str, str, int]:
    result = subprocess.run([sys.executable, "-c", _PROBE, mode, *arguments], capture_output=True, text=True,
                            cwd=REPOSITORY, timeout=120)
    *errors, forks = result.stderr.splitlines()
    assert forks.startswith("FORKS "), result.stderr
    return result.returncode, result.stdout, "\n".join(errors), int(forks.split()[1])


def _policies(directory: Path, count: int) -> Path:
    for index in range(count):
        path = directory / f"team-{index % 2}" / f"web-{index:02d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MINIMAL_POLICY.format(name=f"web-{index:02d}"))
    return directory


@pytest.mark.parametrize("command", [["validate"], ["render"]])
def test_a_valid_batch_split_over_workers_gives_the_same_output(tmp_path: Path, command: list[str]) -> None:
    directory = _policies(tmp_path, 6)
    split = _run("split", *command, str(directory))
    alone = _run("alone", *command, str(directory))
    assert split[3] == 1 and alone[3] == 0  # two slices: one forked worker, then none
    assert split[:3] == alone[:3]
    assert split[0] == 0 and split[1]


@pytest.mark.parametrize("breakage", ["bad file in the worker's slice", "bad file in the first slice",
                                      "duplicate across slices", "duplicate within a slice"])
@pytest.mark.parametrize("command", [["validate"], ["render"]])
def test_errors_in_any_slice_are_reported_as_by_one_process(tmp_path: Path, command: list[str],
                                                            breakage: str) -> None:
    directory = _policies(tmp_path, 6)
    files = sorted(directory.rglob("*.yaml"))  # team-0's three, then team-1's
    if breakage == "bad file in the worker's slice":
        files[4].write_text(MINIMAL_POLICY.format(name="Bad_Name"))
    elif breakage == "bad file in the first slice":  # the worker is stopped, not waited for
        files[0].write_text(MINIMAL_POLICY.format(name="Bad_Name"))
    elif breakage == "duplicate across slices":
        files[5].write_text(MINIMAL_POLICY.format(name="web-00"))
    else:
        files[1].write_text(MINIMAL_POLICY.format(name="web-00"))
    split = _run("split", *command, str(directory))
    alone = _run("alone", *command, str(directory))
    assert split[3] == 1
    assert split[:3] == alone[:3]
    assert split[0] == 1 and split[2] and not (command == ["render"] and split[1])


def test_a_template_failing_in_a_worker_is_reported_as_by_one_process(tmp_path: Path) -> None:
    directory = _policies(tmp_path / "policies", 4)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "trafficsplit-v1alpha2.yaml.j2").write_text("{{ name | nonsense }}\n")
    split = _run("split", "--templates", str(templates), "render", str(directory))
    alone = _run("alone", "--templates", str(templates), "render", str(directory))
    assert split[3] == 1
    assert split[:3] == alone[:3]
    assert split[0] == 1 and "nothing rendered: 4 errors" in split[2]


def test_slices_keep_order_and_differ_in_size_by_at_most_one() -> None:
    items = list(range(11))
    parts = fanout.slices(items, 3)
    assert [list(part) for part in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert fanout.slices(items[:2], 2) == [[0], [1]]


_SPLIT_MAP = """
import os, sys
from failsync import fanout
os.sched_getaffinity = lambda pid: {0, 1, 2}
fanout.MIN_ITEMS_PER_WORKER = 1
items = list(range(600))
print(fanout.split_map(items, lambda part: [item * 2 for item in part]) == [
    [item * 2 for item in part] for part in fanout.slices(items, fanout.MAX_SLICES)])
print(fanout.split_map(items, lambda part: None if 300 in part else list(part)))
print(fanout.split_map(items[:2], lambda part: list(part)))
"""


def test_split_map_gives_every_slice_in_order_or_none_when_any_slice_declines() -> None:
    result = subprocess.run([sys.executable, "-c", _SPLIT_MAP], capture_output=True, text=True, cwd=REPOSITORY,
                            timeout=120)
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["True", "None", "[[0], [1]]"]
