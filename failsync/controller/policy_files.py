"""Policy files watched while the loop runs: added, changed and deleted files take effect.

Owns: noticing changes (by polling each file's mtime and size, so no new
dependency), re-parsing only the files that changed, and keeping the last good
version of a policy whose file now has an error (the error is reported; the
policy keeps being enforced as it was). Reading and parsing are
``failsync.loading`` and ``failsync.core.policies``; this module only tracks files.
Never does: talk to the cluster.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from failsync.core.model import Policy
from failsync.core.policies import PolicySet, merge_policy_sets
from failsync.errors import Location, PolicyError
from failsync.loading import list_policy_files, load_policies

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _File:
    stamp: tuple[int, int]          # (mtime_ns, size)
    parsed: PolicySet               # the latest parse, errors included
    kept: tuple[Policy, ...]        # what is enforced from this file: its good policies, old ones kept on error


class PolicyFiles:
    """The current policies of a set of paths; ``poll()`` picks up edits."""

    def __init__(self, paths: Sequence[str | Path], *, allow_missing: bool = False) -> None:
        self.paths = [Path(p) for p in paths]
        self.allow_missing = allow_missing
        self._files: dict[Path, _File] = {}
        self._path_errors: tuple[PolicyError, ...] = ()
        self.current = PolicySet()

    def _listing(self) -> tuple[list[Path], list[PolicyError]]:
        files: list[Path] = []
        errors: list[PolicyError] = []
        for path in self.paths:
            if path.is_dir():
                found, unreadable = list_policy_files(path)
                errors.extend(unreadable)  # a directory that cannot be read is an error, never skipped
                if not found and not unreadable and not self.allow_missing:
                    errors.append(PolicyError("no policy files found; expected *.yaml or *.yml files in this "
                                              "directory", Location(str(path))))
                files.extend(found)
            elif os.path.lexists(path):
                files.append(path)  # read (and reported if it is no regular file) by load_policies
            elif not self.allow_missing:
                errors.append(PolicyError("no such file or directory; expected a policy file or a directory "
                                          "of them", Location(str(path))))
        return files, errors

    def poll(self) -> bool:
        """Re-read what changed on disk; True when the policies or their errors changed."""
        files, path_errors = self._listing()
        changed = tuple(path_errors) != self._path_errors
        self._path_errors = tuple(path_errors)
        for gone in set(self._files) - set(files):
            log.info("policy file %s was removed: its policies are no longer managed", gone)
            del self._files[gone]
            changed = True
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue  # removed between listing and stat: the next poll sees it gone
            stamp = (stat.st_mtime_ns, stat.st_size)
            previous = self._files.get(file)
            if previous is not None and previous.stamp == stamp:
                continue
            parsed = load_policies([file])
            if previous is not None and previous.parsed.errors and not parsed.errors:
                log.info("policy file %s loads again without errors: %d policies", file, len(parsed.policies))
            self._files[file] = _File(stamp, parsed, self._kept(parsed, previous))
            changed = True
        if changed:
            merged = merge_policy_sets(PolicySet(f.kept, f.parsed.errors) for f in self._files.values())
            self.current = PolicySet(merged.policies, (*self._path_errors, *merged.errors))
        return changed

    def describe(self, error: PolicyError) -> str:
        """``error`` with what happens to its policies: kept as last loaded, or not enforced (never loaded)."""
        found = self._files.get(Path(error.location.file)) if error.location else None
        if found is not None and len(found.kept) > len(found.parsed.policies):
            return f"{error} (skipped; the previous good version of this file's policies stays in force)"
        return f"{error} (skipped; no good version of it was loaded before, so nothing of it is enforced)"

    @staticmethod
    def _kept(parsed: PolicySet, previous: _File | None) -> tuple[Policy, ...]:
        """The file's good policies; on an error, also the previous version of every policy that did not parse."""
        if not parsed.errors or previous is None:
            return parsed.policies
        fresh = {p.key for p in parsed.policies}
        return (*parsed.policies, *(p for p in previous.kept if p.key not in fresh))
