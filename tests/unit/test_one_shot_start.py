"""What a one-shot ``sync``/``diff`` loads and how it leaves the interpreter.

Covers: the sync/diff/status module never imports the loop (``failsync.controller``) until
``status --source cluster|all`` needs it; its ``--source`` choices are the loop's; a pass
leaves the garbage collector as it found it, also when the pass fails; the target LISTs,
read beside the health LISTs, fail the pass with the error a sequential read would have raised first.
"""
from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from failsync.cli import cluster_cmds
from failsync.errors import FailsyncError


def test_the_sync_commands_do_not_import_the_loop() -> None:
    code = ("import sys, failsync.cli, failsync.cli.cluster_cmds; "
            "print(sorted(m for m in sys.modules if m.startswith('failsync.controller')))")
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "[]"


def test_the_source_choices_are_the_loops() -> None:
    from failsync.cli.run_cmd import run_command

    def choices(command):  # type: ignore[no-untyped-def]
        return next(p.type.choices for p in command.params if p.name == "source")

    assert choices(cluster_cmds.status_command) == choices(run_command) == ("files", "cluster", "all")


@pytest.mark.parametrize("enabled", [True, False])
def test_a_pass_leaves_the_collector_as_it_found_it(monkeypatch, enabled: bool) -> None:
    seen = []

    def failing_pass(paths, **options):
        seen.append(gc.isenabled())
        raise FailsyncError("no cluster")

    monkeypatch.setattr(cluster_cmds, "run_pass", failing_pass)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(FailsyncError):
            cluster_cmds.one_shot_pass(["policies"], adopt=False, selector="")
        assert seen == [False] and gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_side_read_raises_what_a_sequential_read_would_have_raised_first() -> None:
    from failsync.snapshot import ClusterReader

    def fails(message: str):
        def read() -> None:
            raise FailsyncError(message)
        return read

    with pytest.raises(FailsyncError, match="targets"):
        ClusterReader._beside(fails("targets"), fails("health"))
    with pytest.raises(FailsyncError, match="health"):
        ClusterReader._beside(lambda: None, fails("health"))
    ran: list[str] = []
    ClusterReader._beside(lambda: ran.append("targets"), lambda: ran.append("health"))
    assert sorted(ran) == ["health", "targets"]
