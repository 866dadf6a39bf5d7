"""Policy files tracked while the loop runs.

Covers:
- the first poll loads every file; a poll with nothing changed reports no change;
- an edited file takes effect; an added file adds its policies; a deleted file drops them;
- an invalid edit keeps the last good version of the broken policy, reports the error, and
  still applies the valid policies of the same file; fixing it clears the error;
- a missing path is an error, except in drop-in mode (allow_missing);
- a file fixed after an error is said to load again, at INFO;
- on Linux (inotify), a poll with nothing changed lists no directory, while an edit in a nested
  folder, a new folder's file and a ConfigMap-style symlink swap are all seen at the next poll;
  a file written beside the policy directory (a log) lists nothing, while the directory's own
  replacement there (git-sync's symlink swap) is seen at the next poll.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import failsync.loading as loading

from failsync.controller.policy_files import PolicyFiles

POLICY = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: {name}
  namespace: ns
spec:
  service: {primary}
  fallbacks:
    - service: backup
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # make the change visible even within one mtime tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def _primaries(files: PolicyFiles) -> dict[str, str]:
    return {p.key: p.primary for p in files.current.policies}


def test_edits_additions_and_deletions_take_effect(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    _write(first, POLICY.format(name="one", primary="web"))
    files = PolicyFiles([tmp_path])
    assert files.poll() is True
    assert _primaries(files) == {"ns/one": "web"}
    assert files.poll() is False

    _write(first, POLICY.format(name="one", primary="api"))
    second = tmp_path / "sub" / "b.yml"
    second.parent.mkdir()
    _write(second, POLICY.format(name="two", primary="web"))
    assert files.poll() is True
    assert _primaries(files) == {"ns/one": "api", "ns/two": "web"}

    second.unlink()
    assert files.poll() is True
    assert _primaries(files) == {"ns/one": "api"}


def test_invalid_edit_keeps_the_last_good_version_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    _write(path, POLICY.format(name="one", primary="web") + "---\n" + POLICY.format(name="two", primary="web"))
    files = PolicyFiles([path])
    files.poll()
    broken = POLICY.format(name="one", primary="web").replace("service: web", "servce: web")
    _write(path, broken + "---\n" + POLICY.format(name="two", primary="api"))
    assert files.poll() is True
    assert _primaries(files) == {"ns/one": "web", "ns/two": "api"}
    assert files.current.errors and str(path) in str(files.current.errors[0])

    _write(path, POLICY.format(name="one", primary="api"))
    files.poll()
    assert _primaries(files) == {"ns/one": "api"}
    assert not files.current.errors


def test_missing_path_is_an_error_except_in_drop_in_mode(tmp_path: Path) -> None:
    strict = PolicyFiles([tmp_path / "nope"])
    strict.poll()
    assert "no such file" in str(strict.current.errors[0])
    relaxed = PolicyFiles([tmp_path / "nope"], allow_missing=True)
    relaxed.poll()
    assert relaxed.current.errors == () and relaxed.current.policies == ()


def test_a_fixed_file_is_said_to_load_again_at_info(tmp_path: Path, caplog) -> None:
    import logging

    path = tmp_path / "p.yaml"
    _write(path, POLICY.format(name="a", primary="web"))
    files = PolicyFiles([tmp_path])
    files.poll()
    _write(path, POLICY.format(name="a", primary="web") + "  bogus: 1\n")
    files.poll()
    assert files.current.errors
    with caplog.at_level(logging.INFO, logger="failsync.controller.policy_files"):
        _write(path, POLICY.format(name="a", primary="web-v2"))
        assert files.poll()
    assert any(r.levelno == logging.INFO and f"policy file {path} loads again without errors" in r.getMessage()
               for r in caplog.records)


def test_an_error_says_a_previous_version_stays_only_when_there_is_one(tmp_path: Path) -> None:
    """run never claims "a previous good version stays in force" for a file that never loaded."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: FailoverPolicy\n")
    files = PolicyFiles([tmp_path])
    files.poll()
    error = files.current.errors[0]
    assert "no good version of it was loaded before" in files.describe(error)
    assert "stays in force" not in files.describe(error)
    good = tmp_path / "good.yaml"
    _write(good, POLICY.format(name="web", primary="web"))
    files.poll()
    _write(good, POLICY.format(name="web", primary="Not_A_Label"))
    files.poll()
    later = next(e for e in files.current.errors if e.location and e.location.file == str(good))
    assert "the previous good version of this file's policies stays in force" in files.describe(later)


def test_an_unreadable_directory_and_a_named_pipe_are_errors_while_running(tmp_path: Path, monkeypatch) -> None:
    import failsync.loading as loading

    _write(tmp_path / "good.yaml", POLICY.format(name="web", primary="web"))
    hidden = tmp_path / "team-b"
    hidden.mkdir()
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    real_scandir = os.scandir
    monkeypatch.setattr(loading.os, "scandir",
                        lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if Path(path) == hidden else real_scandir(path))
    files = PolicyFiles([tmp_path, pipe])
    files.poll()
    messages = [str(error) for error in files.current.errors]
    assert f"{hidden}: cannot read this directory: Permission denied; expected a readable directory of " \
           f"policy files" in messages
    assert f"{pipe}: is a named pipe, not a regular file; expected a policy file" in messages
    assert [policy.name for policy in files.current.policies] == ["web"]


def test_with_inotify_idle_polls_list_nothing_and_changes_are_seen_at_once(tmp_path: Path, monkeypatch) -> None:
    nested = tmp_path / "team-a" / "web"
    nested.mkdir(parents=True)
    _write(nested / "p.yaml", POLICY.format(name="one", primary="web"))
    data = tmp_path / "cm" / "..2026_01"
    data.mkdir(parents=True)
    (data / "q.yaml").write_text(POLICY.format(name="two", primary="web"))
    (tmp_path / "cm" / "..data").symlink_to("..2026_01")
    (tmp_path / "cm" / "q.yaml").symlink_to("..data/q.yaml")
    files = PolicyFiles([tmp_path])
    assert files.poll() is True
    files.poll()  # the directories are all watched from here on
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(loading.os, "scandir", lambda path: listed.append(path) or real_scandir(path))
    assert files.poll() is False
    if sys.platform == "linux":  # inotify: nothing happened, so nothing is listed or compared
        assert listed == []

    _write(nested / "p.yaml", POLICY.format(name="one", primary="api"))
    assert files.poll() is True and _primaries(files)["ns/one"] == "api"
    (tmp_path / "team-b").mkdir()
    _write(tmp_path / "team-b" / "r.yaml", POLICY.format(name="three", primary="web"))
    assert files.poll() is True and "ns/three" in _primaries(files)
    fresh = tmp_path / "cm" / "..2026_02"  # kubelet's atomic update: new directory, then ..data swapped
    fresh.mkdir()
    (fresh / "q.yaml").write_text(POLICY.format(name="two", primary="api"))
    (tmp_path / "cm" / "..data_tmp").symlink_to("..2026_02")
    os.replace(tmp_path / "cm" / "..data_tmp", tmp_path / "cm" / "..data")
    assert files.poll() is True and _primaries(files)["ns/two"] == "api"


def test_with_inotify_a_log_beside_the_policies_lists_nothing_but_their_swap_is_seen(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    for revision, primary in (("rev-1", "web"), ("rev-2", "api")):
        (tmp_path / revision).mkdir()
        _write(tmp_path / revision / "p.yaml", POLICY.format(name="one", primary=primary))
    (tmp_path / "current").symlink_to("rev-1")
    files = PolicyFiles([tmp_path / "current"])
    assert files.poll() is True and _primaries(files)["ns/one"] == "web"
    files.poll()
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(loading.os, "scandir", lambda path: listed.append(path) or real_scandir(path))
    with (tmp_path / "failsync.log").open("w") as log:  # the loop's own log, in the parent directory
        for line in range(3):
            log.write(f"line {line}\n")
            log.flush()
            assert files.poll() is False
    if sys.platform == "linux":  # the parent is watched for the name "current" only
        assert listed == []

    (tmp_path / "next").symlink_to("rev-2")  # git-sync: a new link, renamed over the old one
    os.replace(tmp_path / "next", tmp_path / "current")
    assert files.poll() is True and _primaries(files)["ns/one"] == "api"
