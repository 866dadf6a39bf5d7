"""What a one-shot ``sync``/``diff`` loads and how it leaves the interpreter.

Covers: the sync/diff/status module never imports the loop (``failsync.controller``) until
``status --source cluster|all`` needs it; its ``--source`` choices are the loop's; a pass
leaves the garbage collector as it found it, also when the pass fails; the target LISTs,
read beside the health LISTs, fail the pass with the error a sequential read would have raised first;
the console script (``entry``), which leaves without freeing its heap object by object, still
exits with the command's code, runs the atexit handlers and delivers all of its output through a
pipe, and waits for a thread that is not a daemon as the interpreter does.
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


def _console_script(tmp_path, *arguments: str, before: str = "") -> subprocess.CompletedProcess:
    code = ("import atexit, sys\nfrom failsync.cli import entry\n" + before +
            "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
            f"sys.argv = ['failsync', *{list(arguments)!r}]\nentry()\nprint('not reached')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)


def test_the_console_script_keeps_exit_codes_output_and_atexit(tmp_path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    documents = [f"""apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata: {{name: web-{n}, namespace: shop}}
spec:
  service: web
  fallbacks: [{{service: web-east}}]
""" for n in range(400)]
    (policies / "web.yaml").write_text("---\n".join(documents))
    rendered = _console_script(tmp_path, "render", str(policies))
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.count("kind: TrafficSplit") == 400 and "not reached" not in rendered.stdout
    assert rendered.stdout.rstrip().endswith("weight: 0")  # the last object whole: nothing left in a buffer
    assert rendered.stderr.strip() == "atexit ran"
    (policies / "bad.yaml").write_text("apiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\n")
    invalid = _console_script(tmp_path, "validate", str(policies))
    assert invalid.returncode == 1 and "bad.yaml" in invalid.stderr and "atexit ran" in invalid.stderr
    usage = _console_script(tmp_path, "no-such-command")
    assert usage.returncode == 2 and "No such command" in usage.stderr


def test_the_console_script_waits_for_a_thread_that_is_not_a_daemon(tmp_path) -> None:
    waited = tmp_path / "waited"
    before = ("import threading, time\n"
              "def late():\n    time.sleep(0.2)\n"
              f"    open({str(waited)!r}, 'w').write('done')\n"
              "threading.Thread(target=late).start()\n")
    answer = _console_script(tmp_path, "--version", before=before)
    assert answer.returncode == 0 and "version" in answer.stdout
    assert waited.read_text() == "done"
