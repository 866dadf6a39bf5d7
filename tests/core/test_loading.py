"""Reading policy files from disk (failsync.loading.load_policies).

Covers:
- directories are read recursively (*.yaml and *.yml only), in a stable sorted order;
- hidden files and directories (.git, editor backups) are skipped;
- a missing path and an empty directory are errors, fine with allow_missing=True;
- a file that is not UTF-8 is an error naming the file, the other files still load;
- two files defining the same policy: the first (in sorted order) wins, the second is an error.
"""

from __future__ import annotations

from pathlib import Path

from failsync.loading import load_policies
from tests.helpers import MINIMAL_POLICY

POLICY = MINIMAL_POLICY


def _write(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(POLICY.format(name=name))


def test_directories_are_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    _write(tmp_path / "b" / "two.yml", "two")
    _write(tmp_path / "a" / "deep" / "one.yaml", "one")
    _write(tmp_path / "z.yaml", "three")
    (tmp_path / "notes.txt").write_text("not a policy")
    result = load_policies([tmp_path])
    assert result.errors == ()
    assert [p.name for p in result.policies] == ["one", "two", "three"]
    assert result.policies[0].location.file == str(tmp_path / "a" / "deep" / "one.yaml")


def test_hidden_files_and_directories_are_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "visible.yaml", "visible")
    _write(tmp_path / ".git" / "policy.yaml", "in-git-dir")
    _write(tmp_path / ".backup.yaml", "hidden")
    assert [p.name for p in load_policies([tmp_path]).policies] == ["visible"]


def test_files_and_directories_can_be_mixed(tmp_path: Path) -> None:
    _write(tmp_path / "dir" / "one.yaml", "one")
    _write(tmp_path / "single.yaml", "single")
    result = load_policies([tmp_path / "single.yaml", str(tmp_path / "dir")])
    assert [p.name for p in result.policies] == ["single", "one"]


def test_missing_path_is_an_error_unless_allowed(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    (error,) = load_policies([missing]).errors
    assert str(error).startswith(f"{missing}: no such file or directory")
    assert load_policies([missing], allow_missing=True).errors == ()


def test_empty_directory_is_an_error_unless_allowed(tmp_path: Path) -> None:
    (error,) = load_policies([tmp_path]).errors
    assert "no policy files found" in str(error)
    assert load_policies([tmp_path], allow_missing=True).errors == ()


def test_non_utf8_file_is_an_error_and_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "a-binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    _write(tmp_path / "b-good.yaml", "good")
    result = load_policies([tmp_path])
    assert [p.name for p in result.policies] == ["good"]
    (error,) = result.errors
    assert str(error).startswith(f"{tmp_path / 'a-binary.yaml'}: not UTF-8 text")


def test_duplicate_policy_across_files_keeps_the_first_in_sorted_order(tmp_path: Path) -> None:
    _write(tmp_path / "b.yaml", "same")
    _write(tmp_path / "a.yaml", "same")
    result = load_policies([tmp_path])
    assert [p.location.file for p in result.policies] == [str(tmp_path / "a.yaml")]
    (error,) = result.errors
    assert str(error).startswith(f"{tmp_path / 'b.yaml'}:4: metadata.name: ")
    assert result.files_with_errors == (str(tmp_path / "b.yaml"),)
