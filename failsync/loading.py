"""Reading policy files from disk: paths -> one PolicySet.

Owns: expanding files and directories (recursively, ``*.yaml``/``*.yml``, sorted,
hidden files and directories skipped) and turning unreadable paths into errors.
Parsing and validation belong to ``failsync.core.policies``; this module only reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from failsync.core.policies import PolicySet, merge_policy_sets, parse_policies
from failsync.errors import Location, PolicyError

POLICY_SUFFIXES = (".yaml", ".yml")


def policy_files(directory: Path) -> list[Path]:
    """The policy files under ``directory``, recursively, in a stable (sorted) order.

    Symlinked directories are not followed; symlinked files are read.
    """
    return [Path(name) for name in _policy_file_names(str(directory))]


def _policy_file_names(directory: str) -> list[str]:
    """``policy_files`` as strings: no Path object per file on the one-shot path."""
    found: list[tuple[tuple[str, ...], str]] = []
    _collect(directory, (), found)
    found.sort(key=lambda item: item[0])
    # Spelled as str(Path(...)) spells them: "./web.yaml" is "web.yaml".
    return [path[2:] if path.startswith("./") else path for _parts, path in found]


def _collect(directory: str, parts: tuple[str, ...], found: list[tuple[tuple[str, ...], str]]) -> None:
    # os.scandir rather than Path.rglob: one directory read per directory and no
    # per-file Path arithmetic (10,000 files: ~0.13 s -> ~0.02 s).
    try:
        with os.scandir(directory) as entries:
            listed = list(entries)
    except PermissionError:
        return
    for entry in listed:
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            _collect(entry.path, parts + (name,), found)
        elif name.endswith(POLICY_SUFFIXES) and entry.is_file():
            found.append((parts + (name,), entry.path))


def load_policies(paths: Sequence[str | Path], *, allow_missing: bool = False) -> PolicySet:
    """Parse every policy file named by ``paths`` (files or directories).

    A missing path, or a directory without policy files, is an error in the set
    unless ``allow_missing`` (drop-in mode, where policy files are optional).
    """
    return merge_policy_sets(_load(paths, allow_missing))


def _load(paths: Sequence[str | Path], allow_missing: bool) -> Iterator[PolicySet]:
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = _policy_file_names(str(path))
            if not files and not allow_missing:
                yield _error(str(given), "no policy files found; expected *.yaml or *.yml files in this directory")
            for file in files:
                yield _load_file(file)
        elif path.exists():
            yield _load_file(str(path))
        elif not allow_missing:
            yield _error(str(given), "no such file or directory; expected a policy file or a directory of them")


def _load_file(path: str) -> PolicySet:
    try:
        text = _read_text(path)
    except UnicodeDecodeError as error:
        return _error(path, f"not UTF-8 text ({error.reason} at byte {error.start}); expected a YAML file")
    except OSError as error:
        return _error(path, f"cannot read: {error.strerror or error}")
    return parse_policies(text, path)


def _read_text(path: str) -> str:
    """What ``Path.read_text(encoding="utf-8")`` gives (universal newlines), without a text-mode stream.

    Bytes then one decode is ~40% cheaper per file than a TextIOWrapper; that counts at 10,000 files.
    """
    with open(path, "rb") as stream:
        text = stream.read().decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _error(file: str, message: str) -> PolicySet:
    return PolicySet(errors=(PolicyError(message, Location(file)),))
